"""The README's main job: generate a synthetic demo study, measure it, write the report."""
from __future__ import annotations

import csv
from pathlib import Path


def run_demo(out: Path, seed: int = 7) -> int:
    """Write a synthetic study (one A4C cine + five Doppler sites) under ``out/study``, measure it
    with the shipped models into ``out/results`` and print the values next to the generator's truth."""
    from echoseg.pipeline import measure
    from echoseg.doppler.study import study_rows
    from echoseg.report.write import write_all

    from echoseg.synth.dataset import write_dataset

    truth_csv = write_dataset(out / "study", "study", 1, seed, progress=False)
    with open(truth_csv) as fh:
        truth = {(r["file"], r["task"]): float(r["value"]) for r in csv.DictReader(fh)}
    print(f"synthetic study written to {truth_csv.parent}")
    results = measure([truth_csv.parent], progress=True)
    studies = study_rows(results, lvot_diameter_cm=2.0, rvot_diameter_cm=2.2)
    paths = write_all(results, out / "results", save_masks=True, studies=studies)
    print(f"\n{'file':<24} {'task':<9} {'value':>8} {'truth':>8}  unit  qc    reason")
    for r in results:
        for m in r.measurements:
            t = truth.get((Path(m.file).name, m.task))
            v = "" if m.value is None else f"{m.value:8.2f}"
            print(f"{Path(m.file).name:<24} {m.task:<9} {v:>8} {'' if t is None else f'{t:8.2f}':>8}  "
                  f"{m.unit:<5} {m.qc:<5} {m.reason}")
    print("\n(derived indices use example diameters LVOT 2.0 cm, RVOT 2.2 cm)")
    for s in studies:
        print("  " + ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in s.items()
                               if k not in ("study_uid",)))
    print(f"\nreport: {paths['html']}\nmeasurements: {paths['measurements']}\nbeats: {paths['beats']}")
    print("Synthetic data; research use only, not a medical device.")
    return 0
