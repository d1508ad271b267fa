"""echoseg.doppler.prepare: the Doppler network input (baseline channel, overlays painted out) and its way back."""
from __future__ import annotations

import numpy as np
import pytest

from echoseg.doppler.prepare import doppler_input
from echoseg.imaging.resample import mask_input, to_image
from echoseg.io.calibration import manual_spectral_calibration
from tests.shapes import iou


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
    assert iou(back > 0.5, flow) > 0.9
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


def test_the_brightened_reading_lifts_dim_greys_most_and_keeps_black_and_white() -> None:
    from echoseg.doppler.prepare import brightened

    lum = np.array([0.0, 20.0, 60.0, 128.0, 200.0, 255.0, 300.0], dtype=np.float32)
    out = brightened(lum)
    assert out[0] == 0.0 and out[5] == pytest.approx(255.0) and out[6] == pytest.approx(255.0)  # clipped
    assert np.all(np.diff(out) >= 0)  # the order of greys stays
    gain = out[1:5] - lum[1:5]
    assert np.all(gain > 0) and gain[1] > gain[3]  # a dim outer band (60) gains more than a bright core (200)
    assert brightened(lum, 1.0)[:6] == pytest.approx(lum[:6])  # gamma 1: unchanged
    with pytest.raises(ValueError, match="gamma must lie in"):
        brightened(lum, 1.5)
