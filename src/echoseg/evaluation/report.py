"""Write an :class:`~echoseg.evaluation.evaluate.EvalResult` as metrics.csv, metrics.md and a self-contained report.html.

The HTML embeds, per task, a scatter plot (prediction vs reference with the identity line) and a
Bland-Altman plot (difference vs mean with bias and 95 % limits of agreement) as base64 PNGs.
matplotlib is imported lazily with the Agg backend; without it (``pip install echoseg[plots]``)
the HTML holds the tables and says the plots were skipped.

Example::

    from echoseg.evaluation.evaluate import evaluate
    from echoseg.evaluation.report import write_report
    paths = write_report(evaluate("out/measurements.csv", "truth.csv", by=["vendor"]), "eval/")
"""
from __future__ import annotations

import base64
import csv
import html
import io
import math
from pathlib import Path

import numpy as np

from echoseg.evaluation.evaluate import EvalResult, Pair
from echoseg.vocab import DISPLAY_UNIT, unit_of

_MD_COLUMNS = (  # (header, key, format)
    ("task", "task", "s"), ("subgroup", "_sub", "s"), ("n", "n_matched", "d"), ("refused", "n_refused", "d"),
    ("missing", "n_missing", "d"), ("R² [95% CI]", "r2", "ci3"), ("MAE [95% CI]", "mae", "ci3"),
    ("bias [95% CI]", "bias", "ci3"), ("LoA", "_loa", "s"), ("Pearson r", "pearson_r", "3"),
    ("ICC(2,1) [95% CI]", "icc", "ci3"), ("within 10 %", "pct_within_10", "pct"),
    ("Dice", "dice_mean", "3"), ("Hausdorff", "_hd", "s"),
)


def metrics_rows(result: EvalResult) -> list[dict[str, object]]:
    """One flat dict per (task, subgroup): the rows of metrics.csv."""
    rows = []
    for g in result.groups:
        s, mk = g.stats, g.masks
        rows.append({
            "task": g.task, "by": g.by, "group": g.group, "n_truth": g.n_truth, "n_matched": g.n_matched,
            "n_refused": g.n_refused, "n_missing": g.n_missing, "r2": s.r2, "r2_lo": s.r2_ci[0],
            "r2_hi": s.r2_ci[1], "mae": s.mae, "mae_lo": s.mae_ci[0], "mae_hi": s.mae_ci[1], "bias": s.bias,
            "bias_lo": s.bias_ci[0], "bias_hi": s.bias_ci[1], "sd_diff": s.sd_diff, "loa_low": s.loa_low,
            "loa_high": s.loa_high, "pearson_r": s.pearson_r, "icc": s.icc, "icc_lo": s.icc_ci[0],
            "icc_hi": s.icc_ci[1], "pct_within_10": s.pct_within_10,
            "n_masks": mk.n if mk else 0, "dice_mean": mk.dice_mean if mk else math.nan,
            "dice_median": mk.dice_median if mk else math.nan, "hd_mean": mk.hd_mean if mk else math.nan,
            "hd_median": mk.hd_median if mk else math.nan, "hd_unit": mk.hd_unit if mk else "",
            "unit": DISPLAY_UNIT[unit_of(g.task)],
        })
    return rows


def _num(v: object, fmt: str = "3") -> str:
    if not isinstance(v, (int, float)) or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if fmt == "d":
        return str(int(v))
    if fmt == "pct":
        return f"{v:.1f} %"
    return f"{v:.3f}" if math.isfinite(v) else ("∞" if v > 0 else "-∞")


def _cells(row: dict[str, object]) -> list[str]:
    out = []
    for _, key, fmt in _MD_COLUMNS:
        if key == "_sub":
            out.append("all" if row["by"] == "all" else f"{row['by']}={row['group']}")
        elif key == "_loa":
            out.append(f"{_num(row['loa_low'])} to {_num(row['loa_high'])}")
        elif key == "_hd":
            out.append(f"{_num(row['hd_median'])} {row['hd_unit']} (median)" if row["n_masks"] else "–")
        elif fmt == "ci3":
            out.append(f"{_num(row[key])} [{_num(row[key + '_lo'])}, {_num(row[key + '_hi'])}]")
        elif fmt == "s":
            out.append(str(row[key]))
        else:
            out.append(_num(row[key], fmt))
    return out


def markdown_table(result: EvalResult) -> str:
    """The metrics as a GitHub Markdown table (one line per task × subgroup) plus notes."""
    head = [h for h, _, _ in _MD_COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |" for r in metrics_rows(result)]
    text = "\n".join(lines) + "\n"
    text += ("\nR² is the coefficient of determination of the predictions as given (not r²); ICC(2,1) is two-way "
             "random, absolute agreement, single measurement; CIs are bootstrap 95 % percentile intervals; "
             "LoA = bias ± 1.96 SD; units: cm² for areas, cm for VTI.\n")
    for note in result.notes:
        text += f"\nNote: {note}\n"
    return text


def _plots_png(pairs: list[Pair], task: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # Agg without touching pyplot's global state
    from matplotlib.figure import Figure

    p = np.array([x.pred for x in pairs], float)
    t = np.array([x.truth for x in pairs], float)
    unit = DISPLAY_UNIT[unit_of(task)]
    fig = Figure(figsize=(9, 4), dpi=90)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    lo, hi = float(min(p.min(), t.min())), float(max(p.max(), t.max()))
    pad = 0.05 * (hi - lo or 1.0)
    ax1.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.5", lw=1, label="identity")
    ax1.scatter(t, p, s=14, alpha=0.7)
    ax1.set(xlabel=f"reference ({unit})", ylabel=f"echoseg ({unit})", title=f"{task}: n={p.size}")
    ax1.legend(loc="upper left", fontsize=8)
    mean, diff = (p + t) / 2.0, p - t
    bias = float(diff.mean())
    sd = float(diff.std(ddof=1)) if diff.size > 1 else 0.0
    ax2.scatter(mean, diff, s=14, alpha=0.7)
    ax2.axhline(bias, color="C3", lw=1.2, label=f"bias {bias:.2f}")
    for i, v in enumerate((bias - 1.96 * sd, bias + 1.96 * sd)):
        ax2.axhline(v, color="C3", lw=1, ls="--", label="bias ± 1.96 SD" if i == 0 else None)
    ax2.axhline(0, color="0.6", lw=0.8)
    ax2.set(xlabel=f"mean of echoseg and reference ({unit})", ylabel=f"echoseg − reference ({unit})",
            title=f"Bland-Altman: LoA {bias - 1.96 * sd:.2f} to {bias + 1.96 * sd:.2f}")
    ax2.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _html(result: EvalResult, rows: list[dict[str, object]]) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h, _, _ in _MD_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in _cells(r)) + "</tr>" for r in rows)
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>echoseg evaluation</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px}"
             "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td:first-child,td:nth-child(2)"
             "{text-align:left}img{max-width:100%}</style></head><body>",
             "<h1>echoseg evaluation</h1>", f"<table><tr>{head}</tr>{body}</table>",
             "<p>R² is the coefficient of determination of the predictions as given (not r²). ICC(2,1): two-way "
             "random, absolute agreement, single measurement. CIs: bootstrap 95 % percentile. "
             "LoA: bias ± 1.96 SD. Refused = qc=fail rows; missing = no prediction row.</p>"]
    parts += [f"<p><b>Note:</b> {esc(n)}</p>" for n in result.notes]
    try:
        import matplotlib  # noqa: F401
        have_mpl = True
    except ImportError:
        have_mpl = False
        parts.append("<p>Plots skipped: matplotlib is not installed (pip install echoseg[plots]).</p>")
    for task in result.tasks:
        matched = [p for p in result.pairs if p.task == task and p.status == "matched"]
        parts.append(f"<h2>{esc(task)}</h2>")
        if have_mpl and len(matched) >= 2:
            b64 = base64.b64encode(_plots_png(matched, task)).decode("ascii")
            parts.append(f"<img alt='{esc(task)} scatter and Bland-Altman' src='data:image/png;base64,{b64}'>")
        elif len(matched) < 2:
            parts.append(f"<p>{len(matched)} matched case(s): too few to plot.</p>")
        refused = [p for p in result.pairs if p.task == task and p.status != "matched"]
        if refused:
            items = "".join(f"<li>{esc(p.key)}: {esc(p.status)} – {esc(p.reason)}</li>" for p in refused[:50])
            more = f"<li>… and {len(refused) - 50} more</li>" if len(refused) > 50 else ""
            parts.append(f"<details><summary>{len(refused)} refused or missing</summary>"
                         f"<ul>{items}{more}</ul></details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(result: EvalResult, out_dir: str | Path) -> dict[str, Path]:
    """Write metrics.csv, metrics.md and report.html into ``out_dir`` (created); return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = metrics_rows(result)
    paths = {"csv": out / "metrics.csv", "md": out / "metrics.md", "html": out / "report.html"}
    fields = list(rows[0]) if rows else ["task", "by", "group"]
    with paths["csv"].open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()})
    paths["md"].write_text(markdown_table(result), encoding="utf-8")
    paths["html"].write_text(_html(result, rows), encoding="utf-8")
    return paths
