"""The self-contained HTML report: one card per file with its overlay, values, QC and a plot."""
from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence

import numpy as np

from echoseg.report.overlay import COLOURS, overlay_png
from echoseg.report.tables import format_cell, measurement_rows
from echoseg.types import FileResult
from echoseg.vocab import DISCLAIMER


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


_STYLE = ("body{font-family:sans-serif;margin:1.5em;max-width:1100px}table{border-collapse:collapse}"
          "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}tr.bad td{color:#a00}"
          ".card{margin:1em 0;padding:.5em;border:1px solid #ddd}img{max-width:100%}")
SHOWN = ["file", "task", "value", "unit", "n", "frame", "qc", "reason"]


def page_head(title: str = "echoseg report", heading: str = "echoseg measurements") -> str:
    """The opening of a report page: style, heading and the disclaimer."""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_STYLE}"
            f"</style></head><body><h1>{html.escape(heading)}</h1><p><b>{DISCLAIMER}</b></p>")


PAGE_END = "</body></html>"


def table_head(edited: bool = False) -> str:
    """The opening of the summary table (the CONTRACT.md columns, and ``edited`` when a row was edited)."""
    return "<table><tr>" + "".join(f"<th>{c}</th>" for c in SHOWN + (["edited"] if edited else [])) + "</tr>"


def table_row(row: Mapping[str, object], edited: bool = False) -> str:
    """One summary-table row of a measurements.csv row."""
    esc = html.escape
    shown = SHOWN + (["edited"] if edited else [])
    return "<tr class='{}'>{}</tr>".format("ok" if row["qc"] == "pass" else "bad",
                                           "".join(f"<td>{esc(str(row.get(c, '')))}</td>" for c in shown))


def studies_table(studies: Sequence[Mapping[str, object]]) -> str:
    """The studies section ("" without studies)."""
    if not studies:
        return ""
    esc = html.escape
    cols: list[str] = []
    for s in studies:
        cols += [c for c in s if c not in cols]
    return ("<h2>Studies</h2><table><tr>" + "".join(f"<th>{esc(c)}</th>" for c in cols) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{esc(str(format_cell(s.get(c))))}</td>" for c in cols) + "</tr>" for s in studies)
        + "</table>")


def card(result: FileResult, png: bytes | None) -> str:
    """One file's card: name, route, overlay (embedded) and plot."""
    esc = html.escape
    parts = [f"<div class='card'><h3>{esc(result.file)}</h3><p>{esc(result.kind or 'not measured')} "
             f"{esc(result.route)}{(' - ' + esc(result.error)) if result.error else ''}</p>"]
    if png is not None:
        parts.append(f"<img alt='overlay' src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
    plot = _svg_plot(result)
    if plot:
        parts.append(plot)
    parts.append("</div>")
    return "".join(parts)


def html_report(results: Sequence[FileResult], studies: list[dict[str, object]] | None = None,
                pngs: Sequence[bytes | None] | None = None) -> str:
    """One self-contained HTML page: summary table, per-file overlay and plot.

    ``pngs``: the results' overlays already encoded (as write_all has them), else they are made here.
    """
    rows = measurement_rows(results)
    edited = any(r.get("edited") for r in rows)
    parts = [page_head(), table_head(edited), *(table_row(r, edited) for r in rows), "</table>",
             studies_table(studies or [])]
    for i, r in enumerate(results):
        parts.append(card(r, pngs[i] if pngs is not None else overlay_png(r)))
    parts.append(PAGE_END)
    return "".join(parts)
