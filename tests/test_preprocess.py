"""Preprocessing: crop/resize/normalise and the exact way back to the image grid."""
from __future__ import annotations

import numpy as np
import pytest

from echoseg.io.calibration import manual_spectral_calibration, manual_tissue_calibration
from echoseg.imaging.resample import Geometry, labels_input, mask_input, normalise, to_image, to_model
from echoseg.atria.prepare import atria_geometry, atria_input
from echoseg.doppler.prepare import doppler_input
from echoseg.types import Region, TissueCalibration


def _disc(shape: tuple[int, int], cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2


def _tissue_cal(box: tuple[int, int, int, int], cm: float = 0.05) -> TissueCalibration:
    region = Region(*box, spatial_format=1, data_type=1, units_x=3, units_y=3, delta_x=cm, delta_y=cm)
    return TissueCalibration(region=region, cm_per_px_x=cm, cm_per_px_y=cm)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.mark.parametrize("box", [(40, 30, 439, 329), (100, 10, 299, 389)])  # wide and tall crops (padding)
def test_atria_round_trip_of_a_disc(box):
    shape = (400, 520)
    disc = _disc(shape, 180, 200 if box[0] == 40 else 190, 55)
    geom = atria_geometry(shape, box, 96)
    assert geom.out_shape == (96, 96)
    assert geom.scale == pytest.approx(max(box[2] - box[0] + 1, box[3] - box[1] + 1) / 96)
    small = mask_input(disc, geom)
    # area is preserved by the anti-aliased resampler (soft mask, model pixels of scale² image pixels)
    assert small.sum() * geom.scale ** 2 == pytest.approx(disc.sum(), rel=0.01)
    back = to_image(small, geom)
    assert back.shape == shape
    assert _iou(back > 0.5, disc) > 0.95
    assert back.sum() == pytest.approx(disc.sum(), rel=0.02)
    x0, y0, x1, y1 = box
    outside = np.ones(shape, bool)
    outside[y0:y1 + 1, x0:x1 + 1] = False
    assert back[outside].max() == 0.0


def test_geometry_coordinates_invert():
    geom = atria_geometry((300, 500), (50, 20, 449, 259), 128)
    u, v = np.array([0.0, 17.5, 127.0]), np.array([3.0, 64.0, 100.25])
    x, y = geom.model_to_image(u, v)
    u2, v2 = geom.image_to_model(x, y)
    np.testing.assert_allclose(u2, u, atol=1e-9)
    np.testing.assert_allclose(v2, v, atol=1e-9)
    # the crop is 400 wide, 240 tall: centred padding of 80 rows above and below
    assert geom.off_y == pytest.approx(-80.0) and geom.off_x == 0.0
    assert Geometry((10, 10), (0, 0, 9, 9), (5, 10), 2.0, 1.0).scale_x == 1.0
    with pytest.raises(ValueError, match="unequal scales"):
        _ = Geometry((10, 10), (0, 0, 9, 9), (5, 10), 2.0, 1.0).scale


def test_atria_input_grey_normalisation_and_padding():
    rng = np.random.default_rng(0)
    shape = (240, 320)
    box = (20, 40, 299, 199)  # 280 x 160: padded vertically
    grey = np.zeros(shape, np.float32)
    grey[box[1]:box[3] + 1, box[0]:box[2] + 1] = rng.uniform(20, 200, (160, 280))
    tint = np.array([1.0, 0.8, 0.5])  # a coloured display: luminance still orders intensities
    frames = np.clip(grey[None, ..., None] * tint, 0, 255).astype(np.uint8)
    frames = np.concatenate([frames, frames // 2])
    x, geom = atria_input(frames, _tissue_cal(box), size=64)
    assert x.shape == (2, 1, 64, 64) and x.dtype == np.float32
    valid = mask_input(np.pad(np.ones((160, 280)), ((40, 40), (20, 20))), geom) > 0.99
    for t in range(2):  # per-frame robust normalisation: a darker copy normalises to the same image
        inner = x[t, 0][valid]
        assert np.percentile(inner, 1) == pytest.approx(0.0, abs=0.02)
        assert np.percentile(inner, 99) == pytest.approx(1.0, abs=0.02)
    np.testing.assert_allclose(x[0], x[1], atol=0.05)
    assert x[0, 0, :5].max() == 0.0 and x[0, 0, -5:].max() == 0.0  # padding rows are zero
    assert 0.0 <= x.min() and x.max() <= 1.5


def test_atria_input_rejects_bad_shapes():
    with pytest.raises(ValueError, match="T, H, W, 3"):
        atria_input(np.zeros((2, 50, 50), np.uint8), _tissue_cal((0, 0, 49, 49)))


def test_doppler_baseline_channel_and_round_trip():
    shape = (300, 400)
    box = (30, 60, 369, 259)  # 340 x 200 strip
    base = 110.0
    # PhysicalDeltaY < 0: velocity grows upwards, so rows above the baseline are positive velocity
    cal = manual_spectral_calibration(0.01, -2.0, base, box, "PW")
    frame = np.zeros(shape + (3,), np.uint8)
    flow = np.zeros(shape, bool)
    cols = np.arange(box[0], box[2] + 1)
    env = base - 40 * np.abs(np.sin((cols - box[0]) / 40.0))  # flow drawn upwards
    for c, e in zip(cols, env):
        flow[int(np.ceil(e)):int(base), c] = True
    frame[flow] = 200
    x, geom = doppler_input(frame, cal, size=(64, 128))
    assert x.shape == (2, 64, 128)
    assert (geom.scale_y, geom.scale_x) == pytest.approx((200 / 64, 340 / 128))
    _, vb = geom.image_to_model(0, base)
    col = x[1, :, 0]
    assert np.interp(vb, np.arange(64), col) == pytest.approx(0.0, abs=1e-6)
    assert col[0] > 0 > col[-1]  # positive velocity side (upwards) is positive
    assert np.all(np.diff(col) < 0)
    assert np.diff(col)[0] == pytest.approx(-1 / 64)
    # same picture drawn with positive delta (velocity grows downwards): channel flips sign
    x2, _ = doppler_input(frame, manual_spectral_calibration(0.01, 2.0, base, box, "PW"), size=(64, 128))
    np.testing.assert_allclose(x2[1], -x[1], atol=1e-6)
    back = to_image(mask_input(flow, geom), geom)
    assert _iou(back > 0.5, flow) > 0.9
    assert back.sum() == pytest.approx(flow.sum(), rel=0.02)
    # bright flow pixels line up with the resized mask
    assert x[0][mask_input(flow, geom) > 0.9].mean() > 0.8


def test_doppler_input_paints_out_a_green_ecg_beyond_the_flow():
    shape, box, base = (300, 400), (30, 60, 369, 259), 80.0
    cal = manual_spectral_calibration(0.01, 2.0, base, box, "PW")  # flow drawn downwards
    rng = np.random.default_rng(0)
    frame = np.repeat(rng.gamma(2.0, 10.0, shape)[..., None], 3, axis=2)
    cols = np.arange(box[0], box[2] + 1)
    env = base + 90 * np.abs(np.sin((cols - box[0]) / 50.0))
    for c, e in zip(cols, env):
        n = max(int(e) - int(base) - 1, 0)
        frame[int(base) + 1:int(base) + 1 + n, c] = 150 + 60 * rng.random((n, 1))
    clean = np.clip(frame, 0, 255).astype(np.uint8)
    ecg = clean.copy()
    ecg[182:184, box[0]:box[2] + 1] = (0, 220, 0)  # a green trace just beyond the peaks (row 170)
    x_clean = doppler_input(clean, cal, size=(64, 128))[0][0]
    x_painted = doppler_input(ecg, cal, size=(64, 128))[0][0]
    x_raw = doppler_input(ecg, cal, size=(64, 128), paint_overlays=False)[0][0]
    assert np.abs(x_raw - x_clean).max() > 0.3  # the trace shows in the network's input ...
    assert np.abs(x_painted - x_clean).max() < 0.15  # ... unless painted out (speckle differs a little)


def test_labels_input_majority_and_padding():
    shape = (200, 100)
    labels = np.zeros(shape, np.uint8)
    labels[20:100, 10:90] = 1
    labels[110:190, 10:90] = 2
    geom = atria_geometry(shape, (0, 0, 99, 199), 50)
    y = labels_input(labels, geom)
    assert y.shape == (50, 50) and y.dtype == np.int64
    assert (y == 1).sum() * geom.scale ** 2 == pytest.approx((labels == 1).sum(), rel=0.06)
    assert (y == 2).sum() * geom.scale ** 2 == pytest.approx((labels == 2).sum(), rel=0.06)
    assert y[:, :12].max() == 0  # the 50-px-wide padding band on each side stays background


def test_to_image_checks_shape_and_normalise_flat_image():
    geom = atria_geometry((50, 50), (0, 0, 49, 49), 32)
    with pytest.raises(ValueError, match="expects"):
        to_image(np.zeros((16, 16)), geom)
    assert np.all(normalise(np.full((4, 4), 7.0)) == 0.0)
    np.testing.assert_allclose(to_model(np.ones((50, 50)), geom), 1.0, atol=1e-6)
    assert manual_tissue_calibration(0.1, (50, 50)).region.width == 50
