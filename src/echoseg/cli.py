"""Command line: a thin layer over echoseg's Python API. Heavy imports happen inside each command."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from echoseg import __version__
from echoseg.vocab import TASKS


def _cmd_info(args: argparse.Namespace) -> int:
    """Describe every input; a file that cannot be read gets an error entry and the listing goes on."""
    from echoseg.io.limits import ReadLimits
    from echoseg.io.read import describe_file, format_text, json_safe, log_skipped, walk

    limits = ReadLimits(max_file_mb=args.max_file_mb, max_frames=args.max_frames,
                        max_decoded_mb=args.max_decoded_mb, max_seconds=args.max_seconds)
    found = walk(args.inputs)
    if not args.json:
        log_skipped(found)
    out: list[dict[str, Any]] = [{"file": s.path, "skipped": s.reason} for s in found.skipped] if args.json else []
    status = 0
    for path in found.files:
        desc = describe_file(path, limits)
        status = 1 if "error" in desc else status
        if args.json:
            out.append(desc)
        else:
            print(format_text(desc), flush=True)
    if args.json:
        print(json.dumps(json_safe(out), indent=1, allow_nan=False))
    return status


def _cmd_synth(args: argparse.Namespace) -> int:
    from echoseg.synth.dataset import write_dataset

    path = write_dataset(args.out, args.task, args.n, args.seed, heldout=args.heldout, family=args.family,
                         jpeg_fraction=args.jpeg_fraction, progress=not args.quiet)
    print(f"wrote {path.parent} (truth: {path})")
    return 0


def _log_to(log_file: Path | None, quiet: bool) -> None:
    """echoseg's log records: warnings (info unless --quiet) on stderr, everything in --log-file."""
    import logging

    logger = logging.getLogger("echoseg")
    logger.setLevel(logging.DEBUG)
    for h in list(logger.handlers):
        if getattr(h, "_echoseg_cli", False):
            logger.removeHandler(h)
            h.close()
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING if quiet else logging.INFO)
    console.setFormatter(logging.Formatter("echoseg: %(message)s"))
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_file, encoding="utf-8")
        fh.setLevel(logging.DEBUG)
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers.append(fh)
    for h in handlers:
        h._echoseg_cli = True  # type: ignore[attr-defined]
        logger.addHandler(h)


def _cmd_measure(args: argparse.Namespace) -> int:
    from echoseg.batch.run import BatchRequest, run_batch
    from echoseg.batch.settings import ModelSpec, Settings

    _log_to(args.log_file, args.quiet)
    req = BatchRequest(
        inputs=tuple(args.inputs), out=args.out,
        settings=Settings(task=args.task, cm_per_px=args.cm_per_px, save_masks=args.save_masks,
                          keep_screen_text=args.keep_screen_text, limits=_read_limits(args)),
        spec=ModelSpec(atria=args.atria_model, doppler=args.doppler_model, backend=args.backend),
        jobs=args.jobs, engine=args.engine, address=args.address, resume=args.resume, fresh=args.fresh,
        lvot_diameter_cm=args.lvot_diameter, rvot_diameter_cm=args.rvot_diameter, study_info=args.study_info,
        progress=not args.quiet, command_line=("echoseg", *args.argv), sr=args.sr)
    s = run_batch(req)
    print(f"{s.files} file(s) ({s.measured} measured, {s.reused} already measured), {s.rows} measurement(s), "
          f"{s.passed} passed QC -> {s.paths['measurements']}")
    if args.sr:
        n = len(list(s.paths["sr"].glob("*.dcm"))) if "sr" in s.paths else 0
        print(f"{n} DICOM SR(s) -> {s.paths.get('sr', args.out / 'sr')}" if n else
              "no DICOM SR written: no study had a passing measurement from a DICOM file")
    return 0


def _cmd_listen(args: argparse.Namespace) -> int:
    from echoseg.batch.settings import ModelSpec, Settings
    from echoseg.dicomnode import NodeConfig, Peer, serve

    _log_to(args.log_file, args.quiet)
    config = NodeConfig(out=args.out, port=args.port, ae_title=args.ae_title, host=args.host,
                        send_to=Peer.parse(args.send_to) if args.send_to else None, idle_s=args.idle,
                        sr=True, settings=Settings(task=args.task, save_masks=args.save_masks,
                                                   keep_screen_text=args.keep_screen_text),
                        spec=ModelSpec(atria=args.atria_model, doppler=args.doppler_model, backend=args.backend),
                        lvot_diameter_cm=args.lvot_diameter, study_info=args.study_info)
    return serve(config)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from echoseg.evaluation.evaluate import evaluate
    from echoseg.evaluation.report import write_report

    res = evaluate(args.pred, args.truth, by=args.by, pred_masks=args.pred_masks, truth_masks=args.truth_masks,
                   n_boot=args.n_boot, seed=args.seed)
    paths = write_report(res, args.out)
    print(paths["md"].read_text())
    print(f"wrote {paths['csv']}, {paths['md']}, {paths['html']}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from echoseg.training.train import TrainConfig, load_config, train

    cfg = load_config(args.config) if args.config else TrainConfig(task=args.task or "atria")
    overrides: dict[str, Any] = {k: v for k, v in (("task", args.task), ("out_dir", args.out and str(args.out)),
                                   ("steps", args.steps), ("data", args.data), ("init_from", args.init_from),
                                   ("seed", args.seed)) if v is not None}
    cfg = replace(cfg, **overrides)
    out = train(cfg, resume=args.resume, progress=not args.quiet)
    print(f"model written to {out}")
    return 0


def _cmd_benchmark(args: argparse.Namespace) -> int:
    import tempfile

    from echoseg.evaluation.benchmark import run_benchmark
    from echoseg.evaluation.benchmark_report import write_benchmark_md
    from echoseg.options import Models

    cmd = f"echoseg benchmark --n-a4c {args.n_a4c} --n-doppler {args.n_doppler}" + \
        (" --no-baselines" if args.no_baselines else "")
    with tempfile.TemporaryDirectory() as tmp:
        result = run_benchmark(args.work or tmp, n_a4c=args.n_a4c, n_doppler=args.n_doppler,
                               models=Models(args.atria_model, args.doppler_model), seed=args.seed,
                               baselines=not args.no_baselines, progress=not args.quiet, log=print)
    path = write_benchmark_md(result, args.out, cmd)
    print(f"wrote {path}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from echoseg.demo import run_demo

    return run_demo(Path(args.out), seed=args.seed)


def _cmd_app(args: argparse.Namespace) -> int:
    from echoseg.options import Models

    try:
        from echoseg.web.app import serve
    except ImportError as exc:
        print(f"echoseg app: {exc}; install the web extra: pip install 'echoseg[web]'", file=sys.stderr)
        return 2
    serve(host=args.host, port=args.port, models=Models(atria_path=args.atria_model, doppler_path=args.doppler_model))
    return 0


def _read_limits(args: argparse.Namespace) -> Any:
    """The :class:`echoseg.io.limits.ReadLimits` of the options added by :func:`_add_read_limits`."""
    from echoseg.io.limits import ReadLimits

    return ReadLimits(max_file_mb=args.max_file_mb, max_frames=args.max_frames, max_decoded_mb=args.max_decoded_mb,
                      max_seconds=args.max_seconds)


def _add_read_limits(s: argparse.ArgumentParser) -> None:
    """The decode budgets of :class:`echoseg.io.limits.ReadLimits` as options (docs/robustness.md)."""
    from echoseg.io.limits import DEFAULT_LIMITS as d

    def positive(kind: type) -> Any:
        def parse(text: str) -> Any:
            try:
                value = kind(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"must be a number > 0, not {text!r}") from None
            if not (value > 0 and value < float("inf")):
                raise argparse.ArgumentTypeError(f"must be a finite number > 0, not {text!r}")
            return value
        return parse

    s.add_argument("--max-file-mb", type=positive(float), default=d.max_file_mb, help=f"largest file read (default {d.max_file_mb:g} MiB)")
    s.add_argument("--max-frames", type=positive(int), default=d.max_frames, help=f"most frames per file (default {d.max_frames})")
    s.add_argument("--max-decoded-mb", type=positive(float), default=d.max_decoded_mb,
                   help=f"largest decoded cine, rows x cols x frames x 3 (default {d.max_decoded_mb:g} MiB)")
    s.add_argument("--max-seconds", type=positive(float), default=d.max_seconds,
                   help=f"longest decode of one file (default {d.max_seconds:g} s)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="echoseg", description="Atrial areas and Doppler VTI from echo DICOMs. "
                                "Research use only: not a medical device, not clinically validated.")
    p.add_argument("--version", action="version", version=f"echoseg {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("info", help="print the regions and calibration of files")
    s.add_argument("inputs", nargs="+", help="files or folders")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    _add_read_limits(s)
    s.set_defaults(func=_cmd_info)

    s = sub.add_parser("synth", help="write synthetic echo DICOMs with ground truth")
    s.add_argument("--out", required=True, type=Path)
    s.add_argument("--n", type=int, default=10, help="number of cases (or studies with --task study)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--task", default="study", help="a4c | doppler | mv | av | lvot | rvot | pv | study")
    s.add_argument("--family", default=None, help="style family (default: random training family)")
    s.add_argument("--heldout", action="store_true", help="use the held-out style family")
    s.add_argument("--jpeg-fraction", type=float, default=0.3)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_cmd_synth)

    s = sub.add_parser("measure", help="measure atrial areas and Doppler VTI (docs/output-format.md outputs)")
    s.add_argument("inputs", nargs="+", help="files or folders (walked recursively)")
    s.add_argument("--out", required=True, type=Path)
    s.add_argument("--task", default="auto", choices=["auto", *TASKS])
    s.add_argument("--save-masks", action="store_true", help="write DIR/masks/<stem>.<task>.png")
    s.add_argument("--sr", action="store_true", help="write DIR/sr/study-*.dcm: one DICOM SR (TID 1500) per study")
    s.add_argument("--keep-screen-text", action="store_true",
                   help="keep the screen outside the imaging regions (header text) in overlays and report.html")
    s.add_argument("--lvot-diameter", type=float, default=None, help="LVOT diameter (cm) for SV, AVA, Qp/Qs")
    s.add_argument("--rvot-diameter", type=float, default=None, help="RVOT diameter (cm) for Qp/Qs")
    s.add_argument("--cm-per-px", type=float, default=None, help="calibration for AVI/PNG inputs without regions")
    s.add_argument("--atria-model", default="atria", help="model folder (default: shipped weights)")
    s.add_argument("--doppler-model", default="doppler", help="model folder (default: shipped weights)")
    s.add_argument("--backend", default=None, choices=["auto", "onnxruntime", "torch"],
                   help="network runtime (default: ECHOSEG_BACKEND, else auto)")
    s.add_argument("--jobs", type=int, default=1, help="worker processes (threads per worker: cores / jobs)")
    s.add_argument("--engine", default="local", choices=["local", "ray"],
                   help="local processes, or Ray tasks (pip install 'echoseg[ray]'; docs/scale.md)")
    s.add_argument("--address", default=None, help="Ray cluster to join (--engine ray; default: start one here)")
    s.add_argument("--resume", action="store_true",
                   help="continue the run in --out (rerunning into it does too; this flag insists it exists)")
    s.add_argument("--fresh", action="store_true", help="discard the journal in --out and measure every file again")
    s.add_argument("--study-info", type=Path, default=None,
                   help="CSV: study (UID or folder), lvot_diameter_cm, rvot_diameter_cm, height_cm, weight_kg, bsa_m2")
    s.add_argument("--log-file", type=Path, default=None, help="write a detailed log here")
    s.add_argument("--quiet", action="store_true")
    _add_read_limits(s)
    s.set_defaults(func=_cmd_measure)

    s = sub.add_parser("listen", help="a DICOM node: receive studies (C-STORE), measure them, send SRs back")
    s.add_argument("--out", required=True, type=Path, help="results, as `measure --out` writes them")
    s.add_argument("--port", type=int, default=11112)
    s.add_argument("--ae-title", default="ECHOSEG", help="this node's AE title (default ECHOSEG)")
    s.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: this computer only)")
    s.add_argument("--send-to", default=None, metavar="HOST:PORT:AET", help="C-STORE each study's SR to this node")
    s.add_argument("--idle", type=float, default=30.0,
                   help="measure a study once no image of it came for this many seconds (default 30)")
    s.add_argument("--task", default="auto", choices=["auto", *TASKS])
    s.add_argument("--save-masks", action="store_true")
    s.add_argument("--keep-screen-text", action="store_true", help="keep header text in overlays and report.html")
    s.add_argument("--lvot-diameter", type=float, default=None, help="LVOT diameter (cm) for SV and AVA")
    s.add_argument("--study-info", type=Path, default=None, help="per-study diameters and body size (as measure)")
    s.add_argument("--atria-model", default="atria")
    s.add_argument("--doppler-model", default="doppler")
    s.add_argument("--backend", default=None, choices=["auto", "onnxruntime", "torch"])
    s.add_argument("--log-file", type=Path, default=None)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_cmd_listen)

    s = sub.add_parser("evaluate", help="agreement of measurements.csv with a reference truth.csv")
    s.add_argument("--pred", required=True, type=Path, help="measurements.csv written by echoseg measure")
    s.add_argument("--truth", required=True, type=Path, help="CSV with file, task, value (+ subgroup columns)")
    s.add_argument("--out", required=True, type=Path)
    s.add_argument("--by", nargs="*", default=[], help="truth.csv columns to split on, e.g. style rhythm")
    s.add_argument("--pred-masks", type=Path, default=None, help="measure --out folder (or its masks/)")
    s.add_argument("--truth-masks", type=Path, default=None, help="folder of reference <stem>.<task>.png")
    s.add_argument("--n-boot", type=int, default=1000)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_cmd_evaluate)

    s = sub.add_parser("train", help="train or fine-tune a model (config saved next to the weights)")
    s.add_argument("--config", type=Path, default=None, help="JSON training config (e.g. configs/atria.json)")
    s.add_argument("--task", choices=["atria", "doppler"], default=None)
    s.add_argument("--out", type=Path, default=None, help="model folder to write")
    s.add_argument("--steps", type=int, default=None)
    s.add_argument("--data", default=None, help="'synth' or a labelled folder (labelme, PNG masks, CAMUS, EchoNet)")
    s.add_argument("--init-from", default=None, help="model folder or shipped name to fine-tune from")
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_cmd_train)

    s = sub.add_parser("benchmark", help="regenerate the synthetic cohorts, measure, evaluate -> docs/benchmark.md")
    s.add_argument("--out", type=Path, default=Path("docs/benchmark.md"))
    s.add_argument("--n-a4c", type=int, default=30)
    s.add_argument("--n-doppler", type=int, default=100)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--no-baselines", action="store_true", help="skip the classical prompted baselines")
    s.add_argument("--work", type=Path, default=None, help="keep the cohorts' DICOMs and outputs here")
    s.add_argument("--atria-model", default="atria")
    s.add_argument("--doppler-model", default="doppler")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_cmd_benchmark)

    s = sub.add_parser("demo", help="generate a synthetic study and measure it (the README's main job)")
    s.add_argument("--out", default="out/demo", type=Path)
    s.add_argument("--seed", type=int, default=7)
    s.set_defaults(func=_cmd_demo)

    s = sub.add_parser("app", help="start the web demo on http://127.0.0.1:8000 (research use only)")
    s.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: this computer only)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--atria-model", default="atria", help="model folder (default: shipped weights)")
    s.add_argument("--doppler-model", default="doppler", help="model folder (default: shipped weights)")
    s.set_defaults(func=_cmd_app)
    return p


def main(argv: list[str] | None = None) -> int:
    from echoseg.errors import EchosegError

    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # run.json records the command line
    try:
        return int(args.func(args) or 0)
    except EchosegError as exc:
        print(f"echoseg {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
