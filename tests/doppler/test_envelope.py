"""echoseg.doppler.envelope: the sub-pixel outer envelope from a soft flow mask."""
from __future__ import annotations

import numpy as np
import pytest

from echoseg.doppler.envelope import envelope_from_flow
from echoseg.io.calibration import manual_spectral_calibration


# ----------------------------------------------------------------------------- envelope
def envelope_truth(n_cols: int) -> np.ndarray:
    x = np.arange(n_cols)
    return np.clip(80 * np.sin(2 * np.pi * x / 97.0) + 10 * np.sin(x / 7.0), 0, None)  # cm/s


def flow_mask(shape, cal, cols, vel, binary=False) -> np.ndarray:
    """Coverage of each pixel by the interval between the baseline and the envelope row."""
    p = np.zeros(shape)
    rows = np.arange(shape[0])[:, None]
    e = cal.baseline_row + vel / cal.cm_s_per_px
    lo, hi = np.minimum(cal.baseline_row, e), np.maximum(cal.baseline_row, e)
    cov = np.clip(np.minimum(rows + 0.5, hi) - np.maximum(rows - 0.5, lo), 0, 1)
    if binary:
        cov = ((rows >= np.ceil(lo)) & (rows <= np.floor(hi)) & (hi > lo)).astype(float)  # pixel centres inside
    p[:, cols] = cov
    return p


@pytest.mark.parametrize("delta,baseline,sign", [(-2.0, 150.0, 1), (2.0, 150.0, 1), (-2.0, 60.0, -1),
                                                 (1.5, 35.0, 1), (-1.0, 185.5, 1)])
def test_envelope_from_flow_subpixel(delta, baseline, sign):
    shape = (240, 300)
    box = (20, 30, 279, 229)
    cal = manual_spectral_calibration(0.004, delta, baseline, box)
    cols = np.arange(box[0], box[2] + 1)
    truth = sign * envelope_truth(cols.size)
    limit = (box[3] + 0.5 - baseline) if (sign * delta > 0) else (baseline - box[1] + 0.5)
    truth = np.clip(truth, -(limit - 3) * abs(delta), (limit - 3) * abs(delta))
    p = flow_mask(shape, cal, cols, truth)
    env = envelope_from_flow(p, cal)
    assert env.side == sign
    assert (np.abs(env.velocity_cm_s - truth) / abs(delta)).max() < 1e-9  # exact for a coverage mask
    assert np.allclose(env.t_s, (cols - box[0]) * 0.004)
    assert env.confidence.min() == pytest.approx(1.0) and env.other_side_fraction == 0.0
    p += 0.3 * flow_mask(shape, cal, cols, -0.5 * truth)  # weaker mirror on the other side
    envm = envelope_from_flow(p, cal)
    assert envm.side == sign
    # the mirror shares only the baseline pixel with the flow: error well under 0.5 px
    assert (np.abs(envm.velocity_cm_s - truth) / abs(delta)).max() < 0.1
    assert 0.0 < envm.other_side_fraction < 0.2
    blurred = 0.5 * (np.roll(flow_mask(shape, cal, cols, truth), 3, axis=0) + np.roll(p, -3, axis=0))
    assert envelope_from_flow(blurred, cal).confidence.min() < 0.7
    envb = envelope_from_flow((flow_mask(shape, cal, cols, truth, binary=True)), cal)
    assert (np.abs(envb.velocity_cm_s - truth) / abs(delta)).max() <= 0.5 + 1e-9


def test_envelope_from_flow_ignores_background_blobs_and_holes():
    from scipy import ndimage
    rng = np.random.default_rng(7)
    shape, box = (240, 300), (20, 30, 279, 229)
    cal = manual_spectral_calibration(0.004, -2.0, 180.0, box)
    cols = np.arange(box[0], box[2] + 1)
    truth = envelope_truth(cols.size)
    clean = flow_mask(shape, cal, cols, truth)
    p = ndimage.gaussian_filter1d(clean, 1.0, axis=0)  # a soft model edge (sigma 1 px)
    core = ndimage.binary_erosion(clean > 0.99, np.ones((11, 1), bool))  # > 5 px inside the edge
    holes = core & (rng.random(shape) < 0.15)
    holes[175:181] |= core[175:181]  # a wall-filter gap at the baseline
    p[holes] = 0.2  # speckle holes inside the flow
    p[40:48, 200:240] = np.maximum(p[40:48, 200:240], 0.9)  # spurious blob far beyond the envelope
    p += rng.uniform(0.0, 0.08, shape) * (p < 0.5)  # low background probability everywhere
    env = envelope_from_flow(np.clip(p, 0, 1), cal)
    err_px = np.abs(env.velocity_cm_s - truth) / 2.0
    assert err_px.max() < 0.5 and np.median(err_px) < 0.2
    naive = (np.minimum(np.clip(p, 0, 1), 1)[box[1]:181, box[0]:box[2] + 1]).sum(axis=0)  # plain column sum
    assert np.median(np.abs(naive - truth / 2.0)) > 2.0  # what the outer-extent rule avoids


def test_envelope_side_forced_and_headroom():
    cal = manual_spectral_calibration(0.004, -2.0, 100.0, (0, 0, 49, 149))
    cols = np.arange(50)
    v = np.full(50, 150.0)  # 75 px above the baseline row 100 -> near the top edge? limit 100.5 px
    v[10] = 200.0  # exactly at the top edge: headroom 0.5 px
    p = flow_mask((150, 50), cal, cols, v) + 0.0
    env = envelope_from_flow(p, cal)
    assert env.headroom_px[10] == pytest.approx(0.5) and env.headroom_px[0] == pytest.approx(25.5)
    forced = envelope_from_flow(p, cal, side=-1)
    assert np.all(forced.velocity_cm_s <= 0) and forced.speed_cm_s.max() <= 0.5 * 2.0  # the baseline pixel only
