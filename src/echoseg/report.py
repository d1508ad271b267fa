"""Writers for measure results: CSV / JSON tables (CONTRACT.md), mask PNGs, overlays, HTML report.

Every file is written to a temporary name in the same folder and renamed into place.
Patient identifiers never appear here: rows carry the file path and StudyInstanceUID only.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .atomic import atomic_write

from .types import FileResult

MEASUREMENT_COLUMNS = ["file", "task", "value", "unit", "n", "frame", "qc", "reason", "confidence", "warnings",
                       "kind", "route", "study_uid", "sd", "n_total", "length_cm", "volume_ml", "heart_rate_bpm",
                       "vmax_cm_s", "vmean_cm_s", "peak_gradient_mmhg", "mean_gradient_mmhg", "edited"]
BEAT_COLUMNS = ["file", "task", "beat", "start_s", "end_s", "vti_cm", "vmax_cm_s", "vmean_cm_s",
                "peak_gradient_mmhg", "mean_gradient_mmhg", "duration_s", "rr_s", "complete"]
COLOURS = {"la_area": (255, 80, 80), "ra_area": (80, 170, 255), "doppler": (255, 220, 0)}
DISCLAIMER = "Research use only. Not a medical device; values are not clinically validated."


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


def mask_png(path: Path, mask: np.ndarray) -> Path:
    """0/255 PNG at the full input image size (CONTRACT.md --save-masks)."""
    img = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), mode="L")
    return atomic_write(path, lambda tmp: img.save(tmp, format="PNG"))


def _contour(mask: np.ndarray) -> np.ndarray:
    from scipy.ndimage import binary_erosion
    return mask & ~binary_erosion(mask, iterations=2)


def overlay_image(result: FileResult) -> Image.Image | None:
    """The measured frame with masks / envelope, beat numbers and values drawn on it."""
    if result.image is None:
        return None
    frame = result.image.copy()
    for task, mask in result.masks.items():
        if task in COLOURS and mask.shape == frame.shape[:2]:
            frame[_contour(mask)] = COLOURS[task]
    img = Image.fromarray(frame)
    draw = ImageDraw.Draw(img)
    if result.envelope is not None:
        cols, rows = result.envelope
        pts = [(float(c), float(r)) for c, r in zip(cols, rows) if np.isfinite(r)]
        if len(pts) > 1:
            draw.line(pts, fill=COLOURS["doppler"], width=2)
    for x, y, text in result.labels:
        draw.text((x, y), text, fill=COLOURS["doppler"])
    lines = []
    for m in result.measurements:
        val = "refused" if m.value is None or m.qc != "pass" else f"{m.value:.2f} {m.unit}"
        lines.append(f"{m.task}: {val}" + (f" ({m.reason})" if m.qc != "pass" and m.reason else ""))
    y = 4
    for line in lines:
        draw.text((6, y), line, fill=(255, 255, 255))
        y += 14
    draw.text((6, img.height - 14), "echoseg - research use only", fill=(200, 200, 200))
    return img


def overlay_png(result: FileResult) -> bytes | None:
    """The overlay as PNG bytes (fast compression: overlays are many and large), or None."""
    img = overlay_image(result)
    if img is None:
        return None
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _svg_plot(result: FileResult, width: int = 460, height: int = 180) -> str | None:
    """Area-over-time (atria) or per-beat VTI (Doppler) as inline SVG, or None when there is nothing to plot."""
    esc = html.escape
    pad_l, pad_b, pad_t = 44, 28, 10
    w, h = width - pad_l - 8, height - pad_b - pad_t
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             "style='font:11px sans-serif;background:#fff'>"]

    def axes(ymax: float, xlabel: str, ylabel: str) -> None:
        parts.append(f"<line x1='{pad_l}' y1='{pad_t + h}' x2='{pad_l + w}' y2='{pad_t + h}' stroke='#444'/>"
                     f"<line x1='{pad_l}' y1='{pad_t}' x2='{pad_l}' y2='{pad_t + h}' stroke='#444'/>")
        for k in range(5):
            v = ymax * k / 4
            y = pad_t + h - h * k / 4
            parts.append(f"<text x='{pad_l - 4}' y='{y + 4:.1f}' text-anchor='end'>{v:.0f}</text>")
        parts.append(f"<text x='{pad_l + w / 2}' y='{height - 6}' text-anchor='middle'>{esc(xlabel)}</text>"
                     f"<text x='10' y='{pad_t + h / 2}' transform='rotate(-90 10 {pad_t + h / 2})' "
                     f"text-anchor='middle'>{esc(ylabel)}</text>")

    if result.curves:
        ymax = max(float(np.nanmax(c)) for c in result.curves.values()) * 1.1 or 1.0
        n = max(len(c) for c in result.curves.values())
        axes(ymax, "frame", "area (cm²)")
        for task, curve in result.curves.items():
            xs = pad_l + w * np.arange(len(curve)) / max(n - 1, 1)
            ys = pad_t + h - h * np.asarray(curve) / ymax
            col = "rgb({},{},{})".format(*COLOURS.get(task, (0, 0, 0)))
            pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
            parts.append(f"<polyline points='{pts}' fill='none' stroke='{col}' stroke-width='2'/>")
            f = result.frames_for_task.get(task)
            if f is not None and 0 <= f < len(curve):
                parts.append(f"<circle cx='{xs[f]:.1f}' cy='{ys[f]:.1f}' r='4' fill='black'/>")
            parts.append(f"<text x='{pad_l + w - 4}' y='{ys[-1] - 4:.1f}' text-anchor='end' fill='{col}'>{task}</text>")
    elif any(result.beats.values()):
        beats = [(task, b) for task, bs in result.beats.items() for b in bs]
        ymax = max(b.vti_cm for _, b in beats) * 1.15 or 1.0
        axes(ymax, f"beat ({beats[0][0]}; grey = incomplete, not used)", "VTI (cm)")
        bw = w / len(beats)
        for i, (_, b) in enumerate(beats):
            bh = h * b.vti_cm / ymax
            col = "#3b6fb6" if b.complete else "#bbb"
            parts.append(f"<rect x='{pad_l + i * bw + 3:.1f}' y='{pad_t + h - bh:.1f}' width='{bw - 6:.1f}' "
                         f"height='{bh:.1f}' fill='{col}'/><text x='{pad_l + (i + 0.5) * bw:.1f}' "
                         f"y='{pad_t + h + 12}' text-anchor='middle'>{b.index + 1}</text>")
    else:
        return None
    parts.append("</svg>")
    return "".join(parts)


def html_report(results: Sequence[FileResult], studies: list[dict[str, object]] | None = None,
                pngs: Sequence[bytes | None] | None = None) -> str:
    """One self-contained HTML page: summary table, per-file overlay and plot.

    ``pngs``: the results' overlays already encoded (as write_all has them), else they are made here.
    """
    esc = html.escape
    rows = measurement_rows(results)
    shown = ["file", "task", "value", "unit", "n", "frame", "qc", "reason"]
    if any(r.get("edited") for r in rows):
        shown.append("edited")
    head = "".join(f"<th>{c}</th>" for c in shown)
    body = "".join("<tr class='{}'>{}</tr>".format(
        "ok" if r["qc"] == "pass" else "bad", "".join(f"<td>{esc(str(r.get(c, '')))}</td>" for c in shown))
        for r in rows)
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>echoseg report</title><style>"
             "body{font-family:sans-serif;margin:1.5em;max-width:1100px}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}tr.bad td{color:#a00}"
             ".card{margin:1em 0;padding:.5em;border:1px solid #ddd}img{max-width:100%}</style></head><body>",
             f"<h1>echoseg measurements</h1><p><b>{DISCLAIMER}</b></p>",
             f"<table><tr>{head}</tr>{body}</table>"]
    if studies:
        cols = list(studies[0])
        parts.append("<h2>Studies</h2><table><tr>" + "".join(f"<th>{esc(c)}</th>" for c in cols) + "</tr>" + "".join(
            "<tr>" + "".join(f"<td>{esc(str(_fmt(s.get(c))))}</td>" for c in cols) + "</tr>" for s in studies)
            + "</table>")
    for i, r in enumerate(results):
        parts.append(f"<div class='card'><h3>{esc(r.file)}</h3><p>{esc(r.kind or 'not measured')} "
                     f"{esc(r.route)}{(' - ' + esc(r.error)) if r.error else ''}</p>")
        png = pngs[i] if pngs is not None else overlay_png(r)
        if png is not None:
            parts.append(f"<img alt='overlay' src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
        plot = _svg_plot(r)
        if plot:
            parts.append(plot)
        parts.append("</div>")
    parts.append("</body></html>")
    return "".join(parts)


def write_all(results: Sequence[FileResult], out: Path, *, save_masks: bool = False,
              studies: list[dict[str, object]] | None = None, overlays: bool = True, html_page: bool = True) -> dict[str, Path]:
    """Write measurements.csv, beats.csv, results.json, (studies.csv), overlays/, masks/ and report.html."""
    out = Path(out)
    paths = {"measurements": write_csv(out / "measurements.csv", measurement_rows(results), MEASUREMENT_COLUMNS),
             "beats": write_csv(out / "beats.csv", beat_rows(results), BEAT_COLUMNS)}
    payload = {"disclaimer": DISCLAIMER, "measurements": measurement_rows(results), "beats": beat_rows(results),
               "studies": studies or []}
    paths["json"] = atomic_write(out / "results.json", lambda t: Path(t).write_text(json.dumps(payload, indent=1)))
    if studies:
        paths["studies"] = write_csv(out / "studies.csv", studies, list(studies[0]))
    pngs = [overlay_png(r) if (overlays or html_page) else None for r in results]
    for r, png in zip(results, pngs):
        stem = Path(r.file).stem
        if save_masks:
            for task, mask in r.masks.items():
                mask_png(out / "masks" / f"{stem}.{task}.png", mask)
        if overlays and png is not None:
            atomic_write(out / "overlays" / f"{stem}.png", lambda t, png=png: Path(t).write_bytes(png))
    if html_page:
        paths["html"] = atomic_write(out / "report.html", lambda t: Path(t).write_text(html_report(results, studies, pngs)))
    return paths
