"""Benchmark: an archive batch's throughput against --jobs, and its peak memory for few and many files
(writes the "Archive batches" section of docs/performance.md; with --ray, the measured part of docs/scale.md).

Measured in one run on this machine, each run of ``echoseg measure`` a fresh subprocess into a fresh
output folder (so nothing is reused from a journal):

1. N synthetic Doppler files (``echoseg.synth``, seeded, the five sites in turn), 200 by default;
2. the first 20 and all N files, with ``--jobs 1`` and ``--jobs 2``: wall time (start-up included),
   files per second, and peak memory: the largest sum of the resident set sizes (VmRSS) of the run's
   process and its worker processes, sampled every 20 ms from /proc, without and with the Tesseract
   OCR processes that some Doppler screens start for a moment (a child caught between fork and exec
   shares its parent's memory and is not counted again), and the largest single process;
3. the N-file run again into its own folder (every file found in the journal, nothing measured);
4. with --ray: the N files with ``--engine ray`` on a local Ray cluster started by the run
   (``ray.init()`` with this machine's CPUs), and Ray's start-up alone (``ray.init`` + one actor
   loading the networks).

Run: .venv/bin/python benchmarks/batch.py [--n 200] [--small 20] [--jobs 1 2] [--ray]
(the command each table was made with, niceness and environment included, is written above it)
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- batch-benchmark:begin -->", "<!-- batch-benchmark:end -->"
RAY_BEGIN, RAY_END = "<!-- ray-benchmark:begin -->", "<!-- ray-benchmark:end -->"
SEED = 15_000


def _children(pid: int) -> list[int]:
    """Child processes of ``pid`` (/proc/PID/task/TID/children: only the run's own processes are read,
    so sampling stays cheap next to the run it measures)."""
    out: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for t in tasks:
        try:
            out += [int(c) for c in (t / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return out


def _tree(root: int) -> list[int]:
    """``root`` and every process descended from it."""
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += _children(p)
    return out


def _layout(pid: int) -> tuple[int, ...]:
    """(vsize, rss pages, start of stack) of ``pid`` from /proc/PID/stat (empty when it is gone)."""
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(f[20]), int(f[21]), int(f[25])
    except (OSError, IndexError, ValueError):
        return ()


def _counted(pids: list[int]) -> list[int]:
    """``pids`` less the children caught between fork and exec (Python starts Tesseract with vfork): such
    a child shares its parent's memory and shows the parent's layout, so its RSS would count twice."""
    ppid = {}
    for pid in pids:
        try:
            ppid[pid] = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            ppid[pid] = 0
    keep = []
    for pid in pids:
        parent = ppid[pid]
        if parent in ppid and _layout(pid) and _layout(pid) == _layout(parent):
            continue
        keep.append(pid)
    return keep


def _rss_kb(pid: int) -> int:
    try:
        m = re.search(r"^VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M)
    except OSError:
        return 0
    return int(m.group(1)) if m else 0


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def timed_run(cmd: list[str]) -> dict[str, float]:
    """Wall time and peak summed RSS (MB) of ``cmd`` and its descendants: all of them (``peak_mb``),
    and without the Tesseract OCR program the Doppler path starts for a moment on some screens
    (``peak_own_mb``: echoseg's processes alone), and the largest single echoseg process (``largest_mb``)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak, own, largest = [0], [0], [0]

    def sample() -> None:
        while proc.poll() is None:
            rss = [(_comm(p), _rss_kb(p)) for p in _counted(_tree(proc.pid))]
            peak[0] = max(peak[0], sum(r for _, r in rss))
            own[0] = max(own[0], sum(r for c, r in rss if c != "tesseract"))
            largest[0] = max([largest[0], *(r for c, r in rss if c != "tesseract")])
            time.sleep(0.02)
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    th.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return {"wall_s": wall, "peak_mb": peak[0] / 1024, "peak_own_mb": own[0] / 1024, "largest_mb": largest[0] / 1024}


def machine() -> str:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    cpu = re.search(r"^model name\s*:\s*(.*)$", text, re.M)
    return (f"CPU: {cpu.group(1).strip() if cpu else platform.processor() or 'unknown'}, {os.cpu_count()} cores; "
            f"Python {platform.python_version()}; {platform.system()} {platform.release()}.")


def make_inputs(folder: Path, n: int) -> list[Path]:
    from echoseg.synth.dicom_writer import write_case
    from echoseg.synth.doppler import generate_doppler
    from echoseg.vocab import SITES

    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        write_case(generate_doppler(SEED + i, site=SITES[i % len(SITES)]), folder, f"d{i:04d}", save_masks=False)
        (folder / f"d{i:04d}.truth.json").unlink()
        files.append(folder / f"d{i:04d}.dcm")
    return files


def measure_cmd(inputs: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "echoseg", "measure", str(inputs), "--out", str(out), "--quiet", *extra]


def ray_startup() -> dict[str, float]:
    """Seconds for ray.init() on this machine, then for one actor to load the networks."""
    code = ("import time, ray; t=time.perf_counter(); ray.init(include_dashboard=False, log_to_driver=False); "
            "t1=time.perf_counter()-t\n"
            "from echoseg.batch.settings import ModelSpec\n"
            "@ray.remote\n"
            "class A:\n"
            "    def __init__(self):\n"
            "        from echoseg.batch.work import models_for\n"
            "        m = models_for(ModelSpec()); m.get('atria'); m.get('doppler')\n"
            "    def ok(self): return 1\n"
            "t=time.perf_counter(); a=A.remote(); ray.get(a.ok.remote()); t2=time.perf_counter()-t\n"
            "print(t1, t2); ray.shutdown()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    init_s, actor_s = (float(x) for x in out.stdout.split()[-2:])
    return {"init_s": init_s, "actor_s": actor_s}


def _snapshot(dest: Path) -> str:
    """Copy the package (code and shipped weights) to ``dest`` and put it first on every run's
    PYTHONPATH, so that all runs of one benchmark measure one version of the code even while the
    working tree changes; return that version (commit, and whether the tree had uncommitted changes)."""
    src = Path(__file__).resolve().parents[1] / "src" / "echoseg"
    shutil.copytree(src, dest / "echoseg", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(dest), os.environ.get("PYTHONPATH")]))
    git = ["git", "-C", str(src)]
    try:
        head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "--", "."], capture_output=True, text=True).stdout
    except OSError:
        return "unknown"
    return f"{head or 'unknown'}{' with uncommitted changes' if dirty.strip() else ''}"


def _prefix() -> list[str]:
    """How this benchmark was started beyond its arguments: its niceness and the environment variables
    that change what it measures (threads; where Ray was found)."""
    words = [f"nice -n {os.nice(0)}"] if os.nice(0) else []
    env = [f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "PYTHONPATH") if os.environ.get(k)]
    return words + (["env", *env] if env else [])


def _replace(path: Path, begin: str, end: str, block: list[str], heading: str) -> None:
    text = path.read_text() if path.exists() else ""
    body = "\n".join([begin, *block, end])
    if begin in text and end in text:
        text = text[:text.index(begin)] + body + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + f"\n\n{heading}\n\n{body}\n"
    path.write_text(text if text.endswith("\n") else text + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--small", type=int, default=20)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--ray", action="store_true", help="also time --engine ray (needs echoseg[ray])")
    ap.add_argument("--out", type=Path, default=Path("docs/performance.md"))
    ap.add_argument("--scale-out", type=Path, default=Path("docs/scale.md"))
    args = ap.parse_args()
    cmdline = "`" + " ".join([*_prefix(), ".venv/bin/python benchmarks/batch.py", *sys.argv[1:]]) + "`"
    started, load0, t_start = datetime.date.today().isoformat(), os.getloadavg()[0], time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="echoseg-batch-bench-"))
    code = _snapshot(work / "src")
    try:
        many = work / "many"
        files = make_inputs(many, args.n)
        few = work / "few"
        few.mkdir()
        for f in files[:args.small]:
            shutil.copy(f, few / f.name)
        rows: list[dict[str, Any]] = []
        for jobs in args.jobs:
            for n, folder in ((args.small, few), (args.n, many)):
                out = work / f"out-{n}-{jobs}"
                r = timed_run(measure_cmd(folder, out, "--jobs", str(jobs)))
                html_kb = sum(p.stat().st_size for p in [out / "report.html", *(out / "report").glob("*.html")]
                              if p.exists()) / 1024
                rows.append({"jobs": jobs, "files": n, **r, "files_s": n / r["wall_s"],
                             "report_kb": (out / "report.html").stat().st_size / 1024, "all_html_kb": html_kb})
                print(rows[-1], flush=True)
        resumed = timed_run(measure_cmd(many, work / f"out-{args.n}-{args.jobs[0]}", "--jobs", str(args.jobs[0])))
        print("resume", resumed, flush=True)
        ray_rows: dict[str, Any] = {}
        if args.ray:
            ray_rows["startup"] = ray_startup()
            ray_rows["run"] = timed_run(measure_cmd(many, work / "out-ray", "--engine", "ray"))
            same = (work / "out-ray" / "measurements.csv").read_text() == \
                (work / f"out-{args.n}-1" / "measurements.csv").read_text() if 1 in args.jobs else None
            ray_rows["same_rows"] = same
            print("ray", ray_rows, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load1, took = os.getloadavg()[0], time.perf_counter() - t_start
    head = [f"Written by `benchmarks/batch.py`. Command: {cmdline}  ",
            f"Date: {started}; the run took {took:.0f} s; code: {code} (every run used one copy of src/echoseg).  ",
            machine() + "  ",
            f"Load: 1-minute load average {load0:.2f} at the start, {load1:.2f} at the end (other work shared "
            "the cores: compare rows with each other, not with other machines).", ""]
    table = ["| --jobs | files | wall s (start-up included) | files / s | peak memory MB, echoseg's processes "
             "| largest single process MB | peak memory MB, with Tesseract | report.html KB | all report pages KB |",
             "|---|---|---|---|---|---|---|---|---|"]
    table += [f"| {r['jobs']} | {r['files']} | {r['wall_s']:.1f} | {r['files_s']:.2f} | {r['peak_own_mb']:.0f} | "
              f"{r['largest_mb']:.0f} | {r['peak_mb']:.0f} | {r['report_kb']:.0f} | {r['all_html_kb']:.0f} |"
              for r in rows]
    notes = [""]
    for jobs in args.jobs:
        small = next(r for r in rows if r["jobs"] == jobs and r["files"] == args.small)
        big = next(r for r in rows if r["jobs"] == jobs and r["files"] == args.n)
        notes.append(f"- `--jobs {jobs}`: peak memory of echoseg's processes for {args.n} files is "
                     f"{100 * (big['peak_own_mb'] / small['peak_own_mb'] - 1):+.1f} % of that for {args.small} files "
                     f"(target: within 20 %), the largest single process's "
                     f"{100 * (big['largest_mb'] / small['largest_mb'] - 1):+.1f} %; with the Tesseract processes "
                     "some Doppler screens start for a moment, "
                     f"{100 * (big['peak_mb'] / small['peak_mb'] - 1):+.1f} % (more files, more chances that an OCR "
                     "call coincides with the worker's own peak).")
    notes.append(f"- Rerunning the {args.n}-file `--jobs {args.jobs[0]}` run into its folder (every file already in "
                 f"the journal, outputs reassembled): {resumed['wall_s']:.1f} s, peak {resumed['peak_own_mb']:.0f} MB.")
    _replace(args.out, BEGIN, END, head + table + notes, "## Archive batches (`echoseg measure --jobs N`)")
    print(f"wrote {args.out}")
    if args.ray:
        st, run = ray_rows["startup"], ray_rows["run"]
        block = head + ["| engine | files | wall s (start-up included) | files / s | peak memory MB (the run, its "
                        "workers and, for Ray, the local cluster's processes; Tesseract excluded) |",
                        "|---|---|---|---|---|",
                        f"| ray (local cluster, {os.cpu_count()} CPUs) | {args.n} | {run['wall_s']:.1f} | "
                        f"{args.n / run['wall_s']:.2f} | {run['peak_own_mb']:.0f} |"]
        block += [f"| local, --jobs {r['jobs']} | {r['files']} | {r['wall_s']:.1f} | {r['files_s']:.2f} | "
                  f"{r['peak_own_mb']:.0f} |" for r in rows if r["files"] == args.n]
        import ray

        block += ["", f"- Ray {ray.__version__}. Start-up here: `ray.init()` {st['init_s']:.1f} s, then one actor "
                  "loading the networks "
                  f"{st['actor_s']:.1f} s.",
                  f"- Rows of the Ray run identical to the `--jobs 1` run's: {ray_rows['same_rows']}."]
        _replace(args.scale_out, RAY_BEGIN, RAY_END, block, "## Measured here")
        print(f"wrote {args.scale_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
