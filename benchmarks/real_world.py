"""echoseg on real clinical Doppler screens (writes docs/real_world.md).

Every case of the shared real folder (``../shared/real``, beside the repository; see its README) is
measured exactly as a user's file: once with the site routed by echoseg (``--task auto``) and once
with the site given (``--task <site>_vti``), and compared with the sonographer's value in its
truth.csv. Non-target screens (not one of the five VTI sites) must be refused. Overlays go to
``out/real_world/overlays/`` and are never committed: the screens are not licensed for
redistribution (shared/real/README.md). Skips cleanly, writing nothing, when the folder is absent.

Run: .venv/bin/python benchmarks/real_world.py [--real ../shared/real] [--out docs/real_world.md]
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echoseg.options import Models, Options
from echoseg.pipeline import measure_file
from echoseg.report.overlay import overlay_image
from echoseg.types import FileResult

ROOT = Path(__file__).resolve().parents[1]
TARGET_BAR = 0.10  # each echonet panel within 10 % of the sonographer
REFERENCE_AI_ERROR = {"mv": 1.4, "av": 7.4, "lvot": 5.7, "rvot": 3.7, "pv": 3.1}  # % (shared/real/README.md)


@dataclass(frozen=True)
class Case:
    """One real screen and what the sonographer measured on it."""

    file: str  # relative to the real folder, e.g. doppler/echonet_av.dcm
    quantity: str  # e.g. av_vti, mv_e_cm_s, not_a_target
    value: float | None
    note: str


@dataclass(frozen=True)
class Row:
    case: Case
    site_given: str | None
    value: float | None  # QC-passed echoseg value, site given (VTI cm, or E peak cm/s)
    raw: float | None  # the value before QC, for the error column
    qc: str
    reason: str
    route: str  # auto run: site chosen, or the refusal


def read_cases(real: Path) -> list[Case]:
    """truth.csv rows, one Case per quantity (VTI, Vmax, E, A, not_a_target)."""
    with (real / "truth.csv").open(newline="") as fh:
        return [Case(r["file"], r["quantity"], float(r["value"]) if r["value"] else None,
                     r["how the value was obtained"]) for r in csv.DictReader(fh)]


def _vmax(result: FileResult, task: str) -> float | None:
    comp = [b.vmax_cm_s for b in result.beats.get(task, ()) if b.complete]
    return float(np.mean(comp)) if comp else None


def _route(result: FileResult) -> str:
    m = result.measurements[0]
    site = m.task.removesuffix("_vti")
    return f"{site}, refused" if m.qc != "pass" else f"{site}, {result.route}"


def measure_case(real: Path, case: Case, models: Models, overlays: Path) -> Row:
    """Measure one case with the site routed and with the site given."""
    path = real / case.file
    auto = measure_file(path, models, Options(task="auto"))
    site = case.quantity.split("_")[0] if case.quantity != "not_a_target" else None
    given = measure_file(path, models, Options(task=f"{site}_vti")) if site else auto
    m = given.measurements[0]
    if case.quantity.endswith("_vti"):
        value, raw = m.value, _raw_value(given)
    else:  # Vmax / E peak: the mean Vmax of complete beats
        raw = _vmax(given, m.task)
        value = raw if m.qc == "pass" else None
    img = overlay_image(given)
    if img is not None:
        overlays.mkdir(parents=True, exist_ok=True)
        img.save(overlays / f"{Path(case.file).stem}.png")
    return Row(case, site, value, raw, m.qc, m.reason, _route(auto))


def _raw_value(result: FileResult) -> float | None:
    """Mean VTI of complete beats before QC (what QC judged)."""
    beats = [b.vti_cm for beats in result.beats.values() for b in beats if b.complete]
    return float(np.mean(beats)) if beats else None


def _fmt(v: float | None, digits: int = 1) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _error(row: Row) -> str:
    if row.case.value is None or row.raw is None:
        return "–"
    return f"{100 * (row.raw - row.case.value) / row.case.value:+.0f} %"


def markdown(rows: list[Row], cmd: str, wall_s: float, models: str) -> str:
    """docs/real_world.md: the table, the targets and how they stand."""
    lines = ["# echoseg on real Doppler screens", "",
             f"Command: `{cmd}` ({wall_s:.0f} s on {os.cpu_count()} CPU cores, {platform.machine()}); models: {models}.",
             "", "Real clinical screens (shared/real, not in this repository: they are not licensed for "
             "redistribution), wrapped as calibrated DICOMs, with the sonographer's values. *echoseg* is the value "
             "with the site given (`--task <site>_vti`) before QC, *QC* its verdict; *route* is what "
             "`--task auto` chose. The sonographer traces one beat; echoseg averages complete beats. "
             "Overlays: `out/real_world/overlays/<file>.png` after running the command (not committed). "
             "Research software: nothing here is a clinical validation.", "",
             "| file | quantity | sonographer | echoseg (before QC) | error | QC | reason | route (auto) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {Path(r.case.file).name} | {r.case.quantity} | {_fmt(r.case.value)} | {_fmt(r.raw)} | "
                     f"{_error(r)} | {r.qc} | {r.reason or '–'} | {r.route} |")
    lines += ["", "## Targets (issue: real clinical Doppler screens)", ""] + _targets(rows)
    return "\n".join(lines) + "\n"


def _targets(rows: list[Row]) -> list[str]:
    vti = [r for r in rows if r.case.quantity.endswith("_vti") and r.case.file.startswith("doppler/echonet_")]
    errs = [abs(r.value - r.case.value) / r.case.value for r in vti if r.value is not None and r.case.value]
    passed, wrong = len(errs), sum(1 for e in errs if e > TARGET_BAR)
    others = [r for r in rows if r.case.quantity == "not_a_target"]
    refused = [r for r in others if "refused" in r.route]
    ref_ai = sum(REFERENCE_AI_ERROR.values()) / len(REFERENCE_AI_ERROR)
    return [f"- echonet VTI panels passing QC: {passed} of {len(vti)}; within 10 %: "
            f"{passed - wrong}; mean absolute error of passing values: "
            f"{_fmt(100 * float(np.mean(errs)) if errs else None)} % (reference AI on its own panels: {ref_ai:.1f} %).",
            f"- QC-passed values off by more than 10 %: {wrong}.",
            f"- non-target screens refused with the site routed: {len(refused)} of {len(others)}."]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, default=ROOT.parent / "shared" / "real")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "real_world.md")
    ap.add_argument("--overlays", type=Path, default=ROOT / "out" / "real_world" / "overlays")
    args = ap.parse_args()
    if not (args.real / "truth.csv").exists():
        print(f"no real references at {args.real} (truth.csv missing): nothing measured, nothing written")
        return 0
    models = Models()
    t0 = time.perf_counter()
    rows = [measure_case(args.real, c, models, args.overlays) for c in read_cases(args.real)
            if c.file.startswith("doppler/") and not c.quantity.endswith(("_vmax", "_a_cm_s"))]
    cmd = "python benchmarks/real_world.py" + (" " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else "")
    text = markdown(rows, cmd, time.perf_counter() - t0, "shipped atria and doppler (src/echoseg/weights)")
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
