"""measure(paths, task) -> results: the one call the CLI and the web app use.

read -> route -> family (preprocess -> model -> postprocess -> measure -> qc), per file. Each
measurement family exposes the same call, ``measure(img, task, models, opts) -> FileResult``
(:data:`FAMILIES`). A file that cannot be read or measured still yields a result with qc=fail and
the reason; nothing stops the batch.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from echoseg.atria import task as atria_task
from echoseg.doppler import task as doppler_task
from echoseg.errors import CalibrationError, reason_for
from echoseg.io.calibration import doppler_thumbnail_reason
from echoseg.options import Models, Options
from echoseg.types import EchoImage, FileResult, Measurement
from echoseg.vocab import TASKS, TASKS_ATRIA, TASKS_DOPPLER, unit_of

FamilyMeasure = Callable[[EchoImage, str, Models, Options], FileResult]
FAMILIES: dict[str, FamilyMeasure] = {"a4c": atria_task.measure, "doppler": doppler_task.measure}  # route_kind -> call


def route_kind(img: EchoImage, task: str = "auto") -> tuple[str, str]:
    """("a4c" | "doppler", how) from the file's ultrasound regions; raises CalibrationError when neither fits."""
    spectral = any(r.is_spectral for r in img.regions)
    tissue = any(r.spatial_format == 1 for r in img.regions)
    if task in TASKS_DOPPLER:
        if not spectral:
            raise CalibrationError(f"{img.path}: --task {task} needs a spectral Doppler region, and this file has none")
        return "doppler", "task given"
    thumbnail = doppler_thumbnail_reason(img.regions, img.shape, img.n_frames)
    if task in TASKS_ATRIA:
        if not tissue:
            raise CalibrationError(f"{img.path}: --task {task} needs a calibrated 2D region, and this file has none")
        if thumbnail:
            raise CalibrationError(f"{img.path}: {thumbnail}")
        return "a4c", "task given"
    if spectral:
        return "doppler", "spectral region in (0018,6011)"
    if tissue:
        if thumbnail:
            raise CalibrationError(f"{img.path}: {thumbnail}")
        return "a4c", "2D tissue region in (0018,6011)"
    raise CalibrationError(f"{img.path}: no 2D or spectral ultrasound region with calibration; "
                           "echoseg refuses to guess the scale (pass --cm-per-px for a 2D image)")


def _failed(file: str, tasks: Sequence[str], reason: str) -> FileResult:
    rows = tuple(Measurement(file=file, task=t, value=None, unit=unit_of(t), n=0, frame=None, qc="fail",
                             reason=reason) for t in tasks)
    return FileResult(file=file, kind=None, measurements=rows, error=reason)


def measure_file(path: str | os.PathLike[str], models: Models | None = None,
                 opts: Options | None = None) -> FileResult:
    """Measure one file (``opts`` None: :class:`Options` defaults); every failure becomes a result with
    qc=fail and a reason."""
    from echoseg.io.read import read

    models = models or Models()
    opts = opts or Options()
    file = str(path)
    tasks = [opts.task] if opts.task != "auto" else ["unknown"]
    try:
        if opts.task not in ("auto", *TASKS):
            raise ValueError(f"task must be auto or one of {', '.join(TASKS)}, not {opts.task!r}")
        img = read(path, cm_per_px=opts.cm_per_px, limits=opts.limits)
        kind, _how = route_kind(img, opts.task)
        from echoseg.imaging.screen import without_screen_text  # no patient text in pictures (docs/dicom.md)
        return without_screen_text(FAMILIES[kind](img, opts.task, models, opts), img.regions, opts.keep_screen_text)
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop a batch
        return _failed(file, tasks, reason_for(exc, file))  # clean, capped, naming the file (errors.py)


def dicom_uids(path: str | os.PathLike[str]) -> tuple[str | None, str | None]:
    """(SOPInstanceUID (0008,0018), SeriesInstanceUID (0020,000E)) of a DICOM, (None, None) otherwise.

    A value that is not a UID (digits and dots, at most 64 characters: a corrupt length field makes
    it run on into the patient's name) is None, and pydicom's warnings, which quote raw values, are
    swallowed."""
    from pathlib import Path

    from echoseg.io.dicom import _library_messages, _uid

    p = Path(path)
    if p.suffix.lower() not in ("", ".dcm", ".dicom"):
        return None, None
    try:
        import pydicom

        with _library_messages():
            ds = pydicom.dcmread(p, stop_before_pixels=True, force=True,
                                 specific_tags=["SOPInstanceUID", "SeriesInstanceUID"])
            return _uid(ds.get("SOPInstanceUID", "")), _uid(ds.get("SeriesInstanceUID", ""))
    except Exception:  # noqa: BLE001 - unreadable: the row already says why
        return None, None


def measure(paths: Sequence[str | os.PathLike[str]], task: str = "auto", *, cm_per_px: float | None = None,
            models: Models | None = None, progress: bool = False,
            on_result: Callable[[FileResult], None] | None = None) -> list[FileResult]:
    """Measure every input file (folders are walked recursively). Returns one FileResult per file, all
    held in memory: for archives, :func:`echoseg.batch.run.run_batch` (``echoseg measure``) journals each
    file as it is done, resumes, and runs on several processes or on Ray."""
    from echoseg.io.read import find_inputs

    files = find_inputs(paths)
    models = models or Models()
    opts = Options(task=task, cm_per_px=cm_per_px)
    it: Any = files
    if progress and len(files) > 1 and sys.stderr.isatty():  # a bar on a terminal, never in a log
        from tqdm import tqdm
        it = tqdm(files, desc="measure", unit="file")
    results = []
    for f in it:
        r = measure_file(f, models, opts)
        results.append(r)
        if on_result:
            on_result(r)
    return results
