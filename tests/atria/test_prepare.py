"""echoseg.atria.prepare: the atria network input (square padding, grey normalisation) and its way back."""
from __future__ import annotations

import numpy as np
import pytest

from echoseg.atria.prepare import atria_geometry, atria_input
from echoseg.imaging.resample import mask_input, to_image
from echoseg.types import Region, TissueCalibration
from tests.shapes import disc, iou


def _tissue_cal(box: tuple[int, int, int, int], cm: float = 0.05) -> TissueCalibration:
    region = Region(*box, spatial_format=1, data_type=1, units_x=3, units_y=3, delta_x=cm, delta_y=cm)
    return TissueCalibration(region=region, cm_per_px_x=cm, cm_per_px_y=cm)



@pytest.mark.parametrize("box", [(40, 30, 439, 329), (100, 10, 299, 389)])  # wide and tall crops (padding)
def test_atria_round_trip_of_a_disc(box):
    shape = (400, 520)
    circle = disc(shape, 180, 200 if box[0] == 40 else 190, 55)
    geom = atria_geometry(shape, box, 96)
    assert geom.out_shape == (96, 96)
    assert geom.scale == pytest.approx(max(box[2] - box[0] + 1, box[3] - box[1] + 1) / 96)
    small = mask_input(circle, geom)
    # area is preserved by the anti-aliased resampler (soft mask, model pixels of scale² image pixels)
    assert small.sum() * geom.scale ** 2 == pytest.approx(circle.sum(), rel=0.01)
    back = to_image(small, geom)
    assert back.shape == shape
    assert iou(back > 0.5, circle) > 0.95
    assert back.sum() == pytest.approx(circle.sum(), rel=0.02)
    x0, y0, x1, y1 = box
    outside = np.ones(shape, bool)
    outside[y0:y1 + 1, x0:x1 + 1] = False
    assert back[outside].max() == 0.0


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
