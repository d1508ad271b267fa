"""Post-processing of model outputs: mask cleaning, atrial area curves and frame picking,
Doppler envelopes from a soft flow mask, and beat splitting without ECG.

Everything is pure numpy/scipy on arrays in the full image grid; pixel -> physical conversions go
through calibration.py. Conventions:

* A soft mask value is the fraction of the pixel covered by the structure (a binary mask is the
  special case 0/1). Pixel row ``r`` spans ``[r - 0.5, r + 0.5]``.
* The Doppler flow region of one column is the interval between the baseline and the outer
  envelope, so the sum of coverage along the column on the flow side *is* the envelope's distance
  from the baseline in pixels (sub-pixel, no thresholding).
* Beat spans are inclusive index ranges ``start..end`` into the envelope arrays.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .calibration import col_to_time, mask_area_cm2
from .peaks import find_peaks
from .types import SpectralCalibration, TissueCalibration


# ============================================================================= masks and atria
def components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels, sizes) of the 8-connected components of a boolean mask; sizes[i] is label i+1's."""
    labels, n = ndimage.label(np.asarray(mask, dtype=bool), structure=np.ones((3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    return labels, sizes


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


def estimate_period(x: np.ndarray, dt: float, min_s: float = 0.3, max_s: float = 2.0,
                    min_corr: float = 0.2) -> float | None:
    """Dominant period (s) of a sampled signal from its autocorrelation, or None.

    The biased autocorrelation is used, so the fundamental beats its multiples; lags are searched
    in ``[min_s, max_s]`` and up to 70 % of the record. None when no peak reaches ``min_corr``.
    """
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean()
    n = x.size
    if n < 4 or not np.any(x):
        return None
    spec = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(spec * np.conj(spec))[:n]
    ac = ac / ac[0]
    lo = max(1, int(np.ceil(min_s / dt)))
    hi = min(int(np.floor(max_s / dt)) + 1, int(0.7 * n))
    if hi - lo < 2:
        return None
    seg = ac[lo - 1:hi + 1]
    peaks = find_peaks(seg)
    peaks = peaks[(peaks > 0) & (peaks < seg.size - 1)]
    if peaks.size == 0:
        return None
    k = int(peaks[np.argmax(seg[peaks])])
    if seg[k] < min_corr:
        return None
    y0, y1, y2 = seg[k - 1], seg[k], seg[k + 1]
    den = y0 - 2 * y1 + y2
    frac = 0.5 * (y0 - y2) / den if den != 0 else 0.0
    return float((lo - 1 + k + frac) * dt)


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
    period = 60.0 / heart_rate_bpm if heart_rate_bpm else estimate_period(c, dt)
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


# ============================================================================= beat splitting
def erase_bar_columns(strip: np.ndarray, flat_frac: float = 0.15, max_width_frac: float = 0.05) -> np.ndarray:
    """Columns of a spectral strip blanked by a sweep display's erase bar (bool per column).

    ``strip``: the spectral region's pixels, (rows, cols) grey or (rows, cols, 3). A column is flat
    when its standard deviation over rows is below ``flat_frac`` of the strip's median column
    deviation (speckle, spectrum and noise everywhere else). An erase bar is a run of flat columns
    no wider than ``max_width_frac`` of the strip with textured columns on both sides, widened by
    one column each way for the blurred edges of compressed images. Wide flat stretches (a clean
    display between beats) and runs at the strip's edges are not erase bars.
    """
    g = np.asarray(strip, dtype=np.float32)
    if g.ndim == 3:
        g = g.max(axis=2)
    if g.ndim != 2:
        raise ValueError(f"strip must be (rows, cols) or (rows, cols, 3), not shape {np.shape(strip)}")
    n = g.shape[1]
    out = np.zeros(n, dtype=bool)
    if n < 10 or g.shape[0] < 2:
        return out
    sd = g.std(axis=0)
    typical = float(np.median(sd))
    if typical <= 0:
        return out
    for a, e in _runs(sd < flat_frac * typical):
        if a > 0 and e < n - 1 and e - a + 1 <= max_width_frac * n:
            out[max(a - 1, 0):e + 2] = True
    return out


@dataclass(frozen=True)
class Span:
    """One flow period: samples ``start..end`` (inclusive) of the envelope.

    complete: the whole flow period lies in the strip (neither end clipped). rr_s: time from the
    previous beat's start, when both starts are inside the strip.
    """

    start: int
    end: int
    complete: bool
    rr_s: float | None = None
    clipped_start: bool = False
    clipped_end: bool = False


def _runs(mask: np.ndarray) -> list[list[int]]:
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.nonzero(d == 1)[0], np.nonzero(d == -1)[0] - 1
    return [[int(a), int(e)] for a, e in zip(starts, ends)]


def split_beats(t: np.ndarray, speed: np.ndarray, *, threshold_frac: float = 0.10, bridge_s: float = 0.03,
                min_dur_s: float = 0.05, min_peak_frac: float = 0.15, floor_frac: float = 0.03, edge_frac: float = 0.0,
                join: bool = False, period_s: float | None = None, join_gap_frac: float = 0.35,
                valid: np.ndarray | None = None) -> list[Span]:
    """Flow periods of an envelope without ECG.

    1. Flow = speed above ``threshold_frac`` of the robust peak (98th percentile of speed).
    2. Gaps up to ``bridge_s`` are bridged; periods shorter than ``min_dur_s`` or peaking below
       ``min_peak_frac`` of the robust peak are dropped.
    3. Each period is extended outwards across samples above ``floor_frac`` of the robust peak,
       plus the first sample at or below it when lower, so the low-velocity onset, end and
       diastolic plateau below the threshold are integrated too (never into a neighbour).
    4. ``join`` (mitral inflow): E and A are joined into one beat. The cardiac cycle P comes from
       ``period_s`` or the autocorrelation of speed. (a) Biphasic pattern: with >= 3 gaps, when every
       other gap is shorter than 0.6 x every gap between them (E-A diastasis vs systole), those
       pairs are joined. (b) Nearly fused waves: a gap of at most min(0.2 s, ``join_gap_frac``·P)
       that is a local minimum of the gap sequence is joined, repeatedly. A joined beat lasts at
       most 0.8·P. In atrial fibrillation (no A wave) the gaps are all systolic and similar, so
       nothing is joined. (c) Once some beats are joined, two adjacent unjoined waves, each shorter
       than 0.75 x the joined beats' median duration D and with a gap that is a local minimum, are
       joined when together they span at most 1.25 x D (an E-A pair whose diastasis was too long for (b)). When pairs were joined, a lone wave within 1.5 x the longest joined gap
       of the strip edge is marked incomplete (its partner may lie outside the strip).
    5. A period is complete unless it touches the first/last sample with speed there above
       ``edge_frac`` of the robust peak (default 0: any flow at the edge sample). ``valid`` (bool per
       sample, e.g. False under a sweep display's erase bar) marks samples that show nothing: their
       speed counts 0, and a beat whose flow (above the floor) runs into one is incomplete.
    """
    t = np.asarray(t, dtype=np.float64)
    s = np.abs(np.asarray(speed, dtype=np.float64))
    if t.ndim != 1 or t.shape != s.shape:
        raise ValueError(f"t and speed must be 1-D arrays of equal length, not shapes {t.shape} and {s.shape}")
    n = s.size
    if n < 3:
        return []
    bad = np.zeros(n, dtype=bool) if valid is None else ~np.asarray(valid, dtype=bool)
    if bad.shape != s.shape:
        raise ValueError(f"valid must have one flag per sample ({n}), not shape {bad.shape}")
    bad = bad | ~np.isfinite(s)  # NaN/inf samples show nothing either
    s = np.where(bad, 0.0, s)
    peak = float(np.percentile(s, 98))
    if peak <= 0:
        return []
    runs = _runs(s > threshold_frac * peak)
    merged: list[list[int]] = []
    for a, e in runs:
        if merged and t[a] - t[merged[-1][1]] <= bridge_s:
            merged[-1][1] = e
        else:
            merged.append([a, e])
    kept = [[a, e] for a, e in merged
            if t[e] - t[a] >= min_dur_s and s[a:e + 1].max() >= min_peak_frac * peak]
    # extend down the slopes and across low flow above the floor, never past the neighbours
    floor = floor_frac * peak
    for i, seg in enumerate(kept):
        lo = kept[i - 1][1] if i > 0 else 0
        while seg[0] > lo and s[seg[0]] > floor and (s[seg[0] - 1] > floor or s[seg[0] - 1] < s[seg[0]]):
            seg[0] -= 1
        hi = kept[i + 1][0] if i + 1 < len(kept) else n - 1
        while seg[1] < hi and s[seg[1]] > floor and (s[seg[1] + 1] > floor or s[seg[1] + 1] < s[seg[1]]):
            seg[1] += 1
    partial_start = [False] * len(kept)
    partial_end = [False] * len(kept)
    if join and len(kept) > 1:
        kept, partial_start, partial_end = _join_pairs(t, s, kept, period_s, join_gap_frac)
    spans: list[Span] = []
    prev_start: float | None = None
    for (a, e), ps, pe in zip(kept, partial_start, partial_end):
        cs = ps or (a == 0 and s[0] > edge_frac * peak)
        ce = pe or (e == n - 1 and s[-1] > edge_frac * peak)
        if bad[max(a - 1, 0):min(e + 2, n)].any():  # flow running into an invalid stretch is cut there
            k = a + int(np.argmax(s[a:e + 1]))
            for h in np.nonzero(bad[max(a - 1, 0):min(e + 2, n)])[0] + max(a - 1, 0):
                # the valid neighbour's speed, extrapolated one sample into the hole, still above the floor
                nb = [(j, 2 * j - h) for j in (h - 1, h + 1) if a <= j <= e and not bad[j]]
                if any(s[j] > floor and (not 0 <= j2 < n or 2 * s[j] - s[j2] > floor) for j, j2 in nb):
                    cs, ce = cs or bool(h <= k), ce or bool(h > k)
        rr = float(t[a] - prev_start) if (prev_start is not None and not cs) else None
        spans.append(Span(a, e, not (cs or ce), rr, bool(cs), bool(ce)))
        prev_start = None if cs else float(t[a])
    return spans


def _join_pairs(t: np.ndarray, s: np.ndarray, segs: list[list[int]], period_s: float | None,
                frac: float) -> tuple[list[list[int]], list[bool], list[bool]]:
    dt = float(np.median(np.diff(t)))
    period = period_s if period_s else estimate_period(s, dt, 0.3, 2.0)
    max_dur = 0.8 * period if period else np.inf
    short_gap = min(0.2, frac * period) if period else 0.2
    segs = [list(x) for x in segs]
    joined = [False] * len(segs)

    def gaps() -> list[float]:
        return [float(t[segs[i + 1][0]] - t[segs[i][1]]) for i in range(len(segs) - 1)]

    def dur(i: int) -> float:
        return float(t[segs[i + 1][1]] - t[segs[i][0]])

    joined_gaps: list[float] = []

    def join_at(i: int, gap: float) -> None:
        joined_gaps.append(gap)
        segs[i] = [segs[i][0], segs[i + 1][1]]
        del segs[i + 1]
        joined[i] = True
        del joined[i + 1]

    def join_local_minima(accept: Callable[[int, float], bool]) -> None:
        """Join the smallest gap that is a local minimum of the gaps and that ``accept`` admits, repeatedly."""
        while len(segs) > 1:
            g = gaps()
            best, best_gap = -1, np.inf
            for i, gi in enumerate(g):
                local_min = (i == 0 or gi <= g[i - 1]) and (i == len(g) - 1 or gi <= g[i + 1])
                if local_min and gi < best_gap and accept(i, gi):
                    best, best_gap = i, gi
            if best < 0:
                return
            join_at(best, best_gap)

    def like_joined_beats(i: int, _gap: float) -> bool:
        if not any(joined) or len(segs) < 3 or joined[i] or joined[i + 1]:
            return False
        d_beat = float(np.median([float(t[b] - t[a]) for (a, b), j in zip(segs, joined) if j]))
        alone = max(float(t[segs[k][1]] - t[segs[k][0]]) for k in (i, i + 1))
        return alone < 0.75 * d_beat and dur(i) <= min(1.25 * d_beat, max_dur)

    g = gaps()
    # biphasic pattern: every other gap (E -> A) clearly shorter than the gaps between (systole)
    if len(g) >= 3:
        for parity in (0, 1):
            mine, other = g[parity::2], g[1 - parity::2]
            if mine and other and max(mine) < 0.6 * min(other):
                for i in range(len(g) - 1 - (len(g) - 1 - parity) % 2, parity - 1, -2):
                    if dur(i) <= max_dur:
                        join_at(i, g[i])
                break
    # nearly fused waves
    join_local_minima(lambda i, gi: gi <= short_gap and dur(i) <= max_dur)
    # a pair left apart among joined beats: two short waves that together span like a joined beat
    join_local_minima(like_joined_beats)
    ps, pe = [False] * len(segs), [False] * len(segs)
    if joined_gaps:
        reach = 1.5 * max(joined_gaps) + 2 * dt  # a partner wave could hide this close to the edge
        if not joined[0] and t[segs[0][0]] - t[0] < reach:
            ps[0] = True
        if not joined[-1] and t[-1] - t[segs[-1][1]] < reach:
            pe[-1] = True
    return segs, ps, pe
