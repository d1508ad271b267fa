"""Command line: a thin layer over echoseg's Python API. Heavy imports happen inside each command."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__


def _cmd_info(args: argparse.Namespace) -> int:
    from .errors import EchosegError
    from .io import describe, find_inputs, format_text, read

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
    from .synth.dataset import write_dataset

    path = write_dataset(args.out, args.task, args.n, args.seed, heldout=args.heldout, family=args.family,
                         jpeg_fraction=args.jpeg_fraction, progress=not args.quiet)
    print(f"wrote {path.parent} (truth: {path})")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(Path(args.out), seed=args.seed)


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

    s = sub.add_parser("demo", help="generate a synthetic study and measure it (the README's main job)")
    s.add_argument("--out", default="out/demo", type=Path)
    s.add_argument("--seed", type=int, default=7)
    s.set_defaults(func=_cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
