"""docs/benchmark.md from a :class:`~echoseg.evaluation.benchmark.BenchmarkResult`: cohorts, parameters, subgroups, baselines.

Layout: a cohort table; one row per parameter (docs/output-format.md's seven) with n / refused / R² / MAE
per cohort; a subgroup table over all cohorts pooled (rhythm, size tertile, style family) with
``R² / MAE (measured/cases)`` per parameter; the baseline comparison of the atria.
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from echoseg.evaluation.benchmark import BASELINE_METHODS, DESCRIPTION, SUBGROUPS, BaselineCase, BenchmarkResult
from echoseg.evaluation.evaluate import EvalResult
from echoseg.evaluation.stats import agreement
from echoseg.io.atomic import atomic_write
from echoseg.vocab import DISPLAY_UNIT, TASKS, TASKS_ATRIA, unit_of


@dataclass(frozen=True)
class TaskSummary:
    """Agreement of one task in one evaluation, as the benchmark tables show it."""

    task: str
    n_truth: int
    n: int  # measured (QC pass, right task)
    refused: int  # refused by QC
    missing: int  # no row for this task: routed elsewhere or unreadable
    r2: float
    mae: float
    mae_pct: float  # MAE as % of the mean truth of the measured cases
    bias: float
    max_err_pct: float
    dice: float  # atria: mean Dice of the measured cases' masks



# --------------------------------------------------------------------------- summaries
def task_summaries(ev: EvalResult) -> dict[str, TaskSummary]:
    """Per task: counts, agreement, MAE % of mean, largest error % and mean Dice (whole set)."""
    out = {}
    for task in sorted(ev.tasks, key=lambda t: TASKS.index(t) if t in TASKS else len(TASKS)):
        g = ev.overall(task)
        m = [p for p in ev.pairs if p.task == task and p.status == "matched"]
        pred = np.array([p.pred for p in m], float)
        tru = np.array([p.truth for p in m], float)
        nz = np.abs(tru) > 0
        err = 100.0 * np.abs(pred - tru)[nz] / np.abs(tru)[nz]
        out[task] = TaskSummary(
            task, g.n_truth, g.n_matched, g.n_refused, g.n_missing, g.stats.r2, g.stats.mae,
            100.0 * g.stats.mae / float(tru.mean()) if tru.size and tru.mean() else math.nan, g.stats.bias,
            float(err.max()) if err.size else math.nan, g.masks.dice_mean if g.masks else math.nan)
    return out



def baseline_table(cases: Sequence[BaselineCase]) -> list[dict[str, Any]]:
    """Per atrium and method: n, mean Dice, area R² and MAE against the truth area of the same frame."""
    rows = []
    for task in TASKS_ATRIA:
        tc = [c for c in cases if c.task == task]
        for method in BASELINE_METHODS:
            ok = [c for c in tc if math.isfinite(c.area_cm2[method])]
            a = agreement(np.array([c.area_cm2[method] for c in ok]), np.array([c.truth_cm2 for c in ok]), n_boot=0)
            rows.append({"task": task, "method": method, "n": len(tc),
                         "dice": float(np.mean([c.dice[method] for c in tc])) if tc else math.nan,
                         "r2": a.r2, "mae": a.mae, "bias": a.bias})
    return rows


def _f(v: float, digits: int = 3, signed: bool = False) -> str:
    if not isinstance(v, (int, float)) or not math.isfinite(v):
        return "–"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def _unit(task: str) -> str:
    return DISPLAY_UNIT[unit_of(task)]


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in rows)]


def parameter_table(result: BenchmarkResult) -> list[str]:
    """Markdown lines: one row per parameter, n / refused / R² / MAE per cohort."""
    head = ["parameter", "unit"]
    for c in result.cohorts:
        head += [f"{c.spec.name} n", "refused", "R²", "MAE"]
    rows = []
    sums = [task_summaries(c.evaluation) for c in result.cohorts]
    for task in TASKS:
        row = [task, _unit(task)]
        for s in sums:
            t = s.get(task)
            row += ([str(t.n), str(t.refused + t.missing), _f(t.r2), _f(t.mae, 2)] if t else ["0", "0", "–", "–"])
        rows.append(row)
    return _table(head, rows)


def subgroup_table(pooled: EvalResult) -> list[str]:
    """Markdown lines: one row per subgroup value, ``R² / MAE (measured/cases)`` per parameter, all cohorts pooled."""
    stats = {(g.task, g.by, g.group): g for g in pooled.groups}
    rows = []
    for by in SUBGROUPS:
        for group in sorted({g.group for g in pooled.groups if g.by == by and g.group}):
            row = [f"{by.replace('_', ' ')} = {group}"]
            for task in TASKS:
                g = stats.get((task, by, group))
                row.append(f"{_f(g.stats.r2)} / {_f(g.stats.mae, 2)} ({g.n_matched}/{g.n_truth})" if g and g.n_truth
                           else "–")
            rows.append(row)
    return _table(["subgroup", *TASKS], rows)


def _tertile_cuts(pooled: EvalResult) -> str:
    parts = []
    for task in TASKS:
        v = [p.truth for p in pooled.pairs if p.task == task]
        if v:
            q1, q2 = np.quantile(v, [1 / 3, 2 / 3])
            parts.append(f"{task} {q1:.1f} / {q2:.1f} {_unit(task)}")
    return "; ".join(parts)


def routing_text(counts: tuple[int, ...]) -> str:
    """"96.0 % of 100 (no DICOM label: 92.0 % of 50; waveform alone: 84.0 %)" from :func:`routing`'s counts."""
    right, n, right_u, n_u = counts[:4]
    if not n:
        return "–"
    text = f"{100 * right / n:.1f} % of {n}"
    if not n_u:
        return text
    alone = f"; waveform alone: {100 * counts[4] / n_u:.1f} %" if len(counts) > 4 else ""
    return text + f" (no DICOM label: {100 * right_u / n_u:.1f} % of {n_u}{alone})"


def benchmark_markdown(result: BenchmarkResult, command: str) -> str:
    """docs/benchmark.md: cohorts, the per-parameter table, subgroups and the baseline comparison."""
    import os
    import platform

    from echoseg import __version__

    lines = ["# Benchmark on synthetic cohorts", "",
             "Written by `echoseg.evaluation.benchmark` from the one run described here.", "",
             f"Command: `{command}`  ",
             f"Run: {time.strftime('%Y-%m-%d')}, {result.wall_s:.0f} s on {os.cpu_count()} CPU cores "
             f"({platform.machine()}); echoseg {__version__}; models: {result.models}.  ",
             "Synthetic data only: the generator's exact truth is the reference. This says nothing about "
             "clinical accuracy.", "", "## Cohorts", "",
             "Every cohort is regenerated from fixed seeds that training (< 8,500,000) and validation "
             "(8,500,000 ..) never use, written as DICOM, measured with `echoseg.pipeline.measure` and compared "
             "by `echoseg.evaluation.evaluate.evaluate`.", ""]
    lines += _cohort_table(result)
    lines += ["", "Doppler site routing: files measured as their true site; files whose DICOM labels name the site "
              "are routed by the label, the others by the site printed on the screen (read by Tesseract OCR when "
              "installed), the network's waveform class, PW/CW and flow direction. \"Waveform alone\": the same "
              "files routed without the screen text. The generator prints a site label on 80 % of its screens, in "
              "one font (Pillow's default), so the screen-text share of these numbers is an upper bound for real "
              "scanners' fonts."]
    lines += ["", "Training-style screens have 420-820 rows and 1.2-1.71 columns per row (`synth.a4c_screen`, "
              "`synth.doppler_screen`); the shifted sizes have 360, 384 or 900 rows, and 384x704 is also wider "
              "(1.83). Only the screen size is shifted: anatomy, timing and styles are drawn as in training.",
              "", "## Accuracy per parameter", "",
              "n: cases measured (QC passed, routed to the right site). refused: cases not measured (refused by "
              "QC, or a Doppler file routed to another site). R²: coefficient of determination of the values as "
              "given (1 - SSres/SStot, can be negative). MAE in the parameter's unit.", ""]
    lines += parameter_table(result)
    lines += ["", "## Subgroups (all cohorts pooled)", "",
              "Each cell: R² / MAE (measured/cases). Rhythm applies to Doppler only. Size tertiles are cut per "
              f"parameter over the truth values of all cohorts ({_tertile_cuts(result.pooled)}).", ""]
    lines += subgroup_table(result.pooled)
    lines += _baseline_section(result)
    notes = sorted({n for c in result.cohorts for n in c.evaluation.notes} | set(result.pooled.notes))
    if notes:
        lines += ["", "Notes from the evaluation:", *(f"- {n}" for n in notes)]
    return "\n".join(lines) + "\n"


def _cohort_table(result: BenchmarkResult) -> list[str]:
    """The cohorts: what each is, its seeds, its case counts and its Doppler site routing."""
    crow = []
    for c in result.cohorts:
        s = c.spec
        what = DESCRIPTION[s.name]
        if s.image_sizes:
            what += " (rows x cols: " + ", ".join(f"{r}x{q}" for r, q in s.image_sizes) + ", cycled)"
        seeds = s.case_seeds(max(c.n_a4c, c.n_doppler))
        crow.append([s.name, what, str(s.seed), f"{seeds.start}-{seeds.stop - 1}", str(c.n_a4c), str(c.n_doppler),
                     routing_text(c.routing)])
    return _table(["cohort", "what it is", "write_dataset seed", "case seeds", "A4C", "Doppler",
                   "Doppler site routing"], crow)


def _baseline_section(result: BenchmarkResult) -> list[str]:
    """The section comparing echoseg with the classical prompted baselines on the atria."""
    lines = ["", "## Baseline comparison: left and right atrium", ""]
    if result.baseline is None:
        lines += ["Not run (`--no-baselines`)."]
    else:
        lines += ["All A4C cases of all cohorts, each atrium on the frame echoseg measured. The classical "
                  "baselines (`echoseg.evaluation.baseline`) are prompted from the truth mask of that frame, as public "
                  "prompted-segmentation benchmarks derive prompts: `classical-box` from its bounding box, "
                  "`classical-point` from its innermost point. Baseline area = mask pixels x cm² per pixel of "
                  "the file's calibration; echoseg's area is its value before QC, so all methods are scored on "
                  "the same images (echoseg's QC refusals are not excluded here). Reference: the generator's "
                  "area of that frame, so frame choice does not enter these numbers.", ""]
        brow = [[r["task"], r["method"], str(r["n"]), _f(r["dice"]), _f(r["r2"]), _f(r["mae"], 2),
                 _f(r["bias"], 2, signed=True)] for r in baseline_table(result.baseline)]
        lines += _table(["atrium", "method", "n", "Dice", "area R²", "area MAE (cm²)", "area bias (cm²)"], brow)
        lines += ["", "A SAM-family backend (`echoseg.evaluation.baseline.SamBackend`, `pip install echoseg[sam]` plus a "
                  "checkpoint) can be scored the same way; it was not run here."]
    return lines


def write_benchmark_md(result: BenchmarkResult, path: str | Path, command: str) -> Path:
    """Write docs/benchmark.md (:func:`benchmark_markdown`) to ``path``; return it."""
    text = benchmark_markdown(result, command)

    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")
    return atomic_write(Path(path), write)
