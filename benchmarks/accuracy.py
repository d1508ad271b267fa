"""Accuracy of the shipped models on held-out synthetic data (writes docs/accuracy.md).

Two cohorts, both generated from seeds that training never uses:
- held-out: the training style families;
- external-style: the held-out style family (styles.HELDOUT_FAMILY), never seen in training.
Each case is written as DICOM and measured through echoseg.pipeline, exactly as a user's file.

Run: .venv/bin/python benchmarks/accuracy.py [--n-a4c 40 --n-doppler 100]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from echoseg.evaluate import agreement, dice
from echoseg.pipeline import Models, measure_file
from echoseg.synth.dataset import write_dataset
from echoseg.types import TASKS

TEST_SEED = {"held-out": 9001, "external-style": 9002}  # training uses seeds < 9000 * 1000


def run_cohort(name: str, heldout: bool, n_a4c: int, n_doppler: int, models: Models, workdir: Path) -> dict:
    import csv

    rows = []
    for kind, n in (("a4c", n_a4c), ("doppler", n_doppler)):
        d = workdir / f"{name}_{kind}"
        truth_csv = write_dataset(d, kind, n, TEST_SEED[name], heldout=heldout)
        with open(truth_csv) as fh:
            for t in csv.DictReader(fh):
                rows.append((d, t))
    per_task: dict[str, dict[str, list]] = {t: {"pred": [], "truth": [], "dice": [], "refused": 0, "n": 0}
                                            for t in TASKS}
    route_ok = route_n = 0
    results = {}
    for d, t in rows:
        f = d / t["file"]
        if f not in results:
            results[f] = measure_file(f, models)
        r = results[f]
        task = t["task"]
        got = {m.task: m for m in r.measurements}
        acc = per_task[task]
        acc["n"] += 1
        if task.endswith("_vti"):
            route_n += 1
            route_ok += task in got
        m = got.get(task)
        if m is None:
            acc["refused"] += 1
            continue
        if task in r.masks and task in ("la_area", "ra_area"):
            masks = np.load(d / t["file"].replace(".dcm", ".masks.npz"))["masks"]
            label = 1 if task == "la_area" else 2
            acc["dice"].append(dice(r.masks[task], masks[r.frames_for_task[task]] == label))
        if m.qc != "pass" or m.value is None:
            acc["refused"] += 1
            continue
        acc["pred"].append(m.value)
        acc["truth"].append(float(t["value"]))
    out = {"route_accuracy": route_ok / max(route_n, 1), "route_n": route_n, "tasks": {}}
    for task, acc in per_task.items():
        if acc["n"] == 0:
            continue
        p, tr = np.array(acc["pred"]), np.array(acc["truth"])
        entry = {"n": acc["n"], "refused": acc["refused"], "dice": float(np.mean(acc["dice"])) if acc["dice"] else None}
        if p.size >= 3:
            a = agreement(p, tr, n_boot=200)
            rel = np.abs(p - tr) / np.abs(tr)
            entry |= {"r2": a.r2, "mae": a.mae, "bias": a.bias, "mae_pct_of_mean": 100 * a.mae / float(tr.mean()),
                      "max_err_pct": 100 * float(rel.max()), "within_20pct": float(np.mean(rel <= 0.2))}
        out["tasks"][task] = entry
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-a4c", type=int, default=40)
    ap.add_argument("--n-doppler", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path("docs/accuracy.md"))
    ap.add_argument("--atria-model", default="atria")
    ap.add_argument("--doppler-model", default="doppler")
    args = ap.parse_args()
    models = Models(args.atria_model, args.doppler_model)
    t0 = time.time()
    cohorts = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, heldout in (("held-out", False), ("external-style", True)):
            cohorts[name] = run_cohort(name, heldout, args.n_a4c, args.n_doppler, models, Path(tmp))
    wall = time.time() - t0
    cmd = f".venv/bin/python benchmarks/accuracy.py --n-a4c {args.n_a4c} --n-doppler {args.n_doppler}"
    lines = ["# Accuracy on held-out synthetic data", "",
             f"Command: `{cmd}` ({wall:.0f} s on {os.cpu_count()} CPU cores, {platform.machine()}).  ",
             "Cohorts are generated from seeds training never uses; *external-style* is the held-out style "
             "family (`violet`), never seen in training. Values compare echoseg's QC-passed measurements with "
             "the generator's exact truth. Synthetic data only: this says nothing about clinical accuracy.", ""]
    for name, res in cohorts.items():
        lines += [f"## {name}", "", f"Routing accuracy (Doppler site): {100 * res['route_accuracy']:.1f} % "
                  f"of {res['route_n']}", "",
                  "| task | n | refused by QC | R² | MAE | MAE % of mean | bias | max error % | Dice |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for task, e in res["tasks"].items():
            unit = "cm²" if task.endswith("area") else "cm"
            fmt = lambda k, f="{:.3f}": f.format(e[k]) if e.get(k) is not None else "-"  # noqa: E731
            lines.append(f"| {task} | {e['n']} | {e['refused']} | {fmt('r2')} | {fmt('mae', '{:.2f}')} {unit} | "
                         f"{fmt('mae_pct_of_mean', '{:.1f}')} | {fmt('bias', '{:+.2f}')} | "
                         f"{fmt('max_err_pct', '{:.1f}')} | {fmt('dice')} |")
        lines.append("")
    args.out.write_text("\n".join(lines) + "\n")
    Path(args.out.with_suffix(".json")).write_text(json.dumps(cohorts, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
