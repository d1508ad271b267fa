"""Worker processes: a worker that dies costs only the file that killed it (batch.engines)."""
from __future__ import annotations

import logging
import os

import pytest

from echoseg.batch.engines import run_inline, run_processes
from echoseg.batch.record import result_from_json
from echoseg.batch.settings import ModelSpec, Settings
from echoseg.batch.work import Item, Job


def _step(item: Item, job: Job) -> dict:
    """A stand-in per-file step: dies like a segfault on files named 'poison', raises an error that
    quotes a header value (as a bug deep in a reader might) on files named 'odd', else a plain record."""
    if "poison" in item.file:
        os._exit(139)
    if "odd" in item.file:
        raise KeyError("PatientName Doe^Jane")
    if "loud" in item.file:
        logging.getLogger("echoseg.io").warning("%s: a warning logged while measuring it", item.file)
        logging.getLogger("echoseg.io").debug("%s: a debug record below the run's level", item.file)
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
    assert row.qc == "fail" and row.reason.startswith("poison.dcm: the worker process measuring it died")
    assert bad["sha256"] == ""  # measured again on resume
    assert all(r["result"] is None for r in got if r["file"] != "poison.dcm")  # the others measured normally


@pytest.mark.parametrize("engine", ["inline", "processes"])
def test_an_error_outside_the_pipeline_names_the_file_and_never_quotes_its_text(tmp_path, engine):
    items = [Item("a.dcm", "a"), Item("odd.dcm", "odd"), Item("b.dcm", "b")]
    job = Job(str(tmp_path), ModelSpec(), Settings(), "key")
    got: list[dict] = []
    if engine == "inline":
        run_inline(items, job, got.append, step=_step)
    else:
        run_processes(items, job, got.append, jobs=2, threads=1, step=_step)
    assert sorted(r["file"] for r in got) == ["a.dcm", "b.dcm", "odd.dcm"]  # the batch went on
    (bad,) = [r for r in got if r["file"] == "odd.dcm"]
    (row,) = result_from_json(bad["result"]).measurements
    assert row.qc == "fail" and row.reason.startswith("odd.dcm: internal error (KeyError)")
    assert "Doe" not in row.reason and "Doe" not in str(bad) and bad["sha256"] == ""


def test_a_workers_log_records_reach_the_parents_handlers(tmp_path, caplog):
    """What a worker logs goes where the run's log goes (console, --log-file), at the run's level."""
    items = [Item("loud1.dcm", "loud1"), Item("a.dcm", "a"), Item("loud2.dcm", "loud2")]
    job = Job(str(tmp_path), ModelSpec(), Settings(), "key")
    with caplog.at_level(logging.WARNING, logger="echoseg"):
        run_processes(items, job, [].append, jobs=2, threads=1, step=_step)
    got = sorted(r.getMessage() for r in caplog.records if r.name == "echoseg.io")
    assert got == ["loud1.dcm: a warning logged while measuring it", "loud2.dcm: a warning logged while measuring it"]
    assert all(r.process != os.getpid() for r in caplog.records if r.name == "echoseg.io")  # from the workers
