"""The web demo's sessions: uploads saved to a per-session temporary folder, measured once through
:func:`echoseg.pipeline.measure_file` and deleted; results kept in memory under a random id.
"""
from __future__ import annotations

import csv
import secrets
import shutil
import tempfile
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from echoseg.options import Models, Options
from echoseg.pipeline import measure_file
from echoseg.types import AtriaDetails, DopplerDetails, FileResult
from echoseg.web.edits import EditContext, Entry, default_frames, default_included, edit_context

MAX_SESSIONS = 4
MAX_FILES = 32  # per session
MAX_UPLOAD_BYTES = 1 << 30  # per upload request, zips counted uncompressed


@dataclass
class Session:
    """One browser session: its files (in upload order), diameters, temp folder and a lock for edits."""

    id: str
    tmp: tempfile.TemporaryDirectory[str]
    entries: dict[str, Entry] = field(default_factory=dict)
    lvot_cm: float | None = None
    rvot_cm: float | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)


class SessionStore:
    """Sessions in memory, least recently used dropped beyond ``max_sessions`` (their temp folders too)."""

    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be >= 1, not {max_sessions}")
        self.max_sessions = max_sessions
        self._items: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def create(self) -> Session:
        s = Session(id=secrets.token_urlsafe(16), tmp=tempfile.TemporaryDirectory(prefix="echoseg-web-"))
        with self._lock:
            self._items[s.id] = s
            while len(self._items) > self.max_sessions:
                _, old = self._items.popitem(last=False)
                old.tmp.cleanup()
        return s

    def get(self, sid: str) -> Session:
        with self._lock:
            if sid not in self._items:
                raise KeyError(f"session {sid!r} is unknown or expired; reload the page to start a new one")
            self._items.move_to_end(sid)
            return self._items[sid]

    def entry(self, sid: str, fid: str) -> tuple[Session, Entry]:
        """The session and one of its files; KeyError telling the user to reload when either is unknown."""
        s = self.get(sid)
        if fid not in s.entries:
            raise KeyError(f"file {fid!r} is not in this session; reload the page")
        return s, s.entries[fid]

    def drop(self, sid: str) -> None:
        with self._lock:
            s = self._items.pop(sid, None)
        if s is not None:
            s.tmp.cleanup()

    def close(self) -> None:
        for sid in list(self._items):
            self.drop(sid)

    def __len__(self) -> int:
        return len(self._items)


# ============================================================================= measuring
def measure_into(session: Session, path: Path, name: str, models: Models, cm_per_px: float | None = None,
                 truth: dict[str, float] | None = None) -> Entry:
    """Measure ``path`` into the session as ``name`` (each network runs once), then delete the file."""
    if len(session.entries) >= MAX_FILES:
        raise ValueError(f"this session already holds {MAX_FILES} files; start a new session to measure more")
    try:
        result = measure_file(path, models, Options(cm_per_px=cm_per_px, edit_data=True))
    finally:
        path.unlink(missing_ok=True)
    ctx: EditContext | None = None
    note = ""
    try:
        ctx = edit_context(result)
    except Exception as exc:  # noqa: BLE001 - the measurement stands; only editing is off
        note = f"editing unavailable: {type(exc).__name__}: {exc}"
    result = renamed(replace(result, edit_data=None), str(path), name)  # the context holds what edits need
    entry = Entry(id=secrets.token_hex(6), original=result, context=ctx, context_error=note, truth=truth or {},
                  frames=default_frames(result), included=default_included(result))
    session.entries[entry.id] = entry
    return entry


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


# ============================================================================= uploads
def safe_extract_zip(archive: Path, dest: Path, max_files: int = MAX_FILES,
                     max_bytes: int = MAX_UPLOAD_BYTES) -> list[Path]:
    """Extract the regular files of a zip under ``dest``; refuse path escapes, too many or too large members."""
    with zipfile.ZipFile(archive) as zf:
        members = [i for i in zf.infolist() if not i.is_dir()]
        if len(members) > 4 * max_files:
            raise ValueError(f"{archive.name}: {len(members)} files in the zip; at most {4 * max_files} are accepted")
        total = sum(i.file_size for i in members)
        if total > max_bytes:
            raise ValueError(f"{archive.name}: {total / 2**20:.0f} MiB uncompressed; at most "
                             f"{max_bytes / 2**20:.0f} MiB are accepted")
        out, written = [], 0
        root = dest.resolve()
        for info in members:
            target = (dest / info.filename).resolve()
            if root not in target.parents:
                raise ValueError(f"{archive.name}: member {info.filename!r} would be written outside the folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                while chunk := src.read(1 << 20):  # counted as written, whatever the zip declares
                    written += len(chunk)
                    if written > max_bytes:
                        raise ValueError(f"{archive.name}: more than {max_bytes / 2**20:.0f} MiB uncompressed")
                    dst.write(chunk)
            out.append(target)
    return out


def save_uploads(files: Sequence[Any], folder: Path) -> list[tuple[Path, str]]:
    """Write uploads (objects with ``filename`` and ``file``) under ``folder``, unpacking zips;
    (path, display name) of every input found."""
    from echoseg.io.read import find_inputs

    todo: list[tuple[Path, str]] = []
    total = 0
    for i, up in enumerate(files):
        name = Path(up.filename or f"upload{i}").name or f"upload{i}"
        path = folder / f"{i:03d}" / name
        path.parent.mkdir(parents=True)
        with open(path, "wb") as dst:
            shutil.copyfileobj(up.file, dst)
        total += path.stat().st_size
        if total > MAX_UPLOAD_BYTES:
            raise ValueError(f"upload larger than {MAX_UPLOAD_BYTES / 2**20:.0f} MiB; send fewer files at a time")
        if zipfile.is_zipfile(path):
            sub = path.parent / "unzipped"
            safe_extract_zip(path, sub)
            path.unlink()
            found = find_inputs([sub])
            if not found:
                raise ValueError(f"{name}: no DICOM, AVI or PNG/JPEG file inside the zip")
            todo += [(p, f"{name}/{p.relative_to(sub).as_posix()}") for p in found]
        else:
            todo.append((path, name))
    if len(todo) > MAX_FILES:
        raise ValueError(f"{len(todo)} files in one upload; at most {MAX_FILES} are accepted")
    return todo
