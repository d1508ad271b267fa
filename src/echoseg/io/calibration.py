"""Ultrasound region calibration: DICOM (0018,6011) items -> Region -> physical units.

The only module that knows how pixels map to centimetres, seconds and cm/s. No file I/O here:
functions take parsed DICOM sequence items or Region objects.

Tags read (PS3.3 C.8.5.5): RegionLocationMinX0/MinY0/MaxX1/MaxY1 (0018,6018/601A/601C/601E),
RegionSpatialFormat (0018,6012), RegionDataType (0018,6014), RegionFlags (0018,6016),
PhysicalUnitsX/YDirection (0018,6024/6026), PhysicalDeltaX/Y (0018,602C/602E),
ReferencePixelX0/Y0 (0018,6020/6022).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from echoseg.errors import CalibrationError
from echoseg.types import REGION_UNITS, Region, SpectralCalibration, TissueCalibration

UNIT_CM, UNIT_S, UNIT_CM_S = 3, 4, 7
_PW, _CW = 3, 4


# plausible physical ranges (generous on purpose; outside them the header is corrupt, not unusual)
TISSUE_CM_PER_PX = (1e-3, 1.0)      # 2D pixel size, cm (echo: 0.01-0.1)
SPECTRAL_S_PER_PX = (1e-5, 1.0)     # sweep, s per column (echo: 0.002-0.02)
SPECTRAL_CM_S_PER_PX = (1e-3, 100.0)  # |velocity per row|, cm/s (echo: 0.1-5)
MAX_REGION_EXTENT = {UNIT_CM: 100.0, UNIT_S: 120.0, UNIT_CM_S: 5000.0}  # whole region, in its units
_MAX_COORD = 65535  # region bounds are pixel coordinates of an image whose Rows/Columns are 16-bit


def _get(item: Any, name: str) -> Any:
    value = getattr(item, name, None) if not isinstance(item, dict) else item.get(name)
    return value


def _number(item: Any, name: str, kind: type, default: Any = None, limit: int = _MAX_COORD) -> Any:
    """``item.name`` as one finite int or float; CalibrationError naming the tag (never its value) otherwise."""
    value = _get(item, name)
    if value is None or value == "":
        return default
    if isinstance(value, (list, tuple)) or (hasattr(value, "__len__") and not isinstance(value, (str, bytes))):
        if len(value) != 1:
            raise CalibrationError(f"ultrasound region's {name} holds {len(value)} values, not one; "
                                   "the file's (0018,6011) sequence is corrupt")
        value = value[0]
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise CalibrationError(f"ultrasound region's {name} is not a number; the file's (0018,6011) sequence "
                               "is corrupt") from None
    if not math.isfinite(number):
        raise CalibrationError(f"ultrasound region's {name} is not finite; the file's (0018,6011) sequence "
                               "is corrupt")
    if kind is int:
        if number != int(number) or abs(number) > limit:
            raise CalibrationError(f"ultrasound region's {name} must be an integer within +-{limit}, not "
                                   f"{number:.6g}; the file's (0018,6011) sequence is corrupt")
        return int(number)
    return number


def region_from_item(item: Any) -> Region:
    """Build a Region from one pydicom Dataset (or dict) of the Sequence of Ultrasound Regions.

    Raises CalibrationError (naming the tag, not its value) when a bound is missing or a value is
    not one finite number.
    """
    required = ("RegionLocationMinX0", "RegionLocationMinY0", "RegionLocationMaxX1", "RegionLocationMaxY1")
    missing = [n for n in required if _get(item, n) is None]
    if missing:
        raise CalibrationError(f"ultrasound region lacks {', '.join(missing)}; the region cannot be located")
    return Region(
        x0=_number(item, "RegionLocationMinX0", int),
        y0=_number(item, "RegionLocationMinY0", int),
        x1=_number(item, "RegionLocationMaxX1", int),
        y1=_number(item, "RegionLocationMaxY1", int),
        spatial_format=_number(item, "RegionSpatialFormat", int, 0),
        data_type=_number(item, "RegionDataType", int, 0),
        units_x=_number(item, "PhysicalUnitsXDirection", int, 0),
        units_y=_number(item, "PhysicalUnitsYDirection", int, 0),
        delta_x=_number(item, "PhysicalDeltaX", float, 0.0),
        delta_y=_number(item, "PhysicalDeltaY", float, 0.0),
        ref_x0=_number(item, "ReferencePixelX0", int, None, 2 ** 32),
        ref_y0=_number(item, "ReferencePixelY0", int, None, 2 ** 32),
        flags=_number(item, "RegionFlags", int, 0, 2 ** 32),
    )


def regions_from_sequence(items: Iterable[Any]) -> tuple[Region, ...]:
    """Parse every item of a Sequence of Ultrasound Regions."""
    return tuple(region_from_item(it) for it in items)


def region_to_item(region: Region) -> dict[str, Any]:
    """The DICOM keyword -> value mapping that writes ``region`` back (used by the synthetic writer)."""
    item: dict[str, Any] = {
        "RegionSpatialFormat": region.spatial_format,
        "RegionDataType": region.data_type,
        "RegionFlags": region.flags,
        "RegionLocationMinX0": region.x0,
        "RegionLocationMinY0": region.y0,
        "RegionLocationMaxX1": region.x1,
        "RegionLocationMaxY1": region.y1,
        "PhysicalUnitsXDirection": region.units_x,
        "PhysicalUnitsYDirection": region.units_y,
        "PhysicalDeltaX": float(region.delta_x),
        "PhysicalDeltaY": float(region.delta_y),
    }
    if region.ref_x0 is not None:
        item["ReferencePixelX0"] = int(region.ref_x0)
    if region.ref_y0 is not None:
        item["ReferencePixelY0"] = int(region.ref_y0)
    return item


def check_inside(region: Region, image_shape: tuple[int, int], where: str = "") -> None:
    """Raise CalibrationError when ``region`` is empty or not inside an image of (rows, cols)."""
    rows, cols = image_shape
    prefix = f"{where}: " if where else ""
    if region.x1 < region.x0 or region.y1 < region.y0:
        raise CalibrationError(
            f"{prefix}region bounds are empty or reversed (x {region.x0}..{region.x1}, y {region.y0}..{region.y1})")
    if region.x0 < 0 or region.y0 < 0 or region.x1 >= cols or region.y1 >= rows:
        raise CalibrationError(
            f"{prefix}region x {region.x0}..{region.x1}, y {region.y0}..{region.y1} lies outside the "
            f"{cols}x{rows} image; the file's (0018,6011) bounds are wrong")


def check_plausible(name: str, value: float, bounds: tuple[float, float], unit: str, prefix: str = "",
                    fix: str = "the calibration in the file's (0018,6011) is corrupt: pass calibration explicitly "
                               "or fix the file") -> None:
    """Raise CalibrationError unless ``bounds[0] <= |value| <= bounds[1]`` (and ``value`` is finite)."""
    lo, hi = bounds
    if not (math.isfinite(value) and lo <= abs(value) <= hi):
        raise CalibrationError(f"{prefix}{name} {value:.6g} {unit} is outside the plausible {lo:g}..{hi:g} {unit}; {fix}")


def _check_extent(region: Region, prefix: str) -> None:
    """Raise CalibrationError when the region spans more than :data:`MAX_REGION_EXTENT` of its units."""
    for axis, units, delta, n in (("x", region.units_x, region.delta_x, region.width),
                                  ("y", region.units_y, region.delta_y, region.height)):
        limit = MAX_REGION_EXTENT.get(units)
        if limit is not None and abs(delta) * n > limit:
            raise CalibrationError(
                f"{prefix}region spans {abs(delta) * n:.6g} {_unit(units)} along {axis} ({n} px of {abs(delta):.6g}), "
                f"more than the plausible {limit:g}; the calibration in the file's (0018,6011) is corrupt")


def _unit(code: int) -> str:
    return REGION_UNITS.get(code, f"unknown code {code}")


def tissue_calibration(regions: Sequence[Region], image_shape: tuple[int, int], where: str = "") -> TissueCalibration:
    """Choose the largest 2D tissue region in cm and return its cm-per-pixel scale.

    Several identical side-by-side 2D regions (dual view) are allowed; the largest is used.
    """
    prefix = f"{where}: " if where else ""
    cands = [r for r in regions if r.spatial_format == 1 and r.data_type in (1, 0, 2)]
    if not cands:
        kinds = ", ".join(f"{r.spatial_format}/{r.data_type}" for r in regions) or "none"
        raise CalibrationError(
            f"{prefix}no 2D tissue region in the Sequence of Ultrasound Regions (format/data type found: {kinds}); "
            "pass calibration explicitly (cm per pixel) to measure this image")
    region = max(cands, key=lambda r: r.width * r.height)
    if region.units_x != UNIT_CM or region.units_y != UNIT_CM:
        raise CalibrationError(
            f"{prefix}2D region units are {_unit(region.units_x)} x {_unit(region.units_y)}, not cm x cm; "
            "pass calibration explicitly")
    if not (region.delta_x > 0 and abs(region.delta_y) > 0):
        raise CalibrationError(
            f"{prefix}2D region PhysicalDeltaX/Y must be positive, not {region.delta_x:.6g}/{region.delta_y:.6g}")
    check_plausible("2D region PhysicalDeltaX", region.delta_x, TISSUE_CM_PER_PX, "cm/px", prefix)
    check_plausible("2D region PhysicalDeltaY", region.delta_y, TISSUE_CM_PER_PX, "cm/px", prefix)
    _check_extent(region, prefix)
    ratio = region.delta_x / abs(region.delta_y)
    if not 0.5 <= ratio <= 2.0:
        raise CalibrationError(
            f"{prefix}2D region pixel aspect {ratio:.2f} (PhysicalDeltaX/PhysicalDeltaY) is implausible; "
            "the calibration is contradictory")
    check_inside(region, image_shape, where)
    return TissueCalibration(region=region, cm_per_px_x=float(region.delta_x), cm_per_px_y=float(abs(region.delta_y)))


def spectral_calibration(regions: Sequence[Region], image_shape: tuple[int, int], where: str = "") -> SpectralCalibration:
    """Choose the spectral region (time in s along x, velocity in cm/s along y) and its baseline row."""
    prefix = f"{where}: " if where else ""
    cands = [r for r in regions if r.spatial_format == 3]
    if not cands:
        raise CalibrationError(
            f"{prefix}no spectral region (RegionSpatialFormat 3) in the Sequence of Ultrasound Regions; "
            "this is not a calibrated spectral Doppler image")
    region = max(cands, key=lambda r: r.width * r.height)
    if region.units_x != UNIT_S or region.units_y != UNIT_CM_S:
        raise CalibrationError(
            f"{prefix}spectral region units are {_unit(region.units_x)} x {_unit(region.units_y)}, "
            "not s x cm/s; pass calibration explicitly")
    if not (region.delta_x > 0 and region.delta_y != 0):
        raise CalibrationError(
            f"{prefix}spectral PhysicalDeltaX must be > 0 and PhysicalDeltaY non-zero, "
            f"not {region.delta_x:.6g}/{region.delta_y:.6g}")
    check_plausible("spectral PhysicalDeltaX", region.delta_x, SPECTRAL_S_PER_PX, "s/px", prefix)
    check_plausible("spectral PhysicalDeltaY", region.delta_y, SPECTRAL_CM_S_PER_PX, "cm/s per px", prefix)
    _check_extent(region, prefix)
    if region.ref_y0 is None:
        raise CalibrationError(f"{prefix}spectral region has no ReferencePixelY0, so the baseline row is unknown")
    check_inside(region, image_shape, where)
    baseline = region.y0 + region.ref_y0
    if not region.y0 <= baseline <= region.y1:
        raise CalibrationError(
            f"{prefix}baseline row {baseline} (MinY0 {region.y0} + ReferencePixelY0 {region.ref_y0}) "
            f"lies outside the spectral region rows {region.y0}..{region.y1}")
    mode = {_PW: "PW", _CW: "CW"}.get(region.data_type, "unknown")
    return SpectralCalibration(region=region, s_per_px=float(region.delta_x), cm_s_per_px=float(region.delta_y),
                               baseline_row=float(baseline), mode=mode)


def manual_tissue_calibration(cm_per_px: float, image_shape: tuple[int, int]) -> TissueCalibration:
    """Calibration passed by the user for files without regions (AVI, PNG): the whole image, square pixels."""
    if not cm_per_px > 0:
        raise CalibrationError(f"cm_per_px must be > 0, not {cm_per_px}")
    if not TISSUE_CM_PER_PX[0] <= cm_per_px <= TISSUE_CM_PER_PX[1]:
        raise CalibrationError(f"cm_per_px must lie within the plausible {TISSUE_CM_PER_PX[0]:g}..{TISSUE_CM_PER_PX[1]:g} "
                               f"cm per pixel, not {cm_per_px:.6g}")
    rows, cols = image_shape
    region = Region(0, 0, cols - 1, rows - 1, 1, 1, UNIT_CM, UNIT_CM, cm_per_px, cm_per_px)
    return TissueCalibration(region=region, cm_per_px_x=cm_per_px, cm_per_px_y=cm_per_px)


def manual_spectral_calibration(s_per_px: float, cm_s_per_px: float, baseline_row: float,
                                box: tuple[int, int, int, int], mode: str = "unknown") -> SpectralCalibration:
    """Calibration passed by the user for a Doppler screenshot: strip box (x0, y0, x1, y1), scales, baseline."""
    x0, y0, x1, y1 = box
    if not (s_per_px > 0 and cm_s_per_px != 0):
        raise CalibrationError(f"s_per_px must be > 0 and cm_s_per_px non-zero, not {s_per_px}/{cm_s_per_px}")
    fix = "check the calibration passed"
    check_plausible("s_per_px", s_per_px, SPECTRAL_S_PER_PX, "s/px", fix=fix)
    check_plausible("cm_s_per_px", cm_s_per_px, SPECTRAL_CM_S_PER_PX, "cm/s per px", fix=fix)
    if not y0 <= baseline_row <= y1:
        raise CalibrationError(f"baseline_row {baseline_row} must lie within the strip rows {y0}..{y1}")
    region = Region(x0, y0, x1, y1, 3, {"PW": _PW, "CW": _CW}.get(mode, 0), UNIT_S, UNIT_CM_S,
                    s_per_px, cm_s_per_px, 0, int(round(baseline_row - y0)))
    return SpectralCalibration(region=region, s_per_px=s_per_px, cm_s_per_px=cm_s_per_px,
                               baseline_row=float(baseline_row), mode=mode)


def row_to_velocity(cal: SpectralCalibration, rows: np.ndarray | float) -> np.ndarray:
    """Signed velocity (cm/s) of whole-image row coordinates (may be fractional)."""
    return (np.asarray(rows, dtype=np.float64) - cal.baseline_row) * cal.cm_s_per_px


def velocity_to_row(cal: SpectralCalibration, velocity: np.ndarray | float) -> np.ndarray:
    """Whole-image row coordinate of a signed velocity (cm/s)."""
    return cal.baseline_row + np.asarray(velocity, dtype=np.float64) / cal.cm_s_per_px


def col_to_time(cal: SpectralCalibration, cols: np.ndarray | float) -> np.ndarray:
    """Time (s) of whole-image column coordinates, measured from the region's left edge."""
    return (np.asarray(cols, dtype=np.float64) - cal.region.x0) * cal.s_per_px


def mask_area_cm2(mask: np.ndarray, cal: TissueCalibration) -> float:
    """Area in cm² of a binary or soft (0..1) mask drawn at the calibration's pixel grid."""
    return float(np.asarray(mask, dtype=np.float64).sum() * cal.cm2_per_px)


def scaled_tissue_calibration(cal: TissueCalibration, px_per_model_px: float) -> TissueCalibration:
    """Calibration of a resampled grid in which one pixel spans ``px_per_model_px`` original pixels."""
    if not px_per_model_px > 0:
        raise ValueError(f"px_per_model_px must be > 0, not {px_per_model_px}")
    return TissueCalibration(region=cal.region, cm_per_px_x=cal.cm_per_px_x * px_per_model_px,
                             cm_per_px_y=cal.cm_per_px_y * px_per_model_px)


def manual_regions(regions: tuple[Region, ...], shape: tuple[int, int], cm_per_px: float | None,
                    spectral: SpectralCalibration | None, p: Path) -> tuple[Region, ...]:
    """Replace 2D tissue (and/or spectral) regions by the explicit calibration's regions."""
    out = list(regions)
    if cm_per_px is not None:
        try:
            tissue = manual_tissue_calibration(float(cm_per_px), shape)
        except CalibrationError as exc:
            raise CalibrationError(f"{p}: {exc}") from None
        out = [r for r in out if r.spatial_format != 1] + [tissue.region]
    if spectral is not None:
        check_inside(spectral.region, shape, str(p))
        out = [r for r in out if r.spatial_format != 3] + [spectral.region]
    return tuple(out)


THUMBNAIL_AREA_FRACTION = 0.2  # a single frame whose largest 2D region covers less is a Doppler screen's thumbnail


def doppler_thumbnail_reason(regions: Sequence[Region], image_shape: tuple[int, int], n_frames: int) -> str | None:
    """Why a file is no apical four-chamber view but the 2D thumbnail of a Doppler screen, or None.

    A Doppler screen shows a small 2D image (the sample volume's position) above the spectrum; with
    the spectral region lost from (0018,6011) only that thumbnail's 2D region remains. A single frame
    whose largest 2D region covers less than :data:`THUMBNAIL_AREA_FRACTION` of the image is refused
    (an A4C fills a third to a half of the screen and is stored as a cine).
    """
    tissue = [r for r in regions if r.spatial_format == 1]
    if n_frames != 1 or not tissue or any(r.spatial_format == 3 for r in regions):
        return None
    rows, cols = image_shape
    region = max(tissue, key=lambda r: r.width * r.height)
    fraction = region.width * region.height / max(rows * cols, 1)
    if fraction >= THUMBNAIL_AREA_FRACTION:
        return None
    return (f"the only 2D region is {region.width}x{region.height} px, {100 * fraction:.0f} % of the {cols}x{rows} "
            f"image, in a single frame: a Doppler screen's 2D thumbnail (its spectral region missing from "
            f"(0018,6011)), not an apical four-chamber view; atrial areas need a full-size A4C image or cine")
