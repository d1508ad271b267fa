"""Worker processes: a worker that dies costs only the file that killed it (batch.engines)."""
from __future__ import annotations

import os

from echoseg.batch.engines import run_processes
from echoseg.batch.record import result_from_json
from echoseg.batch.settings import ModelSpec, Settings
from echoseg.batch.work import Item, Job


def _step(item: Item, job: Job) -> dict:
    """A stand-in per-file step: dies like a segfault on files named 'poison', else a plain record."""
    if "poison" in item.file:
        os._exit(139)
    return {"file": item.file, "name": item.name, "pid": os.getpid(), "result": None}


def test_a_file_that_kills_its_worker_gets_a_failed_row_and_the_others_are_measured(tmp_path):
    items = [Item(f"f{i}.dcm", f"f{i}") for i in range(6)] + [Item("poison.dcm", "poison")]
    items.insert(2, items.pop())  # in the middle of the batch, with other files in flight
    job = Job(str(tmp_path), ModelSpec(), Settings(), "key")
    got: list[dict] = []
    run_processes(items, job, got.append, jobs=2, threads=1, step=_step)
    files = [r["file"] for r in got]
    assert sorted(files) == sorted(i.file for i in items) and len(files) == len(set(files))
    (bad,) = [r for r in got if r["file"] == "poison.dcm"]
    (row,) = result_from_json(bad["result"]).measurements
    assert row.qc == "fail" and "worker process died" in row.reason and bad["sha256"] == ""
    assert all(r["result"] is None for r in got if r["file"] != "poison.dcm")  # the others measured normally
