"""Rows of measurements.csv and beats.csv (docs/output-format.md) from the results, and the CSV writer."""
from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from echoseg.io.atomic import atomic_write
from echoseg.types import AtriaDetails, DopplerDetails, FileResult, Measurement

MEASUREMENT_COLUMNS = ["file", "task", "value", "unit", "n", "frame", "qc", "reason", "confidence", "warnings",
                       "kind", "route", "study_uid", "sd", "n_total", "length_cm", "volume_ml", "heart_rate_bpm",
                       "vmax_cm_s", "vmean_cm_s", "peak_gradient_mmhg", "mean_gradient_mmhg", "edited",
                       "sop_instance_uid", "series_uid", "overlay"]
# which image a row is: SOPInstanceUID (0008,0018), SeriesInstanceUID (0020,000E), and the overlay's
# path in the output folder (empty when the caller does not say: the web demo, the Python API)
FILE_COLUMNS = ("sop_instance_uid", "series_uid", "overlay")


BEAT_COLUMNS = ["file", "task", "beat", "start_s", "end_s", "vti_cm", "vmax_cm_s", "vmean_cm_s",
                "peak_gradient_mmhg", "mean_gradient_mmhg", "duration_s", "rr_s", "complete", "e_cm_s", "a_cm_s"]


def format_cell(v: object) -> object:
    """A value as the CSV/JSON tables write it: floats to 4 decimals ("" when not finite), None as "",
    lists joined with "; "."""
    if isinstance(v, float):
        return "" if not np.isfinite(v) else round(v, 4)
    if v is None:
        return ""
    if isinstance(v, (list, tuple)):
        return "; ".join(str(x) for x in v)
    return v


def detail_columns(m: Measurement) -> dict[str, object]:
    """The columns of :data:`MEASUREMENT_COLUMNS` a row's typed details fill (unformatted; None: empty)."""
    cols: dict[str, object] = {"edited": True if m.edited else None}
    d = m.details
    if isinstance(d, AtriaDetails):
        cols.update(warnings=d.warnings, sd=d.sd, n_total=d.n_total, length_cm=d.length_cm, volume_ml=d.volume_ml)
    elif isinstance(d, DopplerDetails):
        s = d.summary
        cols.update(warnings=d.warnings, sd=s.sd, n_total=s.n_total, heart_rate_bpm=s.heart_rate_bpm,
                    vmax_cm_s=s.vmax_cm_s, vmean_cm_s=s.vmean_cm_s, peak_gradient_mmhg=s.peak_gradient_mmhg,
                    mean_gradient_mmhg=s.mean_gradient_mmhg)
    return cols


def measurement_rows(results: Sequence[FileResult],
                     per_file: Sequence[Mapping[str, object]] | None = None) -> list[dict[str, object]]:
    """One row per (file, task), every column of :data:`MEASUREMENT_COLUMNS`, formatted by :func:`format_cell`.

    ``per_file``: for each result, the values of :data:`FILE_COLUMNS` its rows carry (UIDs, overlay).
    """
    rows = []
    for i, r in enumerate(results):
        extra = {k: v for k, v in (per_file[i] if per_file is not None else {}).items() if k in FILE_COLUMNS}
        for m in r.measurements:
            row = {"file": m.file, "task": m.task, "value": m.value, "unit": m.unit, "n": m.n, "frame": m.frame,
                   "qc": m.qc, "reason": m.reason, "confidence": m.confidence, "kind": r.kind or "",
                   "route": r.route, "study_uid": r.study_uid or ""} | detail_columns(m) | extra
            rows.append({k: format_cell(row.get(k)) for k in MEASUREMENT_COLUMNS})
    return rows


def beat_rows(results: Sequence[FileResult]) -> list[dict[str, object]]:
    """One row per Doppler beat, every column of :data:`BEAT_COLUMNS`, formatted by :func:`format_cell`."""
    rows = []
    for r in results:
        for task, beats in r.beats.items():
            for b in beats:
                rows.append({k: format_cell(v) for k, v in {
                    "file": r.file, "task": task, "beat": b.index, "start_s": b.start_s, "end_s": b.end_s,
                    "vti_cm": b.vti_cm, "vmax_cm_s": b.vmax_cm_s, "vmean_cm_s": b.vmean_cm_s,
                    "peak_gradient_mmhg": b.peak_gradient_mmhg, "mean_gradient_mmhg": b.mean_gradient_mmhg,
                    "duration_s": b.end_s - b.start_s, "rr_s": b.rr_s, "complete": b.complete,
                    "e_cm_s": b.e_cm_s, "a_cm_s": b.a_cm_s}.items()})
    return rows


def write_csv(path: Path, rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> Path:
    """Write ``rows`` (only ``columns``, in that order) to ``path`` atomically; return the path."""
    def _w(tmp: str) -> None:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
    return atomic_write(path, _w)
