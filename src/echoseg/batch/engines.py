"""Where :func:`echoseg.batch.work.measure_one` runs: in this process, in worker processes, or on Ray.

Every engine takes the items still to measure and calls ``on_record`` (local engines) as each
file's record arrives, so the parent journals it at once; the Ray engine's actors journal their
records themselves, each in its own shard of the same journal folder (the output folder must then
be on storage every node sees). An engine never decides what a file's rows are, so every engine
gives the same rows.
"""
from __future__ import annotations

import logging
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
ENGINES = ("local", "ray")


def crashed_record(item: Item, job: Job, why: str) -> dict[str, Any]:
    """The record of a file whose worker died measuring it (a failed row; measured again on resume)."""
    from echoseg.batch.record import FORMAT, result_to_json
    from echoseg.pipeline import _failed

    task = job.settings.task if job.settings.task != "auto" else "unknown"
    result = _failed(item.file, [task], f"{item.file}: internal error: {why}")
    return {"format": FORMAT, "run_key": job.run_key, "file": item.file, "name": item.name, "sha256": "",
            "size": -1, "mtime_ns": -1, "sop_instance_uid": None, "series_uid": None, "outputs": [],
            "t_s": 0.0, "pid": None, "result": result_to_json(result)}


def run_inline(items: Iterable[Item], job: Job, on_record: OnRecord) -> None:
    """Measure ``items`` one after another in this process."""
    for item in items:
        on_record(measure_one(item, job))


def _pool(jobs: int, threads: int) -> ProcessPoolExecutor:
    ctx = multiprocessing.get_context("spawn")  # no inherited ONNX Runtime / OpenMP state
    return ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=init_worker,
                               initargs=(threads, os.getpid()))


Step = Callable[[Item, Job], dict[str, Any]]


def run_processes(items: Sequence[Item], job: Job, on_record: OnRecord, jobs: int, threads: int,
                  step: Step = measure_one) -> None:
    """Measure ``items`` in ``jobs`` worker processes of ``threads`` threads each.

    At most two files per worker are in flight (memory stays flat). When a worker dies (a crash in
    native code, the OOM killer), the files that were in flight are measured again one at a time in
    a fresh worker, and the one that kills it alone gets a failed row. ``step``: the per-file call
    (a module-level function, so that worker processes can import it).
    """
    queue: deque[Item] = deque(items)
    suspects: deque[Item] = deque()
    while queue or suspects:
        alone = bool(suspects)
        source = suspects if alone else queue
        width = 1 if alone else jobs
        pool = _pool(width, threads)
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
                        rec = crashed_record(pending[fut], job, f"{type(exc).__name__}: {exc}")
                    del pending[fut]
                    on_record(rec)
                if broken:
                    raise BrokenProcessPool("a worker process died")
        except BrokenProcessPool:
            lost = list(pending.values())
            if alone:
                for item in lost:
                    log.error("%s: the worker process died measuring it; recorded as failed", item.file)
                    on_record(crashed_record(item, job, "the worker process died measuring this file"))
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
            rec = crashed_record(item, self.job, f"{type(exc).__name__}: {exc}")
        self.writer.append(rec)
        return item.file
