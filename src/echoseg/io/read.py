"""Read echocardiography inputs into :class:`~echoseg.types.EchoImage`.

DICOM (Ultrasound Image / Multi-frame Image Storage, current and retired, and Secondary Capture
that carries ultrasound regions or Modality US), AVI/MP4 movies and PNG/JPEG screenshots.
Frames always come out as (T, H, W, 3) uint8 RGB, whatever the stored encoding.

Tags read: SOPClassUID (0008,0016), Modality (0008,0060), PhotometricInterpretation (0028,0004),
NumberOfFrames (0028,0008), Sequence of Ultrasound Regions (0018,6011, parsed by
:mod:`echoseg.io.calibration`), FrameTime (0018,1063), FrameTimeVector (0018,1065), CineRate (0018,0040),
RecommendedDisplayFrameRate (0008,2144), HeartRate (0018,1088), Manufacturer (0008,0070),
StudyInstanceUID (0020,000D), SeriesInstanceUID (0020,000E). Patient identifiers are never copied.

Example::

    >>> from echoseg.io.read import read, describe
    >>> img = read("a4c.dcm")                      # doctest: +SKIP
    >>> img.frames.shape, img.frame_time_ms         # doctest: +SKIP
    ((48, 600, 800, 3), 20.0)
    >>> describe(img)["calibration"]["tissue"]      # doctest: +SKIP
    {'cm_per_px_x': 0.0262, 'cm_per_px_y': 0.0262}
"""
from __future__ import annotations

import logging
import math
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from echoseg.errors import CalibrationError, EchosegError, UnsupportedInputError, clean_text, reason_for
from echoseg.io import calibration as cal
from echoseg.io.calibration import manual_regions
from echoseg.io.dicom import read_dicom, read_dicom_header
from echoseg.io.limits import DEFAULT_LIMITS, ReadLimits
from echoseg.io.media import read_movie, read_still
from echoseg.io.walk import DICOM_SUFFIXES, IMAGE_SUFFIXES, VIDEO_SUFFIXES, InputWalk, has_dicm_preamble, walk
from echoseg.types import EchoImage, SpectralCalibration

__all__ = ["DICOM_SUFFIXES", "IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "describe", "describe_file", "find_inputs",
           "format_text", "has_dicm_preamble", "json_safe", "read", "walk"]

_log = logging.getLogger("echoseg.io")


def _check_path(p: Path) -> None:
    """Raise UnsupportedInputError naming what is wrong with ``p`` before anything opens it."""
    if p.is_symlink():
        try:
            os.stat(p)
        except OSError as exc:
            what = "a symbolic link loop" if exc.errno == 40 else "a broken symbolic link (its target does not exist)"
            raise UnsupportedInputError(f"{p}: {what}; fix or remove the link") from None
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise UnsupportedInputError(f"{p}: file not found; check the path") from None
    except PermissionError:
        raise UnsupportedInputError(f"{p}: permission denied on a folder of its path; make it readable") from None
    except OSError as exc:
        raise UnsupportedInputError(f"{p}: cannot examine the file ({exc.strerror or type(exc).__name__}); "
                                    "check the path") from None
    if not stat.S_ISREG(mode):
        kind = "a folder (use find_inputs to expand folders)" if stat.S_ISDIR(mode) else \
            "a FIFO, socket or device"
        raise UnsupportedInputError(f"{p}: not a regular file but {kind}")
    if not os.access(p, os.R_OK):
        raise UnsupportedInputError(f"{p}: permission denied; make the file readable (chmod +r) and retry")


def read(path: str | os.PathLike[str], *, cm_per_px: float | None = None,
         spectral: SpectralCalibration | None = None, max_frames: int | None = None,
         limits: ReadLimits = DEFAULT_LIMITS, pixels: bool = True) -> EchoImage:
    """Read one DICOM, AVI/MP4 or PNG/JPEG file.

    Args:
        path: the file.
        cm_per_px: explicit 2D scale (square pixels). Required for movies and still images of
            B-mode; for a DICOM it replaces the file's 2D tissue regions.
        spectral: explicit spectral Doppler calibration (see
            :func:`echoseg.io.calibration.manual_spectral_calibration`). Required for Doppler screenshots;
            for a DICOM it replaces the file's spectral regions.
        max_frames: decode at most this many frames (from the first).
        limits: decode budgets (file size, frames, decoded bytes, seconds), checked before decoding.
        pixels: False reads a DICOM's header only (:func:`echoseg.io.dicom.read_dicom_header`: its
            frames are a zero-filled view, nothing is decoded); movies and still images are read whole.

    Raises:
        UnsupportedInputError: missing, unreadable, unknown, truncated or undecodable file
            (InputTooLargeError, a subclass, when it exceeds ``limits``).
        NotUltrasoundError: a DICOM of another modality (CT, MR, ...).
        CalibrationError: a region lies outside the image, or a movie/still image came without calibration.
    """
    p = Path(path)
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1 or None, not {max_frames}")
    _check_path(p)
    suffix = p.suffix.lower()
    if suffix in VIDEO_SUFFIXES or suffix in IMAGE_SUFFIXES:
        if cm_per_px is None and spectral is None:
            raise CalibrationError(
                f"{p}: a {suffix} file carries no calibration; pass --cm-per-px (2D, cm per pixel) "
                "or a spectral calibration (Doppler) to measure it")
        frames, frame_time = read_movie(p, max_frames, limits) if suffix in VIDEO_SUFFIXES else read_still(p, limits)
        regions = manual_regions((), frames.shape[1:3], cm_per_px, spectral, p)
        return EchoImage(path=str(p), frames=frames, regions=regions, frame_time_ms=frame_time,
                         extra={"calibration_source": "manual", "format": suffix.lstrip(".")})
    if suffix in DICOM_SUFFIXES or suffix == "" or has_dicm_preamble(p):
        if not pixels:
            return read_dicom_header(p, cm_per_px, spectral, limits)
        return read_dicom(p, cm_per_px, spectral, max_frames, limits)
    raise UnsupportedInputError(
        f"{p}: unsupported file type {suffix!r}; echoseg reads DICOM (.dcm, .dicom or no extension), "
        f"{', '.join(VIDEO_SUFFIXES)} and {', '.join(IMAGE_SUFFIXES)}")


# --------------------------------------------------------------------------------- file discovery
def find_inputs(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Expand folders recursively into readable inputs (see :func:`echoseg.io.walk.walk`); explicit files
    are kept as given. Each entry skipped is logged as a warning on the "echoseg.io" logger (shown on
    stderr unless logging is configured otherwise). The result is sorted and free of duplicates."""
    found = walk(paths)
    log_skipped(found)
    return list(found.files)


def log_skipped(found: InputWalk) -> None:
    """Log one warning per entry :func:`walk` skipped (hidden entries at INFO level)."""
    for s in found.skipped:
        _log.log(logging.INFO if s.reason == "hidden" else logging.WARNING, clean_text(s.message))


# ------------------------------------------------------------------------------------ description
def describe(img: EchoImage) -> dict[str, Any]:
    """Plain-JSON summary of an EchoImage for ``echoseg info --json``."""
    calib: dict[str, Any] = {}
    try:
        t = cal.tissue_calibration(img.regions, img.shape, img.path)
        calib["tissue"] = {"cm_per_px_x": t.cm_per_px_x, "cm_per_px_y": t.cm_per_px_y,
                           "region": [t.region.x0, t.region.y0, t.region.x1, t.region.y1]}
    except EchosegError as exc:
        calib["tissue"] = {"error": str(exc)}
    try:
        s = cal.spectral_calibration(img.regions, img.shape, img.path)
        calib["spectral"] = {"s_per_px": s.s_per_px, "cm_s_per_px": s.cm_s_per_px,
                             "baseline_row": s.baseline_row, "mode": s.mode,
                             "region": [s.region.x0, s.region.y0, s.region.x1, s.region.y1]}
    except EchosegError as exc:
        calib["spectral"] = {"error": str(exc)}
    return {
        "file": img.path,
        "regions": [r.describe() for r in img.regions],
        "frames": img.n_frames, "rows": img.shape[0], "cols": img.shape[1],
        "frame_time_ms": img.frame_time_ms, "heart_rate_bpm": img.heart_rate_bpm,
        "modality": img.modality, "photometric": img.photometric, "transfer_syntax": img.transfer_syntax,
        "sop_class_uid": img.sop_class_uid, "manufacturer": img.manufacturer,
        "calibration_source": img.extra.get("calibration_source"),
        "pixels": img.extra.get("pixels", "decoded"),
        "warnings": list(img.extra.get("warnings", [])),
        "calibration": calib,
    }


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, +-inf) replaced by None, so ``json.dumps(..., allow_nan=False)``
    writes valid JSON; tuples become lists, other non-JSON values their clean text."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    try:
        number = float(obj)  # numpy scalars
    except (TypeError, ValueError):
        return clean_text(obj)
    return number if math.isfinite(number) else None


def describe_file(path: str | os.PathLike[str], limits: ReadLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """:func:`describe` of one file, or ``{"file", "error", "error_type"}`` when it cannot be read; never raises.

    A DICOM's pixels are not decoded (``read(..., pixels=False)``): ``pixels`` says whether they can be.

    The result is :func:`json_safe`; the error is a clean reason naming the file (see
    :func:`echoseg.errors.reason_for`).
    """
    try:
        return json_safe(describe(read(path, limits=limits, pixels=False)))
    except Exception as exc:  # noqa: BLE001 - info must list every file, whatever happens to one
        kind = type(exc).__name__ if isinstance(exc, (EchosegError, ValueError)) else "InternalError"
        return {"file": str(path), "error": reason_for(exc, str(path)), "error_type": kind}


def _g(value: Any, spec: str = ".6g") -> str:
    """``value`` formatted with ``spec``, or "?" when it is not a number."""
    try:
        return format(float(value), spec)
    except (TypeError, ValueError):
        return "?"


def format_text(desc: dict[str, Any]) -> str:
    """Human-readable rendering of :func:`describe`'s (or :func:`describe_file`'s) dictionary; never raises."""
    if "error" in desc:
        return f"{desc.get('file')}: ERROR {desc['error']}"
    try:
        return _format_text(desc)
    except Exception as exc:  # noqa: BLE001 - a listing must go on
        return f"{desc.get('file')}: described, but cannot be shown as text ({type(exc).__name__}); use --json"


def _format_text(desc: dict[str, Any]) -> str:
    ft = desc.get("frame_time_ms")
    lines = [
        f"file: {desc['file']}",
        f"  {desc['frames']} frame(s) of {desc['cols']}x{desc['rows']} px"
        + (f", {_g(ft, '.2f')} ms/frame ({_g(1000.0 / ft, '.1f')} fps)" if ft else ", frame time unknown")
        + (f", heart rate {_g(desc['heart_rate_bpm'], 'g')} bpm" if desc.get("heart_rate_bpm") else ""),
        f"  {desc.get('manufacturer') or 'unknown manufacturer'}; photometric {desc.get('photometric') or '-'}; "
        f"transfer syntax {desc.get('transfer_syntax') or '-'}; pixels {desc.get('pixels') or '-'}",
        f"  {len(desc['regions'])} ultrasound region(s):",
    ]
    for i, r in enumerate(desc["regions"]):
        lines.append(f"    [{i}] {r['spatial_format']} {r['data_type']}: x {r['x0']}..{r['x1']}, y {r['y0']}..{r['y1']}; "
                     f"{_g(r['delta_x'])} {r['units_x']}/px x {_g(r['delta_y'])} {r['units_y']}/px; "
                     f"ref ({r['ref_x0']}, {r['ref_y0']})")
    for w in desc.get("warnings", []):
        lines.append(f"  warning: {w}")
    tissue = desc["calibration"].get("tissue", {})
    spec = desc["calibration"].get("spectral", {})
    lines.append("  2D calibration: " + (tissue["error"] if "error" in tissue else
                 f"{_g(tissue['cm_per_px_x'])} x {_g(tissue['cm_per_px_y'])} cm/px"))
    lines.append("  spectral calibration: " + (spec["error"] if "error" in spec else
                 f"{spec['mode']}, {_g(spec['s_per_px'] * 1000, '.4g')} ms/px, {_g(spec['cm_s_per_px'], '.4g')} cm/s "
                 f"per px, baseline row {_g(spec['baseline_row'], 'g')}"))
    return "\n".join(lines)
