"""2D views that are not apical four-chamber: how many the atria path refuses (writes docs/views.md).

For each view of :data:`echoseg.synth.other_views.VIEWS` (parasternal long and short axis, apical
two-chamber, subcostal four-chamber, A4C shown apex down, a zoomed LV), ``--n`` synthetic cines
(seeds 9 800 000 + 1000 k + i, which training never uses; even i in the held-out display style,
odd i scanner-formed B-mode) are written as DICOMs and measured exactly as a user's file with
``--task auto`` (:func:`echoseg.pipeline.measure_file`). A case is refused when neither atrium
passes QC. Control: ``--n`` A4C cines of :func:`echoseg.synth.a4c.generate_a4c` (seeds
9 806 000 + i, the same appearance split), which should pass. Synthetic cines only.

Run: .venv/bin/python benchmarks/views.py [--n 10] [--out docs/views.md]
"""
from __future__ import annotations

import argparse
import platform
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from echoseg.options import Models, Options
from echoseg.pipeline import measure_file
from echoseg.synth.a4c import generate_a4c
from echoseg.synth.a4c_scanner import SCANNER_FAMILY
from echoseg.synth.case import SynthCase
from echoseg.synth.dicom_writer import to_dataset
from echoseg.synth.other_views import VIEW_NAMES, VIEWS, generate_other_view

SEED0 = 9_800_000
CONTROL = "a4c"
# each view's block of seeds (SEED0 + 1000 k): fixed, so a view added later does not move the others' cines
SEED_BLOCK = {name: k for k, name in enumerate(("plax", "a2c", "psax", "subcostal", "apex_down", "zoomed", CONTROL,
                                                "mirrored"))}

# what a refusal's first reason starts with -> how the table names it
_REASONS = (("not an apical four-chamber view (looks like ", None),
            ("not a standard apical four-chamber display (looks like ", None), ("no LA found", "no LA found"),
            ("no RA found", "no RA found"), ("implausible area", "implausible area"),
            ("atrium cut off", "atrium cut off"), ("fragmented mask", "fragmented mask"),
            ("low model confidence", "low model confidence"), ("no cardiac motion", "no cardiac motion"))


@dataclass(frozen=True)
class ViewCount:
    """Outcome of one view's cines: refused (neither atrium passes), each atrium passing, first reasons."""

    view: str
    n: int
    refused: int
    la_passed: int
    ra_passed: int
    first_reasons: tuple[tuple[str, int], ...]


def reason_group(reason: str) -> str:
    """The group of a refusal's first reason: the view check's "looks like ..." or the QC rule's name."""
    first = reason.split(";")[0]
    for key, label in _REASONS:
        if first.startswith(key):
            return f"view: {first[len(key):].split(')')[0]}" if label is None else label
    return "other"


def case_of(view: str, seed: int, i: int) -> SynthCase:
    """Cine ``i`` of ``view`` (or the A4C control): held-out style for even i, scanner-formed for odd i."""
    family, heldout = (None, True) if i % 2 == 0 else (SCANNER_FAMILY, False)
    if view == CONTROL:
        return generate_a4c(seed, family=family, heldout=heldout)
    return generate_other_view(seed, view, family=family, heldout=heldout)


def count_view(view: str, n: int, folder: Path, models: Models) -> ViewCount:
    """Write and measure ``n`` cines of ``view`` (seeds from its :data:`SEED_BLOCK`), as DICOMs named after
    their view."""
    reasons: Counter[str] = Counter()
    refused = la = ra = 0
    for i in range(n):
        seed = SEED0 + 1000 * SEED_BLOCK[view] + i
        ds = to_dataset(case_of(view, seed, i))
        ds.SeriesDescription = "2D"  # not "A4C": the file does not name its view
        path = folder / f"{view}_{seed}.dcm"
        ds.save_as(path, enforce_file_format=True)
        rows = {m.task: m for m in measure_file(path, models, Options(task="auto")).measurements}
        la_ok, ra_ok = rows["la_area"].qc == "pass", rows["ra_area"].qc == "pass"
        la, ra = la + la_ok, ra + ra_ok
        if not (la_ok or ra_ok):
            refused += 1
            reasons[reason_group(rows["la_area"].reason)] += 1
    return ViewCount(view, n, refused, la, ra, tuple(reasons.most_common()))


def markdown(counts: list[ViewCount], cmd: str, wall_s: float) -> str:
    others = [c for c in counts if c.view != CONTROL]
    total, refused = sum(c.n for c in others), sum(c.refused for c in others)
    lines = ["# Views that are not apical four-chamber", "",
             f"Command: `{cmd}` ({wall_s:.0f} s on 2 CPU cores, {platform.machine()}); atria network shipped "
             "(src/echoseg/weights/atria).", "",
             "Synthetic 2D cines (src/echoseg/synth/other_views.py) of views that are not A4C, written as "
             "calibrated ultrasound DICOMs (SeriesDescription \"2D\") and measured with `--task auto`; half in the "
             "held-out display style, half scanner-formed B-mode. *Refused*: neither atrium passes QC (the right "
             "answer); *LA / RA passed*: cines where that atrium was reported with QC pass. *First reason*: the "
             "LA row's first reason of each refused cine, grouped (*view: ...* is the view check's \"looks like\"). "
             "The last row is the control: A4C cines of the same generator family, which should pass. "
             "Synthetic data only; no real non-A4C views were measured.", "",
             f"Refused: {refused} of {total} non-A4C cines ({100 * refused / max(total, 1):.1f} %).", "",
             "| view | cines | refused | LA passed | RA passed | first reason of the refusals |",
             "|---|---|---|---|---|---|"]
    for c in counts:
        name = "A4C control (generate_a4c)" if c.view == CONTROL else VIEW_NAMES[c.view]
        why = ", ".join(f"{label} {n}" for label, n in c.first_reasons) or "–"
        lines.append(f"| {name} | {c.n} | {c.refused} | {c.la_passed} | {c.ra_passed} | {why} |")
    lines += ["", "Apex-down displays are refused by the sector's shape (it widens upward: `sector_taper` in "
              "src/echoseg/atria/view.py), not by the chamber layout, which the network draws A4C-like into most "
              "of them. What passes is what the layout rules cannot tell from an A4C: in a subcostal view the "
              "network draws an A4C layout into the heart lying across the sector (atria to one side, ventricles "
              "to the other), and now and then it finds four chambers in a two-chamber or zoomed-LV cine. "
              "A refused control is an A4C the layout rules read as rotated. A mirrored display (the LV on the "
              "left of the screen) gets an A4C layout with the chambers named by where they lie, so its LA and RA "
              "come out swapped; it is refused when the ventricle labelled LV is smaller than 0.8 x the one labelled "
              "RV (`MIN_LV_RV`). The synthetic hearts' ventricles differ less in size than real ones, so some "
              "mirrored synthetic cines pass with the atria swapped; on the real SonoSite cine shown mirrored, both "
              "atria are refused (docs/real_world.md)."]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10, help="cines per view (and A4C controls)")
    ap.add_argument("--out", type=Path, default=Path("docs/views.md"))
    args = ap.parse_args()
    t0 = time.time()
    models = Models()
    with tempfile.TemporaryDirectory() as tmp:
        counts = [count_view(view, args.n, Path(tmp), models) for view in (*VIEWS, CONTROL)]
    cmd = ".venv/bin/python benchmarks/views.py" + (f" --n {args.n}" if args.n != 10 else "")
    text = markdown(counts, cmd, time.time() - t0)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
