"""Doppler flows that are not one of the five VTI sites: how many echoseg refuses (writes docs/nontarget.md).

For each non-target flow of :data:`echoseg.synth.nontarget.NONTARGETS` (tricuspid, mitral, aortic and
pulmonary regurgitation, tissue Doppler, tricuspid inflow, pulmonary and hepatic vein flow), ``--n``
signal-level screens in the held-out display style (seeds 9 700 000 + 1000 k + i, which training never
uses) are written as DICOMs and measured exactly as a user's file with ``--task auto``
(:func:`echoseg.pipeline.measure_file`). A refusal is right; a value that passes QC is a non-target
flow reported as a site. Synthetic screens only: real ones are in docs/real_world.md.

Run: .venv/bin/python benchmarks/nontarget.py [--n 20] [--out docs/nontarget.md]
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
from echoseg.synth.dicom_writer import write_case
from echoseg.synth.doppler_signal import generate_doppler_signal
from echoseg.synth.nontarget import NONTARGETS
from echoseg.vocab import NON_TARGETS

SEED0 = 9_700_000

# the first words of each QC reason, the way the table groups them
_REASONS = (("not one of the five VTI sites", "non-target class or label"), ("flow timing", "flow timing (ECG)"),
            ("flow direction", "flow direction"), ("too fast for", "Vmax above the site's flow"),
            ("too slow for", "Vmax below the site's flow"),
            ("tracer disagree", "tracer disagrees"), ("site uncertain", "site uncertain"),
            ("implausible VTI", "implausible VTI"), ("beats inconsistent", "beats inconsistent"),
            ("no complete beat", "no complete beat"), ("envelope uncertain", "envelope uncertain"))


@dataclass(frozen=True)
class FlowCount:
    """Outcome of one non-target flow's screens: refused, passed as each site, first reasons."""

    flow: str
    n: int
    refused: int
    passed_as: tuple[tuple[str, int], ...]
    first_reasons: tuple[tuple[str, int], ...]


def _first_reason(reason: str) -> str:
    for key, label in _REASONS:
        if key in reason.split(";")[0]:
            return label
    return "other"


def count_flow(flow: str, k: int, n: int, folder: Path, models: Models) -> FlowCount:
    """Write and measure ``n`` held-out screens of ``flow`` (the ``k``-th non-target flow)."""
    passed: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    refused = 0
    for i in range(n):
        seed = SEED0 + 1000 * k + i
        paths = write_case(generate_doppler_signal(seed, nontarget=flow, heldout=True), folder, f"{flow}_{seed}",
                           save_masks=False)
        m = measure_file(paths["dicom"], models, Options()).measurements[0]
        if m.qc == "pass":
            passed[m.task] += 1
        else:
            refused += 1
            reasons[_first_reason(m.reason)] += 1
    return FlowCount(flow, n, refused, tuple(sorted(passed.items())), tuple(reasons.most_common()))


def markdown(counts: list[FlowCount], cmd: str, wall_s: float) -> str:
    total = sum(c.n for c in counts)
    refused = sum(c.refused for c in counts)
    lines = ["# Non-target Doppler flows", "",
             f"Command: `{cmd}` ({wall_s:.0f} s on 2 CPU cores, {platform.machine()}); Doppler network shipped "
             "(src/echoseg/weights/doppler).", "",
             "Signal-level synthetic screens of flows that are not one of the five VTI sites, in the held-out "
             "display style, measured with `--task auto`. A refusal is the right answer; *passed as* counts "
             "non-target flows reported as a site with QC pass. *First reason*: the first reason of each "
             "refusal (later ones are not counted). Synthetic data only.", "",
             f"Refused: {refused} of {total} ({100 * refused / max(total, 1):.1f} %).", "",
             "| flow | screens | refused | passed as | first reason of the refusals |", "|---|---|---|---|---|"]
    for c in counts:
        passed = ", ".join(f"{task} {n}" for task, n in c.passed_as) or "–"
        why = ", ".join(f"{label} {n}" for label, n in c.first_reasons) or "–"
        lines.append(f"| {NON_TARGETS[c.flow]} | {c.n} | {c.refused} | {passed} | {why} |")
    lines += ["", "What passes is what the waveform cannot tell apart: tricuspid inflow has mitral inflow's E and A "
              "waves in the same direction and phase (only a label on the screen or in the file tells them "
              "apart, and QC uses both when present), and a tricuspid jet is a systolic jet away from the "
              "apex like aortic stenosis. Both are shown in docs/measurements.md (QC)."]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="screens per non-target flow")
    ap.add_argument("--out", type=Path, default=Path("docs/nontarget.md"))
    args = ap.parse_args()
    t0 = time.time()
    models = Models()
    with tempfile.TemporaryDirectory() as tmp:
        counts = [count_flow(flow, k, args.n, Path(tmp), models) for k, flow in enumerate(NONTARGETS)]
    cmd = ".venv/bin/python benchmarks/nontarget.py" + (f" --n {args.n}" if args.n != 20 else "")
    text = markdown(counts, cmd, time.time() - t0)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
