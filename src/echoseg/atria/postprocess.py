"""Post-processing of the atria network's output: mask cleaning, sub-pixel areas, area curves,
frame picking per cardiac cycle and the long axis.

Everything is pure numpy/scipy on arrays in the full image grid; pixel -> physical conversions go
through :mod:`echoseg.io.calibration`. A soft mask value is the fraction of the pixel covered by
the structure (a binary mask is the special case 0/1); pixel row ``r`` spans ``[r - 0.5, r + 0.5]``.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from echoseg.imaging.masks import components
from echoseg.imaging.signal import estimate_period, find_peaks
from echoseg.io.calibration import mask_area_cm2
from echoseg.types import TissueCalibration


def clean_mask(prob: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Boolean mask: the largest 8-connected component of ``prob > threshold``, holes filled."""
    prob = np.asarray(prob)
    if prob.ndim != 2:
        raise ValueError(f"prob must be a 2-D (H, W) array, not shape {prob.shape}")
    labels, sizes = components(prob > threshold)
    if sizes.size == 0:
        return np.zeros(prob.shape, dtype=bool)
    return ndimage.binary_fill_holes(labels == int(np.argmax(sizes)) + 1)


def soft_area_cm2(prob: np.ndarray, cal: TissueCalibration, threshold: float = 0.5, margin_px: int = 1) -> float:
    """Sub-pixel area (cm²) of one soft mask: the probability summed inside the cleaned component
    grown by ``margin_px``.

    Why the soft sum: a border pixel half covered by the atrium carries probability ~0.5, so the
    sum of coverage equals the true area to a small fraction of a pixel per boundary length, while
    counting thresholded pixels errs by up to half a pixel along the whole perimeter and depends
    on the threshold. Why inside the component: probability scattered elsewhere in the image
    (false-positive blobs, the other atrium's spill-over) is not added. Pixels of the component's
    interior (filled holes included) count 1; its border ring and the margin count their probability.
    """
    prob = np.asarray(prob)
    fg = prob > threshold
    rows, cols = np.nonzero(fg.any(axis=1))[0], np.nonzero(fg.any(axis=0))[0]
    if rows.size == 0:
        return 0.0
    pad = margin_px + 1  # everything counted lies within the foreground's bounding box + margin
    r0, r1 = max(rows[0] - pad, 0), rows[-1] + pad + 1
    c0, c1 = max(cols[0] - pad, 0), cols[-1] + pad + 1
    prob = np.clip(np.asarray(prob[r0:r1, c0:c1], dtype=np.float64), 0.0, 1.0)
    core = clean_mask(prob, threshold)
    if not core.any():
        return 0.0
    support = ndimage.binary_dilation(core, iterations=margin_px) if margin_px > 0 else core
    weights = np.where(ndimage.binary_erosion(core), 1.0, prob) * support  # interior (and holes) count 1
    return mask_area_cm2(weights, cal)


def area_curve(probs: np.ndarray, cal: TissueCalibration, threshold: float = 0.5) -> np.ndarray:
    """Atrial area (cm²) per frame from (T, H, W) soft probabilities in the full image grid."""
    probs = np.asarray(probs)
    if probs.ndim != 3:
        raise ValueError(f"probs must be a (T, H, W) array, not shape {probs.shape}")
    return np.array([soft_area_cm2(p, cal, threshold) for p in probs], dtype=np.float64)


def cycle_period_s(curve: np.ndarray, frame_time_ms: float, heart_rate_bpm: float | None = None) -> float | None:
    """The cardiac cycle (s): 60 / heart rate when known, else the area curve's autocorrelation period, else None."""
    if heart_rate_bpm:
        return 60.0 / float(heart_rate_bpm)
    if not frame_time_ms or frame_time_ms <= 0:
        raise ValueError(f"frame_time_ms must be > 0, not {frame_time_ms!r}")
    return estimate_period(np.asarray(curve, dtype=np.float64), frame_time_ms / 1000.0)


def pick_frames(curve: np.ndarray, frame_time_ms: float, heart_rate_bpm: float | None = None) -> list[int]:
    """Frames of the per-cycle maxima of an atrial area curve (LV end-systole), in time order.

    Minimum separation between picks: 0.6 cardiac cycles, the cycle taken from the heart rate when
    known, else from the curve's autocorrelation; when neither gives a cycle, the single largest
    frame. A maximum on the first/last frame is kept only when it is at least 95 % of the largest
    interior peak (the loop may start or end mid-cycle). The measured frame is the pick with the
    largest area: ``max(frames, key=lambda i: curve[i])``.
    """
    c = np.asarray(curve, dtype=np.float64)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"curve must be a non-empty 1-D array, not shape {c.shape}")
    if not frame_time_ms or frame_time_ms <= 0:
        raise ValueError(f"frame_time_ms must be > 0, not {frame_time_ms!r}")
    best = int(np.argmax(c))
    span = float(c.max() - c.min())
    if c.size < 3 or span <= 0:
        return [best]
    dt = frame_time_ms / 1000.0
    period = cycle_period_s(c, frame_time_ms, heart_rate_bpm)
    if period is None:
        return [best]
    dist = max(1, int(round(0.6 * period / dt)))
    padded = np.concatenate([[c.min() - span], c, [c.min() - span]])
    peaks = find_peaks(padded, distance=dist, prominence=0.2 * span)
    peaks = peaks - 1
    interior = [int(p) for p in peaks if 0 < p < c.size - 1]
    edges = [int(p) for p in peaks if p in (0, c.size - 1)]
    ref = max((c[p] for p in interior), default=-np.inf)
    picks = interior + [p for p in edges if not interior or c[p] >= 0.95 * ref]
    return sorted(picks) if picks else [best]


def long_axis(mask: np.ndarray, cal: TissueCalibration,
              annulus: tuple[tuple[float, float], tuple[float, float]] | None = None) -> float:
    """Atrial long-axis length (cm) of a boolean mask.

    With ``annulus`` ((x1, y1), (x2, y2)) in image pixels: the distance from the annulus midpoint
    to the farthest mask pixel (the atrial roof). Without: the extent of the mask along its
    principal axis (PCA through the centroid in physical coordinates, so anisotropic pixels are
    respected). Pixel centres are used and half a pixel footprint is added at each free end.
    """
    mask = np.asarray(mask, dtype=bool)
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        raise ValueError("mask is empty; there is no atrium to measure")
    dx, dy = cal.cm_per_px_x, cal.cm_per_px_y
    pts = np.stack([xs * dx, ys * dy], axis=1)
    if annulus is not None:
        (x1, y1), (x2, y2) = annulus
        mid = np.array([(x1 + x2) / 2 * dx, (y1 + y2) / 2 * dy])
        d = np.hypot(pts[:, 0] - mid[0], pts[:, 1] - mid[1])
        k = int(np.argmax(d))
        if d[k] == 0:
            return 0.5 * dx
        u = (pts[k] - mid) / d[k]
        return float(d[k] + 0.5 * (abs(u[0]) * dx + abs(u[1]) * dy))
    if xs.size == 1:
        return float(max(dx, dy))
    cen = pts - pts.mean(axis=0)
    w, v = np.linalg.eigh(cen.T @ cen)
    u = v[:, int(np.argmax(w))]
    proj = cen @ u
    return float(proj.max() - proj.min() + abs(u[0]) * dx + abs(u[1]) * dy)
