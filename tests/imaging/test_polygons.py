"""echoseg.imaging.polygons: centre-inside rasterising without outline bias, and the shoelace area."""
from __future__ import annotations

import numpy as np
import pytest

from echoseg.imaging.polygons import polygon_mask, shoelace_area


def test_triangle_is_filled_by_pixel_centres():
    m = polygon_mask([[0, 0], [39, 0], [0, 39]], (40, 40))
    assert m[1, 1] and not m[38, 38]
    assert m.sum() == pytest.approx(shoelace_area([[0, 0], [39, 0], [0, 39]]), rel=0.03)


@pytest.mark.parametrize("seed", range(5))
def test_random_ellipses_keep_their_area_without_half_a_perimeter_added(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(15, 60, size=2)
    cx, cy, tilt = rng.uniform(70, 130), rng.uniform(70, 130), rng.uniform(0, np.pi)
    t = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    x, y = a * np.cos(t), b * np.sin(t)
    pts = np.column_stack([cx + x * np.cos(tilt) - y * np.sin(tilt), cy + x * np.sin(tilt) + y * np.cos(tilt)])
    area, perimeter = shoelace_area(pts), float(np.sum(np.hypot(*np.diff(np.vstack([pts, pts[:1]]), axis=0).T)))
    assert abs(int(polygon_mask(pts, (200, 200)).sum()) - area) < 0.1 * perimeter  # outline filling adds ~0.5


def test_shoelace_ignores_orientation_and_degenerate_polygons_are_empty():
    square = [(0, 0), (4, 0), (4, 4), (0, 4)]
    assert shoelace_area(square) == shoelace_area(square[::-1]) == 16.0
    assert not polygon_mask([(1, 1), (5, 5)], (8, 8)).any()
    assert not polygon_mask([(1, 1), (5, np.nan), (3, 4)], (8, 8)).any()
