"""Where :func:`echoseg.batch.work.measure_one` runs: in this process, in worker processes, or on Ray.

Every engine takes the items still to measure and calls ``on_record`` (local engines) as each
file's record arrives, so the parent journals it at once; the Ray engine's actors journal their
records themselves, each in its own shard of the same journal folder (the output folder must then
be on storage every node sees). An engine never decides what a file's rows are, so every engine
gives the same rows.
"""
from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from echoseg.batch.work import Item, Job, init_worker, measure_one

log = logging.getLogger("echoseg.batch")
OnRecord = Callable[[dict[str, Any]], None]
Step = Callable[[Item, Job], dict[str, Any]]
ENGINES = ("local", "ray")


WORKER_DIED = ("the worker process measuring it died (a crash in native code, or out of memory); it is "
               "measured again when the run is resumed")


def crashed_record(item: Item, job: Job, exc: BaseException | None = None) -> dict[str, Any]:
    """The record of a file whose measuring raised ``exc`` outside the pipeline's own handling, or whose
    worker died (``exc`` None): a failed row whose reason names the file
    (:func:`echoseg.errors.reason_for`: never the exception's raw text, which may quote header values);
    its empty hash makes a resumed run measure it again."""
    from echoseg.batch.record import FORMAT, result_to_json
    from echoseg.errors import clean_text, reason_for
    from echoseg.pipeline import _failed

    task = job.settings.task if job.settings.task != "auto" else "unknown"
    why = reason_for(exc, item.file) if exc is not None else clean_text(f"{item.file}: {WORKER_DIED}")
    result = _failed(item.file, [task], why)
    return {"format": FORMAT, "run_key": job.run_key, "file": item.file, "name": item.name, "sha256": "",
            "size": -1, "mtime_ns": -1, "sop_instance_uid": None, "series_uid": None, "outputs": [],
            "t_s": 0.0, "pid": None, "result": result_to_json(result)}


def run_inline(items: Iterable[Item], job: Job, on_record: OnRecord, step: Step | None = None) -> None:
    """Measure ``items`` one after another in this process (a step that raises gives the file a failed
    row, as in worker processes)."""
    for item in items:
        try:
            rec = (step or measure_one)(item, job)
        except Exception as exc:  # noqa: BLE001 - the file's row says what went wrong
            rec = crashed_record(item, job, exc)
        on_record(rec)


_SPAWN = multiprocessing.get_context("spawn")  # no inherited ONNX Runtime / OpenMP state


def _pool(jobs: int, threads: int, log_queue: Any) -> ProcessPoolExecutor:
    level = logging.getLogger("echoseg").getEffectiveLevel()
    return ProcessPoolExecutor(max_workers=jobs, mp_context=_SPAWN, initializer=init_worker,
                               initargs=(threads, os.getpid(), log_queue, level))


class _ToParentLoggers(logging.Handler):
    """A worker's log record handled by the parent's logger of the same name (its console and
    --log-file handlers), as if the parent had logged it."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(record.name).handle(record)


def run_processes(items: Sequence[Item], job: Job, on_record: OnRecord, jobs: int, threads: int,
                  step: Step = measure_one) -> None:
    """Measure ``items`` in ``jobs`` worker processes of ``threads`` threads each.

    At most two files per worker are in flight (memory stays flat). When a worker dies (a crash in
    native code, the OOM killer), the files that were in flight are measured again one at a time in
    a fresh worker, and the one that kills it alone gets a failed row. ``step``: the per-file call
    (a module-level function, so that worker processes can import it). The workers' "echoseg" log
    records (at this process's level) reach this process's handlers: the console and --log-file.
    """
    log_queue = _SPAWN.Queue()
    listener = logging.handlers.QueueListener(log_queue, _ToParentLoggers())
    listener.start()
    try:
        _run_pools(items, job, on_record, jobs, threads, step, log_queue)
    finally:
        listener.stop()  # the workers are gone: every record they sent is handled first


def _run_pools(items: Sequence[Item], job: Job, on_record: OnRecord, jobs: int, threads: int, step: Step,
               log_queue: Any) -> None:
    queue: deque[Item] = deque(items)
    suspects: deque[Item] = deque()
    while queue or suspects:
        alone = bool(suspects)
        source = suspects if alone else queue
        width = 1 if alone else jobs
        pool = _pool(width, threads, log_queue)
        pending: dict[Future[dict[str, Any]], Item] = {}
        try:
            while source or pending:
                while source and len(pending) < 2 * width and not (alone and pending):
                    item = source.popleft()
                    pending[pool.submit(step, item, job)] = item
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                broken = False
                for fut in done:
                    try:
                        rec = fut.result()
                    except BrokenProcessPool:
                        broken = True  # stays pending: measured again
                        continue
                    except Exception as exc:  # noqa: BLE001 - the file's row says what went wrong
                        rec = crashed_record(pending[fut], job, exc)
                    del pending[fut]
                    on_record(rec)
                if broken:
                    raise BrokenProcessPool("a worker process died")
        except BrokenProcessPool:
            lost = list(pending.values())
            if alone:
                for item in lost:
                    log.error("%s: the worker process died measuring it; recorded as failed", item.file)
                    on_record(crashed_record(item, job))
            else:
                log.warning("a worker process died; measuring its %d file(s) in flight again one at a time",
                            len(lost))
                suspects.extend(lost)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def run_ray(items: Sequence[Item], job: Job, threads: int = 1, address: str | None = None,
            max_actors: int | None = None, on_done: Callable[[str], None] | None = None) -> None:
    """Measure ``items`` on Ray: one actor per ``threads`` CPUs of the cluster (at most ``max_actors``),
    each loading the networks once, fed from the manifest by :class:`ray.util.ActorPool`; each actor
    appends its records to its own journal shard.

    Uses the Ray cluster this process is already connected to, else ``ray.init(address)``
    (None: a local cluster on this machine; "auto" or "ray://host:10001": an existing one).
    """
    try:
        import ray
        from ray.util import ActorPool
    except ImportError as exc:
        from echoseg.batch.inputs import UsageError
        raise UsageError(f"--engine ray needs Ray ({exc}); install the extra: pip install 'echoseg[ray]'") from None
    if not ray.is_initialized():
        # a cluster started here for this run needs no dashboard (seconds of start-up, a process more)
        here = address is None and not os.environ.get("RAY_ADDRESS")  # Ray reads RAY_ADDRESS itself
        if here:
            ray.init(address=address, log_to_driver=False, include_dashboard=False)
        else:
            ray.init(address=address, log_to_driver=False)
    n_cpus = int(ray.cluster_resources().get("CPU", 1))
    n_actors = max(1, min(len(items), n_cpus // threads, max_actors or n_cpus))
    actor_cls = ray.remote(num_cpus=threads)(RayWorker)
    actors: list[Any] = [actor_cls.remote(job, threads) for _ in range(n_actors)]
    pool = ActorPool(actors)
    for file in pool.map_unordered(lambda a, it: a.measure.remote(it), list(items)):
        if on_done is not None:
            on_done(file)
    for a in actors:
        ray.kill(a)


class RayWorker:
    """A Ray actor: loads the networks once, measures items, journals each record in its own shard."""

    def __init__(self, job: Job, threads: int) -> None:
        import uuid

        from echoseg.batch.journal import JournalWriter
        from echoseg.batch.work import limit_threads, models_for

        limit_threads(threads)
        self.job = job
        models = models_for(job.spec)
        for name in ("atria", "doppler"):  # once per actor, before the first file
            models.get(name)
        self.writer = JournalWriter(Path(job.out) / "journal", f"ray-{uuid.uuid4().hex[:12]}")

    def measure(self, item: Item) -> str:
        try:
            rec = measure_one(item, self.job)
        except Exception as exc:  # noqa: BLE001 - the file's row says what went wrong
            rec = crashed_record(item, self.job, exc)
        self.writer.append(rec)
        return item.file
