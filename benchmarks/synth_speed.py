"""Benchmark: how fast the synthetic generator makes cases (writes docs/synth_speed.md).

Run: .venv/bin/python benchmarks/synth_speed.py [--n 20]
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from echoseg.synth.a4c import generate_a4c
from echoseg.synth.doppler import generate_doppler


def _time(fn, n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(1000 + i)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--out", type=Path, default=Path("docs/synth_speed.md"))
    n = ap.parse_args().n
    rows = [
        ("A4C cine (default length)", _time(lambda s: generate_a4c(s), n)),
        ("A4C, 3 frames (training)", _time(lambda s: generate_a4c(s, n_frames=3), n)),
        ("Doppler image", _time(lambda s: generate_doppler(s), n)),
    ]
    lines = ["# Synthetic generator speed", "",
             f"Command: `.venv/bin/python benchmarks/synth_speed.py --n {n}`  ",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
             f"Python {platform.python_version()}, one process.", "",
             "| case | median s | p90 s | cases/s |", "|---|---|---|---|"]
    for name, ts in rows:
        med = float(np.median(ts))
        lines.append(f"| {name} | {med:.3f} | {float(np.percentile(ts, 90)):.3f} | {1 / med:.1f} |")
    ap.parse_args().out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
