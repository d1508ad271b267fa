"""Small shapes and overlap scores the resampling tests share."""
from __future__ import annotations

import numpy as np


def disc(shape: tuple[int, int], cy: float, cx: float, r: float) -> np.ndarray:
    """Bool (H, W) disc of radius ``r`` px centred at (cy, cx)."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks."""
    return float((a & b).sum() / (a | b).sum())
