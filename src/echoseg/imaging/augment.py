"""Augmentation building blocks shared by the families' ``augment`` hooks (torch-free).

A family's hook draws its own geometry (no flips anywhere: laterality and waveform shape matter),
warps image and labels with :func:`warp`, then usually finishes with :func:`jitter_intensity`.
"""
from __future__ import annotations

import numpy as np

__all__ = ["jitter_intensity", "warp", "warp_offset"]


def warp_offset(centre: np.ndarray, m: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Offset for :func:`warp` so that ``m`` acts about ``centre`` and the result moves by ``shift``."""
    return np.asarray(centre - m @ (centre + shift))


def warp(img: np.ndarray, m: np.ndarray, off: np.ndarray, order: int) -> np.ndarray:
    """Affine resampling (output pixel p reads input ``m @ p + off``; outside is 0) of order 0 or 1."""
    from scipy.ndimage import affine_transform

    return np.asarray(affine_transform(img, m, offset=off, order=order, mode="constant", cval=0.0,
                                       prefilter=False))


def jitter_intensity(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random gamma, contrast, brightness, blur and noise of a 0..1.5 normalised grey channel."""
    from scipy.ndimage import gaussian_filter

    g = img / 1.5
    g = np.clip(g, 0, 1) ** rng.uniform(0.65, 1.5)
    g = g * rng.uniform(0.75, 1.3) + rng.uniform(-0.08, 0.08)
    if rng.random() < 0.3:
        g = gaussian_filter(g, rng.uniform(0.3, 1.2))
    if rng.random() < 0.5:
        g = g + rng.normal(0.0, rng.uniform(0.005, 0.05), g.shape)
    return np.clip(g * 1.5, 0.0, 1.5)
