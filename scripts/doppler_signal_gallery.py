"""Save a few signal-level synthetic Doppler screens (echoseg.synth.doppler_signal) as PNGs.

Usage: ``python scripts/doppler_signal_gallery.py [--out docs/images] [--size 600 800]``

Writes ``doppler_signal_<name>.png`` for a CW aortic stenosis, an LVOT PW, a mitral E/A PW, a PV PW
(and one with an analysis program's segmentation fill painted over the flow), a tricuspid-regurgitation and an aortic-regurgitation CW (non-target) screen, so that they can be
shown beside real screens. Each picture is the first seed (from 0) whose case is of the wanted
kind, so the gallery is reproducible. Only synthetic images are written; real screens are never
copied here.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from echoseg.synth.case import SynthCase
from echoseg.synth.doppler_signal import generate_doppler_signal

ROOT = Path(__file__).resolve().parents[1]

# name -> (generator keyword arguments, acceptance test on the case)
GALLERY: dict[str, tuple[dict, Callable[[SynthCase], bool]]] = {
    "av_stenosis_cw": ({"site": "av"}, lambda c: c.truth["variant"] == "stenosis" and not c.truth["annotated"]
               and not c.extra["filled"]),
    "lvot_pw": ({"site": "lvot"}, lambda c: c.truth["annotated"] and not c.extra["filled"]),
    "mv_ea_pw": ({"site": "mv"}, lambda c: c.truth["mode"] == "PW" and not c.truth["irregular"] and not c.extra["filled"]),
    "pv_pw": ({"site": "pv"}, lambda c: c.truth["mode"] == "PW" and not c.extra["filled"]),
    "pv_pw_filled": ({"site": "pv"}, lambda c: c.extra["filled"]),
    "tr_other_cw": ({"nontarget": "tr"}, lambda c: not c.extra["filled"]),
    "ar_other_cw": ({"nontarget": "ar"}, lambda c: not c.extra["filled"]),
}


def find_case(kwargs: dict, accept: Callable[[SynthCase], bool], size: tuple[int, int],
              start: int = 0) -> tuple[int, SynthCase]:
    """The first seed >= start whose case passes ``accept``."""
    seed = start
    while True:
        case = generate_doppler_signal(seed, image_size=size, **kwargs)
        if accept(case):
            return seed, case
        seed += 1


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    ap.add_argument("--size", type=int, nargs=2, default=(600, 800), metavar=("ROWS", "COLS"))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (kwargs, accept) in GALLERY.items():
        seed, case = find_case(kwargs, accept, tuple(args.size))
        t0 = time.perf_counter()
        generate_doppler_signal(seed, image_size=tuple(args.size), **kwargs)
        dt = time.perf_counter() - t0
        path = args.out / f"doppler_signal_{name}.png"
        Image.fromarray(case.frames[0]).save(path, optimize=True)
        v = case.truth["value"]
        print(f"{path.name}: seed {seed}, {case.truth['mode']} {case.extra['flow']}, "
              f"VTI {'-' if v is None else f'{v:.1f} cm'}, {dt * 1000:.0f} ms")


if __name__ == "__main__":
    main()
