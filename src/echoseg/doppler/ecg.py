"""Beats from the ECG trace drawn on a spectral Doppler screen.

Most scanners draw the ECG as a thin line (green, cyan, yellow, white or grey) in a band just
above or just below the spectral strip, sometimes running into it. :func:`ecg_r_waves` finds
that line and its R waves:

1. Where to look: inside the ECG regions of the DICOM regions (RegionDataType 10) when there
   are any; otherwise in three bands of the strip (``cal.region``): above and below it, each
   reaching ``_BAND_OUT`` of the strip height outside and ``_BAND_IN`` inside (clipped to the
   image), and its middle half (an ECG drawn across the strip).
2. The line: a white top-hat (a 7x7 grey opening subtracted) keeps structures thinner than
   7 px in any orientation, so steep R-wave strokes survive. Pixels standing out, by brightness
   (grey and white traces) or by chroma (coloured traces), less long straight horizontal runs
   (strip borders, rulers, baselines), form 8-connected components; thin ones are chained
   end to end across gaps (marker lines, erase bars) from the widest, and one vertical run per
   column is tracked through them (continuous with its neighbours, so speckle or text touching
   the line is left out). The line must cover >= 70 % of the columns (text never does), stand
   out from both sides (not the edge of a bright region), not be flat (a ruler) and not lie on
   the velocity baseline's clutter band.
3. R waves: per column the line's highest and lowest pixel give an upward and a downward
   deflection signal; spikes narrower than 0.01 s are opened away (markers, valve clicks), a
   0.3 s running-median high-pass removes baseline wander; peaks
   (:func:`echoseg.imaging.signal.find_peaks`) at least 0.25 s apart (then 0.55 of the first
   median RR, except peaks at least 0.8 of the typical R height: the short RR intervals of
   atrial fibrillation) reaching half the typical large one are R waves. The polarity whose peaks are
   sharper (taller after a 0.15 s high-pass, which flattens P and T waves) wins, so upright R
   waves and deep QS complexes both work.

Returns None (no exception) when no trace is found or fewer than two R waves are: many screens
have no ECG. The best of the candidate lines (per band, brightness or chroma) is the one with the
highest ``quality`` (coverage times R-wave contrast).
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from echoseg.imaging.signal import find_peaks
from echoseg.io.calibration import col_to_time
from echoseg.types import Region, SpectralCalibration

ECG_DATA_TYPE = 10
_BAND_OUT, _BAND_IN = 0.35, 0.3   # band reach outside / inside the strip, fraction of its height
_MIDDLE = (0.25, 0.75)            # rows of the middle band (an ECG drawn across the strip), fraction of its height
_TOPHAT = 7                       # lines thinner than this (px) are kept by the top-hat
_MIN_COVERAGE = 0.7               # fraction of the columns the trace must cover
_MAX_THICK = 4.0                  # pixels per unit of length of a thin line (see _thickness)
_FLAT_FRACTION = 0.9              # a trace flatter than this is a ruler or border, not an ECG
_REFRACTORY_S = 0.25              # no two R waves closer than this (s)
_HIGHPASS_S = 0.3                 # running-median window removing baseline wander (s)
_SPIKE_S = 0.01                   # deflections narrower than this (s) are markers or clicks
_SHARP_S = 0.15                   # narrower high-pass window used to pick the polarity (s)
_MIN_HEIGHT_PX = 2.5              # smallest R-wave height (px)
_SHORT_RR_HEIGHT = 0.8            # a peak this tall (fraction of the typical R) is an R wave however close
_GAP_S = 0.03                     # a gap in the line this long may hide an R wave
_STRAIGHT = 0.5                   # a horizontal run this long (fraction of the width) is not an ECG
_SIDE_PX, _MIN_TWO_SIDED = 4, 0.6  # a line must stand out from the pixels this far above and below it
_BASELINE_BAND = 0.035            # a line this close to the velocity baseline (fraction of strip height) is clutter


@dataclass(frozen=True, eq=False)
class EcgTrace:
    """The ECG found on one screen.

    ``cols``: image columns searched (ascending); ``y``: trace row (centre of the line) per column,
    NaN where the line is missing; ``r_cols``/``r_times_s``: R-wave columns and their strip times
    (s from the strip's left edge); ``heart_rate_bpm``: 60 / median RR; ``quality``: 0..1 (line
    coverage times how clearly the R waves stand above the other peaks); ``polarity``: +1 upright
    R waves, -1 downward; ``source``: the band searched ("region", "above", "below", "middle").
    """

    cols: np.ndarray
    y: np.ndarray
    r_cols: np.ndarray
    r_times_s: np.ndarray
    heart_rate_bpm: float
    quality: float
    polarity: int = 1
    source: str = ""

    @property
    def rr_s(self) -> np.ndarray:
        """RR intervals (s)."""
        return np.diff(self.r_times_s)


@dataclass(frozen=True)
class _Band:
    """A search box in image coordinates."""

    name: str
    r0: int
    r1: int   # inclusive
    c0: int
    c1: int   # inclusive


@dataclass(frozen=True, eq=False)
class _Line:
    """A thin line in a band: per band column top/bottom/centre rows (band coordinates, NaN = none)."""

    top: np.ndarray
    bottom: np.ndarray
    mid: np.ndarray
    coverage: float


def _bands(shape: tuple[int, int], cal: SpectralCalibration, regions: Sequence[Region]) -> list[_Band]:
    """Search boxes: the ECG regions when present, otherwise the bands above, below and across the strip."""
    rows, cols = shape
    ecg = [r for r in regions if r.data_type == ECG_DATA_TYPE]
    if ecg:
        out = [_Band("region", max(0, r.y0), min(rows - 1, r.y1), max(0, r.x0), min(cols - 1, r.x1)) for r in ecg]
        return [b for b in out if b.r1 - b.r0 >= 4 and b.c1 - b.c0 >= 10]
    s = cal.region
    c0, c1 = max(0, s.x0), min(cols - 1, s.x1)
    out_px, in_px = round(_BAND_OUT * s.height), round(_BAND_IN * s.height)
    above = _Band("above", max(0, s.y0 - out_px), min(rows - 1, s.y0 + in_px), c0, c1)
    below = _Band("below", max(0, s.y1 - in_px), min(rows - 1, s.y1 + out_px), c0, c1)
    middle = _Band("middle", s.y0 + int(_MIDDLE[0] * s.height), s.y0 + int(_MIDDLE[1] * s.height), c0, c1)
    return [b for b in (above, below, middle) if b.r1 - b.r0 >= 4]


def _tophat(x: np.ndarray) -> np.ndarray:
    """White top-hat: what a square grey opening removes (structures thinner than _TOPHAT px)."""
    return x - ndimage.grey_opening(x, size=(_TOPHAT, _TOPHAT))


def _drop_long_runs(mask: np.ndarray, min_len: int) -> np.ndarray:
    """``mask`` without horizontal runs of ``min_len`` or more pixels in one row: strip borders,
    rulers and baselines are straight; an ECG leaves its row at every beat."""
    pad = np.zeros((mask.shape[0], 1), dtype=np.int8)
    d = np.diff(np.hstack([pad, mask.astype(np.int8), pad]), axis=1)
    r0, c0 = np.nonzero(d == 1)
    _, c1 = np.nonzero(d == -1)  # row-major order: ends pair with starts
    out = mask.copy()
    for r, a, b in zip(r0, c0, c1):
        if b - a >= min_len:
            out[r, a:b] = False
    return out


def _mask(score: np.ndarray, floor: float = 12.0) -> np.ndarray:
    """Pixels standing out (above 40 % of the typical per-column maximum, the line's contrast),
    less long straight horizontal runs (see :func:`_drop_long_runs`)."""
    typical = float(np.median(score.max(axis=0)))
    mask = np.asarray(score > max(floor, 0.4 * typical))
    return _drop_long_runs(mask, max(20, int(_STRAIGHT * mask.shape[1])))


def _components(mask: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Thin 8-connected components (see :func:`_thickness`) as (rows, cols) pixel arrays, at least
    3 columns wide."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return []
    rr, cc = np.nonzero(labels)
    lab = labels[rr, cc].astype(np.int64)
    thick, ncols = _thickness(lab, rr, cc, n, mask.shape[1])
    keep = ((ncols >= 3) & (thick <= _MAX_THICK))[lab]
    if not keep.any():
        return []
    rr, cc, lab = rr[keep], cc[keep], lab[keep]
    order = np.argsort(lab, kind="stable")
    cuts = np.flatnonzero(np.diff(lab[order])) + 1
    return list(zip(np.split(rr[order], cuts), np.split(cc[order], cuts)))


def _thickness(lab: np.ndarray, r: np.ndarray, c: np.ndarray, n: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(pixels per unit length, columns) of components 0..n given their pixels' labels, rows and
    columns. The length is the approximate arc length: per column step, the larger of 1 and the
    moves of the component's top and bottom rows; so the thickness is about the line width for a
    line at any slope, steep R-wave strokes included, and large for blobs."""
    keys, inv = np.unique(lab * width + c, return_inverse=True)
    top, bottom = np.full(keys.size, np.inf), np.full(keys.size, -np.inf)
    np.minimum.at(top, inv, r)
    np.maximum.at(bottom, inv, r)
    owner = keys // width
    step = np.maximum(np.maximum(np.abs(np.diff(top)), np.abs(np.diff(bottom))), 1.0)
    step[owner[1:] != owner[:-1]] = 0.0  # no step between two components
    length = 1.0 + np.bincount(owner[1:], step, minlength=n + 1)
    ncols = np.bincount(owner, minlength=n + 1)
    return np.bincount(lab, minlength=n + 1) / length, ncols


def _end_rows(r: np.ndarray, c: np.ndarray) -> tuple[int, int, float, float]:
    """First and last column of a component and its mean row at each."""
    lo, hi = int(c.min()), int(c.max())
    return lo, hi, float(r[c == lo].mean()), float(r[c == hi].mean())


def _chain(comps: list[tuple[np.ndarray, np.ndarray]], height: int, width: int) -> list[int]:
    """Indices of components chained into one line: the widest, extended left and right by
    components that barely overlap it in columns and continue it in rows."""
    if not comps:
        return []
    widths = [np.unique(c).size for _, c in comps]
    min_width = max(5, int(0.01 * width))
    chosen = [int(np.argmax(widths))]
    lo, hi, y_lo, y_hi = _end_rows(*comps[chosen[0]])
    tol = max(6.0, 0.15 * height)
    grown = True
    while grown:
        grown = False
        for i in np.argsort(widths)[::-1]:
            if i in chosen or widths[i] < min_width:
                continue
            a, b, ya, yb = _end_rows(*comps[i])
            if b <= lo + 2 and abs(yb - y_lo) <= tol + 0.3 * (lo - b):
                lo, y_lo, grown = a, ya, True
            elif a >= hi - 2 and abs(ya - y_hi) <= tol + 0.3 * (a - hi):
                hi, y_hi, grown = b, yb, True
            else:
                continue
            chosen.append(int(i))
    return chosen


def _runs(r: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertical runs of a pixel set: (column, first row, last row) of each, ordered by column."""
    order = np.lexsort((r, c))
    r, c = r[order], c[order]
    starts = np.flatnonzero(np.concatenate([[True], (np.diff(c) != 0) | (np.diff(r) > 1)]))
    ends = np.concatenate([starts[1:], [r.size]]) - 1
    return c[starts], r[starts], r[ends]


def _track(r: np.ndarray, c: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """One vertical run per column, continuous with its neighbours: dynamic programming over the
    runs minimising the row gaps between consecutive chosen runs. Returns per-column (top, bottom),
    NaN where the pixel set has no run."""
    col, r0, r1 = _runs(r, c)
    cuts = np.flatnonzero(np.diff(col)) + 1
    groups = np.split(np.arange(col.size), cuts)
    cost, back = [np.zeros(groups[0].size)], []
    for prev, cur in itertools.pairwise(groups):
        gap = np.maximum(0, np.maximum(r0[cur][None, :] - r1[prev][:, None], r0[prev][:, None] - r1[cur][None, :]))
        total = cost[-1][:, None] + gap
        back.append(np.argmin(total, axis=0))
        cost.append(total.min(axis=0))
    k = int(np.argmin(cost[-1]))
    picked = [int(groups[-1][k])]
    for g, b in zip(groups[-2::-1], back[::-1]):
        k = int(b[k])
        picked.append(int(g[k]))
    pick = np.asarray(picked[::-1], dtype=np.intp)
    top, bottom = np.full(width, np.nan), np.full(width, np.nan)
    top[col[pick]], bottom[col[pick]] = r0[pick], r1[pick]
    return top, bottom


def _two_sided(x: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> float:
    """How much a line stands out from both sides: median over its columns of (its value minus the
    brighter of the pixels _SIDE_PX above and below it), relative to its median value. Near 1 for
    a line on a dark background, small for the edge of a bright region (baseline clutter, spectrum)."""
    cols = np.flatnonzero(np.isfinite(top))
    t, b = top[cols].astype(np.intp), bottom[cols].astype(np.intp)
    val = x[(t + b) // 2, cols]
    above = x[np.clip(t - _SIDE_PX, 0, x.shape[0] - 1), cols]
    below = x[np.clip(b + _SIDE_PX, 0, x.shape[0] - 1), cols]
    return float(np.median(val - np.maximum(above, below))) / max(float(np.median(val)), 1.0)


def _line(comps: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray, avoid: tuple[float, float]) -> _Line | None:
    """Per-column extent of the chained components' tracked runs in channel ``x``; None when the
    chain is too short, flat, an edge rather than a line (:func:`_two_sided`), or lies within
    ``avoid`` = (row, tolerance): the velocity baseline's clutter band. Runs reaching the band's
    top or bottom row (a spike or marker crossing the band) count as missing."""
    height, width = x.shape
    chosen = _chain(comps, height, width)
    if not chosen:
        return None
    r = np.concatenate([comps[i][0] for i in chosen])
    c = np.concatenate([comps[i][1] for i in chosen])
    top, bottom = _track(r, c, width)
    cut = (top <= 0) | (bottom >= height - 1)
    top[cut], bottom[cut] = np.nan, np.nan
    present = np.isfinite(top)
    coverage = float(present.mean())
    if coverage < _MIN_COVERAGE:
        return None
    mid = (top + bottom) / 2
    ok = mid[present]
    if np.mean(np.abs(ok - np.median(ok)) <= 1.0) > _FLAT_FRACTION or abs(np.median(ok) - avoid[0]) < avoid[1]:
        return None
    if _two_sided(x, top, bottom) < _MIN_TWO_SIDED:
        return None
    return _Line(top, bottom, mid, coverage)


def _find_lines(rgb: np.ndarray, avoid: tuple[float, float]) -> list[_Line]:
    """Candidate traces in one band, from its brightness and from its chroma; ``avoid``: see :func:`_line`."""
    v = rgb.max(axis=2).astype(np.float32)
    chroma = v - rgb.min(axis=2).astype(np.float32)
    lines = (_line(_components(_mask(_tophat(x))), x, avoid) for x in (v, chroma))
    return [line for line in lines if line is not None]


def _fill(y: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN gaps (edges held)."""
    ok = np.isfinite(y)
    idx = np.arange(y.size)
    return np.interp(idx, idx[ok], y[ok])


def _despike(y: np.ndarray, s_per_px: float) -> np.ndarray:
    """Grey opening over _SPIKE_S: removes peaks narrower than an R wave (vertical marker lines,
    spectral spikes touching the trace). Nothing when that is under 3 samples (slow sweeps, where
    an R wave itself is only 2-3 px wide)."""
    w = round(_SPIKE_S / s_per_px) | 1
    return y if w < 3 else np.asarray(ndimage.grey_opening(y, size=w, mode="nearest"))


def _highpass(y: np.ndarray, s_per_px: float, window_s: float = _HIGHPASS_S) -> np.ndarray:
    """``y`` minus its running median over ``window_s``: only narrow deflections (QRS) remain."""
    w = max(3, round(window_s / s_per_px) | 1)
    return y - ndimage.median_filter(y, size=w, mode="nearest")


def _peaks(sig: np.ndarray, distance: float) -> tuple[np.ndarray, float, float]:
    """R-wave candidates of one polarity: (indices, typical R height, largest other height).

    Heights above the high-passed signal's zero, not prominences: a small S wave between two deep
    (opposite) R deflections would have a large prominence.
    """
    peaks = find_peaks(sig, distance=max(1.0, distance))
    if peaks.size == 0:
        return peaks, 0.0, 0.0
    height = sig[peaks]
    keep = height >= max(_MIN_HEIGHT_PX, 0.5 * float(np.percentile(height, 90)))
    other = float(height[~keep].max()) if (~keep).any() else 0.0
    typical = float(np.median(height[keep])) if keep.any() else 0.0
    return peaks[keep], typical, other


def _r_waves(line: _Line, s_per_px: float) -> tuple[np.ndarray, int, float]:
    """R-wave band columns, polarity (+1 up, -1 down) and contrast (0..1) of the clearer polarity.

    The polarity whose peaks are sharper wins: their median height after a narrower (_SHARP_S)
    high-pass, which keeps a QRS but flattens the broader P and T waves."""
    best: tuple[np.ndarray, int, float, float, float] = (np.zeros(0, dtype=np.intp), 1, 0.0, 0.0, 0.0)
    for polarity, rows in ((1, line.top), (-1, line.bottom)):
        y = _despike(-polarity * _fill(rows), s_per_px)
        sig = _highpass(y, s_per_px)
        peaks, typical, other = _peaks(sig, _REFRACTORY_S / s_per_px)
        if peaks.size >= 2:  # second pass: no two R waves closer than 0.55 of the median RR ...
            first = peaks
            rr = float(np.median(np.diff(peaks)))
            peaks, typical, other = _peaks(sig, max(_REFRACTORY_S / s_per_px, 0.55 * rr))
            # ... unless as tall as the R waves: a short RR of atrial fibrillation, not a T wave
            tall = first[sig[first] >= _SHORT_RR_HEIGHT * typical]
            peaks = np.union1d(peaks, tall).astype(np.intp)
        sharp = float(np.median(_highpass(y, s_per_px, _SHARP_S)[peaks])) if peaks.size else 0.0
        if sharp > best[4]:
            best = (peaks, polarity, typical, other, sharp)
    peaks, polarity, typical, other, _ = best
    contrast = float(np.clip(1.0 - other / typical, 0.0, 1.0)) if typical > 0 else 0.0
    return peaks, polarity, contrast


def _heart_rate(peaks: np.ndarray, present: np.ndarray, s_per_px: float) -> float:
    """60 / median RR (s), leaving out RR intervals across a gap in the line long enough (_GAP_S)
    to hide an R wave (erase bars), unless all of them do."""
    rr = np.diff(peaks).astype(np.float64)
    holes = np.array([_longest_gap(present[a:b]) for a, b in itertools.pairwise(peaks)])
    ok = holes * s_per_px <= _GAP_S
    return 60.0 / (float(np.median(rr[ok] if ok.any() else rr)) * s_per_px)


def _longest_gap(present: np.ndarray) -> int:
    """Longest run of False in a boolean array."""
    d = np.diff(np.concatenate([[1], present.astype(np.int8), [1]]))
    starts, ends = np.flatnonzero(d == -1), np.flatnonzero(d == 1)
    return int((ends - starts).max()) if starts.size else 0


def _trace(frame: np.ndarray, band: _Band, cal: SpectralCalibration) -> EcgTrace | None:
    """The clearest ECG of one search box, or None."""
    rgb = frame[band.r0:band.r1 + 1, band.c0:band.c1 + 1]
    avoid = (cal.baseline_row - band.r0, max(10.0, _BASELINE_BAND * cal.region.height))
    cols = np.arange(band.c0, band.c1 + 1)
    best: EcgTrace | None = None
    for line in _find_lines(rgb, avoid):
        peaks, polarity, contrast = _r_waves(line, cal.s_per_px)
        if peaks.size < 2:
            continue
        hr = _heart_rate(peaks, np.isfinite(line.mid), cal.s_per_px)
        trace = EcgTrace(cols=cols, y=line.mid + band.r0, r_cols=cols[peaks], r_times_s=col_to_time(cal, cols[peaks]),
                         heart_rate_bpm=hr, quality=round(line.coverage * contrast, 4), polarity=polarity,
                         source=band.name)
        if best is None or trace.quality > best.quality:
            best = trace
    return best


def ecg_r_waves(frame_rgb: np.ndarray, cal: SpectralCalibration, regions: Sequence[Region] = ()) -> EcgTrace | None:
    """R waves of the ECG drawn on a spectral Doppler screen, or None when there is none.

    Args:
        frame_rgb: (H, W, 3) uint8 screen; of a (T, H, W, 3) stack the first frame is used, an
            (H, W) grey image is accepted.
        cal: calibration of the spectral strip (its region and time scale).
        regions: the DICOM ultrasound regions; an ECG region (RegionDataType 10) is searched
            instead of the bands around the strip.
    """
    frame = np.asarray(frame_rgb)
    frame = frame[0] if frame.ndim == 4 else (np.repeat(frame[..., None], 3, axis=2) if frame.ndim == 2 else frame)
    if frame.ndim != 3 or frame.shape[2] < 3:
        raise ValueError(f"frame_rgb must be (H, W, 3), not shape {np.shape(frame_rgb)}")
    frame = frame[..., :3]
    found = [t for b in _bands(frame.shape[:2], cal, regions) if (t := _trace(frame, b, cal)) is not None]
    return max(found, key=lambda t: t.quality) if found else None


__all__ = ["ECG_DATA_TYPE", "EcgTrace", "ecg_r_waves"]
