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
    from echoseg.errors import EchosegError
    from echoseg.io.read import describe, find_inputs, format_text, read

    out, status = [], 0
    for path in find_inputs(args.inputs):
        try:
            desc = describe(read(path))
        except EchosegError as exc:
            desc, status = {"file": str(path), "error": str(exc)}, 1
        out.append(desc)
        if not args.json:
            print(format_text(desc) if "error" not in desc else f"{path}: ERROR {desc['error']}")
    if args.json:
        print(json.dumps(out, indent=1, default=float))
    return status


def _cmd_synth(args: argparse.Namespace) -> int:
    from echoseg.synth.dataset import write_dataset

    path = write_dataset(args.out, args.task, args.n, args.seed, heldout=args.heldout, family=args.family,
                         jpeg_fraction=args.jpeg_fraction, progress=not args.quiet)
    print(f"wrote {path.parent} (truth: {path})")
    return 0


def _cmd_measure(args: argparse.Namespace) -> int:
    from echoseg.doppler.study import study_rows
    from echoseg.options import Models
    from echoseg.pipeline import measure
    from echoseg.report.write import write_all

    models = Models(atria_path=args.atria_model, doppler_path=args.doppler_model)
    results = measure(args.inputs, args.task, cm_per_px=args.cm_per_px, models=models, progress=not args.quiet)
    studies = study_rows(results, args.lvot_diameter, args.rvot_diameter)
    paths = write_all(results, args.out, save_masks=args.save_masks, studies=studies)
    n_pass = sum(m.qc == "pass" for r in results for m in r.measurements)
    n_rows = sum(len(r.measurements) for r in results)
    print(f"{len(results)} file(s), {n_rows} measurement(s), {n_pass} passed QC -> {paths['measurements']}")
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="echoseg", description="Atrial areas and Doppler VTI from echo DICOMs. "
                                "Research use only: not a medical device, not clinically validated.")
    p.add_argument("--version", action="version", version=f"echoseg {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("info", help="print the regions and calibration of files")
    s.add_argument("inputs", nargs="+", help="files or folders")
    s.add_argument("--json", action="store_true", help="machine-readable output")
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
    s.add_argument("--lvot-diameter", type=float, default=None, help="LVOT diameter (cm) for SV, AVA, Qp/Qs")
    s.add_argument("--rvot-diameter", type=float, default=None, help="RVOT diameter (cm) for Qp/Qs")
    s.add_argument("--cm-per-px", type=float, default=None, help="calibration for AVI/PNG inputs without regions")
    s.add_argument("--atria-model", default="atria", help="model folder (default: shipped weights)")
    s.add_argument("--doppler-model", default="doppler", help="model folder (default: shipped weights)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=_cmd_measure)

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
    try:
        return int(args.func(args) or 0)
    except EchosegError as exc:
        print(f"echoseg {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
