"""What the web demo sends: the JSON of files and sessions, and the downloads with the user's edits marked.

The downloads are the tables of :mod:`echoseg.report.tables` (the command line's columns), plus an
``edited`` column in measurements and an ``included`` column in beats.
"""
from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np

from echoseg.doppler.study import study_rows
from echoseg.report.html import html_report
from echoseg.report.tables import BEAT_COLUMNS, MEASUREMENT_COLUMNS, beat_rows, detail_columns, measurement_rows
from echoseg.vocab import DISCLAIMER
from echoseg.web.edits import AtriaContext, Entry, default_frames, default_included
from echoseg.web.sessions import Session

DOWNLOADS = ("measurements.csv", "beats.csv", "studies.csv", "results.json", "report.html")
DETAILS = ("sd", "length_cm", "volume_ml", "heart_rate_bpm", "vmax_cm_s", "peak_gradient_mmhg", "mean_gradient_mmhg")


def num(x: Any) -> float | None:
    """``x`` as a JSON number: None for None, NaN and infinity."""
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def _json_safe(v: object) -> object:
    return num(v) if isinstance(v, (float, np.floating)) else v


def entry_json(entry: Entry) -> dict[str, Any]:
    """One file as the page shows it: rows (with the user's edits), cine and beats."""
    r, orig = entry.result, entry.original
    tasks = []
    for m in r.measurements:
        cols = detail_columns(m)
        tasks.append({"task": m.task, "value": num(m.value), "raw_value": num(m.raw_value), "unit": m.unit, "n": m.n,
                      "frame": m.frame, "qc": m.qc, "reason": m.reason, "confidence": num(m.confidence),
                      "warnings": list(m.warnings), "edited": m.edited, "edit": m.edit,
                      "truth": entry.truth.get(m.task),
                      "details": {k: num(cols[k]) for k in DETAILS if cols.get(k) is not None}})
    out: dict[str, Any] = {"id": entry.id, "name": orig.file, "kind": orig.kind, "route": orig.route,
                           "route_confidence": num(orig.route_confidence), "error": orig.error,
                           "editable": entry.context is not None, "edit_note": entry.context_error,
                           "has_image": orig.image is not None, "version": entry.version, "tasks": tasks,
                           "cine": None, "beats": {}}
    if isinstance(entry.context, AtriaContext):
        out["cine"] = {"n_frames": len(entry.context.frames_jpeg), "frame_time_ms": orig.frame_time_ms,
                       "curves": {t: [round(float(a), 4) for a in c] for t, c in orig.curves.items()},
                       "frames": dict(r.frames_for_task), "pipeline_frames": default_frames(orig)}
    for task, beats in orig.beats.items():
        inc = entry.included.get(task, default_included(orig)[task])
        out["beats"][task] = [{"index": b.index, "start_s": b.start_s, "end_s": b.end_s, "vti_cm": b.vti_cm,
                               "vmax_cm_s": b.vmax_cm_s, "complete": b.complete,
                               "included": b.complete and b.index in inc} for b in beats]
    return out


def studies(session: Session) -> tuple[list[dict[str, object]], str]:
    """Derived indices per study over the session's (edited) passing values, and an error message."""
    results = [e.result for e in session.entries.values()]
    try:
        return study_rows(results, session.lvot_cm, session.rvot_cm), ""
    except ValueError as exc:
        return study_rows(results), str(exc)


def session_json(session: Session) -> dict[str, Any]:
    """The whole session: files, study rows (and why they lack indices), diameters."""
    rows, err = studies(session)
    return {"id": session.id, "disclaimer": DISCLAIMER, "files": [entry_json(e) for e in session.entries.values()],
            "studies": [{k: _json_safe(v) for k, v in row.items()} for row in rows], "studies_error": err,
            "diameters": {"lvot_cm": session.lvot_cm, "rvot_cm": session.rvot_cm}}


def _csv(rows: list[dict[str, object]], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def download(session: Session, name: str) -> tuple[str, str]:
    """(content, media type) of one of :data:`DOWNLOADS`, with the user's edits applied and marked."""
    entries = list(session.entries.values())
    results = [e.result for e in entries]
    mrows = measurement_rows(results)
    flags = [m.edited for r in results for m in r.measurements]
    for row, flag in zip(mrows, flags, strict=True):
        row["edited"] = "yes" if flag else ""
    brows = beat_rows(results)
    inc = [b.complete and b.index in e.included.get(t, default_included(e.original)[t])
           for e in entries for t, beats in e.original.beats.items() for b in beats]
    for row, flag in zip(brows, inc, strict=True):
        row["included"] = "yes" if flag else "no"
    rows, _ = studies(session)
    if name == "measurements.csv":
        return _csv(mrows, list(dict.fromkeys([*MEASUREMENT_COLUMNS, "edited"]))), "text/csv"
    if name == "beats.csv":
        return _csv(brows, [*BEAT_COLUMNS, "included"]), "text/csv"
    if name == "studies.csv":
        return _csv(rows, list(rows[0]) if rows else ["study_uid"]), "text/csv"
    if name == "results.json":
        return json.dumps({"disclaimer": DISCLAIMER, "measurements": mrows, "beats": brows,
                           "studies": [{k: _json_safe(v) for k, v in r.items()} for r in rows]},
                          indent=1, default=str), "application/json"
    if name == "report.html":
        return html_report(results, rows), "text/html"
    raise LookupError(f"download must be one of {', '.join(DOWNLOADS)}, not {name!r}")


def diameter(v: Any, name: str) -> float | None:
    """A diameter the user typed, in cm (None when empty); ValueError naming the field and the range."""
    if v in (None, ""):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in cm, not {v!r}") from None
    if not 0.5 <= x <= 5.0:
        raise ValueError(f"{name} must be between 0.5 and 5 cm, not {v!r}")
    return x
