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
from typing import Any

import numpy as np

from echoseg.doppler import task as doppler_task
from echoseg.doppler.prepare import strip_luminance
from echoseg.doppler.screen_scale import read_screen_scale, words_from_ocr_csv
from echoseg.doppler.tracer import trace_envelope
from echoseg.errors import EchosegError
from echoseg.io.calibration import manual_spectral_calibration, velocity_to_row
from echoseg.io.read import read
from echoseg.options import Models, Options
from echoseg.pipeline import measure_file
from echoseg.report.overlay import overlay_image
from echoseg.types import DopplerDetails, FileResult, SpectralCalibration

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_world_a4c import a4c_section  # noqa: E402  (the A4C cases of the same page)
from appearance import model_label  # noqa: E402  (how the page names the network)
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


def _peak(result: FileResult, task: str, quantity: str) -> float | None:
    """The strip's E peak, A peak or Vmax (cm/s), means over complete beats."""
    d = result.measurements[0].details
    if isinstance(d, DopplerDetails) and quantity.endswith(("_e_cm_s", "_a_cm_s")):
        return d.summary.e_cm_s if quantity.endswith("_e_cm_s") else d.summary.a_cm_s
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
    else:  # E / A peak of mitral inflow (means over complete beats), or Vmax
        raw = _peak(given, m.task, case.quantity)
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


@dataclass(frozen=True)
class Sheet:
    """The contact sheet of the unlabelled CW screens: how many were read, traced and passed QC."""

    n: int
    scale_read: int
    network_beats: tuple[int, ...]
    tracer_agrees: int
    passed: int
    reasons: tuple[str, ...]


PLACEHOLDER_S_PER_PX = 0.0025  # 100 mm/s at ~0.25 mm per pixel: used only when the time scale is unread


def unlabelled_files(folder: Path) -> list[Path]:
    """The unlabelled CW screens of ``folder``, in their numbered order."""
    return sorted((f for f in folder.iterdir() if f.suffix in (".png", ".jpeg", ".jpg")), key=lambda f: int(f.stem))


def screen_calibration(rgb: np.ndarray, folder: Path, name: str) -> SpectralCalibration:
    """The CW calibration of an unlabelled screen from its tick labels (the folder's OCR listing); the
    time scale a placeholder where unread. EchosegError when the velocity scale cannot be read."""
    scale = read_screen_scale(rgb, words_from_ocr_csv(folder / "ocr_results.csv", name))
    return manual_spectral_calibration(scale.s_per_px or PLACEHOLDER_S_PER_PX, scale.cm_s_per_px,
                                       scale.baseline_row, scale.box, "CW")


def contact_sheet(folder: Path, models: Models, out_png: Path, cols: int = 5) -> Sheet:
    """Trace every unlabelled CW screen (velocity scale read off its tick labels, from the folder's
    OCR listing) with the network (cyan) and the model-free tracer (magenta); one thumbnail each."""
    from PIL import Image, ImageDraw

    files = unlabelled_files(folder)
    thumbs, beats, agree, passed, read_ok, reasons = [], [], 0, 0, 0, []
    for f in files:
        rgb = np.asarray(Image.open(f).convert("RGB"))
        try:
            cal = screen_calibration(rgb, folder, f.name)
        except EchosegError as exc:
            thumbs.append(_thumb(rgb, f"{f.stem}: scale not read"))
            reasons.append(f"{f.name}: {exc}")
            continue
        read_ok += 1
        res = doppler_task.measure(read(f, spectral=cal), "av_vti", models, Options())
        m = res.measurements[0]
        traced = trace_envelope(strip_luminance(rgb, cal), cal, side=-1)
        beats.append(sum(1 for b in res.beats["av_vti"] if b.complete))
        agree += int("tracer disagree" not in m.reason)
        passed += int(m.qc == "pass")
        img = Image.fromarray(rgb)
        d = ImageDraw.Draw(img)
        if res.envelope is not None:
            d.line(list(zip(res.envelope[0].tolist(), res.envelope[1].tolist())), fill=(0, 255, 255), width=2)
        d.line(list(zip(traced.cols.tolist(), velocity_to_row(cal, traced.velocity_cm_s).tolist())),
               fill=(255, 0, 255), width=2)
        thumbs.append(_thumb(np.asarray(img), f"{f.stem}: {m.qc}"))
    _grid(thumbs, cols).save(out_png, quality=85)
    return Sheet(len(files), read_ok, tuple(beats), agree, passed, tuple(reasons))


def _thumb(rgb: np.ndarray, label: str, width: int = 320) -> np.ndarray:
    from PIL import Image, ImageDraw

    img = Image.fromarray(rgb)
    img = img.resize((width, max(1, round(img.height * width / img.width))))
    ImageDraw.Draw(img).text((4, 4), label, fill=(255, 255, 0))
    return np.asarray(img)


def _grid(thumbs: list[np.ndarray], cols: int) -> Any:
    from PIL import Image

    h = max(t.shape[0] for t in thumbs)
    w = thumbs[0].shape[1]
    rows = -(-len(thumbs) // cols)
    sheet = Image.new("RGB", (cols * w, rows * h))
    for i, t in enumerate(thumbs):
        sheet.paste(Image.fromarray(t), ((i % cols) * w, (i // cols) * h))
    return sheet


def sheet_lines(sheet: Sheet, png: str) -> list[str]:
    """The contact sheet's section of docs/real_world.md."""
    n_beats = sheet.network_beats
    return ["", "## 40 unlabelled real CW aortic screens (MIT, shared/real/unlabelled_cw_av)", "",
            f"No DICOM calibration: the velocity scale is read off each screen's tick labels "
            f"(`echoseg.doppler.screen_scale`, words from the folder's OCR listing): read on {sheet.scale_read} of "
            f"{sheet.n}. Measured as AV VTI with the network (cyan) and the model-free tracer (magenta) drawn: "
            f"complete beats found per screen {min(n_beats, default=0)}-{max(n_beats, default=0)} "
            f"(median {float(np.median(n_beats)) if n_beats else 0:.0f}); network and tracer agree on "
            f"{sheet.tracer_agrees} of {sheet.scale_read}; QC passed {sheet.passed} (the time scale is a placeholder "
            f"where it could not be read, so VTI values are not reported here).", "", f"![contact sheet]({png})", ""]


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
    ap.add_argument("--doppler-model", default="doppler", help="model folder (default: the shipped weights)")
    ap.add_argument("--atria-model", default="atria", help="model folder (default: the shipped weights)")
    args = ap.parse_args()
    if not (args.real / "truth.csv").exists():
        print(f"no real references at {args.real} (truth.csv missing): nothing measured, nothing written")
        return 0
    models = Models(doppler_path=args.doppler_model)
    t0 = time.perf_counter()
    rows = [measure_case(args.real, c, models, args.overlays) for c in read_cases(args.real)
            if c.file.startswith("doppler/") and not c.quantity.endswith("_vmax")]
    sheet_png = args.out.parent / "images" / "real_world_cw_contact_sheet.jpg"
    sheet_png.parent.mkdir(parents=True, exist_ok=True)
    unlabelled = args.real / "unlabelled_cw_av"
    extra = sheet_lines(contact_sheet(unlabelled, models, sheet_png), "images/real_world_cw_contact_sheet.jpg") \
        if (unlabelled / "ocr_results.csv").exists() else []
    cmd = ".venv/bin/python benchmarks/real_world.py" + (" " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else "")
    shown = model_label("doppler", args.doppler_model)
    text = markdown(rows, cmd, time.perf_counter() - t0, f"Doppler network {shown}")
    text = text + "\n".join(extra) + "\n" + "\n".join(a4c_section(args.real, args.out.parent / "images", args.atria_model,
                                                              args.overlays.parent / "a4c"))
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
