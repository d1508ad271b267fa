"""What a batch measures: the input files, found and checked before any work, and a unique output
name for each.

:func:`plan` expands folders (as :func:`echoseg.io.read.find_inputs` does), refuses a path that
does not exist or a run with nothing to measure (:class:`UsageError`), and sets DICOMDIR files
aside with a note (a DICOMDIR indexes a media folder; it holds no image). :func:`unique_names`
(:func:`echoseg.report.write.unique_names`) keeps ``<input stem>`` (CONTRACT.md's mask names)
wherever it is unique and disambiguates only the stems that collide, by the path relative to the
input root.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from echoseg.errors import EchosegError
from echoseg.report.write import unique_names

__all__ = ["DICOMDIR_SOP_CLASS", "Inputs", "UsageError", "is_dicomdir", "plan", "unique_names"]

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage (PS3.4 Annex I)


class UsageError(EchosegError, ValueError):
    """The command line asks for something that cannot run (``echoseg measure`` exits 2, before any work)."""


@dataclass(frozen=True)
class Inputs:
    """The files to measure (sorted, unique), the roots they were found under, and the files set aside."""

    files: tuple[Path, ...]
    roots: tuple[Path, ...]
    skipped: tuple[tuple[Path, str], ...] = ()  # (file, why)


def is_dicomdir(p: Path) -> bool:
    """True for a DICOMDIR: named so, or whose file meta says Media Storage Directory Storage (0002,0002)."""
    if p.name.upper() == "DICOMDIR":
        return True
    if p.suffix:
        return False
    try:
        from pydicom.filereader import read_file_meta_info

        meta = read_file_meta_info(p)
    except Exception:  # noqa: BLE001 - not readable as DICOM: read() will say why
        return False
    return str(meta.get("MediaStorageSOPClassUID", "")) == DICOMDIR_SOP_CLASS


def plan(paths: Sequence[str | os.PathLike[str]]) -> Inputs:
    """The inputs of ``paths`` (files or folders, walked recursively).

    Raises:
        UsageError: a path does not exist, or there is nothing to measure.
    """
    from echoseg.io.read import find_inputs

    if not paths:
        raise UsageError("no input given; pass files or folders to measure")
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise UsageError(f"input not found: {', '.join(missing)}; check the path")
    found = find_inputs(paths)
    keep, skipped = [], []
    for f in found:
        if is_dicomdir(f):
            skipped.append((f, "a DICOMDIR (a media index, not an image): skipped; the images it lists are "
                               "measured when they are inside the inputs"))
        else:
            keep.append(f)
    if not keep:
        what = "only DICOMDIR files" if skipped else "no DICOM, AVI, MP4, PNG or JPEG files"
        raise UsageError(f"nothing to measure in {', '.join(str(p) for p in paths)} ({what}); "
                         "pass folders that hold echo images")
    roots = tuple(Path(p) if Path(p).is_dir() else Path(p).parent for p in paths)
    return Inputs(files=tuple(keep), roots=roots, skipped=tuple(skipped))
