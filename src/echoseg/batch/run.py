"""``echoseg measure`` as a batch: check everything, skip what the journal already holds, measure the
rest on the chosen engine, journal each file as it finishes, assemble the outputs, write run.json.

    >>> from echoseg.batch.run import BatchRequest, run_batch      # doctest: +SKIP
    >>> summary = run_batch(BatchRequest(inputs=("study/",), out=Path("results"), jobs=2))  # doctest: +SKIP
    >>> summary.measured, summary.reused                            # doctest: +SKIP
    (6, 0)
"""
from __future__ import annotations

import json
import logging
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from echoseg.batch import journal as jr
from echoseg.batch.assemble import PAGE_SIZE, StudyInputs, assemble
from echoseg.batch.engines import ENGINES, run_inline, run_processes, run_ray
from echoseg.batch.inputs import Inputs, UsageError, plan, unique_names
from echoseg.batch.settings import (LVOT_CM, RVOT_CM, ModelSpec, Settings, check_diameter, check_out_dir, cores,
                                    provenance, run_key, sha256_file, thread_cap,
                                    threads_per_worker)
from echoseg.batch.study_info import StudyInfo, read_study_info
from echoseg.batch.work import Item, Job
from echoseg.errors import EchosegError
from echoseg.io.atomic import atomic_write

log = logging.getLogger("echoseg.batch")
JOURNAL = "journal"


@dataclass(frozen=True)
class BatchRequest:
    """Everything ``echoseg measure`` was asked (validated by :func:`prepare` before any work)."""

    inputs: tuple[str, ...]
    out: Path
    settings: Settings = field(default_factory=Settings)
    spec: ModelSpec = field(default_factory=ModelSpec)
    jobs: int = 1
    engine: str = "local"
    address: str | None = None
    resume: bool = False  # there must be a journal to resume
    fresh: bool = False  # discard the journal: measure every file again
    lvot_diameter_cm: float | None = None
    rvot_diameter_cm: float | None = None
    study_info: Path | None = None
    progress: bool = False
    page_size: int = PAGE_SIZE
    command_line: tuple[str, ...] = ()
    sr: bool = False  # also write one DICOM SR per study into out/sr (echoseg.report.sr, docs/dicom.md)


@dataclass(frozen=True)
class Prepared:
    """A checked request: its inputs and output names, the sidecar, the models' provenance and key."""

    request: BatchRequest
    inputs: Inputs
    names: tuple[str, ...]
    study_info: dict[str, StudyInfo]
    provenance: dict[str, Any]
    run_key: str
    threads: int


@dataclass(frozen=True)
class BatchSummary:
    """What a run did: files planned, measured now, reused from the journal, rows, passes, outputs."""

    files: int
    measured: int
    reused: int
    rows: int
    passed: int
    paths: dict[str, Path]
    skipped: tuple[tuple[Path, str], ...] = ()


def prepare(req: BatchRequest) -> Prepared:
    """Check every option and input before any work.

    Raises:
        UsageError: a bad option (jobs, engine, a diameter in millimetres, a sidecar value), a missing
            input, nothing to measure, ``--resume`` without a journal, ``--out`` that is a file.
        ModelError: a model is missing or cannot run on the backend asked for.
    """
    if req.engine not in ENGINES:
        raise UsageError(f"engine must be one of {', '.join(ENGINES)}, not {req.engine!r}")
    if req.engine == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise UsageError("--engine ray needs Ray; install the extra: pip install 'echoseg[ray]'") from None
    elif req.address:
        raise UsageError("--address names a Ray cluster; pass it with --engine ray")
    threads = threads_per_worker(req.jobs, cap=thread_cap(os.environ))
    if req.resume and req.fresh:
        raise UsageError("--resume and --fresh contradict each other; pass one")
    if req.page_size < 1:
        raise UsageError(f"page_size must be at least 1, not {req.page_size!r}")
    check_diameter("--lvot-diameter", req.lvot_diameter_cm, *LVOT_CM)
    check_diameter("--rvot-diameter", req.rvot_diameter_cm, *RVOT_CM)
    info = read_study_info(req.study_info) if req.study_info is not None else {}
    out = check_out_dir(Path(req.out))
    if req.resume and not jr.shards(out / JOURNAL):
        raise UsageError(f"--resume: {out} holds no journal to resume; run without --resume to start")
    inputs = plan(req.inputs)
    names = tuple(unique_names(inputs.files, inputs.roots))
    prov = provenance(req.spec)
    return Prepared(req, inputs, names, info, prov, run_key(req.spec, req.settings, prov), threads)


def _reusable(entries: Sequence[jr.Entry], file: Path, name: str) -> jr.Entry | None:
    """The newest entry that still describes ``file`` under ``name``: same size and mtime, or same
    content hash (checked only when the size matches and the mtime does not)."""
    try:
        st = file.stat()
    except OSError:
        return None
    same_name = [e for e in entries if e.name == name and e.sha256 and e.size == st.st_size]
    for e in reversed(same_name):
        if e.mtime_ns == st.st_mtime_ns:
            return e
    if same_name:
        sha = sha256_file(file)
        for e in reversed(same_name):
            if e.sha256 == sha:
                return e
    return None


def _progress(total: int, enabled: bool) -> Any:
    if not (enabled and total > 1 and sys.stderr.isatty()):
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc="measure", unit="file")


def _prune(out: Path, journal: Path, keep: set[str]) -> None:
    """Delete overlays/masks that only superseded records name (a file renamed, re-measured, dropped)."""
    for rel in jr.all_outputs(journal) - keep:
        p = (out / rel).resolve()
        if p.is_relative_to(out.resolve()) and p.is_file():
            p.unlink()


def _write_sr(out: Path, journal: Path, entries: Sequence[jr.Entry], studies: StudyInputs,
              spec: ModelSpec) -> dict[str, Path]:
    """``--sr``: :func:`echoseg.report.sr.write_sr` study by study over the run's records (one
    study's records in memory at a time); {"sr": out/sr} when any was written."""
    from echoseg.batch.assemble import _load, study_table
    from echoseg.report.sr import algorithm_for, prune_sr, write_sr

    table = study_table(journal, entries, studies)
    by_study: dict[str, list[jr.Entry]] = {}
    for e in entries:
        uid = _load(journal, e)[0].study_uid
        if uid:
            by_study.setdefault(uid, []).append(e)
    alg = algorithm_for(spec.atria, spec.doppler)
    written: list[Path] = []
    for uid in sorted(by_study):
        results = [_load(journal, e)[0] for e in by_study[uid]]
        rows = [row for row in table if row.get("study_uid") == uid]
        written += write_sr(results, out, studies=rows, algorithm=alg, prune=False)
    prune_sr(out, written)
    return {"sr": out / "sr"} if written else {}


def run_batch(req: BatchRequest) -> BatchSummary:
    """Measure ``req.inputs`` into ``req.out`` (see the module docstring); raise before any work when
    the request cannot run."""
    t0, started = time.perf_counter(), datetime.now(timezone.utc)
    p = prepare(req)
    out = Path(req.out)
    journal = out / JOURNAL
    for f, why in p.inputs.skipped:
        log.warning("%s: %s", f, why)
    out.mkdir(parents=True, exist_ok=True)
    with jr.exclusive(journal):
        return _run(req, p, t0, started)


def _run(req: BatchRequest, p: Prepared, t0: float, started: datetime) -> BatchSummary:
    """:func:`run_batch` once the request is checked and the journal is this process's."""
    out = Path(req.out)
    journal = out / JOURNAL
    if req.fresh:
        for shard in jr.shards(journal):
            shard.unlink()
    index = jr.index(journal, p.run_key)
    todo: list[Item] = []
    reused = 0
    for f, name in zip(p.inputs.files, p.names):
        if _reusable(index.get(str(f), []), f, name) is not None:
            reused += 1
        else:
            todo.append(Item(str(f), name))
    log.info("%d file(s): %d already measured with the same content, models and options, %d to measure "
             "(%s engine, %d job(s) x %d thread(s))", len(p.inputs.files), reused, len(todo), req.engine,
             req.jobs, p.threads)
    job = Job(str(out), req.spec, req.settings, p.run_key)
    bar = _progress(len(todo), req.progress)
    count = [0]

    def done(file: str, t_s: float | None = None) -> None:
        count[0] += 1
        log.debug("measured %s (%d/%d)%s", file, count[0], len(todo), f" in {t_s:.2f} s" if t_s is not None else "")
        if bar is not None:
            bar.update(1)

    try:
        if req.engine == "ray":
            if todo:
                run_ray(todo, job, 1, req.address, req.jobs if req.jobs > 1 else None, on_done=done)
        else:
            with jr.JournalWriter(journal, "local") as writer:
                def on_record(rec: dict[str, Any]) -> None:
                    writer.append(rec)
                    done(rec["file"], rec.get("t_s"))
                if req.jobs == 1 or len(todo) <= 1:
                    run_inline(todo, job, on_record)
                else:
                    run_processes(todo, job, on_record, min(req.jobs, len(todo)), p.threads)
    finally:
        if bar is not None:
            bar.close()
    index = jr.index(journal, p.run_key)
    entries = []
    for f, name in zip(p.inputs.files, p.names):
        e = _reusable(index.get(str(f), []), f, name)
        if e is None:  # unreadable now, or a failed record of a vanished file: its newest record
            e = next((x for x in reversed(index.get(str(f), [])) if x.name == name), None)
        if e is None:
            raise EchosegError(f"{f}: no journal record after measuring it: the journal in {journal} was changed "
                               "while the run wrote it; run again with --fresh")
        entries.append(e)
    _prune(out, journal, {o for e in entries for o in e.outputs})
    finished = datetime.now(timezone.utc)
    run = {"echoseg_version": p.provenance["echoseg_version"], "command_line": list(req.command_line),
           "models": p.provenance, "backend": p.provenance["backend"], "run_key": p.run_key,
           "options": {**asdict(req.settings), "jobs": req.jobs,
                       "threads_per_worker": 1 if req.engine == "ray" else p.threads,
                       "engine": req.engine, "address": req.address, "lvot_diameter_cm": req.lvot_diameter_cm,
                       "rvot_diameter_cm": req.rvot_diameter_cm,
                       "study_info": str(req.study_info) if req.study_info else None,
                       "study_info_sha256": sha256_file(req.study_info) if req.study_info else None},
           "started": started.isoformat(timespec="seconds"), "finished": finished.isoformat(timespec="seconds"),
           "elapsed_s": round(time.perf_counter() - t0, 3), "files": len(entries), "measured": len(todo),
           "reused": reused, "skipped": [{"file": str(f), "why": why} for f, why in p.inputs.skipped],
           "python": platform.python_version(), "platform": platform.platform(), "cores": cores()}
    paths = assemble(out, journal, entries, StudyInputs(req.lvot_diameter_cm, req.rvot_diameter_cm, p.study_info),
                     run, req.page_size)
    if req.sr:  # DICOM SR output (issue 16): report/sr.py does the work
        paths |= _write_sr(out, journal, entries, StudyInputs(req.lvot_diameter_cm, req.rvot_diameter_cm,
                                                              p.study_info), req.spec)
    run["elapsed_s"] = round(time.perf_counter() - t0, 3)
    run["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    paths["run"] = atomic_write(out / "run.json", lambda tmp: Path(tmp).write_text(json.dumps(run, indent=1) + "\n"))
    rows = passed = 0
    for e in entries:
        rec = jr.read_at(journal, e.pos)
        for m in rec["result"]["measurements"]:
            rows += 1
            passed += m["qc"] == "pass"
    return BatchSummary(len(entries), len(todo), reused, rows, passed, paths, p.inputs.skipped)

