"""The outer envelope of a spectral strip from the Doppler network's soft flow mask.

The flow region of one column is the interval between the baseline and the outer envelope, so the
sum of coverage along the column on the flow side *is* the envelope's distance from the baseline in
pixels (sub-pixel, no thresholding). Pixel -> physical conversion through :mod:`echoseg.io.calibration`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from echoseg.io.calibration import col_to_time
from echoseg.types import SpectralCalibration


# ============================================================================= Doppler envelope
@dataclass(frozen=True, eq=False)
class FlowEnvelope:
    """Outer envelope of one spectral strip, one sample per region column.

    cols: whole-image columns; t_s: time from the region's left edge (s); velocity_cm_s: signed
    envelope velocity; confidence: 0..1 per column (1 = crisp mask); headroom_px: pixels left
    between the envelope and the region border on the flow side (< 2: clipped/aliased);
    side: sign of the flow's velocity (+1/-1); other_side_fraction: probability mass on the other
    side of the baseline relative to the flow side (mirror artefact or bidirectional flow).
    """

    cols: np.ndarray
    t_s: np.ndarray
    velocity_cm_s: np.ndarray
    confidence: np.ndarray
    headroom_px: np.ndarray
    side: int
    other_side_fraction: float

    @property
    def speed_cm_s(self) -> np.ndarray:
        return np.abs(self.velocity_cm_s)


def envelope_from_flow(prob: np.ndarray, cal: SpectralCalibration, side: int | None = None,
                       tail_px: int = 3) -> FlowEnvelope:
    """Sub-pixel outer envelope from a soft flow-region probability (H, W) in the full image grid.

    Per column of the spectral region, the envelope lies ``S`` pixels from the baseline (velocity =
    side · S · |ΔY|). The flow region of the column is the run of ``k`` pixels from the baseline
    that best agrees with the probabilities (k maximises Σ_{d<k} (2 p_d - 1)), so holes inside
    the flow (deeper than ``tail_px`` + 1 from the edge), a wall-filter gap at the baseline, background probability and blobs beyond the
    envelope (smaller than their distance from it) do not move it. ``S`` = the region's pixels up to
    ``tail_px`` before its outer end, counted as filled, plus the soft sum of p from there to
    ``tail_px`` beyond the end (the sub-pixel edge: exact for a coverage mask, unbiased for an
    edge blurred by up to ~``tail_px``/2). The pixel containing the baseline
    always contributes min(p, the fraction of it on the flow side).
    The flow side is the side with more total probability (``side`` = +1/-1 forces the sign of the
    velocity). Confidence per column = 2 / (2 + f), f = Σ min(p, 1-p) over undecided flow-side
    pixels (0.2 < p < 0.8) beyond the one expected partial edge pixel: 1 for a crisp mask, lower
    for a blurred edge or holes.
    """
    prob = np.asarray(prob)
    if prob.ndim != 2:
        raise ValueError(f"prob must be a 2-D (H, W) array, not shape {prob.shape}")
    r = cal.region
    if r.y1 >= prob.shape[0] or r.x1 >= prob.shape[1]:
        raise ValueError(f"spectral region x {r.x0}..{r.x1}, y {r.y0}..{r.y1} lies outside the "
                         f"{prob.shape[1]}x{prob.shape[0]} probability map; pass the map in the full image grid")
    if side not in (None, 1, -1):
        raise ValueError(f"side must be +1, -1 or None, not {side!r}")
    sub = np.clip(np.asarray(prob[r.y0:r.y1 + 1, r.x0:r.x1 + 1], dtype=np.float64), 0.0, 1.0)
    rows = np.arange(r.y0, r.y1 + 1, dtype=np.float64)[:, None]
    b = cal.baseline_row
    w_down = np.clip(rows + 0.5 - b, 0.0, 1.0)  # fraction of each pixel beyond the baseline, larger rows
    w_up = np.clip(b - rows + 0.5, 0.0, 1.0)
    sign_down = 1 if cal.cm_s_per_px > 0 else -1  # velocity sign of rows below the baseline
    if side is None:  # the baseline pixel adds equally to both totals, so it does not bias the choice
        use_down = np.minimum(sub, w_down).sum() >= np.minimum(sub, w_up).sum()
    else:
        use_down = side == sign_down
    w_flow, w_other = (w_down, w_up) if use_down else (w_up, w_down)
    flow = np.minimum(sub, w_flow)
    other = np.minimum(np.maximum(sub - w_flow, 0.0), w_other)  # what the flow side left of the baseline pixel
    sgn = sign_down if use_down else -sign_down
    order = np.nonzero(w_flow[:, 0] > 0)[0]
    if not use_down:
        order = order[::-1]  # outwards from the baseline
    s = _outer_extent(sub[order], w_flow[order], tail_px)
    limit = (r.y1 + 0.5 - b) if use_down else (b - r.y0 + 0.5)
    amb = np.minimum(sub, 1.0 - sub) * (w_flow >= 1.0) * ((sub > 0.2) & (sub < 0.8))
    fuzzy = amb.sum(axis=0) - amb.max(axis=0)  # one fractional (edge) pixel per column is expected
    conf = 2.0 / (2.0 + fuzzy)
    total = float(flow.sum())
    cols = np.arange(r.x0, r.x1 + 1)
    return FlowEnvelope(cols=cols, t_s=col_to_time(cal, cols), velocity_cm_s=sgn * s * cal.speed_per_px,
                        confidence=conf, headroom_px=limit - s, side=sgn,
                        other_side_fraction=float(other.sum()) / total if total > 0 else 0.0)


def _outer_extent(q: np.ndarray, w: np.ndarray, tail: int) -> np.ndarray:
    """Envelope distance (px) per column from probabilities ``q`` (D, C) ordered outwards from the
    baseline, ``w`` (D, 1) the fraction of each pixel on the flow side (see envelope_from_flow)."""
    d_n, c_n = q.shape
    if d_n == 0:
        return np.zeros(c_n)
    # flow = the first k pixels, k maximising  sum_{d<k} (2 q_d - 1): agreement of "inside" with p
    score = np.concatenate([np.zeros((1, c_n)), np.cumsum(2.0 * q - 1.0, axis=0)])
    k = np.argmax(score, axis=0)
    last_high = k - 1
    d = np.arange(d_n)[:, None]
    start = np.maximum(last_high - tail, 1)
    forced = (d >= 1) & (d < start[None, :])
    window = (d == 0) | ((d >= start[None, :]) & (d <= (last_high + tail)[None, :]))
    return (np.where(forced, w, 0.0) + np.where(window, np.minimum(q, w), 0.0)).sum(axis=0)
