"""echoseg.imaging.resample: geometry, resampling into the model grid and back, label resampling."""
from __future__ import annotations

import numpy as np
import pytest

from echoseg.atria.prepare import atria_geometry
from echoseg.imaging.resample import Geometry, labels_input, normalise, to_image, to_model
from echoseg.io.calibration import manual_tissue_calibration


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
