"""The README's main job: generate a synthetic demo study, read it back and report it."""
from __future__ import annotations

import csv
from pathlib import Path


def run_demo(out: Path, seed: int = 7) -> int:
    """Write a synthetic study (one A4C cine + five Doppler sites) under ``out/study`` and report it."""
    from .calibration import spectral_calibration, tissue_calibration
    from .io import read
    from .synth.dataset import write_dataset

    truth_csv = write_dataset(out / "study", "study", 1, seed, progress=False)
    with open(truth_csv) as fh:
        truth = list(csv.DictReader(fh))
    print(f"synthetic study written to {truth_csv.parent}")
    for row in truth:
        img = read(truth_csv.parent / row["file"])
        if row["task"] in ("la_area", "ra_area"):
            cal = tissue_calibration(img.regions, img.shape, img.path)
            scale = f"{cal.cm_per_px_x:.4f} cm/px"
        else:
            sc = spectral_calibration(img.regions, img.shape, img.path)
            scale = f"{sc.s_per_px * 1000:.2f} ms/px, {sc.cm_s_per_px:+.3f} cm/s/px, baseline row {sc.baseline_row:.0f}"
        unit = "cm2" if row["task"].endswith("area") else "cm"
        print(f"  {row['file']:<24} {row['task']:<9} truth {float(row['value']):7.2f} {unit:<4} "
              f"({img.n_frames} frame(s), {scale})")
    return 0
