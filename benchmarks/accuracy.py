"""Accuracy of the shipped models on held-out synthetic data, per cohort in detail (writes docs/accuracy.md).

Cohorts, measuring and statistics come from echoseg.evaluation.benchmark (the same run `echoseg benchmark`
makes, without the classical baselines): each case is written as DICOM, measured through
echoseg.pipeline.measure exactly as a user's file, and compared with the generator's truth by
echoseg.evaluation.evaluate. Default cohorts: held-out (training style families) and external-style (the
held-out style family); add `--cohorts held-out shifted external` for the screen-size shift.

Run: .venv/bin/python benchmarks/accuracy.py [--n-a4c 40 --n-doppler 100]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from dataclasses import asdict
from pathlib import Path

from echoseg.evaluation.benchmark import COHORTS, BenchmarkResult, CohortResult, run_benchmark
from echoseg.evaluation.benchmark_report import routing_text, task_summaries
from echoseg.options import Models

TITLE = {"held-out": "held-out", "shifted": "shifted (screen sizes)", "external": "external-style",
         "scanner": "scanner-formed (A4C from the scanner model, signal-level Doppler)"}


def _f(v: float, fmt: str) -> str:
    return "–" if v != v else fmt.format(v)  # NaN -> dash


def cohort_lines(c: CohortResult) -> list[str]:
    """The detail table of one cohort: counts, agreement, relative errors, Dice, routing."""
    lines = [f"## {TITLE[c.spec.name]}", "", f"Doppler site routing: {routing_text(c.routing)}.", "",
             "| task | cases | measured | refused by QC | other site / unread | R² | MAE | MAE % of mean | bias | "
             "max error % | Dice |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for task, s in task_summaries(c.evaluation).items():
        unit = "cm²" if task.endswith("area") else "cm"
        lines.append(f"| {task} | {s.n_truth} | {s.n} | {s.refused} | {s.missing} | {_f(s.r2, '{:.3f}')} | "
                     f"{_f(s.mae, '{:.2f} ' + unit)} | {_f(s.mae_pct, '{:.1f}')} | {_f(s.bias, '{:+.2f}')} | "
                     f"{_f(s.max_err_pct, '{:.1f}')} | {_f(s.dice, '{:.3f}')} |")
    return lines + [""]


def accuracy_markdown(res: BenchmarkResult, cmd: str) -> str:
    lines = ["# Accuracy on held-out synthetic data", "",
             f"Command: `{cmd}` ({res.wall_s:.0f} s on {os.cpu_count()} CPU cores, {platform.machine()}); "
             f"models: {res.models}.  ",
             "Cohorts come from `echoseg.evaluation.benchmark` (seeds training never uses; see docs/benchmark.md for the "
             "cohort definitions, subgroups and baselines). *external-style* is the held-out style family "
             "(`violet`), never seen in training. Statistics compare echoseg's QC-passed measurements with the "
             "generator's exact truth; Dice is the mean over the measured atria, against the truth mask of the "
             "frame echoseg measured. Synthetic data only: this says nothing about clinical accuracy.", ""]
    for c in res.cohorts:
        lines += cohort_lines(c)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-a4c", type=int, default=40)
    ap.add_argument("--n-doppler", type=int, default=100)
    ap.add_argument("--cohorts", nargs="+", default=["held-out", "external"], choices=COHORTS)
    ap.add_argument("--out", type=Path, default=Path("docs/accuracy.md"))
    ap.add_argument("--atria-model", default="atria")
    ap.add_argument("--doppler-model", default="doppler")
    ap.add_argument("--keep", type=Path, default=None, help="keep the cohorts' DICOMs and CSVs in this folder")
    args = ap.parse_args()
    models = Models(args.atria_model, args.doppler_model)
    with tempfile.TemporaryDirectory() as tmp:
        res = run_benchmark(args.keep or tmp, n_a4c=args.n_a4c, n_doppler=args.n_doppler, models=models,
                            baselines=False, cohorts=args.cohorts, progress=True, log=print)
    cmd = f".venv/bin/python benchmarks/accuracy.py --n-a4c {args.n_a4c} --n-doppler {args.n_doppler}"
    if args.cohorts != ["held-out", "external"]:
        cmd += " --cohorts " + " ".join(args.cohorts)
    text = accuracy_markdown(res, cmd)
    args.out.write_text(text + "\n")
    summary = {c.spec.name: {"routing": c.routing, "tasks": {t: asdict(s) for t, s in
                                                             task_summaries(c.evaluation).items()}}
               for c in res.cohorts}
    args.out.with_suffix(".json").write_text(json.dumps(summary, indent=1, default=str))
    print(text)


if __name__ == "__main__":
    main()
