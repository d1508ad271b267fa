"""echoseg.atria.postprocess: mask cleaning, sub-pixel areas, frame picking, long axis; synthetic A4C truth reproduced."""
from __future__ import annotations

import math

import numpy as np
import pytest

from echoseg.atria.postprocess import area_curve, clean_mask, long_axis, pick_frames, soft_area_cm2
from echoseg.atria.qc import qc_atria
from echoseg.types import Region, TissueCalibration


def tissue_cal(dx=0.04, dy=0.05, shape=(160, 200)) -> TissueCalibration:
    region = Region(0, 0, shape[1] - 1, shape[0] - 1, 1, 1, 3, 3, dx, dy)
    return TissueCalibration(region, dx, dy)


def ellipse_coverage(shape, cx, cy, a_cm, b_cm, angle, dx, dy, ss=8) -> np.ndarray:
    """Fraction of each pixel inside an ellipse defined in cm (supersampled ss x ss)."""
    h, w = shape
    off = (np.arange(ss) + 0.5) / ss - 0.5
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cov = np.zeros(shape)
    c, s = math.cos(angle), math.sin(angle)
    for oy in off:
        for ox in off:
            X = (xx + ox - cx) * dx
            Y = (yy + oy - cy) * dy
            u, v = c * X + s * Y, -s * X + c * Y
            cov += (u / a_cm) ** 2 + (v / b_cm) ** 2 <= 1.0
    return cov / ss ** 2


# ----------------------------------------------------------------------------- masks / atria
def test_clean_mask_keeps_largest_and_fills_holes():
    p = np.zeros((40, 40))
    p[5:25, 5:25] = 0.9
    p[12:15, 12:15] = 0.1  # hole
    p[30:34, 30:34] = 0.95  # small blob
    mk = clean_mask(p)
    assert mk[5:25, 5:25].all() and mk.sum() == 400
    assert not clean_mask(np.zeros((5, 5))).any()


def test_soft_area_of_ellipse_is_subpixel_accurate():
    dx, dy = 0.04, 0.05
    cal = tissue_cal(dx, dy)
    a, b = 2.2, 1.3  # cm
    cov = ellipse_coverage((160, 200), 100.3, 80.6, a, b, 0.4, dx, dy)
    blob = np.zeros_like(cov)
    blob[5:15, 5:15] = 0.8  # false positive far away: must not count
    truth = math.pi * a * b
    soft = soft_area_cm2(cov + blob, cal)
    binary = (cov > 0.5).sum() * dx * dy
    assert abs(soft - truth) / truth < 0.003
    assert abs(soft - truth) < abs(binary - truth) + 1e-9
    curve = area_curve(np.stack([cov, 0.6 * (cov > 0.99), np.zeros_like(cov)]), cal)
    assert curve[0] == pytest.approx(soft)
    assert curve[1] > 0 and curve[2] == 0.0


def test_pick_frames_three_cycles():
    ft = 33.3  # ms
    period = 0.8  # s -> 24 frames
    t = np.arange(80) * ft / 1000
    phase = (t - 0.15) / period
    curve = 15 + 6 * np.exp(-((phase - np.round(phase)) ** 2) / (2 * 0.12 ** 2))  # peaks at 0.15+k*0.8
    rng = np.random.default_rng(0)
    curve = curve + rng.normal(0, 0.1, curve.size)
    expect = [int(round((0.15 + k * period) / (ft / 1000))) for k in range(4) if 0.15 + k * period < t[-1]]
    for hr in (75.0, None):
        got = pick_frames(curve, ft, hr)
        assert len(got) == len(expect)
        assert all(abs(g - e) <= 1 for g, e in zip(got, expect))
    # a single frame or a flat curve -> the one largest frame
    assert pick_frames(np.array([3.0]), ft) == [0]
    assert pick_frames(np.full(10, 2.0), ft) == [0]


def test_long_axis_pca_and_annulus():
    dx, dy = 0.04, 0.05
    cal = tissue_cal(dx, dy)
    a, b = 2.4, 1.2
    cov = ellipse_coverage((160, 200), 100.0, 80.0, a, b, 0.6, dx, dy, ss=2)
    L = long_axis(cov > 0.5, cal)
    assert abs(L - 2 * a) < 1.5 * max(dx, dy)
    # half ellipse below an annulus line through its centre: length = semi-axis a (vertical)
    cov2 = ellipse_coverage((160, 200), 100.0, 40.0, 1.0, a, 0.0, dx, dy, ss=2)  # a along y
    half = (cov2 > 0.5) & (np.arange(160)[:, None] >= 40)
    L2 = long_axis(half, cal, annulus=((75.0, 40.0), (125.0, 40.0)))
    assert abs(L2 - a) < 1.0 * dy
    with pytest.raises(ValueError, match="empty"):
        long_axis(np.zeros((5, 5), bool), cal)


def test_synthetic_a4c_truth_reproduced():
    """Truth label masks of generated A4C cines -> area curve, picked frame, long axis and QC."""
    a4c = pytest.importorskip("echoseg.synth.a4c")
    from echoseg.io.calibration import tissue_calibration
    for seed in (0, 3):
        case = a4c.generate_a4c(seed)
        tr = case.truth
        cal = tissue_calibration(case.regions, case.frames.shape[1:3])
        for label, key in ((1, "la"), (2, "ra")):
            probs = (case.masks == label).astype(np.float32)
            curve = area_curve(probs, cal)
            assert np.allclose(curve, tr[f"{key}_area_cm2"], rtol=0.02)
            picks = pick_frames(curve, tr["frame_time_ms"], None)
            assert all(min(abs(p - e) for e in tr["es_frames"]) <= 1 for p in picks)
            f = max(picks, key=lambda i: curve[i])
            assert curve[f] == pytest.approx(tr[f"{key}_area"], rel=0.01)
            mask = clean_mask(probs[f])
            annulus = tuple(tuple(p) for p in tr[f"{key}_annulus_px"])
            assert long_axis(mask, cal, annulus) == pytest.approx(tr[f"{key}_length_cm"], abs=0.15)
            res = qc_atria(curve, mask, probs[f], f"{key}_area", frame=f, cal=cal)
            assert res.passed, res.reasons
