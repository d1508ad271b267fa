"""echoseg on real apical four-chamber images: the markdown section of docs/real_world.md for them.

Cases: the SonoSite apical cine ``color3d_jpeg_baseline.dcm`` of pydicom-data (MIT; 120 frames,
calibrated by its own regions) and the two echonet frames of ``<real>/a4c`` (not licensed:
measured with ``--cm-per-px`` 0.019 / 0.023 from their depth marks, see the real folder's README).
Each is measured exactly as a user's file (:func:`echoseg.pipeline.measure_file`). Written pictures:
the SonoSite overlay and its area curves under ``docs/images/real_a4c_*`` (MIT, committable), the
echonet overlays under ``out/real_world/a4c/`` only (git-ignored; never commit them). Cases whose
source is absent are skipped with a line saying so.

Run: .venv/bin/python benchmarks/real_world_a4c.py [--real ../shared/real] [--images docs/images]
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echoseg.options import Models, Options
from echoseg.pipeline import measure_file
from echoseg.report.overlay import overlay_image
from echoseg.types import AtriaDetails, FileResult, Measurement

ROOT = Path(__file__).resolve().parents[1]
ECHONET = (("echonet_a4c_good_d17cm.png", 0.019), ("echonet_a4c_good_d20cm.png", 0.023))
PRIVATE_OUT = ROOT / "out" / "real_world" / "a4c"


@dataclass(frozen=True)
class A4CCase:
    """One real A4C input: ``path``, explicit ``cm_per_px`` (None: the file's regions), whether its
    pictures may be committed (``licensed``), and the label shown."""

    label: str
    path: Path
    cm_per_px: float | None
    licensed: bool
    mirrored: bool = False  # shown flipped left to right (the LV on the left of the screen): must be refused


def sonosite_path() -> Path | None:
    """pydicom-data's SonoSite apical cine, or None when pydicom-data is not installed."""
    try:
        from pydicom.data import get_testdata_file
        found = get_testdata_file("color3d_jpeg_baseline.dcm")
    except Exception:  # noqa: BLE001 - no pydicom-data: the case is skipped
        return None
    return Path(str(found)) if found else None


def cases(real: Path) -> tuple[list[A4CCase], list[str]]:
    """The cases found and a line for each one skipped."""
    found, skipped = [], []
    sono = sonosite_path()
    if sono is not None:
        found.append(A4CCase("SonoSite apical cine (pydicom-data `color3d_jpeg_baseline.dcm`, MIT)", sono, None, True))
        found.append(A4CCase("the same cine shown mirrored (flipped left to right: LV on the left)", sono, None, True,
                             mirrored=True))
    else:
        skipped.append("- SonoSite cine skipped: pydicom-data is not installed")
    for name, cm in ECHONET:
        p = real / "a4c" / name
        if p.is_file():
            found.append(A4CCase(f"echonet `{name}` (--cm-per-px {cm})", p, cm, False))
        else:
            skipped.append(f"- `{name}` skipped: {p} not found")
    return found, skipped


def spread(m: Measurement) -> float | None:
    """Cycle-to-cycle spread of the kept cycles' maxima: SD / mean (None with fewer than 2)."""
    d = m.details
    if not isinstance(d, AtriaDetails) or len(d.cycle_values_cm2) < 2:
        return None
    v = np.asarray(d.cycle_values_cm2)
    return float(v.std(ddof=1) / v.mean())


def plot_curves(res: FileResult, out: Path) -> None:
    """A small PNG of the LA and RA area curves with the kept cycles' maxima and the measured frames."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 2.4), dpi=100)
    colours = {"la_area": "tab:red", "ra_area": "tab:blue"}
    for m in res.measurements:
        curve = res.curves.get(m.task)
        if curve is None:
            continue
        ax.plot(np.arange(curve.size), curve, color=colours.get(m.task, "k"), lw=1.2, label=m.task)
        if m.frame is not None:
            ax.plot([m.frame], [curve[m.frame]], "o", color=colours.get(m.task, "k"), ms=6)
    ax.set_xlabel("frame")
    ax.set_ylabel("area (cm²)")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("atrial area per frame (dot: measured frame)", fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def _value(m: Measurement) -> str:
    raw = m.details.raw_value if isinstance(m.details, AtriaDetails) else None
    if m.qc == "pass" and m.value is not None:
        return f"{m.value:.1f} cm²"
    return f"refused ({m.reason})" + (f"; before QC {raw:.1f} cm²" if raw else "")


def measure_mirrored(path: Path, models: Models) -> FileResult:
    """The cine at ``path`` flipped left to right (its 2D regions with it), measured by the atria family."""
    import dataclasses

    from echoseg.atria.task import measure
    from echoseg.io.read import read

    img = read(path)
    w = img.shape[1]
    regions = tuple(dataclasses.replace(r, x0=w - 1 - r.x1, x1=w - 1 - r.x0) for r in img.regions)
    return measure(dataclasses.replace(img, frames=np.ascontiguousarray(img.frames[:, :, ::-1]), regions=regions),
                   "auto", models, Options())


def _row(case: A4CCase, m: Measurement) -> str:
    d = m.details
    n_total = d.n_total if isinstance(d, AtriaDetails) else 0
    s = spread(m)
    warn = "; ".join(d.warnings) if isinstance(d, AtriaDetails) else ""
    return (f"| {case.label} | {m.task} | {_value(m)} | {m.frame if m.frame is not None else '-'} | "
            f"{m.n} / {n_total} | {'-' if s is None else f'{100 * s:.1f} %'} | {warn or '-'} |")


def a4c_section(real: Path, out_images: Path, atria_model: str = "atria", private_out: Path = PRIVATE_OUT) -> list[str]:
    """Markdown lines for the real A4C cases; writes the pictures (see the module docstring).

    ``atria_model``: the atria network's folder (default: the shipped weights); ``private_out``: where the
    unlicensed cases' overlays go (never into docs/).
    """
    found, skipped = cases(Path(real))
    lines = ["## Real apical four-chamber images", "",
             "Measured as a user's file (`echoseg measure`); the cine's loop goes through the temporal "
             "consistency of docs/measurements.md (outlier frames, consistent cycles). Spread: SD / mean of "
             "the kept cycles' maxima. No sonographer values exist for these images.", "",
             "| case | atrium | value | frame | cycles kept / found | spread of maxima | warnings |",
             "|---|---|---|---|---|---|---|"]
    models = Models(atria_path=atria_model)
    pictures: list[str] = []
    for case in found:
        if case.mirrored:
            lines += [_row(case, m) for m in measure_mirrored(case.path, models).measurements]
            continue
        res = measure_file(case.path, models, Options(cm_per_px=case.cm_per_px))
        lines += [_row(case, m) for m in res.measurements]
        img = overlay_image(res)
        stem = case.path.stem
        if case.licensed:
            out_images.mkdir(parents=True, exist_ok=True)
            if img is not None:
                img.save(out_images / f"real_a4c_{stem}.png")
                pictures.append(f"![{stem} overlay](images/real_a4c_{stem}.png)")
            if any(c.size > 1 for c in res.curves.values()):
                plot_curves(res, out_images / f"real_a4c_{stem}_curve.png")
                pictures.append(f"![{stem} area curves](images/real_a4c_{stem}_curve.png)")
        elif img is not None:
            private_out.mkdir(parents=True, exist_ok=True)
            img.save(private_out / f"{stem}.png")
            shown = private_out.relative_to(ROOT) if private_out.is_relative_to(ROOT) else private_out
            pictures.append(f"- `{stem}` overlay: {shown}/{stem}.png (not licensed, not committed)")
    lines += [""] + skipped + ([""] if skipped else []) + pictures + [
        "", "The SonoSite cine is from pydicom-data (MIT licence, (c) pydicom contributors); its pictures here are "
        "derived from it. Command: `.venv/bin/python benchmarks/real_world_a4c.py`.", ""]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, default=ROOT.parent / "shared" / "real")
    ap.add_argument("--images", type=Path, default=ROOT / "docs" / "images")
    ap.add_argument("--atria-model", default="atria", help="model folder (default: the shipped weights)")
    ap.add_argument("--private-out", type=Path, default=PRIVATE_OUT, help="overlays of the unlicensed cases")
    args = ap.parse_args()
    print("\n".join(a4c_section(args.real, args.images, args.atria_model, args.private_out)))


if __name__ == "__main__":
    main()
