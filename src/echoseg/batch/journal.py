"""The journal: one JSON line per measured file, appended and flushed as soon as the file is done.

A journal is a folder (``DIR/journal/``) of shards, ``<writer>.jsonl``, one per writing process
(the local run writes ``local.jsonl``; Ray workers each write their own). A record is complete
when its line ends with a newline: a run killed mid-write leaves at most one torn last line per
shard, which :func:`read_records` ignores and :class:`JournalWriter` cuts off before it appends.
Records are never rewritten; a later record of the same file supersedes an earlier one
(:func:`latest`), so a kill at any moment loses at most the files in progress and duplicates nothing.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with JournalWriter(folder, "local") as j:
    ...     _ = j.append({"file": "a.dcm", "run_key": "k", "n": 1})
    >>> [r["n"] for r in read_records(folder)]
    [1]
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

SUFFIX = ".jsonl"
_WRITER = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class Position:
    """Where one record lies: its shard file and byte offset (to read it again without keeping it)."""

    shard: str
    offset: int


def _cut_torn_tail(path: Path) -> None:
    """Truncate ``path`` after its last newline (a line a kill interrupted is not a record)."""
    size = path.stat().st_size
    if size == 0:
        return
    with path.open("rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        pos, chunk = size, 65536
        while pos > 0:
            start = max(0, pos - chunk)
            fh.seek(start)
            block = fh.read(pos - start)
            nl = block.rfind(b"\n")
            if nl >= 0:
                fh.truncate(start + nl + 1)
                return
            pos = start
        fh.truncate(0)


class JournalWriter:
    """Appends records to ``folder/<writer>.jsonl``, each in one write, flushed and fsynced.

    ``fsync=False`` skips the fsync (the record survives a killed process, not a power cut).
    """

    def __init__(self, folder: str | os.PathLike[str], writer: str = "local", *, fsync: bool = True) -> None:
        if not _WRITER.match(writer):
            raise ValueError(f"writer must be letters, digits, '.', '_' or '-' (a shard file name), not {writer!r}")
        self.path = Path(folder) / f"{writer}{SUFFIX}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            _cut_torn_tail(self.path)
        self._fh = self.path.open("ab")
        self._fsync = fsync

    def append(self, record: Mapping[str, Any]) -> Position:
        """Write ``record`` as one line; return where it lies."""
        line = (json.dumps(record, separators=(",", ":"), allow_nan=True) + "\n").encode()
        offset = self._fh.tell()
        self._fh.write(line)
        self._fh.flush()
        if self._fsync:
            os.fsync(self._fh.fileno())
        return Position(self.path.name, offset)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


@contextmanager
def exclusive(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the journal's lock for a run: a second run into the same folder is refused, not interleaved.

    Raises:
        UsageError: another process holds the lock.
    """
    import fcntl

    from echoseg.batch.inputs import UsageError

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another echoseg measure is writing into {folder.parent}; wait for it to finish "
                             "or pass another --out") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def shards(folder: str | os.PathLike[str]) -> list[Path]:
    """The journal's shard files, sorted by name (empty when there is no journal yet)."""
    folder = Path(folder)
    return sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []


def iter_positions(folder: str | os.PathLike[str]) -> Iterator[tuple[Position, dict[str, Any]]]:
    """Every complete record of every shard, with its position, in shard then file order."""
    for shard in shards(folder):
        with shard.open("rb") as fh:
            offset = 0
            for line in fh:
                start, offset = offset, offset + len(line)
                if not line.endswith(b"\n"):
                    break  # torn last line of a killed run
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(rec, dict):
                    yield Position(shard.name, start), rec


def read_records(folder: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Every complete record (see :func:`iter_positions`)."""
    for _, rec in iter_positions(folder):
        yield rec


def read_at(folder: str | os.PathLike[str], pos: Position) -> dict[str, Any]:
    """The record at ``pos``."""
    with (Path(folder) / pos.shard).open("rb") as fh:
        fh.seek(pos.offset)
        rec: dict[str, Any] = json.loads(fh.readline())
    return rec


@dataclass(frozen=True)
class Entry:
    """What the journal says of one measured file (the record itself stays on disk, at ``pos``)."""

    pos: Position
    file: str
    name: str
    sha256: str
    size: int
    mtime_ns: int
    outputs: tuple[str, ...] = ()


def index(folder: str | os.PathLike[str], run_key: str) -> dict[str, list[Entry]]:
    """file -> the entries of the records made under ``run_key``, oldest first."""
    found: dict[str, list[Entry]] = {}
    for pos, rec in iter_positions(folder):
        if rec.get("run_key") != run_key or "file" not in rec:
            continue
        try:
            e = Entry(pos, str(rec["file"]), str(rec["name"]), str(rec["sha256"]), int(rec["size"]),
                      int(rec["mtime_ns"]), tuple(rec.get("outputs", ())))
        except (KeyError, TypeError, ValueError):
            continue  # not a record this version wrote
        found.setdefault(e.file, []).append(e)
    return found


def all_outputs(folder: str | os.PathLike[str]) -> set[str]:
    """Every output file (relative to the run folder) any record of the journal names."""
    return {o for rec in read_records(folder) for o in rec.get("outputs", ()) if isinstance(o, str)}
