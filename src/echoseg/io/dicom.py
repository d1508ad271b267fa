"""Read an ultrasound DICOM into :class:`~echoseg.types.EchoImage`: decoding every supported
photometric interpretation to (T, H, W, 3) uint8 RGB, frame timing and the regions' calibration.

Tags read are listed in :mod:`echoseg.io.read`. Patient identifiers are never copied.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from echoseg.errors import CalibrationError, EchosegError, NotUltrasoundError, UnsupportedInputError
from echoseg.io import calibration as cal
from echoseg.io.calibration import manual_regions
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


# ----------------------------------------------------------------------------------------- DICOM
def _read_dataset(p: Path) -> Any:
    """Parse ``p`` with pydicom (retrying without the 128-byte preamble); UnsupportedInputError when unreadable."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(p)
    except InvalidDicomError:
        try:  # files written without the 128-byte preamble
            ds = pydicom.dcmread(p, force=True)
        except Exception as exc:  # noqa: BLE001 - any parse failure means "not a DICOM we can read"
            raise UnsupportedInputError(f"{p}: not a readable DICOM file ({type(exc).__name__}: {exc})") from None
        if "SOPClassUID" not in ds and "Modality" not in ds:
            raise UnsupportedInputError(
                f"{p}: not a DICOM file (no DICM preamble, no SOP Class UID); check the file") from None
    except Exception as exc:  # noqa: BLE001 - truncated headers raise assorted errors
        raise UnsupportedInputError(f"{p}: the DICOM file is truncated or corrupt ({type(exc).__name__}: {exc})") from None
    if "SOPClassUID" not in ds and "Modality" not in ds:
        raise UnsupportedInputError(
            f"{p}: the DICOM dataset has neither SOP Class UID nor Modality; the file is truncated or corrupt")
    return ds


def _check_ultrasound(ds: Any, p: Path) -> tuple[str, str | None]:
    """(SOP class UID, Modality or None) of an ultrasound dataset with pixel data; raises otherwise."""
    sop = str(ds.get("SOPClassUID", "") or "")
    modality = str(ds.get("Modality", "") or "") or None
    has_regions = bool(ds.get("SequenceOfUltrasoundRegions"))
    is_us = sop in US_SOP_CLASSES or modality == "US" or (sop in SC_SOP_CLASSES and has_regions)
    if not is_us:
        name = getattr(ds.get("SOPClassUID"), "name", sop) or "unknown"
        raise NotUltrasoundError(
            f"{p}: not an ultrasound image (Modality {modality or 'absent'}, SOP class {name}); "
            "echoseg measures echocardiography (Modality US) only")
    if "PixelData" not in ds:
        raise UnsupportedInputError(
            f"{p}: the DICOM has no pixel data (SOP class {sop or 'absent'}); the file may be truncated")
    return sop, modality


def _dataset_regions(ds: Any, p: Path, shape: tuple[int, int], cm_per_px: float | None,
                     spectral: SpectralCalibration | None, warnings: list[str]) -> tuple[tuple[Region, ...], str]:
    """The file's regions fitted to the image (see :func:`_fit_region`), or the manual calibration when given,
    and the calibration source ("dicom", "none" or "manual"). Fitting notes go to ``warnings``."""
    try:
        regions = cal.regions_from_sequence(ds.get("SequenceOfUltrasoundRegions") or [])
    except CalibrationError as exc:
        raise CalibrationError(f"{p}: {exc}") from None
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
    labels = [str(ds.get(k, "") or "") for k in ("SeriesDescription", "ProtocolName", "ImageComments")]
    extra["labels"] = " | ".join(x for x in labels if x.strip())
    if warnings:
        extra["warnings"] = warnings
    return extra


def read_dicom(p: Path, cm_per_px: float | None, spectral: SpectralCalibration | None,
                max_frames: int | None) -> EchoImage:
    """Read one ultrasound DICOM: decoded RGB frames, calibrated regions, timing and descriptive tags.

    ``cm_per_px``/``spectral`` override the file's calibration; ``max_frames`` caps the frames decoded.
    Raises UnsupportedInputError, NotUltrasoundError or CalibrationError with the file named.
    """
    ds = _read_dataset(p)
    sop, modality = _check_ultrasound(ds, p)
    frames = _decode(ds, p, max_frames)
    shape = (int(frames.shape[1]), int(frames.shape[2]))
    warnings: list[str] = []
    regions, source = _dataset_regions(ds, p, shape, cm_per_px, spectral, warnings)
    ts = _transfer_syntax(ds)
    return EchoImage(
        path=str(p), frames=frames, regions=regions,
        frame_time_ms=frame_time_ms(ds), heart_rate_bpm=_positive(ds.get("HeartRate")),
        modality=modality, sop_class_uid=sop or None,
        photometric=str(ds.get("PhotometricInterpretation", "") or "") or None,
        transfer_syntax=str(ts) if ts else None,
        manufacturer=str(ds.get("Manufacturer", "") or "") or None,
        study_uid=str(ds.get("StudyInstanceUID", "") or "") or None,
        series_uid=str(ds.get("SeriesInstanceUID", "") or "") or None,
        extra=_extra(ds, source, warnings))


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
    return meta.get("TransferSyntaxUID") if meta is not None else None


def _positive(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if v > 0 and np.isfinite(v) else None


def frame_time_ms(ds: Any) -> float | None:
    """Milliseconds between frames from FrameTime, FrameTimeVector (mean), CineRate or RecommendedDisplayFrameRate."""
    ft = _positive(ds.get("FrameTime"))
    if ft is not None:
        return ft
    vec = ds.get("FrameTimeVector")
    if vec is not None:
        vals = [float(v) for v in (vec if isinstance(vec, (list, tuple)) or hasattr(vec, "__iter__") else [vec])]
        vals = vals[1:] if len(vals) > 1 else vals  # the first entry is 0 by definition
        vals = [v for v in vals if v > 0]
        if vals:
            return float(np.mean(vals))
    for tag in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = _positive(ds.get(tag))
        if rate is not None:
            return 1000.0 / rate
    return None


def _decode(ds: Any, p: Path, max_frames: int | None) -> np.ndarray:
    """Decode pixel data to (T, H, W, 3) uint8 RGB."""
    from pydicom.pixels import pixel_array

    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    n = int(ds.get("NumberOfFrames", 1) or 1)
    take = n if max_frames is None else min(n, max_frames)
    fast_ybr = photometric in ("YBR_FULL", "YBR_FULL_422")
    kwargs: dict[str, Any] = {"raw": True} if fast_ybr else {}
    try:
        if take < n:
            arr = np.stack([pixel_array(ds, index=i, **kwargs) for i in range(take)])
        else:
            arr = pixel_array(ds, **kwargs)
            if n == 1:
                arr = arr[None]
    except Exception as exc:  # noqa: BLE001 - decoders raise many types
        ts = _transfer_syntax(ds)
        tsname = getattr(ts, "name", str(ts))
        msg = str(exc).lower()
        if "missing dependencies" in msg or "no pixel data decoders" in msg:
            hint = (f"no installed decoder handles {tsname}; convert the file to uncompressed "
                    "(e.g. `gdcmconv --raw` or dcmtk `dcmdjpeg`) or install the BSD-licensed python-gdcm")
        elif ts is not None and not getattr(ts, "is_compressed", True):
            hint = "the pixel data is shorter than Rows x Columns x samples x frames: the file is truncated or corrupt"
        else:
            hint = f"the {tsname} pixel data is corrupt or truncated"
        raise UnsupportedInputError(f"{p}: pixel data cannot be decoded ({type(exc).__name__}: "
                                    f"{str(exc).splitlines()[0][:200]}); {hint}") from None
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples == 1 and arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4:
        raise UnsupportedInputError(f"{p}: unexpected pixel array shape {arr.shape}")
    try:
        return _to_rgb8(arr, ds, photometric, p)
    except EchosegError:
        raise
    except Exception as exc:  # noqa: BLE001 - malformed palettes and bit depths raise ValueError/KeyError
        raise UnsupportedInputError(f"{p}: cannot convert {photometric or 'unknown'} pixels to RGB "
                                    f"({type(exc).__name__}: {exc})") from None


def _to_rgb8(arr: np.ndarray, ds: Any, photometric: str, p: Path) -> np.ndarray:
    """(T, H, W, C) stored values -> (T, H, W, 3) uint8 RGB."""
    if photometric == "PALETTE COLOR":
        return _apply_palette(arr[..., 0], ds, p)
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
        bits = int(ds.get("BitsStored", 8) or 8)
        arr = (arr.astype(np.float64) * (255.0 / (2 ** bits - 1))).round().clip(0, 255)
    return np.ascontiguousarray(arr, dtype=np.uint8)


def _apply_palette(index: np.ndarray, ds: Any, p: Path) -> np.ndarray:
    """Palette indices -> uint8 RGB through the (0028,1101-1203) lookup tables.

    Plain LUT data is unpacked here with the dataset's byte order (pydicom 3.0 reads big-endian
    LUT data as little-endian); segmented LUTs go through pydicom's ``apply_color_lut``.
    16-bit entries are reduced to their high byte, unless every entry is <= 255 (8-bit values
    stored in 16-bit words, as some vendors write).
    """
    desc = ds.get("RedPaletteColorLookupTableDescriptor")
    if desc is None:
        raise UnsupportedInputError(f"{p}: PALETTE COLOR image without (0028,1101) palette descriptor")
    n_entries, first = int(desc[0]) or 65536, int(desc[1])
    if "RedPaletteColorLookupTableData" in ds:
        ts = _transfer_syntax(ds)
        little = bool(ts.is_little_endian) if ts is not None and hasattr(ts, "is_little_endian") \
            else bool(getattr(ds, "original_encoding", (None, True))[1] is not False)
        luts = []
        for colour in ("Red", "Green", "Blue"):
            raw = bytes(ds[f"{colour}PaletteColorLookupTableData"].value)
            depth = len(raw) * 8 // n_entries
            if depth not in (8, 16):
                raise UnsupportedInputError(f"{p}: {colour} palette has {len(raw)} bytes for {n_entries} entries")
            luts.append(np.frombuffer(raw, dtype=("<u2" if little else ">u2") if depth == 16 else "u1"))
        lut = _to_8bit(np.stack(luts, axis=-1)[:n_entries])
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
    bits = int(ds.get("BitsStored", 8) or 8)
    g = grey.astype(np.float64)
    if int(ds.get("PixelRepresentation", 0) or 0) == 1:
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
