"""echoseg.io.calibration: (0018,6011) items -> Region -> physical units, and its refusals."""
from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset

from echoseg.errors import CalibrationError
from echoseg.io import calibration as cal
from echoseg.types import Region

SHAPE = (400, 600)  # rows, cols


def item(**over: object) -> Dataset:
    """A 2D tissue region item as a pydicom Dataset; keyword overrides (None deletes)."""
    values: dict[str, object] = dict(
        RegionSpatialFormat=1, RegionDataType=1, RegionFlags=2,
        RegionLocationMinX0=50, RegionLocationMinY0=20, RegionLocationMaxX1=449, RegionLocationMaxY1=319,
        PhysicalUnitsXDirection=3, PhysicalUnitsYDirection=3, PhysicalDeltaX=0.03, PhysicalDeltaY=0.03,
        ReferencePixelX0=200, ReferencePixelY0=10)
    values.update(over)
    ds = Dataset()
    for k, v in values.items():
        if v is not None:
            setattr(ds, k, v)
    return ds


def spectral_item(**over: object) -> Dataset:
    base = dict(RegionSpatialFormat=3, RegionDataType=3, RegionLocationMinX0=10, RegionLocationMinY0=200,
                RegionLocationMaxX1=589, RegionLocationMaxY1=389, PhysicalUnitsXDirection=4,
                PhysicalUnitsYDirection=7, PhysicalDeltaX=0.005, PhysicalDeltaY=-1.25,
                ReferencePixelX0=0, ReferencePixelY0=60)
    base.update(over)
    return item(**base)


# ------------------------------------------------------------------------------------- parsing
def test_region_from_dataset_reads_every_field() -> None:
    r = cal.region_from_item(item())
    assert (r.x0, r.y0, r.x1, r.y1) == (50, 20, 449, 319)
    assert (r.width, r.height) == (400, 300)
    assert (r.spatial_format, r.data_type, r.flags) == (1, 1, 2)
    assert (r.units_x, r.units_y, r.delta_x, r.delta_y) == (3, 3, 0.03, 0.03)
    assert (r.ref_x0, r.ref_y0) == (200, 10) and r.is_2d_tissue and not r.is_spectral


def test_region_from_dict_and_missing_reference_pixel() -> None:
    r = cal.region_from_item({"RegionLocationMinX0": 0, "RegionLocationMinY0": 0, "RegionLocationMaxX1": 9,
                              "RegionLocationMaxY1": 9, "RegionSpatialFormat": 3})
    assert r.ref_x0 is None and r.ref_y0 is None and r.is_spectral and r.delta_x == 0.0


def test_region_round_trips_through_item() -> None:
    r = cal.region_from_item(spectral_item())
    assert cal.region_from_item(cal.region_to_item(r)) == r


def test_region_missing_bounds_is_refused() -> None:
    with pytest.raises(CalibrationError, match="RegionLocationMaxY1"):
        cal.region_from_item(item(RegionLocationMaxY1=None))


def test_regions_from_sequence_keeps_order() -> None:
    regions = cal.regions_from_sequence([item(), spectral_item()])
    assert [r.spatial_format for r in regions] == [1, 3]


# ----------------------------------------------------------------------------------- 2D tissue
def test_tissue_calibration_picks_largest_2d_region() -> None:
    small = cal.region_from_item(item(RegionLocationMaxX1=149, PhysicalDeltaX=0.05, PhysicalDeltaY=0.05))
    big = cal.region_from_item(item())
    colour_bar = cal.region_from_item(item(RegionSpatialFormat=0, RegionDataType=14, RegionLocationMaxX1=599))
    t = cal.tissue_calibration([small, colour_bar, big], SHAPE)
    assert t.region == big and (t.cm_per_px_x, t.cm_per_px_y) == (0.03, 0.03)
    assert t.cm2_per_px == pytest.approx(0.0009)


def test_tissue_calibration_uses_magnitude_of_negative_delta_y() -> None:
    t = cal.tissue_calibration([cal.region_from_item(item(PhysicalDeltaY=-0.03))], SHAPE)
    assert t.cm_per_px_y == 0.03


def test_mask_area_cm2_exact() -> None:
    t = cal.tissue_calibration([cal.region_from_item(item(PhysicalDeltaX=0.02, PhysicalDeltaY=0.025))], SHAPE)
    mask = np.zeros((50, 50))
    mask[10:20, 5:25] = 1  # 200 px
    mask[30, 30] = 0.5      # soft
    assert cal.mask_area_cm2(mask, t) == pytest.approx(200.5 * 0.0005)


@pytest.mark.parametrize("over, words", [
    ({}, "no 2D tissue region"),                                       # no regions at all (handled below)
    ({"PhysicalUnitsXDirection": 0}, "units"),                         # unknown/none units
    ({"PhysicalUnitsYDirection": 4}, "units"),                         # seconds along y
    ({"PhysicalDeltaX": 0.0}, "positive"),
    ({"PhysicalDeltaX": 0.03, "PhysicalDeltaY": 0.09}, "aspect"),      # contradictory 3:1 pixels
    ({"RegionLocationMaxX1": 700}, "outside"),                         # beyond 600 columns
    ({"RegionLocationMinY0": 330}, "reversed"),                        # MinY0 > MaxY1
])
def test_tissue_calibration_refusals(over: dict, words: str) -> None:
    regions = [] if not over else [cal.region_from_item(item(**over))]
    with pytest.raises(CalibrationError, match=words) as exc:
        cal.tissue_calibration(regions, SHAPE, where="scan.dcm")
    assert str(exc.value).startswith("scan.dcm: ")


def test_spectral_only_file_has_no_tissue_calibration() -> None:
    with pytest.raises(CalibrationError, match="3/3"):
        cal.tissue_calibration([cal.region_from_item(spectral_item())], SHAPE)


# ------------------------------------------------------------------------------------ spectral
def test_spectral_baseline_is_relative_to_min_y0() -> None:
    s = cal.spectral_calibration([cal.region_from_item(item()), cal.region_from_item(spectral_item())], SHAPE)
    assert s.baseline_row == 260.0  # MinY0 200 + ReferencePixelY0 60, not 60
    assert (s.s_per_px, s.cm_s_per_px, s.speed_per_px, s.mode) == (0.005, -1.25, 1.25, "PW")


def test_spectral_sign_of_delta_y_sets_direction() -> None:
    up = cal.spectral_calibration([cal.region_from_item(spectral_item())], SHAPE)          # delta < 0
    down = cal.spectral_calibration([cal.region_from_item(spectral_item(PhysicalDeltaY=1.25))], SHAPE)
    # 40 rows above the baseline: positive velocity when delta_y < 0, negative when > 0.
    assert float(cal.row_to_velocity(up, 220)) == pytest.approx(50.0)
    assert float(cal.row_to_velocity(down, 220)) == pytest.approx(-50.0)


def test_cw_mode_and_unknown_mode() -> None:
    assert cal.spectral_calibration([cal.region_from_item(spectral_item(RegionDataType=4))], SHAPE).mode == "CW"
    assert cal.spectral_calibration([cal.region_from_item(spectral_item(RegionDataType=0))], SHAPE).mode == "unknown"


@pytest.mark.parametrize("over, words", [
    ({"RegionSpatialFormat": 1}, "no spectral region"),
    ({"PhysicalUnitsYDirection": 3}, "units"),               # cm instead of cm/s
    ({"PhysicalUnitsXDirection": 99}, "unknown code 99"),
    ({"PhysicalDeltaY": 0.0}, "non-zero"),
    ({"ReferencePixelY0": None}, "baseline row is unknown"),  # missing baseline
    ({"ReferencePixelY0": 250}, "outside the spectral region"),
    ({"RegionLocationMaxY1": 420}, "outside"),                # beyond 400 rows
])
def test_spectral_calibration_refusals(over: dict, words: str) -> None:
    with pytest.raises(CalibrationError, match=words) as exc:
        cal.spectral_calibration([cal.region_from_item(spectral_item(**over))], SHAPE, where="pw.dcm")
    assert "pw.dcm" in str(exc.value)


def test_velocity_row_round_trip_and_time() -> None:
    s = cal.spectral_calibration([cal.region_from_item(spectral_item())], SHAPE)
    v = np.linspace(-150.0, 120.0, 37)
    np.testing.assert_allclose(cal.row_to_velocity(s, cal.velocity_to_row(s, v)), v, atol=1e-9)
    rows = np.array([200.0, 260.0, 389.5])
    np.testing.assert_allclose(cal.velocity_to_row(s, cal.row_to_velocity(s, rows)), rows, atol=1e-9)
    assert float(cal.row_to_velocity(s, 260)) == 0.0
    np.testing.assert_allclose(cal.col_to_time(s, [10, 210]), [0.0, 1.0])


# -------------------------------------------------------------------------------------- manual
def test_manual_tissue_calibration_covers_image() -> None:
    t = cal.manual_tissue_calibration(0.04, (300, 500))
    assert (t.region.x0, t.region.y0, t.region.x1, t.region.y1) == (0, 0, 499, 299)
    assert cal.tissue_calibration([t.region], (300, 500)).cm_per_px_x == 0.04
    with pytest.raises(CalibrationError, match="cm_per_px"):
        cal.manual_tissue_calibration(0.0, (300, 500))


def test_manual_spectral_calibration_agrees_with_region_parser() -> None:
    m = cal.manual_spectral_calibration(0.004, 2.0, 150, (0, 100, 599, 399), mode="CW")
    s = cal.spectral_calibration([m.region], SHAPE)
    assert (s.baseline_row, s.cm_s_per_px, s.s_per_px, s.mode) == (150.0, 2.0, 0.004, "CW")
    with pytest.raises(CalibrationError, match="baseline_row"):
        cal.manual_spectral_calibration(0.004, 2.0, 50, (0, 100, 599, 399))
    with pytest.raises(CalibrationError, match="s_per_px"):
        cal.manual_spectral_calibration(0.0, 2.0, 150, (0, 100, 599, 399))


def test_check_inside_accepts_exact_fit_and_refuses_one_past() -> None:
    cal.check_inside(Region(0, 0, 599, 399, 1, 1, 3, 3, 0.1, 0.1), SHAPE)
    with pytest.raises(CalibrationError, match="outside"):
        cal.check_inside(Region(0, 0, 600, 399, 1, 1, 3, 3, 0.1, 0.1), SHAPE)
