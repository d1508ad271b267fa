"""Read an ultrasound DICOM into :class:`~echoseg.types.EchoImage`: decoding every supported
photometric interpretation to (T, H, W, 3) uint8 RGB, frame timing and the regions' calibration.

Tags read are listed in :mod:`echoseg.io.read`. Patient identifiers are never copied.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from echoseg.errors import (CalibrationError, EchosegError, InputTooLargeError, NotUltrasoundError,
                            UnsupportedInputError)
from echoseg.io import calibration as cal
from echoseg.io.calibration import manual_regions
from echoseg.io.limits import DEFAULT_LIMITS, MIB, ReadLimits
from echoseg.types import EchoImage, Region, SpectralCalibration

US_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.6.1": "Ultrasound Image Storage",
    "1.2.840.10008.5.1.4.1.1.6": "Ultrasound Image Storage (Retired)",
    "1.2.840.10008.5.1.4.1.1.3.1": "Ultrasound Multi-frame Image Storage",
    "1.2.840.10008.5.1.4.1.1.3": "Ultrasound Multi-frame Image Storage (Retired)",
}


SC_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.1": "Multi-frame Single Bit Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture Image Storage",
}


_MEASURED_FORMATS = (1, 2, 3)  # 2D, M-mode, spectral: their bounds must lie inside the image


_EDGE_SLACK = 1  # vendors (e.g. Philips) write MaxX1 == Columns; clip regions overhanging by <= 1 px


# ------------------------------------------------------------------------------ checked header values
# Header text reaches echoseg's outputs only through these checks: a value must fit its VR (length,
# character set) exactly, so a value that runs on into the next elements (a corrupt length field)
# is dropped rather than shown. Reasons quote no header text at all, only names from this module.
_TEXT_MAX = {"LO": 64, "SH": 16, "CS": 16, "LT": 10240}


def _value(ds: Any, keyword: str) -> Any:
    """``ds.get(keyword)``, or None when the element is absent or cannot be converted."""
    try:
        return ds.get(keyword)
    except Exception:  # noqa: BLE001 - a corrupt element raises whatever its VR's converter raises
        return None


def _text(ds: Any, keyword: str, vr: str = "LO") -> str | None:
    """A free-text header value that fits its VR (printable, within the VR's length), else None."""
    value = _value(ds, keyword)
    if value is None:
        return None
    if not isinstance(value, str):
        value = "\\".join(str(v) for v in value) if hasattr(value, "__iter__") and not isinstance(value, bytes) \
            else str(value)
    allowed = "\n\r\t" if vr == "LT" else ""
    if len(value) > _TEXT_MAX[vr] or not all(c.isprintable() or c in allowed for c in value):
        return None
    if vr == "CS" and not re.fullmatch(r"[A-Z0-9_ ]*", value):
        return None
    return value.strip() or None


def _uid(value: Any) -> str | None:
    """A UID (digits and dots, at most 64 characters), else None."""
    s = str(value or "").strip().rstrip("\x00")
    return s if s and len(s) <= 64 and re.fullmatch(r"[0-9]+(\.[0-9]+)*", s) else None


def _count(ds: Any, keyword: str, default: int, lo: int, hi: int, p: Path, tag: str) -> int:
    """An integer header value within lo..hi (``default`` when absent); UnsupportedInputError otherwise."""
    value = _value(ds, keyword)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise UnsupportedInputError(f"{p}: {keyword} {tag} is not a number; the header is corrupt") from None
    if not (np.isfinite(number) and number == int(number) and lo <= number <= hi):
        raise UnsupportedInputError(f"{p}: {keyword} {tag} must be an integer within {lo}..{hi}, not {number:.6g}; "
                                    "the header is corrupt")
    return int(number)


def _ts_name(ts: Any) -> str:
    """Name of a known transfer syntax, "transfer syntax <UID>" for a well-formed unknown one, else a phrase."""
    uid = _uid(ts)
    if uid is None:
        return "a malformed transfer syntax UID"
    try:
        from pydicom.uid import UID
        u = UID(uid)
        return str(u.name) if u.is_transfer_syntax and u.name != uid else f"unknown transfer syntax {uid}"
    except Exception:  # noqa: BLE001
        return f"unknown transfer syntax {uid}"


@contextlib.contextmanager
def _library_messages() -> Iterator[list[str]]:
    """Capture pydicom's warnings and log records (which quote raw header values) instead of showing them.

    Yields a list that receives one category name per captured message; the caller turns them into
    a warning in echoseg's words. Not thread-safe (Python's warning filters are process-wide).
    """
    caught: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            caught.append(record.levelname)

    logger = logging.getLogger("pydicom")
    handler, propagate = _Collect(level=logging.WARNING), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as records:
            warnings.simplefilter("always")
            yield caught
        caught.extend(type(w.message).__name__ for w in records)
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _library_warning(caught: list[str]) -> str | None:
    if not caught:
        return None
    return (f"pydicom reported {len(caught)} problem(s) reading this file (values that do not fit their type "
            "or length, say); echoseg does not show them, as they may quote patient data")


# ----------------------------------------------------------------------------------------- DICOM
def _open_check(p: Path, limits: ReadLimits) -> int:
    """File size in bytes, after checking it can be opened and is within ``limits.max_file_mb``."""
    try:
        size = p.stat().st_size
        with p.open("rb"):
            pass
    except PermissionError:
        raise UnsupportedInputError(f"{p}: permission denied; make the file readable (chmod +r) and retry") from None
    except OSError as exc:
        raise UnsupportedInputError(f"{p}: cannot open the file ({_os_error(exc)}); check the path") from None
    if size > limits.max_file_bytes:
        raise InputTooLargeError(f"{p}: the file is {size / MIB:.0f} MiB, over the {limits.max_file_mb:g} MiB limit; "
                                 "raise it (--max-file-mb, ReadLimits.max_file_mb) if the file is genuine")
    return size


def _os_error(exc: OSError) -> str:
    """The OS's words for ``exc`` (strerror), never the library's message."""
    return exc.strerror or type(exc).__name__


def _looks_like_bare_dataset(p: Path) -> bool:
    """True when a file without the DICM prefix starts with a group 0002 or 0008 element, as bare datasets do."""
    try:
        with p.open("rb") as fh:
            head = fh.read(8)
    except OSError:
        return False
    return len(head) == 8 and head[:2] in (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08")


def _read_dataset(p: Path, limits: ReadLimits = DEFAULT_LIMITS, defer_size: str | None = None) -> Any:
    """Parse ``p`` with pydicom (retrying without the 128-byte preamble); UnsupportedInputError when unreadable.

    ``defer_size`` (e.g. "64 KB"): larger values, the pixel data among them, are read from the file only
    when used (:func:`read_dicom_header`)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    _open_check(p, limits)
    try:
        ds = pydicom.dcmread(p, defer_size=defer_size)
    except InvalidDicomError:
        if not _looks_like_bare_dataset(p):
            raise UnsupportedInputError(f"{p}: not a DICOM file (no DICM prefix at byte 128, and it does not begin "
                                        "with a DICOM element); check the file") from None
        try:  # files written without the 128-byte preamble
            ds = pydicom.dcmread(p, force=True, defer_size=defer_size)
        except Exception as exc:  # noqa: BLE001 - any parse failure means "not a DICOM we can read"
            raise UnsupportedInputError(f"{p}: not a readable DICOM file ({type(exc).__name__} while parsing the "
                                        "header); check the file") from None
        if "SOPClassUID" not in ds and "Modality" not in ds:
            raise UnsupportedInputError(
                f"{p}: not a DICOM file (no DICM preamble, no SOP Class UID); check the file") from None
    except PermissionError:
        raise UnsupportedInputError(f"{p}: permission denied; make the file readable (chmod +r) and retry") from None
    except MemoryError:
        raise InputTooLargeError(f"{p}: the header declares an element too large to read; the file is corrupt") from None
    except Exception as exc:  # noqa: BLE001 - truncated headers raise assorted errors
        raise UnsupportedInputError(f"{p}: the DICOM file is truncated or corrupt ({type(exc).__name__} while "
                                    "parsing the header)") from None
    if "SOPClassUID" not in ds and "Modality" not in ds:
        raise UnsupportedInputError(
            f"{p}: the DICOM dataset has neither SOP Class UID nor Modality; the file is truncated or corrupt")
    return ds


def _check_ultrasound(ds: Any, p: Path) -> tuple[str, str | None]:
    """(SOP class UID, Modality or None) of an ultrasound dataset with pixel data; raises otherwise.

    The refusal names the modality only when it is one of DICOM's defined terms and the SOP class
    only by its registered name: no header text reaches the message.
    """
    sop = _uid(_value(ds, "SOPClassUID")) or ""
    modality = _text(ds, "Modality", "CS")
    has_regions = bool(_value(ds, "SequenceOfUltrasoundRegions"))
    is_us = sop in US_SOP_CLASSES or modality == "US" or (sop in SC_SOP_CLASSES and has_regions)
    if not is_us:
        raise NotUltrasoundError(
            f"{p}: not an ultrasound image (Modality {_modality_name(modality)}, SOP class {_sop_name(sop)}); "
            "echoseg measures echocardiography (Modality US) only")
    if "PixelData" not in ds:
        raise UnsupportedInputError(
            f"{p}: the DICOM has no pixel data (SOP class {_sop_name(sop)}); the file may be truncated")
    return sop, modality


_MODALITIES = {"US", "CT", "MR", "CR", "DX", "MG", "NM", "PT", "XA", "RF", "OT", "SC", "SR", "RTSTRUCT", "RTPLAN",
               "RTDOSE", "RTIMAGE", "SEG", "ECG", "IVUS", "OCT", "OP", "XC", "ES", "SM", "PR", "KO", "DOC", "REG"}


def _modality_name(modality: str | None) -> str:
    if modality is None:
        return "absent or unreadable"
    return modality if modality in _MODALITIES else "not a DICOM defined term"


def _sop_name(sop: str) -> str:
    if not sop:
        return "absent or malformed"
    if sop in US_SOP_CLASSES or sop in SC_SOP_CLASSES:
        return {**US_SOP_CLASSES, **SC_SOP_CLASSES}[sop]
    try:
        from pydicom.uid import UID
        name = str(UID(sop).name)
    except Exception:  # noqa: BLE001
        name = sop
    return name if name != sop else f"unregistered UID {sop}"


def _dataset_regions(ds: Any, p: Path, shape: tuple[int, int], cm_per_px: float | None,
                     spectral: SpectralCalibration | None, warnings: list[str]) -> tuple[tuple[Region, ...], str]:
    """The file's regions fitted to the image (see :func:`_fit_region`), or the manual calibration when given,
    and the calibration source ("dicom", "none" or "manual"). Fitting notes go to ``warnings``."""
    seq = _value(ds, "SequenceOfUltrasoundRegions") or []
    try:
        regions = cal.regions_from_sequence(seq)
    except CalibrationError as exc:
        if cm_per_px is None and spectral is None:
            raise CalibrationError(f"{p}: {exc}") from None
        warnings.append(f"ignored the file's (0018,6011) regions, which are corrupt, for the calibration passed: {exc}")
        regions = ()
    regions = tuple(r for r in (_fit_region(r, shape, p, warnings) for r in regions) if r is not None)
    source = "dicom" if regions else "none"
    if cm_per_px is not None or spectral is not None:
        regions = manual_regions(regions, shape, cm_per_px, spectral, p)
        source = "manual"
    return regions, source


def _extra(ds: Any, source: str, warnings: list[str]) -> dict[str, Any]:
    """EchoImage.extra: calibration source, format, free-text acquisition labels and any warnings."""
    extra: dict[str, Any] = {"calibration_source": source, "format": "dicom"}
    # Free-text acquisition labels (no patient data): vendors sometimes name the view or Doppler site here.
    labels = [_text(ds, "SeriesDescription"), _text(ds, "ProtocolName"), _text(ds, "ImageComments", "LT")]
    extra["labels"] = " | ".join(x for x in labels if x)
    if warnings:
        extra["warnings"] = warnings
    return extra


def read_dicom(p: Path, cm_per_px: float | None, spectral: SpectralCalibration | None,
               max_frames: int | None, limits: ReadLimits = DEFAULT_LIMITS) -> EchoImage:
    """Read one ultrasound DICOM: decoded RGB frames, calibrated regions, timing and descriptive tags.

    ``cm_per_px``/``spectral`` override the file's calibration; ``max_frames`` caps the frames decoded;
    ``limits`` are the decode budgets, checked before decoding. Raises UnsupportedInputError (or
    InputTooLargeError), NotUltrasoundError or CalibrationError with the file named; any other
    failure inside pydicom becomes an UnsupportedInputError naming only the exception's type.
    """
    notes: list[str] = []
    try:
        with _library_messages() as caught:
            img = _read_dicom(p, cm_per_px, spectral, max_frames, limits, notes)
    except EchosegError:
        raise
    except MemoryError:
        raise InputTooLargeError(f"{p}: out of memory while decoding; lower the decode budget "
                                 "(ReadLimits.max_decoded_mb) or convert the file") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt file can make pydicom raise anything
        raise UnsupportedInputError(f"{p}: the DICOM file is corrupt ({type(exc).__name__} while reading it); "
                                    "check the file or re-export it from the scanner") from None
    note = _library_warning(caught)
    if note:
        extra = dict(img.extra)
        extra["warnings"] = [*extra.get("warnings", []), note]
        img = dataclasses.replace(img, extra=extra)
    return img


def _read_dicom(p: Path, cm_per_px: float | None, spectral: SpectralCalibration | None,
                max_frames: int | None, limits: ReadLimits, warnings: list[str]) -> EchoImage:
    deadline = time.monotonic() + limits.max_seconds
    ds = _read_dataset(p, limits)
    sop, modality = _check_ultrasound(ds, p)
    frames = _decode(ds, p, max_frames, limits, deadline)
    shape = (int(frames.shape[1]), int(frames.shape[2]))
    regions, source = _dataset_regions(ds, p, shape, cm_per_px, spectral, warnings)
    ts = _uid(_transfer_syntax(ds))
    study, series = _uid(_value(ds, "StudyInstanceUID")), _uid(_value(ds, "SeriesInstanceUID"))
    photometric = _text(ds, "PhotometricInterpretation", "CS")
    return EchoImage(
        path=str(p), frames=frames, regions=regions,
        frame_time_ms=frame_time_ms(ds, warnings), heart_rate_bpm=_heart_rate(ds, warnings),
        r_wave_ms=r_wave_times_ms(ds, warnings),
        modality=modality, sop_class_uid=sop or None,
        photometric=photometric if photometric in _PHOTOMETRICS else None,
        transfer_syntax=ts,
        manufacturer=_text(ds, "Manufacturer"),
        study_uid=study, series_uid=series,
        extra=_extra(ds, source, warnings))


def read_dicom_header(p: Path, cm_per_px: float | None = None, spectral: SpectralCalibration | None = None,
                      limits: ReadLimits = DEFAULT_LIMITS) -> EchoImage:
    """:func:`read_dicom` without decoding the pixels (``echoseg info``): the same checks of the header,
    the regions, the timing and the pixel data's length and budgets, and the same refusals, but no decoder runs.

    ``frames`` is a read-only, zero-filled view of the header's frame count and size that takes no memory;
    ``extra["pixels"]`` says which decoder would decode the pixel data, or why none can (then it is also
    a warning, while the regions are still described).
    """
    notes: list[str] = []
    try:
        with _library_messages() as caught:
            ds = _read_dataset(p, limits, defer_size="64 KB")
            sop, modality = _check_ultrasound(ds, p)
            layout = pixel_layout(ds, p)
            check_budget(layout, layout.frames, p, limits)
            _check_pixel_length(ds, layout, p)
            try:
                plugin = _decoding_plugin(layout, p)
                pixels = f"decodable ({layout.ts_name}, by {plugin})" if plugin else "uncompressed"
            except UnsupportedInputError as exc:
                pixels = f"not decodable here: {str(exc).removeprefix(f'{p}: ')}"
                notes.append(f"pixel data {pixels}")
            shape = (layout.rows, layout.cols)
            frames = np.broadcast_to(np.zeros((1, 1, 1, 3), np.uint8), (layout.frames, *shape, 3))
            regions, source = _dataset_regions(ds, p, shape, cm_per_px, spectral, notes)
            photometric = _text(ds, "PhotometricInterpretation", "CS")
            img = EchoImage(
                path=str(p), frames=frames, regions=regions,
                frame_time_ms=frame_time_ms(ds, notes), heart_rate_bpm=_heart_rate(ds, notes),
                modality=modality, sop_class_uid=sop or None,
                photometric=photometric if photometric in _PHOTOMETRICS else None,
                transfer_syntax=_uid(_transfer_syntax(ds)), manufacturer=_text(ds, "Manufacturer"),
                study_uid=_uid(_value(ds, "StudyInstanceUID")), series_uid=_uid(_value(ds, "SeriesInstanceUID")),
                extra={**_extra(ds, source, notes), "pixels": pixels})
    except EchosegError:
        raise
    except MemoryError:
        raise InputTooLargeError(f"{p}: out of memory while reading the header; the file is corrupt") from None
    except Exception as exc:  # noqa: BLE001 - a corrupt file can make pydicom raise anything
        raise UnsupportedInputError(f"{p}: the DICOM file is corrupt ({type(exc).__name__} while reading it); "
                                    "check the file or re-export it from the scanner") from None
    note = _library_warning(caught)
    if note:
        img = dataclasses.replace(img, extra={**img.extra, "warnings": [*img.extra.get("warnings", []), note]})
    return img


def _fit_region(r: Region, shape: tuple[int, int], p: Path, warnings: list[str]) -> Region | None:
    """Validate a region against the image.

    A one-pixel overhang (MaxX1 == Columns, as Philips writes) is clipped with a warning. Any other
    misplaced 2D, M-mode or spectral region raises CalibrationError; a misplaced waveform, graphics or
    colour-bar region (which echoseg never measures) is dropped with a warning.
    """
    rows, cols = shape
    x1 = cols - 1 if cols - 1 < r.x1 <= cols - 1 + _EDGE_SLACK else r.x1
    y1 = rows - 1 if rows - 1 < r.y1 <= rows - 1 + _EDGE_SLACK else r.y1
    if (x1, y1) != (r.x1, r.y1):
        warnings.append(f"region x {r.x0}..{r.x1}, y {r.y0}..{r.y1} overhangs the {cols}x{rows} image "
                        f"by one pixel; clipped to x1={x1}, y1={y1}")
        r = dataclasses.replace(r, x1=x1, y1=y1)
    try:
        cal.check_inside(r, shape, str(p))
    except CalibrationError as exc:
        if r.spatial_format in _MEASURED_FORMATS:
            raise
        warnings.append(f"ignored a non-image region (spatial format {r.spatial_format}): {exc}")
        return None
    return r


def _transfer_syntax(ds: Any) -> Any:
    meta = getattr(ds, "file_meta", None)
    return _value(meta, "TransferSyntaxUID") if meta is not None else None


def _positive(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return v if v > 0 and np.isfinite(v) else None


FRAME_TIME_MS = (1.0, 2000.0)  # 1000 to 0.5 frames per second: outside, the header is wrong
HEART_RATE_BPM = (15.0, 350.0)


def _heart_rate(ds: Any, warnings: list[str] | None = None) -> float | None:
    hr = _positive(_value(ds, "HeartRate"))
    if hr is not None and not HEART_RATE_BPM[0] <= hr <= HEART_RATE_BPM[1]:
        if warnings is not None:
            warnings.append(f"HeartRate (0018,1088) {hr:.6g} bpm lies outside {HEART_RATE_BPM[0]:g}..{HEART_RATE_BPM[1]:g} "
                            "bpm; ignored")
        return None
    return hr


def r_wave_times_ms(ds: Any, warnings: list[str] | None = None) -> tuple[float, ...]:
    """R-wave times (ms from the first frame) from R Wave Time Vector (0018,6060); () when absent.

    Values that are not finite numbers >= 0 are dropped, with a note in ``warnings``; the rest are
    returned in time order.
    """
    raw = _value(ds, "RWaveTimeVector")
    if raw is None:
        return ()
    try:
        seq = raw if hasattr(raw, "__iter__") and not isinstance(raw, (str, bytes)) else [raw]
        vals = [float(v) for v in seq]
    except (TypeError, ValueError):
        if warnings is not None:
            warnings.append("R Wave Time Vector (0018,6060) is not a list of numbers; ignored")
        return ()
    good = sorted(v for v in vals if np.isfinite(v) and v >= 0)
    if len(good) < len(vals) and warnings is not None:
        warnings.append(f"R Wave Time Vector (0018,6060): {len(vals) - len(good)} value(s) not a time >= 0 ms; dropped")
    return tuple(good)


def frame_time_ms(ds: Any, warnings: list[str] | None = None) -> float | None:
    """Milliseconds between frames from FrameTime, FrameTimeVector (mean), CineRate or RecommendedDisplayFrameRate.

    A value outside :data:`FRAME_TIME_MS` (1..2000 ms) is ignored, with a note in ``warnings``.
    """
    ft = _frame_time_ms(ds)
    if ft is not None and not FRAME_TIME_MS[0] <= ft <= FRAME_TIME_MS[1]:
        if warnings is not None:
            warnings.append(f"frame time {ft:.6g} ms lies outside the plausible {FRAME_TIME_MS[0]:g}..{FRAME_TIME_MS[1]:g} ms "
                            "(FrameTime, FrameTimeVector or CineRate); frame timing ignored")
        return None
    return ft


def _frame_time_ms(ds: Any) -> float | None:
    ft = _positive(_value(ds, "FrameTime"))
    if ft is not None:
        return ft
    vec = _value(ds, "FrameTimeVector")
    if vec is not None:
        try:
            vals = [float(v) for v in (vec if isinstance(vec, (list, tuple)) or hasattr(vec, "__iter__") else [vec])]
        except (TypeError, ValueError, OverflowError):
            vals = []
        vals = vals[1:] if len(vals) > 1 else vals  # the first entry is 0 by definition
        vals = [v for v in vals if v > 0 and np.isfinite(v)]
        if vals:
            mean = float(np.mean(vals))
            return mean if np.isfinite(mean) else None
    for tag in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = _positive(_value(ds, tag))
        if rate is not None:
            return 1000.0 / rate
    return None


_PHOTOMETRICS = ("RGB", "YBR_FULL", "YBR_FULL_422", "MONOCHROME1", "MONOCHROME2", "PALETTE COLOR",
                 "YBR_PARTIAL_420", "YBR_ICT", "YBR_RCT")


@dataclasses.dataclass(frozen=True)
class PixelLayout:
    """What the header says the pixel data holds, checked: sizes, samples, bits, photometric, encoding."""

    rows: int
    cols: int
    frames: int
    samples: int
    bits_allocated: int
    photometric: str
    compressed: bool
    ts_name: str
    ts_uid: str | None = None

    def decoded_bytes(self, frames: int | None = None) -> int:
        """Bytes of ``frames`` (default all) decoded to RGB uint8."""
        return self.rows * self.cols * (self.frames if frames is None else frames) * 3


def pixel_layout(ds: Any, p: Path) -> PixelLayout:
    """The checked :class:`PixelLayout` of ``ds``; UnsupportedInputError naming the tag when a value is absurd.

    Tags read: Rows (0028,0010), Columns (0028,0011), NumberOfFrames (0028,0008), SamplesPerPixel
    (0028,0002), BitsAllocated (0028,0100), PhotometricInterpretation (0028,0004), TransferSyntaxUID (0002,0010).
    """
    rows = _count(ds, "Rows", 0, 1, 65535, p, "(0028,0010)")
    cols = _count(ds, "Columns", 0, 1, 65535, p, "(0028,0011)")
    if rows == 0 or cols == 0:
        raise UnsupportedInputError(f"{p}: Rows (0028,0010) or Columns (0028,0011) is missing; the header is corrupt")
    frames = _count(ds, "NumberOfFrames", 1, 0, 2 ** 31 - 1, p, "(0028,0008)") or 1
    samples = _count(ds, "SamplesPerPixel", 1, 1, 4, p, "(0028,0002)")
    bits = _count(ds, "BitsAllocated", 8, 1, 64, p, "(0028,0100)")
    photometric = _text(ds, "PhotometricInterpretation", "CS") or ""
    if photometric not in _PHOTOMETRICS:
        raise UnsupportedInputError(f"{p}: PhotometricInterpretation (0028,0004) is "
                                    f"{'absent' if not photometric else 'not one echoseg decodes'}; "
                                    f"echoseg reads {', '.join(_PHOTOMETRICS[:6])}")
    ts = _transfer_syntax(ds)
    uid = _uid(ts)
    name = _ts_name(ts)
    if uid is not None:
        from pydicom.uid import UID
        u = UID(uid)
        if not u.is_transfer_syntax:
            raise UnsupportedInputError(f"{p}: the file meta names {name}, which echoseg cannot decode; "
                                        "convert the file to Explicit VR Little Endian (e.g. `gdcmconv --raw`)")
        compressed = bool(u.is_compressed)
    elif ts is None or str(ts).strip() == "":
        compressed = False  # bare dataset without file meta: implicit VR little endian
    else:
        raise UnsupportedInputError(f"{p}: the file meta carries {name}; the file is corrupt")
    return PixelLayout(rows, cols, frames, samples, bits, photometric, compressed, name, uid)


def check_budget(layout: PixelLayout, take: int, p: Path, limits: ReadLimits) -> None:
    """Raise InputTooLargeError when decoding ``take`` frames of ``layout`` would exceed ``limits``."""
    if take > limits.max_frames:
        raise InputTooLargeError(
            f"{p}: {take} frames exceed the limit of {limits.max_frames} frames per file; raise it "
            "(--max-frames, ReadLimits.max_frames) if the file is genuine")
    size = layout.decoded_bytes(take)
    if size > limits.max_decoded_bytes:
        raise InputTooLargeError(
            f"{p}: {layout.cols}x{layout.rows} px x {take} frames decode to {size / MIB:.0f} MiB of RGB, over the "
            f"{limits.max_decoded_mb:g} MiB limit; raise it (--max-decoded-mb, ReadLimits.max_decoded_mb) "
            "if the file is genuine")


def _check_pixel_length(ds: Any, layout: PixelLayout, p: Path) -> None:
    """Compare the stored pixel data with what the header promises, before decoding anything."""
    data = ds.PixelData
    n = len(data) if data is not None else 0
    if not layout.compressed:
        from pydicom.pixels.utils import get_expected_length
        try:
            expected = int(get_expected_length(ds, unit="bytes"))
        except Exception:  # noqa: BLE001 - an inconsistent header (bits, samples) cannot say
            return
        if n < expected:
            frame = expected // max(layout.frames, 1)
            raise UnsupportedInputError(
                f"{p}: the pixel data holds {n} bytes, {n // frame if frame else 0} whole frame(s), but "
                f"{layout.cols}x{layout.rows} px x {layout.samples} sample(s) x {layout.frames} frame(s) need "
                f"{expected}: the file is truncated or its NumberOfFrames (0028,0008) is wrong")
        return
    from pydicom.encaps import parse_fragments
    try:
        n_fragments, _ = parse_fragments(data)
    except Exception:  # noqa: BLE001 - broken item tags: say so
        raise UnsupportedInputError(f"{p}: the {layout.ts_name} pixel data is not a valid sequence of "
                                    "fragments; the file is truncated or corrupt") from None
    if n_fragments < layout.frames:
        raise UnsupportedInputError(
            f"{p}: NumberOfFrames (0028,0008) is {layout.frames} but the {layout.ts_name} pixel data holds only "
            f"{n_fragments} fragment(s); the file is truncated or its frame count is wrong")


def _decode(ds: Any, p: Path, max_frames: int | None, limits: ReadLimits = DEFAULT_LIMITS,
            deadline: float | None = None) -> np.ndarray:
    """Decode pixel data to (T, H, W, 3) uint8 RGB, frame by frame into one preallocated array.

    The layout and the budgets are checked first; the time budget between frames.
    """
    layout = pixel_layout(ds, p)
    take = layout.frames if max_frames is None else min(layout.frames, max_frames)
    check_budget(layout, take, p, limits)
    _check_pixel_length(ds, layout, p)
    photometric = layout.photometric
    fast_ybr = photometric in ("YBR_FULL", "YBR_FULL_422")
    kwargs: dict[str, Any] = {"raw": True} if fast_ybr else {}
    out: np.ndarray | None = None
    palette = _palette_lut(ds, p) if photometric == "PALETTE COLOR" else None
    plugin = _decoding_plugin(layout, p)
    deadline = time.monotonic() + limits.max_seconds if deadline is None else deadline
    i = 0
    try:
        for i, frame in enumerate(_frames(ds, layout, take, plugin, kwargs)):
            if time.monotonic() > deadline:
                raise InputTooLargeError(
                    f"{p}: decoding passed the {limits.max_seconds:g} s limit per file at frame {i} of {take}; "
                    "raise it (--max-seconds, ReadLimits.max_seconds) if the file is genuine")
            arr = (frame[..., None] if frame.ndim == 2 else frame)[None]  # (1, H, W, C)
            if arr.shape[1:3] != (layout.rows, layout.cols):
                raise UnsupportedInputError(f"{p}: frame {i} decodes to {arr.shape[2]}x{arr.shape[1]} px, not the "
                                            f"{layout.cols}x{layout.rows} of Rows/Columns; the file is corrupt")
            rgb = _frame_to_rgb8(arr, ds, photometric, p, palette)
            if out is None:
                out = np.empty((take, *rgb.shape[1:]), np.uint8)
            out[i] = rgb[0]
    except EchosegError:
        raise
    except Exception as exc:  # noqa: BLE001 - decoders raise many types
        msg = str(exc).lower()
        if "missing dependencies" in msg or "no pixel data decoders" in msg or "unable to decode" in msg \
                and "plugin" in msg:
            hint = (f"no installed decoder handles {layout.ts_name}; convert the file to uncompressed "
                    "(e.g. `gdcmconv --raw` or dcmtk `dcmdjpeg`) or install the BSD-licensed python-gdcm")
        elif not layout.compressed:
            hint = "the pixel data is shorter than Rows x Columns x samples x frames: the file is truncated or corrupt"
        else:
            hint = f"the {layout.ts_name} pixel data is corrupt or truncated"
        raise UnsupportedInputError(f"{p}: pixel data cannot be decoded at frame {i} ({type(exc).__name__}); "
                                    f"{hint}") from None
    if out is None or i + 1 < take:
        raise UnsupportedInputError(f"{p}: the pixel data yielded {0 if out is None else i + 1} of {take} frame(s); "
                                    "the file is truncated or corrupt")
    return out


def _frames(ds: Any, layout: PixelLayout, take: int, plugin: str, kwargs: dict[str, Any]) -> Iterator[np.ndarray]:
    """The first ``take`` frames as stored, one at a time: compressed frames are decoded one by one;
    uncompressed data (already in memory) is viewed whole, or frame by frame for a prefix."""
    from pydicom.pixels import iter_pixels, pixel_array

    if layout.compressed:
        yield from iter_pixels(ds, indices=None if take == layout.frames else range(take),
                               decoding_plugin=plugin, **kwargs)
    elif take < layout.frames:
        for i in range(take):
            yield pixel_array(ds, index=i, **kwargs)
    else:
        arr = pixel_array(ds, **kwargs)
        yield from (arr[None] if layout.frames == 1 else arr)


def _decoding_plugin(layout: PixelLayout, p: Path) -> str:
    """The pydicom decoding plugin :mod:`echoseg.io.codecs` picks for the file's transfer syntax ("" when
    uncompressed); UnsupportedInputError naming what to install when none is."""
    if not layout.compressed or layout.ts_uid is None:
        return ""
    from echoseg.io import codecs

    if codecs.codec_for(layout.ts_uid) is None:
        raise UnsupportedInputError(f"{p}: {layout.ts_name} is not an encoding echoseg decodes; convert the file "
                                    "to uncompressed (e.g. `gdcmconv --raw`)")
    plugins = codecs.available_plugins(layout.ts_uid)
    if not plugins:
        raise UnsupportedInputError(f"{p}: {codecs.missing_decoder_hint(layout.ts_uid)}")
    return plugins[0]


def _frame_to_rgb8(arr: np.ndarray, ds: Any, photometric: str, p: Path,
                   palette: tuple[np.ndarray, int] | None) -> np.ndarray:
    """One frame (1, H, W, C) of stored values -> (1, H, W, 3) uint8 RGB; UnsupportedInputError when impossible."""
    try:
        if photometric == "PALETTE COLOR":
            return _apply_palette(arr[..., 0], ds, p, palette)
        return _to_rgb8(arr, ds, photometric, p)
    except EchosegError:
        raise
    except Exception as exc:  # noqa: BLE001 - malformed palettes and bit depths raise ValueError/KeyError
        raise UnsupportedInputError(f"{p}: cannot convert {photometric or 'unknown'} pixels to RGB "
                                    f"({type(exc).__name__}); the file's pixel description is corrupt") from None


def _to_rgb8(arr: np.ndarray, ds: Any, photometric: str, p: Path) -> np.ndarray:
    """(T, H, W, C) stored values -> (T, H, W, 3) uint8 RGB (palettes: see :func:`_apply_palette`)."""
    if photometric == "PALETTE COLOR":
        return _apply_palette(arr[..., 0], ds, p, _palette_lut(ds, p))
    if arr.shape[-1] == 1:
        grey = _grey_to_uint8(arr[..., 0], ds)
        if photometric == "MONOCHROME1":
            grey = 255 - grey
        return np.repeat(grey[..., None], 3, axis=-1)
    if arr.shape[-1] != 3:
        raise UnsupportedInputError(f"{p}: {arr.shape[-1]} samples per pixel is not supported (1 or 3)")
    if photometric in ("YBR_FULL", "YBR_FULL_422"):
        arr = _ybr_full_to_rgb(arr)
    if arr.dtype != np.uint8:
        arr = (arr.astype(np.float64) * (255.0 / (2 ** _bits_stored(ds) - 1))).round().clip(0, 255)
    return np.ascontiguousarray(arr, dtype=np.uint8)


def _bits_stored(ds: Any) -> int:
    """BitsStored (0028,0101) when it is 1..32, else 8."""
    try:
        bits = int(_value(ds, "BitsStored") or 8)
    except (TypeError, ValueError, OverflowError):
        return 8
    return bits if 1 <= bits <= 32 else 8


def _palette_lut(ds: Any, p: Path) -> tuple[np.ndarray, int] | None:
    """(uint8 RGB lookup table, first mapped index) of plain (0028,1201-1203) palette data; None for a
    segmented palette (applied per frame by pydicom's ``apply_color_lut``).

    Plain LUT data is unpacked here with the dataset's byte order (pydicom 3.0 reads big-endian
    LUT data as little-endian). 16-bit entries are reduced to their high byte, unless every entry is
    <= 255 (8-bit values stored in 16-bit words, as some vendors write).
    """
    desc = _value(ds, "RedPaletteColorLookupTableDescriptor")
    if desc is None or not hasattr(desc, "__len__") or len(desc) < 2:
        raise UnsupportedInputError(f"{p}: PALETTE COLOR image without a valid (0028,1101) palette descriptor")
    try:
        n_entries, first = int(desc[0]) or 65536, int(desc[1])
    except (TypeError, ValueError, OverflowError):
        raise UnsupportedInputError(f"{p}: the (0028,1101) palette descriptor is not numeric; the file is corrupt") from None
    if "RedPaletteColorLookupTableData" not in ds:
        return None
    ts = _transfer_syntax(ds)
    little = bool(ts.is_little_endian) if ts is not None and hasattr(ts, "is_little_endian") and _uid(ts) \
        and ts.is_transfer_syntax else bool(getattr(ds, "original_encoding", (None, True))[1] is not False)
    luts = []
    for colour in ("Red", "Green", "Blue"):
        if f"{colour}PaletteColorLookupTableData" not in ds:
            raise UnsupportedInputError(f"{p}: PALETTE COLOR image without {colour} palette data")
        raw = bytes(ds[f"{colour}PaletteColorLookupTableData"].value)
        depth = len(raw) * 8 // n_entries
        if depth not in (8, 16):
            raise UnsupportedInputError(f"{p}: {colour} palette has {len(raw)} bytes for {n_entries} entries")
        luts.append(np.frombuffer(raw[: n_entries * depth // 8], dtype=("<u2" if little else ">u2") if depth == 16 else "u1"))
    return _to_8bit(np.stack(luts, axis=-1)[:n_entries]), first


def _apply_palette(index: np.ndarray, ds: Any, p: Path, palette: tuple[np.ndarray, int] | None) -> np.ndarray:
    """Palette indices -> uint8 RGB through the lookup table of :func:`_palette_lut` (or pydicom's for a
    segmented palette)."""
    if palette is not None:
        lut, first = palette
        return lut[np.clip(index.astype(np.int64) - first, 0, len(lut) - 1)]
    from pydicom.pixels import apply_color_lut

    return _to_8bit(apply_color_lut(index, ds)[..., :3])


def _to_8bit(values: np.ndarray) -> np.ndarray:
    if values.dtype.itemsize > 1 and int(values.max(initial=0)) > 255:
        values = values >> 8
    return np.ascontiguousarray(values, dtype=np.uint8)


def _grey_to_uint8(grey: np.ndarray, ds: Any) -> np.ndarray:
    if grey.dtype == np.uint8:
        return grey
    bits = _bits_stored(ds)
    g = grey.astype(np.float64)
    if _value(ds, "PixelRepresentation") == 1:
        g = g + 2 ** (bits - 1)
    return (g * (255.0 / (2 ** bits - 1))).round().clip(0, 255).astype(np.uint8)


def _ybr_full_to_rgb(arr: np.ndarray) -> np.ndarray:
    """Full-range YCbCr (PS3.3 C.7.6.3.1.2, as JPEG/JFIF) to RGB, uint8 in and out."""
    a = arr.astype(np.uint8, copy=False)
    try:
        import cv2
    except ImportError:
        pass  # numpy fallback below
    else:
        flat = np.ascontiguousarray(a[..., [0, 2, 1]]).reshape(-1, a.shape[-2], 3)  # Y Cr Cb order for OpenCV
        return cv2.cvtColor(flat, cv2.COLOR_YCrCb2RGB).reshape(a.shape)
    y = a[..., 0].astype(np.float32)
    cb = a[..., 1].astype(np.float32) - 128.0
    cr = a[..., 2].astype(np.float32) - 128.0
    rgb = np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], axis=-1)
    return np.rint(rgb).clip(0, 255).astype(np.uint8)
