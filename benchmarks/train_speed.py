"""Benchmark: training and inference throughput of the task networks on this CPU, and data cost per sample.

Run: .venv/bin/python benchmarks/train_speed.py [--steps 8] [--batch 16] [--out docs/train_speed.md]
Samples come from a small synthetic cache built first (generation time is reported separately).
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from echoseg.models import bf16_supported, create, infer, n_parameters
from echoseg.training.train import TASK_DEFAULTS, compute_loss
from echoseg.training.data import StepData, SynthSource, collate


def _train_rate(task: str, src: SynthSource, steps: int, batch: int, bf16: bool) -> float:
    torch.manual_seed(0)
    net = create("unet", **TASK_DEFAULTS[task]["arch_config"]).to(memory_format=torch.channels_last).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    data = StepData(src, 0, True, task)
    times = []
    for k in range(steps + 2):
        x, y, site = collate([data[k * batch + j] for j in range(batch)])
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = net(x.contiguous(memory_format=torch.channels_last))
        loss = compute_loss(out, y, site, task)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return batch / float(np.median(times[2:]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    lines = ["# Training and inference speed", "",
             f"Command: `.venv/bin/python benchmarks/train_speed.py --steps {a.steps} --batch {a.batch}`  ",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads, bf16 supported: {bf16_supported()}", "",
             "| task | input | parameters | train fp32 img/s | train bf16 img/s | infer img/s (batch 32, auto) "
             "| data: generate s/case | data: cached+augment ms/sample |", "|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for task in ("atria", "doppler"):
            size = TASK_DEFAULTS[task]["input_size"]
            src = SynthSource(task, range(4), size, tmp, memory=0)
            t0 = time.perf_counter()
            for i in range(len(src)):
                src[i]
            gen = (time.perf_counter() - t0) / len(src.seeds)
            data = StepData(src, 0, True, task)
            t0 = time.perf_counter()
            for p in range(32):
                data[p]
            per_sample = (time.perf_counter() - t0) / 32 * 1000
            fp32 = _train_rate(task, src, a.steps, a.batch, False)
            bf16 = _train_rate(task, src, a.steps, a.batch, True) if bf16_supported() else float("nan")
            net = create("unet", **TASK_DEFAULTS[task]["arch_config"])
            x = np.stack([data[p][0] for p in range(32)])
            infer(net, x[:4])
            t0 = time.perf_counter()
            infer(net, x)
            inf = 32 / (time.perf_counter() - t0)
            shape = f"{size}x{size}" if isinstance(size, int) else f"{size[0]}x{size[1]}"
            lines.append(f"| {task} | {shape} | {n_parameters(net):,} | {fp32:.0f} | {bf16:.0f} | {inf:.0f} "
                         f"| {gen:.3f} | {per_sample:.1f} |")
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        a.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
