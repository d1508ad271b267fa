"""One file's result as a self-contained, JSON-ready record and back (the journal's unit).

The record keeps what the tables, the study rows and the report cards read from a
:class:`~echoseg.types.FileResult` (rows, typed details, beats, area curves, route, UIDs); the
arrays only the overlay needs (masks, envelope, frame) are drawn into the overlay PNG before the
record is made, so a record is a few kilobytes whatever the image size.

    >>> from echoseg.types import FileResult, Measurement
    >>> r = FileResult("a.dcm", None, (Measurement("a.dcm", "unknown", None, "", 0, None, "fail", "unreadable"),))
    >>> back = result_from_json(result_to_json(r))
    >>> back.measurements == r.measurements
    True
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import numpy as np

from echoseg.types import AtriaDetails, Beat, BeatSummary, DopplerDetails, FileResult, Measurement

FORMAT = 1  # bump when a record's layout changes (old records are then measured again)


def plain(x: Any) -> Any:
    """``x`` with numpy scalars and arrays turned into Python numbers and lists (for :mod:`json`)."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return plain(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    return x


def _details_to_json(d: AtriaDetails | DopplerDetails | None) -> dict[str, Any] | None:
    if d is None:
        return None
    kind = "atria" if isinstance(d, AtriaDetails) else "doppler"
    return {"type": kind, **plain(asdict(d))}


def _details_from_json(d: Mapping[str, Any] | None) -> AtriaDetails | DopplerDetails | None:
    if d is None:
        return None
    fields = {k: v for k, v in d.items() if k != "type"}
    if d["type"] == "atria":
        atria: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
        return AtriaDetails(**atria)
    if d["type"] != "doppler":
        raise ValueError(f"details type must be 'atria' or 'doppler', not {d['type']!r}")
    fields["summary"] = BeatSummary(**fields["summary"])
    for k in ("warnings", "notes", "tracer_vti"):
        fields[k] = tuple(fields.get(k, ()))
    return DopplerDetails(**fields)


def measurement_to_json(m: Measurement) -> dict[str, Any]:
    """A :class:`Measurement` as plain JSON (details tagged with their family)."""
    return {"file": m.file, "task": m.task, "value": plain(m.value), "unit": m.unit, "n": plain(m.n),
            "frame": plain(m.frame), "qc": m.qc, "reason": m.reason, "confidence": plain(m.confidence),
            "details": _details_to_json(m.details), "edit": m.edit}


def measurement_from_json(d: Mapping[str, Any]) -> Measurement:
    """The inverse of :func:`measurement_to_json`."""
    return Measurement(file=d["file"], task=d["task"], value=d["value"], unit=d["unit"], n=d["n"], frame=d["frame"],
                       qc=d["qc"], reason=d["reason"], confidence=d["confidence"],
                       details=_details_from_json(d["details"]), edit=d.get("edit", ""))


def result_to_json(r: FileResult) -> dict[str, Any]:
    """What the tables, study rows and report cards need of ``r`` (no masks, envelope or frame)."""
    return {"file": r.file, "kind": r.kind, "measurements": [measurement_to_json(m) for m in r.measurements],
            "route": r.route, "route_confidence": plain(r.route_confidence),
            "beats": {t: [plain(asdict(b)) for b in bs] for t, bs in r.beats.items()},
            "curves": {t: plain(np.asarray(c, dtype=float)) for t, c in r.curves.items()},
            "frames_for_task": plain(r.frames_for_task), "study_uid": r.study_uid,
            "frame_time_ms": plain(r.frame_time_ms), "error": r.error}


def result_from_json(d: Mapping[str, Any]) -> FileResult:
    """A :class:`FileResult` without arrays beyond the area curves, from :func:`result_to_json`."""
    return FileResult(file=d["file"], kind=d["kind"],
                      measurements=tuple(measurement_from_json(m) for m in d["measurements"]),
                      route=d["route"], route_confidence=d["route_confidence"],
                      beats={t: tuple(Beat(**b) for b in bs) for t, bs in d["beats"].items()},
                      curves={t: np.asarray(c, dtype=float) for t, c in d["curves"].items()},
                      frames_for_task=dict(d["frames_for_task"]), study_uid=d["study_uid"],
                      frame_time_ms=d["frame_time_ms"], error=d["error"])
