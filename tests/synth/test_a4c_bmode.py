"""Beam-domain B-mode formation: PSF, speckle anisotropy, attenuation, TGC, log compression, scan conversion."""
from __future__ import annotations

import numpy as np
import pytest

from echoseg.synth import a4c_bmode as bm

DEPTH, HALF = 16.0, np.deg2rad(40.0)


def _grid(n_r: int = 640, n_t: int = 120) -> bm.BeamGrid:
    return bm.BeamGrid(depth_cm=DEPTH, half_angle=HALF, n_r=n_r, n_t=n_t)


def _speckle_env(seed: int, grid: bm.BeamGrid, aperture: float = 1.8, focus: float = 8.0) -> np.ndarray:
    """Envelope of homogeneous tissue (unit scatterer variance), 2.8 MHz, 0.3 mm pulse."""
    z = bm.complex_gaussian(np.random.default_rng(seed), (grid.n_r, grid.n_t))
    sig_lines = bm.lateral_sigma_cm(grid.r, aperture, 0.055, focus) / (grid.r * grid.dtheta)
    return np.abs(bm.beamform(z, bm.axial_transfer(grid.n_r, grid.dr, 0.03, tail=0.3), sig_lines))


def _corr_length(img: np.ndarray, axis: int) -> float:
    """Lag (pixels) where the normalised autocovariance along ``axis`` first falls to 0.5 (interpolated)."""
    x = img - img.mean()
    var = float((x * x).mean())
    prev = 1.0
    for lag in range(1, 60):
        a, b = (x[lag:], x[:-lag]) if axis == 0 else (x[:, lag:], x[:, :-lag])
        c = float((a * b).mean()) / var
        if c < 0.5:
            return lag - 1 + (prev - 0.5) / (prev - c)
        prev = c
    return 60.0


def _screen(grid: bm.BeamGrid, cm_per_px: float = 0.03) -> tuple[bm.ScanConverter, np.ndarray, np.ndarray]:
    n = int(DEPTH / cm_per_px)
    xs = (np.arange(-n, n + 1)) * cm_per_px
    ys = (np.arange(n) + 0.5) * cm_per_px
    x, y = np.meshgrid(xs, ys)
    return bm.ScanConverter(grid, x, y), x, y


def test_beamform_keeps_the_speckle_power_and_rayleigh_statistics():
    g = _grid()
    env = _speckle_env(0, g)[g.n_r // 4: -16]
    power = float((env ** 2).mean())
    assert power == pytest.approx(1.0, rel=0.1)
    # fully developed speckle: envelope SNR (mean / std) of a Rayleigh variable is 1.91
    assert float(env.mean() / env.std()) == pytest.approx(1.91, rel=0.08)


def test_speckle_is_longer_across_the_beam_than_along_it_and_widens_with_depth():
    g = _grid()
    conv, x, y = _screen(g)
    img = conv(_speckle_env(1, g))
    cols = np.abs(x[0]) < 0.6  # near the centre line the beam runs down the image
    mid = img[(y[:, 0] > 5.0) & (y[:, 0] < 7.0)][:, cols]
    deep = img[(y[:, 0] > 13.0) & (y[:, 0] < 15.0)][:, cols]
    ax_mid, lat_mid = _corr_length(mid, 0), _corr_length(mid, 1)
    ax_deep, lat_deep = _corr_length(deep, 0), _corr_length(deep, 1)
    assert lat_mid > 2.0 * ax_mid and lat_deep > 2.0 * ax_deep  # speckle grain elongated across the beam
    assert lat_deep > 1.3 * lat_mid  # the beam widens with depth
    assert ax_deep == pytest.approx(ax_mid, rel=0.3)  # the pulse length does not


def test_lateral_beam_width_is_smallest_near_the_focus():
    r = np.linspace(0.5, 20, 400)
    w = bm.lateral_sigma_cm(r, 1.8, 0.055, 9.0)
    assert 7.0 < r[np.argmin(w)] < 9.5
    assert w[-1] > 1.5 * w.min() and w[0] > 1.5 * w.min()


def test_attenuation_is_two_way_cumulative_and_shadows_behind_a_strong_attenuator():
    g = _grid(400, 8)
    alpha = np.full((g.n_r, g.n_t), 0.7, np.float32)
    loss = bm.attenuation_db(alpha, g.dr)
    assert np.all(np.diff(loss, axis=0) > 0)
    assert loss[-1, 0] == pytest.approx(2 * 0.7 * (g.depth_cm - g.dr / 2), rel=1e-3)
    alpha[100:110, 3] += 20.0  # a rib on line 3
    shadow = bm.attenuation_db(alpha, g.dr)
    assert np.allclose(shadow[:100, 3], loss[:100, 3])
    assert np.allclose(shadow[120:, 3] - loss[120:, 3], 2 * 20.0 * 10 * g.dr, rtol=1e-3)
    assert np.allclose(shadow[:, 2], loss[:, 2])  # neighbouring lines untouched
    with pytest.raises(ValueError, match="non-negative"):
        bm.attenuation_db(-alpha, g.dr)


def test_tgc_compensates_attenuation_so_homogeneous_tissue_is_flat_with_depth():
    g = _grid()
    env = _speckle_env(2, g)
    alpha = 0.8  # dB/cm one way
    att = env * 10 ** (-bm.attenuation_db(np.full(env.shape, alpha, np.float32), g.dr) / 20)
    r = g.r
    rows = (r > 3) & (r < 15)

    def slope(e: np.ndarray) -> float:
        prof = 20 * np.log10(np.sqrt((e[rows] ** 2).mean(axis=1)))
        return float(np.polyfit(r[rows], prof, 1)[0])

    assert slope(att) == pytest.approx(-2 * alpha, abs=0.15)  # dB/cm
    flat = att * 10 ** (bm.tgc_db(r, DEPTH, alpha, compensation=1.0) / 20)[:, None]
    assert abs(slope(flat)) < 0.15
    under = att * 10 ** (bm.tgc_db(r, DEPTH, alpha, compensation=0.5) / 20)[:, None]
    assert slope(under) == pytest.approx(-alpha, abs=0.15)
    i = int(np.argmin(np.abs(r - 2 * DEPTH / 3)))  # the third of four sliders
    sliders = bm.tgc_db(r, DEPTH, alpha, 1.0, np.array([0.0, 0.0, 6.0, 0.0]))
    assert sliders[i] - bm.tgc_db(r, DEPTH, alpha)[i] == pytest.approx(6.0, abs=0.2)


def test_log_compression_maps_the_dynamic_range_to_0_1():
    env = 10 ** (np.linspace(-80, 10, 1000) / 20)
    out = bm.log_compress(env, dynamic_range_db=60.0, top_db=0.0)
    assert out.min() == 0.0 and out.max() == 1.0 and out.dtype == np.float32
    db = 20 * np.log10(env)
    assert out[np.argmin(np.abs(db + 30))] == pytest.approx(0.5, abs=0.01)
    rej = bm.log_compress(env, 60.0, 0.0, reject=0.2)
    assert np.all(rej[db < -48 - 0.1] == 0) and rej.max() == 1.0
    with pytest.raises(ValueError, match="dynamic_range_db"):
        bm.log_compress(env, 0.0, 0.0)


def test_scan_conversion_follows_the_lines_and_blanks_outside_the_sector():
    g = _grid(200, 60)
    conv, x, y = _screen(g, 0.1)
    polar = np.broadcast_to(np.linspace(0.1, 1.0, g.n_t)[None, :], (g.n_r, g.n_t))  # varies across lines only
    img = conv(polar)
    th = np.arctan2(x, y)
    r = np.hypot(x, y)
    inside = (np.abs(th) < HALF - 0.02) & (r < DEPTH - 0.1)
    outside = (np.abs(th) > HALF + 0.02) | (r > DEPTH + 0.1)
    assert np.all(img[outside] == 0)
    expect = np.interp(th[inside], g.theta, polar[0])
    assert np.allclose(img[inside], expect, atol=0.01)  # constant along each ray


def test_axial_transfer_is_unit_energy_and_rejects_bad_widths():
    h = bm.axial_transfer(256, 0.02, 0.03, tail=0.4)
    assert float(np.mean(np.abs(h) ** 2)) == pytest.approx(1.0, rel=1e-4)
    with pytest.raises(ValueError, match="sigma_cm"):
        bm.axial_transfer(256, 0.02, 0.0)
