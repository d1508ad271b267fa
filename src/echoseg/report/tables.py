"""Rows of measurements.csv and beats.csv (docs/output-format.md) from the results, and the CSV writer."""
from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from echoseg.io.atomic import atomic_write
from echoseg.types import FileResult

MEASUREMENT_COLUMNS = ["file", "task", "value", "unit", "n", "frame", "qc", "reason", "confidence", "warnings",
                       "kind", "route", "study_uid", "sd", "n_total", "length_cm", "volume_ml", "heart_rate_bpm",
                       "vmax_cm_s", "vmean_cm_s", "peak_gradient_mmhg", "mean_gradient_mmhg", "edited"]


BEAT_COLUMNS = ["file", "task", "beat", "start_s", "end_s", "vti_cm", "vmax_cm_s", "vmean_cm_s",
                "peak_gradient_mmhg", "mean_gradient_mmhg", "duration_s", "rr_s", "complete"]


def _fmt(v: object) -> object:
    if isinstance(v, float):
        return "" if not np.isfinite(v) else round(v, 4)
    if v is None:
        return ""
    if isinstance(v, (list, tuple)):
        return "; ".join(str(x) for x in v)
    return v


def measurement_rows(results: Sequence[FileResult]) -> list[dict[str, object]]:
    rows = []
    for r in results:
        for m in r.measurements:
            row = {"file": m.file, "task": m.task, "value": m.value, "unit": m.unit, "n": m.n, "frame": m.frame,
                   "qc": m.qc, "reason": m.reason, "confidence": m.confidence, "kind": r.kind or "",
                   "route": r.route, "study_uid": r.study_uid or ""}
            row.update({k: v for k, v in m.extra.items() if k in MEASUREMENT_COLUMNS})
            rows.append({k: _fmt(row.get(k)) for k in MEASUREMENT_COLUMNS})
    return rows


def beat_rows(results: Sequence[FileResult]) -> list[dict[str, object]]:
    rows = []
    for r in results:
        for task, beats in r.beats.items():
            for b in beats:
                rows.append({k: _fmt(v) for k, v in {
                    "file": r.file, "task": task, "beat": b.index, "start_s": b.start_s, "end_s": b.end_s,
                    "vti_cm": b.vti_cm, "vmax_cm_s": b.vmax_cm_s, "vmean_cm_s": b.vmean_cm_s,
                    "peak_gradient_mmhg": b.peak_gradient_mmhg, "mean_gradient_mmhg": b.mean_gradient_mmhg,
                    "duration_s": b.end_s - b.start_s, "rr_s": b.rr_s, "complete": b.complete}.items()})
    return rows


def write_csv(path: Path, rows: list[dict[str, object]], columns: list[str]) -> Path:
    def _w(tmp: str) -> None:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
    return atomic_write(path, _w)
