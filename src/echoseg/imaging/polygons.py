"""Polygons: the one rasteriser and the one area formula of echoseg (labels, prompts, synthetic truth).

Coordinates are (x, y) = (column, row) with pixel centres on integer coordinates (the labelme /
PIL convention); a pixel belongs to a polygon when its centre lies inside it, so mask areas agree
with the polygon's shoelace area up to discretisation noise instead of growing by half the
perimeter (as filling with the outline included does).

Example::

    >>> square = [(0, 0), (10, 0), (10, 10), (0, 10)]
    >>> int(polygon_mask(square, (20, 20)).sum()), shoelace_area(square)
    (100, 100.0)
"""
from __future__ import annotations

from typing import Any

import numpy as np


def polygon_mask(points: Any, shape: tuple[int, int]) -> np.ndarray:
    """Bool (H, W) mask of the pixels whose centres lie inside the polygon (even-odd rule).

    ``points`` is an (N, 2) sequence of (x, y) vertices; the polygon closes itself. Fewer than 3
    vertices give an empty mask.
    """
    rows_n, cols_n = int(shape[0]), int(shape[1])
    mask = np.zeros((rows_n, cols_n), dtype=bool)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3 or not np.isfinite(pts).all():
        return mask
    x0, y0 = pts[:, 0], pts[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    r_lo, r_hi = max(0, int(np.ceil(y0.min()))), min(rows_n - 1, int(np.floor(y0.max())))
    if r_hi < r_lo:
        return mask
    rows = np.arange(r_lo, r_hi + 1, dtype=np.float64)[:, None]
    crosses = ((y0 <= rows) & (rows < y1)) | ((y1 <= rows) & (rows < y0))  # half-open: each vertex once
    with np.errstate(divide="ignore", invalid="ignore"):
        xs = np.where(crosses, x0 + (rows - y0) / (y1 - y0) * (x1 - x0), np.inf)
    xs.sort(axis=1)
    n_max = int(crosses.sum(axis=1).max())
    if n_max == 0:
        return mask
    xs = xs[:, : n_max + (n_max % 2)]
    starts, ends = xs[:, 0::2], xs[:, 1::2]
    valid = np.isfinite(starts) & np.isfinite(ends)
    ri = np.broadcast_to(np.arange(len(rows))[:, None], starts.shape)[valid]
    c0 = np.clip(np.ceil(starts[valid]), 0, cols_n).astype(np.int64)  # centres c with start <= c < end
    c1 = np.clip(np.ceil(ends[valid]), 0, cols_n).astype(np.int64)
    diff = np.zeros((len(rows), cols_n + 1), dtype=np.int32)
    np.add.at(diff, (ri, c0), 1)
    np.add.at(diff, (ri, c1), -1)
    mask[r_lo:r_hi + 1] = np.cumsum(diff[:, :cols_n], axis=1) > 0
    return mask


def shoelace_area(points: Any) -> float:
    """Area (px²) of a closed polygon of (x, y) vertices."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)
