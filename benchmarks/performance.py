"""Benchmark: speed and memory of echoseg's networks and of a whole study (writes docs/performance.md).

Measured in one run on this machine:

1. our atria and Doppler networks as shipped (``registry.load``; random weights with train.py's
   default architecture when no shipped weights exist yet) at their input sizes: per-image latency
   (batch 1) and throughput (batch 32, a 30-frame cine's batch), in torch fp32 eager, through
   ``registry.infer`` (channels_last + bf16 autocast where the CPU supports it), and through ONNX
   Runtime as the pipeline runs them (``echoseg.models.ort``), each also on 1 thread;
2. the reference architecture, a plain-torch DeepLabV3-ResNet50 (benchmarks/reference_deeplab.py,
   random weights), at the reference input sizes 640x480 (atria) and 256x256 (Doppler crops), in
   fp32 eager and channels_last + bf16, and the speed-up ratios;
3. which backend the pipeline uses (``echoseg.models.inference``: ONNX Runtime when installed);
4. a whole study (a 30-frame A4C cine plus five Doppler images from the synthetic generator)
   through ``echoseg measure`` as a fresh subprocess, three times: wall time including Python
   start-up, and peak RSS; then one run on 1 thread and one under cProfile, split into stages.

Timings report the median and the best run: on a shared machine the best run is the least
disturbed one, and the speed-up targets are judged on it (medians are shown beside).

Run: .venv/bin/python benchmarks/performance.py [--quick] [--study-random-weights] [--ref-batch]
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import os
import platform
import pstats
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_deeplab import deeplabv3_resnet50  # noqa: E402

from echoseg.models import registry  # noqa: E402
from echoseg.vocab import SITES  # noqa: E402

THREADS = 2
TARGET_SPEEDUP, TARGET_STUDY_S, TARGET_RSS_MB = 30.0, 5.0, 1536.0
REF_SIZES = {"atria": (480, 640), "doppler": (256, 256)}  # (rows, cols): 640x480 screens, 256x256 crops
REF_BATCH = {"atria": 2, "doppler": 4}  # --ref-batch: one timed run each (seconds per image)
PIPELINE_BATCH = {"atria": 32, "doppler": 1}  # a 30-frame cine is one infer batch; a Doppler image is one
STUDY_SEED, STUDY_FRAMES = 424_242, 30
SHARED_CORES = 0.25  # other processes' CPU use (cores) above which the report warns that timings are disturbed
INFER = "registry.infer: channels_last + bf16 autocast" if registry.bf16_supported() else \
    "registry.infer: channels_last, fp32 (no CPU bf16)"
REF_FAST = "channels_last + bf16 autocast" if registry.bf16_supported() else "channels_last, fp32 (no CPU bf16)"
FP32, ORT = "fp32 eager (NCHW)", "ONNX Runtime: echoseg.models.ort, fp32"


FLOOR_CODE = {ORT: "import onnxruntime, echoseg.pipeline", INFER: "import torch, echoseg.pipeline"}


# ----------------------------------------------------------------------------------- measuring

class CpuShare:
    """CPU time other processes used while a block ran, in cores (/proc/stat busy time minus our own)."""

    def __enter__(self) -> CpuShare:
        self.t0, self.busy0, self.own0 = time.perf_counter(), _busy_s(), _own_s()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = max(time.perf_counter() - self.t0, 1e-9)
        self.others = max(0.0, (_busy_s() - self.busy0) - (_own_s() - self.own0)) / wall


def _busy_s() -> float:
    try:
        vals = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return 0.0
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    guest = sum(vals[8:10]) if len(vals) > 9 else 0  # already counted in user/nice
    return (sum(vals) - idle - guest) / os.sysconf("SC_CLK_TCK")


def _own_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _timeit(fn: Callable[[], Any], reps: int, budget_s: float, min_reps: int = 2, warmup: int = 1) -> list[float]:
    """Seconds per call: ``warmup`` untimed calls, then up to ``reps`` timed ones within ``budget_s``."""
    for _ in range(warmup):
        fn()
    out: list[float] = []
    start = time.perf_counter()
    while len(out) < reps and (len(out) < min_reps or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _row(mode: str, batch: int, ts: list[float]) -> dict[str, Any]:
    med, best = float(np.median(ts)), float(np.min(ts))
    return {"mode": mode, "batch": batch, "ms_batch": 1000 * med, "ms_img": 1000 * med / batch,
            "best_img": 1000 * best / batch, "img_s": batch / med, "reps": len(ts)}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------------- our models

def our_models(paths: dict[str, str | None]) -> dict[str, dict[str, Any]]:
    """The networks the pipeline uses: shipped (or given) folders, else train.py defaults with random weights."""
    from echoseg.training.train import TASK_DEFAULTS

    out = {}
    for name in ("atria", "doppler"):
        given = paths.get(name)
        if given or (registry.shipped_dir(name) / registry.WEIGHTS_FILE).exists():
            loaded = registry.load(given or name)
            model, cfg, source = loaded.model, loaded.config, f"trained weights from {given or 'shipped ' + name}"
        else:
            torch.manual_seed(0)
            d = TASK_DEFAULTS[name]
            cfg = {"arch": "unet", "arch_config": dict(d["arch_config"]), "input_size": d["input_size"]}
            model = registry.create("unet", **cfg["arch_config"]).eval()
            source = "random weights, train.py default config (no shipped weights yet)"
        size = cfg["input_size"]
        rows, cols = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        shape = (int(cfg["arch_config"]["in_ch"]), rows, cols)
        out[name] = {"model": model, "config": cfg, "source": source, "shape": shape,
                     "params": registry.n_parameters(model), "trained": source.startswith("trained")}
    return out


def _plan(batch: int, reps: int, budget: float) -> tuple[int, int, float]:
    """(timed runs, minimum runs, seconds budget) for one cell."""
    return (reps, 2, budget) if batch == 1 else (3, 1, budget / 2)


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _modes(threads: int) -> list[tuple[int, str]]:
    """(thread count, label suffix): the configured count, then 1 thread (robust on a shared machine)."""
    return [(threads, "")] + ([(1, ", 1 thread")] if threads != 1 else [])


def bench_ours(m: dict[str, Any], reps: int, budget: float) -> list[dict[str, Any]]:
    c, h, w = m["shape"]
    eager = copy.deepcopy(m["model"]).eval().to(memory_format=torch.contiguous_format)
    piped = registry.for_inference(m["model"])  # as pipeline.Models prepares it once at load
    rows = []
    for threads, tag in _modes(torch.get_num_threads()):
        with _threads(threads):
            for batch in (1, 32):
                x = torch.from_numpy(np.random.default_rng(batch).random((batch, c, h, w), np.float32))
                n, low, b = _plan(batch, reps, budget)

                def run_eager(x: torch.Tensor = x) -> None:
                    with torch.inference_mode():
                        eager(x)
                if batch == 1 or not tag:  # fp32 eager at batch 32 on 1 thread adds nothing but seconds
                    rows.append(_row(FP32 + tag, batch, _timeit(run_eager, n, b, min_reps=low)))
                rows.append(_row(INFER + tag, batch,
                                 _timeit(lambda xn=x.numpy(): registry.infer(piped, xn), n, b, min_reps=low)))
    return rows


def bench_onnx(m: dict[str, Any], reps: int, budget: float) -> tuple[list[dict[str, Any]], str]:
    """ONNX Runtime rows at batch 1 and 32 through echoseg.models.ort (the pipeline's backend), and a note."""
    try:
        import onnxruntime as onnx_rt

        from echoseg.models import ort
    except ImportError:
        return [], "onnxruntime is not importable here, so there are no ONNX Runtime rows."
    c, h, w = m["shape"]
    state = {k: v.numpy() for k, v in m["model"].state_dict().items()}
    rows = []
    for threads, tag in _modes(torch.get_num_threads()):
        net = ort.from_state(m["config"]["arch_config"], state, threads=threads)
        for batch in (1, 32):
            x = np.random.default_rng(batch).random((batch, c, h, w), np.float32)
            n, low, b = _plan(batch, reps, budget)
            rows.append(_row(ORT + tag, batch, _timeit(lambda x=x: net.infer(x), n, b, min_reps=low)))
    return rows, (f"ONNX Runtime {onnx_rt.__version__}; the graph is built from the weights by "
                  "`echoseg.models.onnx_unet` (batch norm folded, activations included), as the pipeline loads it.")


def pipeline_mode() -> str:
    """The row label of the backend ``echoseg measure`` uses here (see echoseg.models.inference)."""
    from echoseg.models.inference import backend_choice
    from echoseg.models.ort import available
    return ORT if backend_choice() != "torch" and available() else INFER


# ----------------------------------------------------------------------------------- reference

def bench_reference(task: str, net: torch.nn.Module, reps: int, budget: float, batches: tuple[int, ...]
                    ) -> list[dict[str, Any]]:
    rows_px, cols_px = REF_SIZES[task]
    net_cl = copy.deepcopy(net).to(memory_format=torch.channels_last)
    out = []
    for threads, tag in _modes(torch.get_num_threads()):
        for batch in batches if not tag else (1,):
            x = torch.from_numpy(np.random.default_rng(batch).random((batch, 3, rows_px, cols_px), np.float32))
            x_cl = x.contiguous(memory_format=torch.channels_last)
            # the first batch-1 cell warms the weights up; later cells take the best of their runs
            n, warm = (reps, 1 if not tag else 0) if batch == 1 else (1, 0)

            def fp32(x: torch.Tensor = x) -> None:
                with torch.inference_mode():
                    net(x)

            def fast(x: torch.Tensor = x_cl) -> None:
                with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16,
                                                            enabled=registry.bf16_supported()):
                    net_cl(x)
            with _threads(threads):
                out.append(_row(FP32 + tag, batch, _timeit(fp32, n, budget, min_reps=min(n, 2), warmup=warm)))
                out.append(_row(REF_FAST + tag, batch, _timeit(fast, n, budget, min_reps=min(n, 2), warmup=warm)))
    return out


# ----------------------------------------------------------------------------------- whole study

def write_study(folder: Path, compression: str) -> list[str]:
    """A 30-frame A4C cine and one Doppler image per site, sharing a StudyInstanceUID; returns descriptions."""
    from echoseg.synth.a4c import generate_a4c
    from echoseg.synth.dicom_writer import new_uid, write_case
    from echoseg.synth.doppler import generate_doppler

    uid = new_uid("study", "perf", STUDY_SEED)
    desc = []
    cases = [("a4c", generate_a4c(STUDY_SEED, n_frames=STUDY_FRAMES))]
    cases += [(site, generate_doppler(STUDY_SEED * 10 + j, site=site)) for j, site in enumerate(SITES)]
    for stem, case in cases:
        paths = write_case(case, folder, f"perf_{stem}", compression=compression, study_uid=uid, save_masks=False)
        paths["truth"].unlink()
        t, h, w = case.frames.shape[:3]
        desc.append(f"{stem}: {t} x {w}x{h} RGB, {paths['dicom'].stat().st_size / 1e6:.1f} MB")
    return desc


def _time_cmd(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Wall seconds (perf_counter around the subprocess) and peak RSS (MB) of one command."""
    timer = Path("/usr/bin/time").exists()
    full = ["/usr/bin/time", "-v", *cmd] if timer else cmd
    t0 = time.perf_counter()
    proc = subprocess.run(full, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr) if timer else None
    # without /usr/bin/time: the largest child so far, an upper bound
    rss = int(found.group(1)) / 1024 if found else resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return {"wall": wall, "rss": rss, "stdout": (proc.stdout.strip().splitlines() or [""])[-1]}


def _measure_cmd(study: Path, out: Path, model_args: list[str]) -> list[str]:
    exe = str(Path(sys.executable).with_name("echoseg"))
    return [exe, "measure", str(study), "--out", str(out), "--quiet", *model_args]


STAGES = (  # (label, module path suffix, function): cumulative times, nested stages overlap
    ("all imports (importlib)", "<frozen importlib._bootstrap>", "_find_and_load"),
    ("model load (inference.load_for_inference)", "echoseg/models/inference.py", "load_for_inference"),
    ("DICOM read + decode (io.read.read)", "echoseg/io/read.py", "read"),
    ("A4C preprocess (atria.prepare.atria_input)", "echoseg/atria/prepare.py", "atria_input"),
    ("Doppler preprocess (doppler.prepare.doppler_input)", "echoseg/doppler/prepare.py", "doppler_input"),
    ("networks (inference.infer)", "echoseg/models/inference.py", "infer"),
    ("A4C file after reading (atria.task.measure)", "echoseg/atria/task.py", "measure"),
    ("Doppler files after reading (doppler.task.measure)", "echoseg/doppler/task.py", "measure"),
    ("reports (report.write.write_all)", "echoseg/report/write.py", "write_all"),
    ("  of which report.html (report.html.html_report)", "echoseg/report/html.py", "html_report"),
)


def profile_study(cmd: list[str], prof: Path) -> tuple[float, list[tuple[str, float]], list[str]]:
    """Run ``echoseg measure`` under cProfile; (wall s, stage cumulative seconds, largest own times)."""
    full = [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "echoseg", *cmd[1:]]
    t0 = time.perf_counter()
    subprocess.run(full, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    stats = pstats.Stats(str(prof)).stats  # type: ignore[attr-defined]
    table: dict[str, float] = {}
    for (file, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.items():
        for label, mod, fn in STAGES:
            if func == fn and file.replace(os.sep, "/").endswith(mod):
                table[label] = table.get(label, 0.0) + ct
    top = sorted(stats.items(), key=lambda kv: -kv[1][2])[:8]
    own = [f"`{Path(f).name}:{ln} {fn}` {v[2]:.2f} s" for (f, ln, fn), v in top]
    return wall, [(label, table.get(label, 0.0)) for label, _m, _f in STAGES], own


def bench_study(args: argparse.Namespace, ours: dict[str, Any], tmp: Path) -> tuple[dict[str, Any] | None, str]:
    model_args: list[str] = []
    for name in ours:
        if getattr(args, f"{name}_model"):
            model_args += [f"--{name}-model", getattr(args, f"{name}_model")]
    note = ""
    if not all(m["trained"] for m in ours.values()):
        if not args.study_random_weights:
            return None, ("Skipped: no shipped weights in src/echoseg/weights/{atria,doppler} yet. Re-run this script "
                          "once they are committed (or pass --study-random-weights for indicative numbers).")
        for name, m in ours.items():
            if not m["trained"]:
                d = registry.save(m["model"], m["config"] | {"task": name}, tmp / f"random_{name}")
                model_args += [f"--{name}-model", str(d)]
        note = ("**Random weights** (no shipped weights yet): the networks cost what trained ones will, but "
                "post-processing, QC and reports run on meaningless masks, so treat these times as indicative.")
    study_dir = tmp / "study"
    res: dict[str, Any] = {"desc": write_study(study_dir, args.compression)}
    with CpuShare() as cs:
        res["runs"] = [_time_cmd(_measure_cmd(study_dir, tmp / f"run{i}", model_args)) for i in range(args.study_runs)]
    res["others"] = cs.others
    res["one_thread"] = _time_cmd(_measure_cmd(study_dir, tmp / "run1t", model_args),
                                  env={**os.environ, "OMP_NUM_THREADS": "1"})
    res["floor"] = _time_cmd([sys.executable, "-c", FLOOR_CODE[pipeline_mode()]])
    if not args.no_profile:
        res["profile"] = profile_study(_measure_cmd(study_dir, tmp / "profiled", model_args), tmp / "measure.prof")
    return res, note


# ----------------------------------------------------------------------------------- report

def machine() -> str:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    cpu = re.search(r"^model name\s*:\s*(.*)$", text, re.M)
    flags = re.search(r"^flags\s*:(.*)$", text, re.M)
    isa = sorted(f for f in (flags.group(1).split() if flags else []) if f in ("avx512f", "avx512_bf16", "amx_bf16"))
    return (f"CPU: {cpu.group(1).strip() if cpu else platform.processor() or 'unknown'}, {os.cpu_count()} cores "
            f"(flags: {', '.join(isa) or 'none of avx512f/avx512_bf16/amx_bf16'}); torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads; bf16 convolutions supported: {registry.bf16_supported()}; "
            f"Python {platform.python_version()}.")


def _table(rows: list[dict[str, Any]]) -> list[str]:
    out = ["| mode | batch | ms / batch (median) | ms / image (median) | ms / image (best) | images / s (median) "
           "| timed runs |", "|---|---|---|---|---|---|---|"]
    out += [f"| {r['mode']} | {r['batch']} | {r['ms_batch']:.1f} | {r['ms_img']:.2f} | {r['best_img']:.2f} | "
            f"{r['img_s']:.1f} | {r['reps']} |" for r in rows]
    return out


def _find(rows: list[dict[str, Any]], mode: str, batch: int) -> dict[str, Any]:
    return next(r for r in rows if r["mode"] == mode and r["batch"] == batch)


def _x(ref: dict[str, Any], ours: dict[str, Any]) -> str:
    def f(v: float) -> str:
        return f"{v:.0f}x" if v >= 10 else f"{v:.1f}x"
    return f"{f(ref['best_img'] / ours['best_img'])} ({f(ref['ms_img'] / ours['ms_img'])})"


def report(args: argparse.Namespace, ours: dict[str, Any], res: dict[str, Any], ref_params: int,
           rss: tuple[float, float], study: dict[str, Any] | None, study_note: str, load0: float,
           total_s: float) -> list[str]:
    env = f"PYTHONPATH={os.environ['PYTHONPATH']} " if os.environ.get("PYTHONPATH") else ""
    cmd = env + " ".join([".venv/bin/python", "benchmarks/performance.py", *sys.argv[1:]])
    L = ["# Performance", "",
         "Written by `benchmarks/performance.py`; every number below comes from the one run described here.", "",
         f"Command: `{cmd}`  ", f"Date: {datetime.date.today().isoformat()}; the run took {total_s:.0f} s.  ",
         machine() + "  ",
         f"Load: 1-minute load average {load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the end. Each part "
         "gives the CPU that other processes used meanwhile, in cores (2.0 = both cores fully taken by other work).",
         ""]
    if args.quick:
        L += ["**--quick run: too few repetitions for conclusions.**", ""]
    busiest = max([v[k] for v in res.values() for k in ("others", "ref_others")] + [(study or {}).get("others", 0.0)])
    if busiest > SHARED_CORES:
        L += [f"**The machine was shared during this run** (other processes used up to {busiest:.1f} of the "
              f"{os.cpu_count()} cores). Multi-threaded timings then include waits for threads the OS has "
              "descheduled, which can multiply a small network's latency; the 1-thread rows are the reliable ones.",
              ""]
    L += ["Each cell: one untimed warm-up run, then timed runs; median and best (least disturbed) per image. "
          "`registry.infer` is torch's inference path (the pipeline's when ONNX Runtime is absent), on the copy "
          "`registry.for_inference` prepares once at load (eval, channels_last, convolution weights cast to bf16 "
          "when the CPU supports it): numpy in, bf16 autocast, softmax/sigmoid, numpy out. fp32 eager is `model(x)` "
          "under `torch.inference_mode()` on NCHW "
          "tensors. ONNX Runtime rows time `OrtNet.infer` (numpy in, probabilities out) with the same thread count. "
          f"The pipeline (`echoseg measure`) runs its networks here with: **{pipeline_mode()}**.",
          ""]
    for name, m in ours.items():
        r = res[name]
        c, h, w = m["shape"]
        rh, rw = REF_SIZES[name]
        L += [f"## {name.capitalize()}", "",
              f"Ours: U-Net `{m['config']['arch_config']}`, {m['params'] / 1e6:.2f} M parameters, input {c}x{h}x{w} "
              f"(channels x rows x cols); {m['source']}. Other processes: {r['others']:.2f} cores.", "",
              *_table(r["rows"]), "", *([r["onnx_note"], ""] if r["onnx_note"] else []),
              f"Reference: DeepLabV3-ResNet50 (output stride 8, ASPP, 1 class), {ref_params / 1e6:.2f} M parameters, "
              f"random weights, input 3x{rh}x{rw} ({rw}x{rh}). Other processes: {r['ref_others']:.2f} cores.", "",
              *_table(r["ref"]), ""]

    L += ["## Speed-up over the reference architecture", "",
          "Per image, each network at its own task's input size; best run first, medians in brackets. "
          f"*Pipeline*: reference fp32 eager at batch 1 against ours as the pipeline runs it ({pipeline_mode()}) at "
          "the batch the pipeline uses (atria: 32, as a 30-frame cine is one batch; Doppler: 1). *Batch 1*: both "
          "at batch 1, ours as the pipeline runs it. "
          "*fp32 vs fp32* and *bf16+CL vs infer*: the same execution mode on both sides, batch 1. The 1-thread rows "
          "compare both networks on one core, which other processes disturb far less than two threads that wait "
          "for each other.", "",
          "| task | threads | reference fp32 ms/img | ours (pipeline) ms/img | pipeline | batch 1 | fp32 vs fp32 | "
          "bf16+CL vs infer | target 30x (pipeline, best) |", "|---|---|---|---|---|---|---|---|---|"]
    met: dict[str, bool] = {}
    ort_lines = []
    for threads, tag in _modes(args.threads):
        for name in ours:
            rows, ref = res[name]["rows"], res[name]["ref"]
            ref_fp, ref_cl = _find(ref, FP32 + tag, 1), _find(ref, REF_FAST + tag, 1)
            o_fp, o_inf = _find(rows, FP32 + tag, 1), _find(rows, INFER + tag, 1)
            o_pipe = _find(rows, pipeline_mode() + tag, PIPELINE_BATCH[name])
            o_pipe1 = _find(rows, pipeline_mode() + tag, 1)
            ok = ref_fp["best_img"] / o_pipe["best_img"] >= TARGET_SPEEDUP
            met[tag] = met.get(tag, True) and ok
            L.append(f"| {name} | {threads} | {ref_fp['best_img']:.0f} ({ref_fp['ms_img']:.0f}) | "
                     f"{o_pipe['best_img']:.2f} ({o_pipe['ms_img']:.2f}) | {_x(ref_fp, o_pipe)} | "
                     f"{_x(ref_fp, o_pipe1)} | {_x(ref_fp, o_fp)} | {_x(ref_cl, o_inf)} | {'met' if ok else 'NOT met'} |")
            for o in (r for r in rows if r["mode"] == ORT + tag):
                t, e = _find(rows, INFER + tag, o["batch"]), _find(rows, FP32 + tag, 1)
                vs_eager = f", torch fp32 eager {e['best_img']:.2f}" if o["batch"] == 1 else ""
                ort_lines.append(f"| {name} | {threads} | {o['batch']} | {o['best_img']:.2f} ({o['ms_img']:.2f}) | "
                                 f"{t['best_img']:.2f} ({t['ms_img']:.2f}){vs_eager} | "
                                 f"{'ORT' if o['best_img'] < t['best_img'] else 'torch'} |")
    L.append("")
    if ort_lines:
        L += ["ONNX Runtime (fp32) against torch's inference path (`registry.infer`), ms per image, best (median):",
              "", "| task | threads | batch | ONNX Runtime | torch | faster |", "|---|---|---|---|---|---|",
              *ort_lines, ""]

    L += ["## Memory", "",
          f"Peak RSS of this benchmark process: {rss[0]:.0f} MB after timing our two networks, {rss[1]:.0f} MB after "
          "the reference too (it also holds ONNX Runtime sessions and oneDNN caches). The product's number is the "
          "study's peak RSS below.", "", "## Whole study through `echoseg measure`", ""]
    met_study = met_rss = None
    if study is None:
        L += [study_note, ""]
    else:
        L += [*([study_note, ""] if study_note else []),
              f"A {STUDY_FRAMES}-frame A4C cine and one Doppler image per site, uncompressed unless the command says "
              f"otherwise, from the synthetic generator (seed {STUDY_SEED}): " + "; ".join(study["desc"]) + ".", "",
              "`.venv/bin/echoseg measure STUDY --out OUT --quiet` as a fresh subprocess each time: wall time from "
              "launch to exit (Python start-up, imports and model loading included), peak RSS from `/usr/bin/time -v`."
              f" Other processes: {study['others']:.2f} cores.", "",
              "| run | wall s | peak RSS MB | output |", "|---|---|---|---|"]
        for i, r in enumerate(study["runs"]):
            L.append(f"| {i + 1} | {r['wall']:.2f} | {r['rss']:.0f} | {r['stdout'].split(' -> ')[0]} |")
        walls = [r["wall"] for r in study["runs"]]
        peak = max(r["rss"] for r in study["runs"])
        met_study, met_rss = min(walls) < TARGET_STUDY_S, peak < TARGET_RSS_MB
        one, floor = study["one_thread"], study["floor"]
        L += ["", f"Best {min(walls):.2f} s, median {np.median(walls):.2f} s; peak RSS {peak:.0f} MB. "
                  f"The same command with `OMP_NUM_THREADS=1` (networks on 1 thread): {one['wall']:.2f} s, "
                  f"{one['rss']:.0f} MB. Start-up floor (`python -c \"{FLOOR_CODE[pipeline_mode()]}\"`, the imports "
                  f"before the first file): {floor['wall']:.2f} s, {floor['rss']:.0f} MB.", ""]
        if "profile" in study:
            wall, stages, own = study["profile"]
            L += [f"Where the time goes: one more run under cProfile ({wall:.2f} s wall with the profiler's overhead). "
                  "Cumulative seconds, so rows overlap: an import is counted in the stage that triggered it too, and "
                  "the per-file rows contain that file's preprocessing, network and post-processing.", "",
                  "| stage | s |", "|---|---|", *[f"| {label} | {s:.2f} |" for label, s in stages], "",
                  "Largest own times: " + "; ".join(own) + ".", ""]

    def verdict(v: bool | None, caveat: str = "") -> str:
        return "not measured" if v is None else ("met" if v else "NOT met") + caveat
    random = " (random weights)" if study is not None and study_note else ""
    L += ["## Targets", "", "| target | result |", "|---|---|",
          *[f"| per-image inference >= {TARGET_SPEEDUP:.0f}x faster than the reference (pipeline ratio, best runs, "
            f"both tasks, {threads} thread{'s' if threads > 1 else ''}) | {verdict(met[tag])} |"
            for threads, tag in _modes(args.threads)],
          f"| whole study < {TARGET_STUDY_S:.0f} s wall including start-up (best run) | {verdict(met_study, random)} |",
          f"| peak RSS < {TARGET_RSS_MB / 1024:.1f} GB (study runs) | {verdict(met_rss, random)} |"]
    return L


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/performance.md"))
    ap.add_argument("--reps", type=int, default=20, help="timed runs at batch 1 for our networks")
    ap.add_argument("--ref-reps", type=int, default=2, help="timed runs at batch 1 for the reference")
    ap.add_argument("--ref-batch", action="store_true", help="also time the reference at batch 2 (640x480) / 4")
    ap.add_argument("--study-runs", type=int, default=3)
    ap.add_argument("--compression", choices=["none", "jpeg"], default="none", help="pixel encoding of the study")
    ap.add_argument("--atria-model", default=None, help="model folder to time instead of the shipped one")
    ap.add_argument("--doppler-model", default=None, help="model folder to time instead of the shipped one")
    ap.add_argument("--study-random-weights", action="store_true",
                    help="without shipped weights, time the study with random-weight models (labelled so)")
    ap.add_argument("--no-profile", action="store_true", help="skip the cProfile run of the study")
    ap.add_argument("--threads", type=int, default=THREADS, help="torch threads in this process")
    ap.add_argument("--quick", action="store_true", help="fewer runs (a smoke test)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.reps, args.ref_reps, args.study_runs = 3, 1, 1
    budget = 1.0 if args.quick else 4.0
    t_start, load0 = time.perf_counter(), os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="echoseg_perf_"))

    def say(what: str) -> None:
        print(f"{what}: done ({time.perf_counter() - t_start:.0f} s)", flush=True)
    try:
        ours = our_models({"atria": args.atria_model, "doppler": args.doppler_model})
        res: dict[str, Any] = {}
        for name, m in ours.items():
            with CpuShare() as cs:
                rows = bench_ours(m, args.reps, budget)
                onnx_rows, onnx_note = bench_onnx(m, args.reps, budget)
            res[name] = {"rows": rows + onnx_rows, "onnx_note": onnx_note, "others": cs.others}
            say(f"ours {name}")
        rss_ours = _peak_rss_mb()
        ref = deeplabv3_resnet50(n_classes=1).eval()
        ref_params = sum(p.numel() for p in ref.parameters())
        for name in ours:
            with CpuShare() as cs:
                batches = (1, REF_BATCH[name]) if args.ref_batch else (1,)
                res[name]["ref"] = bench_reference(name, ref, args.ref_reps, 3 * budget, batches)
            res[name]["ref_others"] = cs.others
            say(f"reference {name}")
        rss_all = _peak_rss_mb()
        study, study_note = bench_study(args, ours, tmp)
        say("study")
        lines = report(args, ours, res, ref_params, (rss_ours, rss_all), study, study_note, load0,
                       time.perf_counter() - t_start)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    kept = _batch_section(args.out)
    args.out.write_text("\n".join(lines) + "\n" + ("\n" + kept if kept else ""), encoding="utf-8")
    print("\n".join(lines))


BATCH_HEADING = "## Archive batches"  # written by benchmarks/batch.py: kept as it is


def _batch_section(path: Path) -> str:
    """The section benchmarks/batch.py wrote into ``path`` (from its heading to the end; "" if none)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    at = text.find(BATCH_HEADING)
    return text[at:] if at >= 0 else ""


if __name__ == "__main__":
    main()
