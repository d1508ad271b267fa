"""Overlays off the spectrum's colour map: found by colour, painted out along columns."""
from __future__ import annotations

import numpy as np
import pytest

from echoseg.doppler.overlays import off_map_pixels, paint_out
from echoseg.io.calibration import spectral_calibration
from echoseg.synth.doppler import generate_doppler
from echoseg.synth.styles import FAMILIES

SHAPE = (120, 300)


def _strip(seed: int, colour_map) -> np.ndarray:
    """(H, W, 3) uint8: speckled background with half-sine 'beats', through ``colour_map``
    (luminance 0..1 -> RGB)."""
    rng = np.random.default_rng(seed)
    lum = rng.gamma(2.0, 0.04, SHAPE)
    rows, cols = np.mgrid[:SHAPE[0], :SHAPE[1]]
    phase = (cols % 75) / 75.0
    depth = np.where(phase < 0.4, 90 * np.sin(np.pi * phase / 0.4), 0)
    lum = np.where(rows < depth, 0.5 + 0.4 * rng.random(SHAPE), lum)
    lum = np.clip(lum, 0, 1)
    return np.clip(colour_map(lum) * 255, 0, 255).astype(np.uint8)


def grey_map(v):
    return np.stack([v, v, v], axis=-1)


def violet_map(v):
    return np.stack([0.9 * v, 0.75 * v, v], axis=-1)


def bronze_map(v):  # curved: brown in the middle, white at the top
    return np.stack([np.clip(1.6 * v, 0, 1), np.clip(1.2 * v - 0.1, 0, 1), np.clip(2.0 * v - 1.0, 0, 1)], axis=-1)


def _ecg(rgb: np.ndarray, colour, row: int = 95) -> np.ndarray:
    """Draw a 1-px ECG-like line with R spikes; returns the drawn-pixel mask."""
    drawn = np.zeros(rgb.shape[:2], bool)
    for c in range(rgb.shape[1]):
        y = row - (12 if c % 75 in (30, 31) else 0)
        drawn[min(y, row):row + 1, c] = True
    rgb[drawn] = colour
    return drawn


@pytest.mark.parametrize("cmap", [grey_map, violet_map, bronze_map])
def test_a_colour_map_alone_is_not_flagged(cmap):
    rgb = _strip(1, cmap)
    assert off_map_pixels(rgb).mean() < 0.002


@pytest.mark.parametrize("cmap,colour", [(grey_map, (0, 220, 0)), (violet_map, (230, 230, 0)),
                                         (bronze_map, (80, 255, 120)), (grey_map, (0, 200, 255))])
def test_a_coloured_ecg_over_a_colour_map_is_flagged(cmap, colour):
    rgb = _strip(2, cmap)
    drawn = _ecg(rgb, colour)
    flags = off_map_pixels(rgb)
    assert flags[drawn].mean() > 0.99
    assert flags[~drawn].mean() < 0.03  # the trace widened by one pixel, nothing else


@pytest.mark.parametrize("tint", [(1.0, 1.0, 1.0), (0.55, 1.0, 0.25)])
def test_a_fill_painted_over_the_flow_is_kept_and_a_line_across_it_is_not(tint):
    """An analysis program's semi-transparent fill over one beat (grey over bronze, green) covers the
    flow itself: it is not flagged, while a coloured ECG line elsewhere still is."""
    rgb = _strip(4, bronze_map)
    rows, cols = np.mgrid[:SHAPE[0], :SHAPE[1]]
    phase = (cols % 75) / 75.0
    fill = (cols < 75) & (rows < np.where(phase < 0.4, 90 * np.sin(np.pi * phase / 0.4), 0))
    rgb[fill] = (0.4 * rgb[fill] + 0.6 * 150 * np.array(tint)).astype(np.uint8)
    drawn = _ecg(rgb, (0, 200, 255), row=110)
    flags = off_map_pixels(rgb)
    assert flags[fill].mean() < 0.1
    assert flags[drawn & (cols > 80)].mean() > 0.99


def test_an_ecg_in_the_maps_own_colour_cannot_be_told_apart():
    rgb = _strip(3, grey_map)
    _ecg(rgb, (235, 235, 235))
    assert not off_map_pixels(rgb).any()


def test_a_display_that_is_not_one_colour_map_flags_nothing():
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, SHAPE + (3,), dtype=np.uint8)  # every pixel its own colour
    assert not off_map_pixels(rgb).any()


def test_paint_out_interpolates_each_column_between_its_neighbours():
    g = np.tile(np.arange(10, dtype=np.float32)[:, None] * 3.0, (1, 4))
    m = np.zeros_like(g, bool)
    m[3:6, 1] = True      # inside: linear interpolation restores the ramp
    m[0:2, 2] = True      # at the top: the first unmasked value
    m[:, 3] = True        # whole column: the median of the unmasked pixels
    out = paint_out(g, m)
    np.testing.assert_allclose(out[:, 1], g[:, 1])
    np.testing.assert_allclose(out[0:2, 2], g[2, 2])
    np.testing.assert_allclose(out[:, 3], np.median(g[~m]))
    np.testing.assert_array_equal(out[:, 0], g[:, 0])
    with pytest.raises(ValueError, match="same"):
        paint_out(g, m[:5])


@pytest.mark.parametrize("family", FAMILIES)
def test_generated_spectra_are_not_painted_out(family):
    """On the generator's screens (every style family), the flags stay off the flow: only overlays
    crossing it (an ECG drawn over the strip) may touch it."""
    for seed in (11, 12):
        case = generate_doppler(seed, family=family, image_size=(300, 420))
        r = spectral_calibration(case.regions, case.frames.shape[1:3]).region
        strip = case.frames[0][r.y0:r.y1 + 1, r.x0:r.x1 + 1]
        flow = case.masks[0][r.y0:r.y1 + 1, r.x0:r.x1 + 1] > 0
        flags = off_map_pixels(strip)
        assert flags.mean() < 0.05
        assert flags[flow].mean() < 0.06
