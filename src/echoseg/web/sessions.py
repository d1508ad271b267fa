"""The web demo's sessions: uploads saved to a per-session temporary folder, measured once through
:func:`echoseg.pipeline.measure_file` and deleted; results kept in memory under a random id.

Every session's folder lies under one folder of the server (``echoseg-web-<pid>-*`` in the temporary
directory), removed when the store closes (the app's shutdown, :func:`echoseg.web.app.serve` on a
signal, or the interpreter's exit); a server killed outright leaves it behind, and the next store
created on the same computer removes the folders of servers that are no longer running.
"""
from __future__ import annotations

import csv
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from echoseg.errors import clean_text
from echoseg.io.limits import DEFAULT_LIMITS, ReadLimits
from echoseg.options import Models, Options
from echoseg.pipeline import measure_file
from echoseg.types import AtriaDetails, DopplerDetails, FileResult, Measurement
from echoseg.vocab import unit_of
from echoseg.web.edits import EditContext, Entry, default_frames, default_included, edit_context
from echoseg.web.limits import DEFAULT_WEB_LIMITS

MAX_SESSIONS = DEFAULT_WEB_LIMITS.max_sessions
MAX_FILES = DEFAULT_WEB_LIMITS.max_files  # per session
ROOT_PREFIX = "echoseg-web-"


@dataclass
class Session:
    """One browser session: its files (in upload order), diameters, temp folder and a lock for edits."""

    id: str
    tmp: tempfile.TemporaryDirectory[str]
    entries: dict[str, Entry] = field(default_factory=dict)
    lvot_cm: float | None = None
    rvot_cm: float | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)


def remove_orphans(parent: Path | None = None) -> list[Path]:
    """Remove the ``echoseg-web-<pid>-*`` folders of servers no longer running (this user's only); the removed."""
    parent = Path(tempfile.gettempdir()) if parent is None else parent
    removed: list[Path] = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for p in entries:
        m = re.fullmatch(re.escape(ROOT_PREFIX) + r"(\d+)-\w+", p.name)
        try:
            if m is None or not p.is_dir() or p.is_symlink() or p.stat().st_uid != os.getuid():
                continue
        except OSError:
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or _running(pid):
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: running
        return True
    return True


class SessionStore:
    """Sessions in memory, least recently used dropped beyond ``max_sessions`` (their temp folders too).

    All session folders lie under :attr:`root`, one folder per store; :meth:`close` removes it, and so
    does the interpreter's exit when close was never called.
    """

    def __init__(self, max_sessions: int = MAX_SESSIONS, parent: Path | None = None) -> None:
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be >= 1, not {max_sessions}")
        self.max_sessions = max_sessions
        self._items: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()
        remove_orphans(parent)
        self.root = Path(tempfile.mkdtemp(prefix=f"{ROOT_PREFIX}{os.getpid()}-", dir=parent))
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.root), ignore_errors=True)

    def create(self) -> Session:
        s = Session(id=secrets.token_urlsafe(16), tmp=tempfile.TemporaryDirectory(prefix="session-", dir=self.root))
        with self._lock:
            self._items[s.id] = s
            while len(self._items) > self.max_sessions:
                _, old = self._items.popitem(last=False)
                old.tmp.cleanup()
        return s
    def get(self, sid: str) -> Session:
        with self._lock:
            if sid not in self._items:
                raise KeyError(f"session {clean_text(sid, 40)!r} is unknown or expired; reload the page to start "
                               "a new one")
            self._items.move_to_end(sid)
            return self._items[sid]

    def entry(self, sid: str, fid: str) -> tuple[Session, Entry]:
        """The session and one of its files; KeyError telling the user to reload when either is unknown."""
        s = self.get(sid)
        if fid not in s.entries:
            raise KeyError(f"file {clean_text(fid, 40)!r} is not in this session; reload the page")
        return s, s.entries[fid]

    def drop(self, sid: str) -> None:
        with self._lock:
            s = self._items.pop(sid, None)
        if s is not None:
            s.tmp.cleanup()

    def close(self) -> None:
        """Drop every session and remove the store's folder (safe to call twice, from a signal handler too)."""
        for sid in list(self._items):
            self.drop(sid)
        self._finalizer()

    def __len__(self) -> int:
        return len(self._items)


# ============================================================================= measuring
def measure_into(session: Session, path: Path, name: str, models: Models, cm_per_px: float | None = None,
                 truth: dict[str, float] | None = None, limits: ReadLimits = DEFAULT_LIMITS,
                 max_files: int = MAX_FILES) -> Entry:
    """Measure ``path`` into the session as ``name`` (each network runs once), then delete the file."""
    if len(session.entries) >= max_files:
        raise ValueError(f"this session already holds {max_files} files; start a new session to measure more")
    try:
        result = measure_file(path, models, Options(cm_per_px=cm_per_px, edit_data=True, limits=limits))
    finally:
        path.unlink(missing_ok=True)
    ctx: EditContext | None = None
    note = ""
    try:
        ctx = edit_context(result)
    except Exception as exc:  # noqa: BLE001 - the measurement stands; only editing is off
        note = f"editing unavailable ({type(exc).__name__})"
    result = renamed(replace(result, edit_data=None), str(path), name)  # the context holds what edits need
    return _add(session, Entry(id=secrets.token_hex(6), original=result, context=ctx, context_error=note,
                               truth=truth or {}, frames=default_frames(result), included=default_included(result)))


def _add(session: Session, entry: Entry) -> Entry:
    session.entries[entry.id] = entry
    return entry


def not_measured(session: Session, name: str, reason: str) -> Entry:
    """A row for a file the request did not reach (qc=fail, ``reason`` naming the file)."""
    reason = clean_text(f"{name}: {reason}")
    row = Measurement(file=name, task="unknown", value=None, unit=unit_of("unknown"), n=0, frame=None, qc="fail",
                      reason=reason)
    return _add(session, Entry(id=secrets.token_hex(6),
                               original=FileResult(file=name, kind=None, measurements=(row,), error=reason)))


def measure_upload(session: Session, todo: list[tuple[Path, str]], models: Models, cm_per_px: float | None,
                   busy: threading.Lock, max_seconds: float, cancelled: Callable[[], bool]) -> int:
    """Measure an upload's files into the session, one request on the CPU at a time (``busy``); the number measured.

    Waits for ``busy`` while checking ``cancelled`` (the client left, the server stops). Once it has
    the CPU, the request has ``max_seconds``: each file's decode gets what is left of it (its
    :class:`ReadLimits` time limit) and the files it does not reach get a row saying so. Stops
    between files as soon as ``cancelled()`` is true; the files not measured are deleted by the caller.
    """
    while not busy.acquire(timeout=0.2):
        if cancelled():
            return 0
    done = 0
    try:
        deadline = time.monotonic() + max_seconds
        with session.lock:
            for path, name in todo:
                if cancelled():
                    break
                left = deadline - time.monotonic()
                if left < 1.0:
                    not_measured(session, name, f"not measured: the upload used its {max_seconds:g} s budget "
                                 "before this file; upload it again, with fewer files at a time")
                    continue
                limits = replace(DEFAULT_LIMITS, max_seconds=min(DEFAULT_LIMITS.max_seconds, left))
                measure_into(session, path, name, models, cm_per_px, limits=limits)
                done += 1
    finally:
        busy.release()
    return done


def renamed(r: FileResult, tmp: str, name: str) -> FileResult:
    """Show the uploaded name instead of the temporary path everywhere in a result."""
    def fix(s: str) -> str:
        return s.replace(tmp, name)

    rows = tuple(replace(m, file=name, reason=fix(m.reason), details=_fixed_details(m.details, fix))
                 for m in r.measurements)
    return replace(r, file=name, measurements=rows, error=None if r.error is None else fix(r.error))


def _fixed_details(d: AtriaDetails | DopplerDetails | None,
                   fix: Callable[[str], str]) -> AtriaDetails | DopplerDetails | None:
    if isinstance(d, DopplerDetails):
        return replace(d, warnings=tuple(map(fix, d.warnings)), notes=tuple(map(fix, d.notes)))
    if isinstance(d, AtriaDetails):
        return replace(d, warnings=tuple(map(fix, d.warnings)))
    return d


def synthetic_example(session: Session, seed: int, models: Models) -> list[Entry]:
    """Generate one synthetic study (A4C + five Doppler sites) and measure it; the DICOMs are deleted."""
    from echoseg.synth.dataset import write_dataset

    if not 0 <= seed < 1_000_000:
        raise ValueError(f"seed must be between 0 and 999999, not {seed}")
    folder = Path(tempfile.mkdtemp(dir=session.tmp.name))
    try:
        truth_csv = write_dataset(folder, "study", 1, seed, jpeg_fraction=0.0)
        truth: dict[str, dict[str, float]] = {}
        with open(truth_csv) as fh:
            for row in csv.DictReader(fh):
                truth.setdefault(row["file"], {})[row["task"]] = round(float(row["value"]), 4)
        return [measure_into(session, folder / f, f"example-{seed}/{f}", models, truth=t) for f, t in truth.items()]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
