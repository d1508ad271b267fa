"""The one step every engine runs: measure one file and return its self-contained journal record.

:func:`measure_one` hashes the file's bytes, measures it with :func:`echoseg.pipeline.measure_file`,
writes its overlay and masks atomically under the output name the plan gave it, and returns the
record (:mod:`echoseg.batch.record` plus the keys the journal indexes). The networks are loaded once
per process (:func:`models_for`), so a worker pays for them once whatever the number of files.
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from echoseg.batch.record import FORMAT, result_to_json
from echoseg.batch.settings import ModelSpec, Settings, sha256_file
from echoseg.options import Models

_MODELS: dict[ModelSpec, Models] = {}


@dataclass(frozen=True)
class Job:
    """What every worker of one run shares (picklable)."""

    out: str
    spec: ModelSpec
    settings: Settings
    run_key: str


@dataclass(frozen=True)
class Item:
    """One file to measure and its output name (unique in the run: :func:`~echoseg.batch.inputs.unique_names`)."""

    file: str
    name: str


def models_for(spec: ModelSpec) -> Models:
    """This process's :class:`Models` for ``spec`` (networks load on first use, once per process)."""
    if spec not in _MODELS:
        _MODELS[spec] = spec.models()
    return _MODELS[spec]


def measure_one(item: Item, job: Job) -> dict[str, Any]:
    """Measure ``item.file``, write its overlay/masks into ``job.out``, return its journal record."""
    from echoseg.pipeline import dicom_uids, measure_file
    from echoseg.report.write import write_file_outputs

    t0 = time.perf_counter()
    try:
        st = os.stat(item.file)
        size, mtime_ns, sha = st.st_size, st.st_mtime_ns, sha256_file(item.file)
    except OSError:
        size, mtime_ns, sha = -1, -1, ""  # never matches: measured again next time (the row says why)
    result = measure_file(item.file, models_for(job.spec), job.settings.options())
    sop, series = dicom_uids(item.file)
    outputs = write_file_outputs(result, Path(job.out), item.name, save_masks=job.settings.save_masks,
                                 overlay=job.settings.overlays)
    return {"format": FORMAT, "run_key": job.run_key, "file": item.file, "name": item.name, "sha256": sha,
            "size": size, "mtime_ns": mtime_ns, "sop_instance_uid": sop, "series_uid": series,
            "outputs": outputs, "t_s": round(time.perf_counter() - t0, 4), "pid": os.getpid(),
            "result": result_to_json(result)}


def limit_threads(threads: int) -> None:
    """Make this process's ONNX Runtime sessions, torch and BLAS use ``threads`` threads (call before
    the networks load)."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    torch = sys.modules.get("torch")  # torch imported later reads OMP_NUM_THREADS itself
    if torch is not None:
        torch.set_num_threads(threads)


def _exit_with_parent(parent: int, every_s: float = 0.5) -> None:
    """End this worker soon after its parent is gone (a killed run leaves no orphans measuring)."""
    def watch() -> None:
        while True:
            time.sleep(every_s)
            if os.getppid() != parent:
                os._exit(1)
    threading.Thread(target=watch, name="echoseg-parent-watch", daemon=True).start()


def init_worker(threads: int, parent: int, log_queue: Any = None, log_level: int = logging.WARNING) -> None:
    """Initializer of a local worker process. ``log_queue``: where the worker's "echoseg" log
    records at ``log_level`` and above go (the parent hands them to its own handlers: the console
    and ``--log-file``); None: the worker keeps Python's default (warnings on its stderr)."""
    limit_threads(threads)
    _exit_with_parent(parent)
    if log_queue is not None:
        logger = logging.getLogger("echoseg")
        logger.handlers[:] = [logging.handlers.QueueHandler(log_queue)]
        logger.setLevel(log_level)
        logger.propagate = False
