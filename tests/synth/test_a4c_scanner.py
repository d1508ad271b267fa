"""The 'scanner' A4C appearance: truth untouched, its own random stream, view geometry, image statistics."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from echoseg.atria.view import MAX_COLOUR_FRACTION, colour_fraction
from echoseg.io.calibration import tissue_calibration
from echoseg.synth import a4c
from echoseg.synth.a4c import generate_a4c
from echoseg.synth.a4c_scanner import SCANNER_FAMILY, apply_view, sample_view
from echoseg.synth.a4c_screen import sample_screen

SMALL = (240, 320)


@pytest.fixture(scope="module")
def cases():
    return [generate_a4c(s, family=SCANNER_FAMILY, n_frames=3, image_size=(300, 400)) for s in range(6)]


@pytest.mark.parametrize("seed", [0, 4, 9])
def test_the_appearance_never_changes_the_masks_or_the_truth(seed):
    scan = generate_a4c(seed, family=SCANNER_FAMILY, n_frames=3, image_size=SMALL)
    same_geometry = a4c._generate(seed, SCANNER_FAMILY, False, 3, SMALL, 0.0, bmode=False)
    assert np.array_equal(scan.masks, same_geometry.masks)
    assert scan.truth == same_geometry.truth and scan.regions == same_geometry.regions
    assert not np.array_equal(scan.frames, same_geometry.frames)


def test_the_scanner_draw_leaves_the_other_cases_exactly_as_they_were():
    drawn = {s: generate_a4c(s, n_frames=2, image_size=SMALL, scanner=0.5) for s in range(8)}
    styles = {c.style for c in drawn.values()}
    assert SCANNER_FAMILY in styles and len(styles) > 1
    for s, c in drawn.items():
        classic = generate_a4c(s, n_frames=2, image_size=SMALL)
        assert classic.style != SCANNER_FAMILY
        if c.style != SCANNER_FAMILY:
            assert np.array_equal(c.frames, classic.frames) and c.truth == classic.truth
        else:  # the same heart, cycle and clip, in the scanner's own view
            for key in ("heart_rate_bpm", "frame_time_ms", "es_frames", "ed_frames", "n_frames"):
                assert c.truth[key] == classic.truth[key]
    assert all(generate_a4c(s, heldout=True, n_frames=1, image_size=SMALL, scanner=1.0).style != SCANNER_FAMILY
               for s in range(3))
    assert generate_a4c(0, n_frames=1, image_size=SMALL, scanner=1.0).style == SCANNER_FAMILY
    with pytest.raises(ValueError, match="probability"):
        generate_a4c(0, scanner=1.5)


def test_same_seed_same_scanner_case_and_different_seeds_differ():
    a = generate_a4c(21, family=SCANNER_FAMILY, n_frames=3, image_size=SMALL)
    b = generate_a4c(21, family=SCANNER_FAMILY, n_frames=3, image_size=SMALL)
    c = generate_a4c(22, family=SCANNER_FAMILY, n_frames=3, image_size=SMALL)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.masks, b.masks) and a.truth == b.truth
    assert not np.array_equal(a.frames, c.frames)


def test_outputs_ranges_and_exact_masks(cases):
    for c in cases:
        t, h, w = c.masks.shape
        assert c.frames.shape == (t, h, w, 3) and c.frames.dtype == np.uint8 and c.style == SCANNER_FAMILY
        assert set(np.unique(c.masks)) <= {0, 1, 2, 3, 4} and {1, 2} <= set(np.unique(c.masks))
        assert 12.0 <= c.truth["depth_cm"] <= 24.0 and 40 <= c.truth["sector_deg"] <= 90
        cm2 = c.truth["cm_per_px"] ** 2
        for k in range(t):
            for lab, key in ((1, "la_area_cm2"), (2, "ra_area_cm2")):
                assert (c.masks[k] == lab).sum() * cm2 == pytest.approx(c.truth[key][k], rel=0.02)
        cal = tissue_calibration(c.regions, c.frames.shape[1:3])
        assert cal.cm_per_px_x == pytest.approx(c.truth["cm_per_px"])
        tissue = c.regions[0]
        ys, xs = np.nonzero(c.masks.any(axis=0))
        assert ys.min() >= tissue.y0 and ys.max() <= tissue.y1 and xs.min() >= tissue.x0 and xs.max() <= tissue.x1
        # the display is a grey (or tinted-grey) map: the view check sees no colour
        assert colour_fraction(c.frames, tissue) < MAX_COLOUR_FRACTION


def test_blood_is_dark_but_not_black_and_darker_than_the_walls(cases):
    lit = []
    for c in cases:
        k = c.truth["la_frame"]
        grey = c.frames[k].astype(float).mean(axis=-1)
        la = c.masks[k] == 1
        inner = ndi.binary_erosion(la, iterations=3)
        ring = ndi.binary_dilation(la, iterations=6) & ~ndi.binary_dilation(la, iterations=1) & (c.masks[k] == 0)
        assert grey[inner].mean() < 0.75 * grey[ring].mean()
        lit.append(float((grey[inner] > 0).mean()))
    assert np.median(lit) > 0.3  # weak scatterers: most of the pool is not zero


def test_view_geometry_depth_sector_zoom_and_rv_focus():
    rng = np.random.default_rng(0)
    views = [sample_view(rng) for _ in range(400)]
    depths = np.array([v.depth_cm for v in views])
    assert depths.min() >= 12.0 and depths.max() <= 24.0 and depths.min() < 13 and depths.max() > 23
    halves = np.rad2deg([v.half_angle for v in views if v.half_angle is not None])
    assert halves.min() >= 20.0 and halves.max() <= 45.0
    assert 0.15 < np.mean([v.zoom > 1 for v in views]) < 0.35 and 0.08 < np.mean([v.rv_focus for v in views]) < 0.22
    screen = sample_screen(np.random.default_rng(1), (480, 640))
    zoomed = apply_view(screen, next(v for v in views if v.zoom > 1.3 and v.half_angle is None))
    x0, _, x1, y1 = zoomed.tissue_box()
    assert zoomed.radius_px > 1.25 * screen.radius_px
    assert x0 == 0 or x1 == 639 or (zoomed.y_max is not None and y1 == zoomed.y_max)  # the image cuts the sector


def test_scanner_cases_are_whole_in_narrow_zoomed_and_rv_focused_views():
    for s in range(40, 52):
        c = generate_a4c(s, family=SCANNER_FAMILY, n_frames=2, image_size=SMALL)
        cm2 = c.truth["cm_per_px"] ** 2
        for k in range(2):
            assert (c.masks[k] == 1).sum() * cm2 == pytest.approx(c.truth["la_area_cm2"][k], rel=0.03)
            assert (c.masks[k] == 2).sum() * cm2 == pytest.approx(c.truth["ra_area_cm2"][k], rel=0.03)


def test_a_seed_drawn_into_the_scanner_family_is_the_forced_scanner_case():
    drawn = next(c for c in (generate_a4c(s, n_frames=1, image_size=SMALL, scanner=0.5) for s in range(8))
                 if c.style == SCANNER_FAMILY)
    forced = generate_a4c(drawn.seed, family=SCANNER_FAMILY, n_frames=1, image_size=SMALL)
    assert np.array_equal(drawn.frames, forced.frames) and drawn.truth == forced.truth
