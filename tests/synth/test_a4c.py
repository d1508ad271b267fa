"""Synthetic A4C generator: determinism, truth consistency, anatomy and screen layout."""
from __future__ import annotations

import numpy as np
import pytest

from echoseg.imaging.polygons import shoelace_area
from echoseg.io.calibration import tissue_calibration
from echoseg.synth import anatomy as an
from echoseg.synth.a4c import generate_a4c, sample_timing
from echoseg.synth.styles import HELDOUT_FAMILY, TRAIN_FAMILIES

SMALL = (240, 320)


@pytest.fixture(scope="module")
def cine():
    return generate_a4c(3, image_size=(300, 400))


def test_same_seed_same_case_and_different_seeds_differ():
    a = generate_a4c(11, n_frames=3, image_size=SMALL)
    b = generate_a4c(11, n_frames=3, image_size=SMALL)
    c = generate_a4c(12, n_frames=3, image_size=SMALL)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.masks, b.masks)
    assert a.truth == b.truth
    assert not np.array_equal(a.frames, c.frames)


def test_shapes_types_and_truth_keys(cine):
    t, h, w = cine.masks.shape
    assert cine.kind == "a4c" and cine.frames.shape == (t, h, w, 3) and (h, w) == (300, 400)
    assert cine.frames.dtype == np.uint8 and cine.masks.dtype == np.uint8
    assert 20 <= t <= 60 and cine.truth["n_frames"] == t
    assert set(np.unique(cine.masks)) == {0, 1, 2, 3, 4}
    # at least one cardiac cycle
    assert t * cine.frame_time_ms >= 60000.0 / cine.heart_rate_bpm
    tr = cine.truth
    assert len(tr["la_area_cm2"]) == t and len(tr["ra_area_cm2"]) == t
    assert tr["la_area"] == max(tr["la_area_cm2"]) and tr["la_frame"] == int(np.argmax(tr["la_area_cm2"]))
    assert 15 <= tr["frame_time_ms"] <= 40 and 50 <= tr["heart_rate_bpm"] <= 110


def test_atria_largest_at_end_systole_and_smallest_near_end_diastole(cine):
    tr = cine.truth
    assert tr["la_frame"] in tr["es_frames"] and tr["ra_frame"] in tr["es_frames"]
    la = np.array(tr["la_area_cm2"])
    lv = (cine.masks == 3).sum(axis=(1, 2))
    for e in tr["ed_frames"]:
        assert la[e] < 0.85 * tr["la_area"]  # atria fill during systole
    for s in tr["es_frames"]:
        assert all(lv[s] < lv[e] for e in tr["ed_frames"])  # ventricles largest at end-diastole


@pytest.mark.parametrize("seed", [0, 5, 9])
def test_mask_area_matches_analytic_area(seed):
    case = generate_a4c(seed, n_frames=4, image_size=(360, 480))
    cm2 = case.truth["cm_per_px"] ** 2
    for k in range(4):
        for lab, key in ((1, "la_area_cm2"), (2, "ra_area_cm2")):
            raster = (case.masks[k] == lab).sum() * cm2
            assert raster == pytest.approx(case.truth[key][k], rel=0.02)


def test_rasterize_counts_pixel_centres():
    square = np.array([[1.5, 1.5], [5.5, 1.5], [5.5, 4.5], [1.5, 4.5]])  # centres 2..5 x 2..4
    m = an.rasterize(square, (8, 8))
    assert m.sum() == 12 and m[2:5, 2:6].all()
    tri = np.array([[0.0, 0.0], [200.0, 0.0], [0.0, 100.0]])
    assert an.rasterize(tri, (300, 300)).sum() == pytest.approx(shoelace_area(tri), rel=0.02)


def test_sizes_in_range_and_some_dilated_atria():
    la, ra, lengths = [], [], []
    for seed in range(24):
        tr = generate_a4c(seed, n_frames=1, image_size=SMALL).truth
        la.append(tr["la_area"])
        ra.append(tr["ra_area"])
        lengths.append(tr["la_length_cm"])
        assert 13.0 <= tr["depth_cm"] <= 20.0 and 60 <= tr["sector_deg"] <= 90
    assert min(la) >= 8 and max(la) <= 42 and min(ra) >= 6 and max(ra) <= 34
    assert max(la) > 30  # dilated atria occur
    assert 2.5 < min(lengths) and max(lengths) < 9.5


def test_masks_inside_tissue_region_and_region_calibration(cine):
    tissue = cine.regions[0]
    assert tissue.is_2d_tissue and tissue.units_x == tissue.units_y == 3
    assert tissue.delta_x == pytest.approx(cine.truth["cm_per_px"])
    cal = tissue_calibration(cine.regions, cine.frames.shape[1:3])
    assert cal.cm_per_px_x == pytest.approx(cine.truth["cm_per_px"])
    any_mask = cine.masks.any(axis=0)
    ys, xs = np.nonzero(any_mask)
    assert ys.min() >= tissue.y0 and ys.max() <= tissue.y1 and xs.min() >= tissue.x0 and xs.max() <= tissue.x1
    # depth: apex (reference pixel) to the fan bottom is depth_cm
    assert (tissue.y1 - (tissue.y0 + tissue.ref_y0)) * tissue.delta_y == pytest.approx(cine.truth["depth_cm"], abs=0.05)
    # outside the fan bounding box the screen holds only text / ECG, never anatomy
    assert cine.frames[:, : tissue.y0 - 1].mean() < cine.frames[:, tissue.y0: tissue.y1].mean()


def test_chambers_in_standard_a4c_layout():
    for seed in range(6):
        case = generate_a4c(seed, n_frames=1, image_size=SMALL)
        m = case.masks[0]
        cx = {lab: np.nonzero(m == lab)[1].mean() for lab in (1, 2, 3, 4)}
        cy = {lab: np.nonzero(m == lab)[0].mean() for lab in (1, 2, 3, 4)}
        assert cx[1] > cx[2] and cx[3] > cx[4]  # left heart on the image right
        assert cy[1] > cy[3] and cy[2] > cy[4]  # atria below (deeper than) the ventricles


def test_blood_darker_than_walls(cine):
    k = cine.truth["la_frame"]
    grey = cine.frames[k].astype(float).mean(axis=-1)
    la = cine.masks[k] == 1
    from scipy import ndimage as ndi
    inner = ndi.binary_erosion(la, iterations=3)
    ring = ndi.binary_dilation(la, iterations=6) & ~ndi.binary_dilation(la, iterations=1) & (cine.masks[k] == 0)
    assert grey[inner].mean() < 0.6 * grey[ring].mean()


def test_heldout_family_and_training_families():
    assert generate_a4c(1, heldout=True, n_frames=1, image_size=SMALL).style == HELDOUT_FAMILY
    seen = {generate_a4c(s, n_frames=1, image_size=SMALL).style for s in range(12)}
    assert HELDOUT_FAMILY not in seen and seen <= set(TRAIN_FAMILIES)


def test_short_clips_contain_end_systole_and_monochrome_is_grey():
    for seed in range(8):
        tm = sample_timing(np.random.default_rng(seed), 1)
        assert tm.es_frames == (0,) and tm.g[0] > 0.95
    grey = next(c for c in (generate_a4c(s, family="grey", n_frames=1, image_size=SMALL) for s in range(20))
                if c.monochrome)
    assert np.array_equal(grey.frames[..., 0], grey.frames[..., 1])
