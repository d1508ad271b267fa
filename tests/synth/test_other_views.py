"""Synthetic non-A4C views: determinism, each view's chambers and layout, the apex-down flip, the DICOM."""
from __future__ import annotations

import numpy as np
import pydicom
import pytest

from echoseg.io.calibration import regions_from_sequence, tissue_calibration
from echoseg.synth.a4c import generate_a4c
from echoseg.synth.a4c_scanner import SCANNER_FAMILY
from echoseg.synth.dicom_writer import write_case
from echoseg.synth.other_views import VIEWS, generate_other_view

SMALL = (240, 320)
LA, RA, LV, RV = 1, 2, 3, 4
# the labels each view's masks hold (over the whole loop)
EXPECTED = {"plax": {LA, LV, RV}, "a2c": {LA, LV}, "psax": {LV, RV}, "subcostal": {LA, RA, LV, RV},
            "apex_down": {LA, RA, LV, RV}, "mirrored": {LA, RA, LV, RV}}


def _tissue(case):
    return next(r for r in case.regions if r.spatial_format == 1)


def _centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([ys.mean(), xs.mean()])


def test_same_seed_same_cine_and_different_seeds_differ():
    a = generate_other_view(5, "plax", n_frames=3, image_size=SMALL)
    b = generate_other_view(5, "plax", n_frames=3, image_size=SMALL)
    c = generate_other_view(6, "plax", n_frames=3, image_size=SMALL)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.masks, b.masks) and a.truth == b.truth
    assert not np.array_equal(a.frames, c.frames)


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("family", [None, SCANNER_FAMILY])
def test_each_view_is_a_calibrated_cine_with_its_own_chambers(view, family):
    case = generate_other_view(31, view, family=family, n_frames=3, image_size=SMALL)
    region = _tissue(case)
    assert case.kind == "a4c" and case.truth["view"] == view and case.frames.shape == (3, *SMALL, 3)
    assert region.delta_x == pytest.approx(case.truth["cm_per_px"]) and region.delta_x > 0
    assert (case.style == SCANNER_FAMILY) == (family == SCANNER_FAMILY)
    fan = case.frames[:, region.y0:region.y1 + 1, region.x0:region.x1 + 1].max(axis=(0, 3))
    assert (fan > 16).mean() > 0.3  # the sector is lit
    labels = set(np.unique(case.masks).tolist()) - {0}
    assert labels == set(case.truth["chambers"])
    if view == "zoomed":  # the LV fills the sector; the others are cut to slivers or away
        areas = {k: int((case.masks == k).sum()) for k in labels}
        assert max(areas, key=lambda k: areas[k]) == LV and areas[LV] > 2 * sum(areas.values()) / 3
    else:
        assert labels == EXPECTED[view]


def test_plax_has_no_right_atrium_but_the_lv_lies_across_the_sector():
    case = generate_other_view(8, "plax", n_frames=3, image_size=SMALL)
    assert RA not in case.masks
    ys, xs = np.nonzero(case.masks[0] == LV)
    assert xs.max() - xs.min() > 1.3 * (ys.max() - ys.min())  # long axis across, not toward the transducer
    assert _centroid(case.masks[0] == RV)[0] < _centroid(case.masks[0] == LV)[0]  # RV outflow at the top


def test_subcostal_ventricles_lie_beside_the_atria_not_above_them():
    for seed in (2, 3, 4):
        m = generate_other_view(seed, "subcostal", n_frames=1, image_size=SMALL).masks[0]
        dy, dx = _centroid((m == LV) | (m == RV)) - _centroid((m == LA) | (m == RA))
        assert abs(dx) > abs(dy), (seed, dy, dx)


def test_apex_down_is_the_a4c_case_with_its_sector_turned_upside_down():
    up = generate_a4c(7, n_frames=3, image_size=SMALL)
    down = generate_other_view(7, "apex_down", n_frames=3, image_size=SMALL, scanner=0.0)
    r_up, r_down = _tissue(up), _tissue(down)
    box = (slice(None), slice(r_up.y0, r_up.y1 + 1), slice(r_up.x0, r_up.x1 + 1))
    assert np.array_equal(down.frames[box], up.frames[box][:, ::-1])
    assert np.array_equal(down.masks[box], up.masks[box][:, ::-1])
    outside = np.ones(SMALL, bool)
    outside[box[1:]] = False
    assert np.array_equal(down.frames[:, outside], up.frames[:, outside])  # text and ECG stay
    assert r_down.ref_y0 == r_up.height - 1 - r_up.ref_y0 and r_down.y0 == r_up.y0
    # the ventricles now lie below the atria
    assert _centroid(down.masks[0] == LV)[0] > _centroid(down.masks[0] == LA)[0]


def test_mirrored_is_the_a4c_case_flipped_left_to_right_with_the_anatomy_labels_kept():
    up = generate_a4c(7, n_frames=3, image_size=SMALL)
    mir = generate_other_view(7, "mirrored", n_frames=3, image_size=SMALL, scanner=0.0)
    r_up, r_mir = _tissue(up), _tissue(mir)
    box = (slice(None), slice(r_up.y0, r_up.y1 + 1), slice(r_up.x0, r_up.x1 + 1))
    assert np.array_equal(mir.frames[box], up.frames[box][:, :, ::-1])
    assert np.array_equal(mir.masks[box], up.masks[box][:, :, ::-1])
    assert r_mir.ref_x0 == r_up.width - 1 - r_up.ref_x0 and r_mir.ref_y0 == r_up.ref_y0
    assert mir.truth["view"] == "mirrored"
    # as displayed, the LA (under the LV) is on the right; mirrored, on the left
    assert _centroid(up.masks[0] == LA)[1] > _centroid(up.masks[0] == RA)[1]
    assert _centroid(mir.masks[0] == LA)[1] < _centroid(mir.masks[0] == RA)[1]


def test_written_dicom_reads_back_with_the_2d_calibration(tmp_path):
    case = generate_other_view(12, "psax", n_frames=4, image_size=SMALL)
    paths = write_case(case, tmp_path, "psax")
    ds = pydicom.dcmread(paths["dicom"])
    assert int(ds.NumberOfFrames) == 4 and (ds.Rows, ds.Columns) == SMALL
    assert np.array_equal(ds.pixel_array, case.frames) or case.monochrome
    cal = tissue_calibration(regions_from_sequence(ds.SequenceOfUltrasoundRegions), (ds.Rows, ds.Columns))
    assert cal.cm_per_px_x == pytest.approx(case.truth["cm_per_px"])
    assert np.array_equal(np.load(paths["masks"])["masks"], case.masks)


def test_bad_view_and_share_are_named():
    with pytest.raises(ValueError, match="view must be one of plax.*not 'a4c'"):
        generate_other_view(1, "a4c")
    with pytest.raises(ValueError, match=r"scanner must be a probability in \[0, 1\], not 2"):
        generate_other_view(1, "psax", scanner=2)
