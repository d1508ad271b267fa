"""A ``--jobs 2`` run SIGKILLed at random moments, then resumed, gives the rows of an uninterrupted
run: identical files, no duplicates, and nothing journalled before a kill is lost."""
from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time

from echoseg.batch import journal as jr
from echoseg.cli import main

from .conftest import needs_weights


def _measure(src, out, *extra) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "echoseg", "measure", str(src), "--out", str(out), "--quiet", "--jobs", "2",
           "--save-masks", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def _records(out) -> list[dict]:
    return list(jr.read_records(out / "journal"))


@needs_weights
def test_killed_runs_resume_to_the_rows_of_an_uninterrupted_run(tmp_path, study_dir):
    ref = tmp_path / "ref"
    assert main(["measure", str(study_dir), "--out", str(ref), "--quiet", "--save-masks"]) == 0  # --jobs 1

    out = tmp_path / "killed"
    rng = random.Random(15)
    kept: list[tuple[str, int]] = []
    kills = 0
    # kill points: during start-up, then once a random number of files is journalled (plus a random
    # fraction of a file's time), so kills land before, between and inside files' writes
    for target in (0, *(rng.choice((1, 2)) for _ in range(3))):
        before = len(_records(out))
        proc = _measure(study_dir, out)
        deadline = time.monotonic() + 120
        while len(_records(out)) < before + target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.3, 1.5) if target == 0 else rng.uniform(0.0, 0.4))
        if proc.poll() is not None:
            continue  # it finished before the kill
        os.killpg(proc.pid, signal.SIGKILL)  # the run and its workers, as the OOM killer or a node loss would
        proc.wait()
        kills += 1
        recs = [(r["file"], r["mtime_ns"]) for r in _records(out)]
        assert recs[:len(kept)] == kept  # what was journalled before is still there, unchanged
        kept = recs
    assert kills >= 2
    proc = _measure(study_dir, out)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]

    for name in ("measurements.csv", "beats.csv", "studies.csv"):
        assert (out / name).read_text() == (ref / name).read_text(), name
    with open(out / "measurements.csv", newline="") as fh:
        keys = [(r["file"], r["task"]) for r in csv.DictReader(fh)]
    assert len(keys) == len(set(keys)) == 7  # LA, RA and five Doppler files, once each
    assert sorted(p.name for p in (out / "overlays").iterdir()) == sorted(p.name for p in (ref / "overlays").iterdir())
    assert sorted(p.name for p in (out / "masks").iterdir()) == sorted(p.name for p in (ref / "masks").iterdir())
    assert not list(out.rglob("*.tmp"))  # no half-written output left behind
    # one record per file: a file journalled before a kill is reused, one in flight was never journalled
    assert sorted(r["file"] for r in _records(out)) == sorted(str(p) for p in study_dir.glob("*.dcm"))


@needs_weights
def test_workers_end_when_only_the_parent_is_killed(tmp_path, study_dir):
    out = tmp_path / "out"
    proc = _measure(study_dir, out)
    deadline = time.monotonic() + 120
    while not _records(out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    pids = {r["pid"] for r in _records(out)}
    if proc.poll() is not None:
        return  # finished already: nothing to check on this machine
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        try:  # a zombie awaiting its reaper is gone too
            return open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0] != "Z"
        except OSError:
            return False
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pids and not any(alive(p) for p in pids)
