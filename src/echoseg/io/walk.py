"""Walk input folders so that every entry met becomes an input or a note saying why it is not one.

Inside folders, a regular file is an input when its extension is .dcm, .dicom, .avi, .mp4, .png,
.jpg or .jpeg, or when it has no extension and starts with the DICOM preamble ("DICM" at byte
128). An input that cannot be read (permission denied, a broken or looping symbolic link with an
input's extension) stays an input, so its row says why. Everything else is a :class:`Skipped` note:
hidden entries, files of other types, folders that cannot be listed, folder links already visited
(a loop), FIFOs, sockets and devices (never opened, so a FIFO cannot hang the walk). Explicit
files are kept as given.

Example::

    >>> from echoseg.io.walk import walk
    >>> found = walk(["study/"])                 # doctest: +SKIP
    >>> [str(f) for f in found.files][:1], [s.reason for s in found.skipped][:1]  # doctest: +SKIP
    (['study/a4c.dcm'], ['not an input type (.txt)'])
"""
from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

DICOM_SUFFIXES = (".dcm", ".dicom")
VIDEO_SUFFIXES = (".avi", ".mp4")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
INPUT_SUFFIXES = DICOM_SUFFIXES + VIDEO_SUFFIXES + IMAGE_SUFFIXES


@dataclass(frozen=True)
class Skipped:
    """An entry a walk met and did not keep, and why (echoseg's words)."""

    path: str
    reason: str

    @property
    def message(self) -> str:
        return f"{self.path}: skipped, {self.reason}"


@dataclass(frozen=True)
class InputWalk:
    """The inputs found (sorted, no duplicates) and the entries skipped (in walk order)."""

    files: tuple[Path, ...]
    skipped: tuple[Skipped, ...]


def has_dicm_preamble(p: Path) -> bool:
    """True when ``p`` is a regular file starting with the 128-byte DICOM preamble and "DICM"."""
    try:
        if not stat.S_ISREG(os.stat(p).st_mode):
            return False  # never open a FIFO or device: it could block
        with p.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def _link_problem(p: Path) -> str | None:
    """Why the symbolic link ``p`` cannot be followed (missing target, loop), or None."""
    try:
        os.stat(p)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop"
        if exc.errno == errno.ENOENT:
            return "a broken symbolic link (its target does not exist)"
        return f"a symbolic link that cannot be followed ({exc.strerror or type(exc).__name__})"
    return None


def _classify(p: Path, entry: os.DirEntry[str]) -> tuple[str, str]:
    """("file" | "dir" | "skip", reason) of one folder entry."""
    suffix = p.suffix.lower()
    if entry.name.startswith("."):
        return "skip", "hidden"
    if entry.is_symlink():
        problem = _link_problem(p)
        if problem is not None:
            # an input's name: keep it, so that its row says what is wrong
            return ("file", problem) if suffix in INPUT_SUFFIXES else ("skip", problem)
    try:
        mode = os.stat(p).st_mode
    except OSError as exc:
        return ("file" if suffix in INPUT_SUFFIXES else "skip"), f"cannot be examined ({exc.strerror or 'error'})"
    if stat.S_ISDIR(mode):
        return "dir", ""
    if not stat.S_ISREG(mode):
        return "skip", f"{_kind(mode)}, not a regular file"
    if suffix in INPUT_SUFFIXES:
        return "file", ""
    if suffix == "":
        if not os.access(p, os.R_OK):
            return "file", "unreadable"  # may be a DICOM: its row says permission denied
        if has_dicm_preamble(p):
            return "file", ""
        return "skip", "no extension and no DICOM preamble"
    return "skip", f"not an input type ({suffix})"


def _walk_dir(root: Path, seen: set[tuple[int, int]], skipped: list[Skipped]) -> Iterator[Path]:
    try:
        st = os.stat(root)
    except OSError as exc:
        skipped.append(Skipped(str(root), f"folder cannot be examined ({exc.strerror or type(exc).__name__})"))
        return
    key = (st.st_dev, st.st_ino)
    if key in seen:
        skipped.append(Skipped(str(root), "a folder already walked (a symbolic link loop or a second link to it)"))
        return
    seen.add(key)
    try:
        with os.scandir(root) as it:
            entries = sorted(it, key=lambda e: e.name)
    except PermissionError:
        skipped.append(Skipped(str(root), "folder cannot be listed (permission denied); make it readable (chmod +rx)"))
        return
    except OSError as exc:
        skipped.append(Skipped(str(root), f"folder cannot be listed ({exc.strerror or type(exc).__name__})"))
        return
    for entry in entries:
        p = root / entry.name
        kind, reason = _classify(p, entry)
        if kind == "dir":
            yield from _walk_dir(p, seen, skipped)
        elif kind == "file":
            yield p
        else:
            skipped.append(Skipped(str(p), reason))


def walk(paths: Sequence[str | os.PathLike[str]]) -> InputWalk:
    """Expand folders recursively into inputs (see the module docstring); explicit files are kept as given."""
    found: set[Path] = set()
    skipped: list[Skipped] = []
    seen: set[tuple[int, int]] = set()
    for item in paths:
        p = Path(item)
        if p.is_dir():
            found.update(_walk_dir(p, seen, skipped))
        else:
            found.add(p)  # explicit file (read() reports it if missing, unreadable or unsupported)
    return InputWalk(files=tuple(sorted(found, key=lambda q: str(q))), skipped=tuple(skipped))
