"""Temporal consistency of an atrial area curve: outlier frames, cardiac cycles, the consistent ones.

A few bad frames (the network losing the atrium while the mitral valve is open, one flickering
outline) must not sink a loop, and must not become the measured frame either. The steps:

1. **Outlier frames**: a frame whose area is off the 5-frame running median by more than
   ``outlier_frac`` of the curve's median is an outlier (on synthetic cines, whose curves are
   smooth, the largest such deviation is 7 %); the *cleaned* curve replaces outliers by linear
   interpolation between the good frames around them.
2. **Cycles**: the per-cycle maxima of the cleaned curve. With R waves (the file's R Wave Time
   Vector, (0018,6060)), each R-R interval is one cycle and its maximum is the cleaned curve's
   largest frame inside it (:func:`r_wave_picks`); otherwise
   :func:`~echoseg.atria.postprocess.pick_frames` (the cycle from the heart rate when known, else
   the curve's autocorrelation).
3. **Consistent cycles**: a cycle is checked on the frames within ``window_cycle`` of a cycle
   around its maximum: it is set aside when the maximum or a frame next to it is an outlier, or when
   the cleaned curve jumps by more than ``max_jump`` of its median between consecutive frames
   there. Of the cycles left, the largest group whose maxima all lie within ``agree`` of the
   group's median is kept (ties: the group of larger areas); the others are set aside as
   disagreeing with the rest, and when three or more are left and no two agree, none is kept.
4. The measured frame is the largest maximum of the kept cycles; the spread is the coefficient of
   variation (SD / mean) of their maxima. A loop is refused only when no cycle is consistent.

Curves shorter than :data:`MIN_FRAMES_CHECKED` frames are not checked (every maximum is kept).

Example::

    >>> import numpy as np
    >>> t = np.arange(60)
    >>> curve = 12 + 5 * np.cos(2 * np.pi * (t - 5) / 20)  # three cycles, maxima at 5, 25, 45
    >>> curve[26] = 1.0  # one lost frame right after the second maximum
    >>> cyc = analyse_cycles(curve, 33.3)
    >>> cyc.outliers, [c.peak for c in cyc.kept], cyc.frame in (5, 25, 45), cyc.reason
    ((26,), [5, 45], True, '')
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from echoseg.atria.postprocess import cycle_period_s, pick_frames

MIN_FRAMES_CHECKED = 8


@dataclass(frozen=True)
class Cycle:
    """One cardiac cycle of an area curve.

    ``peak``: frame of its maximum; ``value``: the area there (cm², the raw curve); ``window``:
    first and last frame checked; ``max_jump``: largest frame-to-frame change of the cleaned curve
    in the window, as a fraction of the curve's median; ``reason``: why it was set aside ('' when kept).
    """

    peak: int
    value: float
    window: tuple[int, int]
    max_jump: float
    reason: str = ""

    @property
    def kept(self) -> bool:
        return not self.reason


@dataclass(frozen=True, eq=False)
class CycleAnalysis:
    """The cycles of one area curve and which of them are consistent (see the module docstring).

    ``cleaned``: the curve with outlier frames interpolated; ``outliers``: their frames;
    ``period_frames``: the cardiac cycle in frames (None when none was found); ``checked``: False
    for curves too short to check; ``from_r_waves``: the cycles are the R-R intervals of the ECG.
    """

    cleaned: np.ndarray
    outliers: tuple[int, ...]
    cycles: tuple[Cycle, ...]
    period_frames: float | None
    checked: bool = True
    from_r_waves: bool = False

    @property
    def kept(self) -> tuple[Cycle, ...]:
        """The consistent cycles, in time order."""
        return tuple(c for c in self.cycles if c.kept)

    @property
    def frame(self) -> int:
        """The measured frame: the largest maximum of the kept cycles (of all cycles when none is kept)."""
        pool = self.kept or self.cycles
        return max(pool, key=lambda c: c.value).peak

    @property
    def spread(self) -> float | None:
        """Cycle-to-cycle spread of the kept maxima: SD (ddof 1) / mean; None with fewer than 2 kept."""
        v = np.array([c.value for c in self.kept])
        if v.size < 2 or v.mean() <= 0:
            return None
        return float(v.std(ddof=1) / v.mean())

    @property
    def reason(self) -> str:
        """Why the loop is refused ('' when at least one cycle is consistent)."""
        if self.kept or not self.cycles:
            return ""
        jumpy = [c for c in self.cycles if c.reason.startswith("area curve jumpy")]
        n = len(self.cycles)
        if jumpy:
            worst = max(c.max_jump for c in jumpy)
            return (f"no consistent cardiac cycle: area curve jumpy near the maximum of {len(jumpy)} of {n} "
                    f"cycle(s) (up to {100 * worst:.0f} % change between consecutive frames)"
                    + (f", the others {self._others(jumpy)}" if len(jumpy) < n else ""))
        return f"no consistent cardiac cycle: {self.cycles[0].reason}" + (
            f" (and {n - 1} more cycle(s) set aside)" if n > 1 else "")

    def _others(self, shown: list[Cycle]) -> str:
        rest = sorted({c.reason.split(":")[0] for c in self.cycles if c not in shown})
        return "; ".join(rest)

    @property
    def notes(self) -> tuple[str, ...]:
        """Warnings for a passing loop: outlier frames and cycles set aside, with the spread."""
        out: list[str] = []
        if self.outliers:
            out.append(f"{len(self.outliers)} outlier frame(s) set aside: "
                       + ", ".join(str(i) for i in self.outliers[:8]) + (" ..." if len(self.outliers) > 8 else ""))
        aside = [c for c in self.cycles if not c.kept]
        if self.kept and aside:
            spread = self.spread
            out.append(f"{len(aside)} of {len(self.cycles)} cycles set aside ("
                       + "; ".join(f"max at frame {c.peak}: {c.reason}" for c in aside) + ")"
                       + (f"; spread of the {len(self.kept)} kept maxima {100 * spread:.1f} %" if spread is not None
                          else ""))
        return tuple(out)


def outlier_frames(curve: np.ndarray, outlier_frac: float = 0.2) -> np.ndarray:
    """Boolean per frame: area off the 5-frame running median by more than ``outlier_frac`` x median(curve)."""
    c = np.asarray(curve, dtype=np.float64).ravel()
    if not 0 < outlier_frac < 1:
        raise ValueError(f"outlier_frac must be between 0 and 1, not {outlier_frac!r}")
    if c.size < 5:
        return np.zeros(c.size, dtype=bool)
    med = float(np.median(c))
    run = ndimage.median_filter(c, size=5, mode="nearest")
    return np.abs(c - run) > outlier_frac * max(med, 1e-9)


def clean_curve(curve: np.ndarray, outliers: np.ndarray) -> np.ndarray:
    """The curve with the ``outliers`` frames replaced by linear interpolation between the good frames."""
    c = np.asarray(curve, dtype=np.float64).ravel()
    bad = np.asarray(outliers, dtype=bool)
    if bad.shape != c.shape:
        raise ValueError(f"outliers shape {bad.shape} must equal the curve's shape {c.shape}")
    if not bad.any() or bad.all():
        return c.copy()
    idx = np.arange(c.size)
    return np.interp(idx, idx[~bad], c[~bad])


def r_wave_frames(r_wave_ms: tuple[float, ...] | list[float], frame_time_ms: float, n_frames: int) -> np.ndarray:
    """Frame positions (fractional) of the R waves that lie within a loop of ``n_frames`` frames.

    ``r_wave_ms``: R-wave times in ms from the first frame (DICOM R Wave Time Vector).
    """
    if not frame_time_ms or frame_time_ms <= 0:
        raise ValueError(f"frame_time_ms must be > 0, not {frame_time_ms!r}")
    r = np.sort(np.asarray(r_wave_ms, dtype=np.float64).ravel()) / frame_time_ms
    return r[np.isfinite(r) & (r >= 0) & (r <= n_frames - 1)]


def r_wave_picks(curve: np.ndarray, r_frames: np.ndarray) -> list[int]:
    """The largest frame of ``curve`` inside each R-R interval (one cycle each), in time order.

    The partial cycles before the first and after the last R wave count too when their maximum is
    not on the loop's first or last frame (there the true maximum may lie outside the loop).
    """
    c = np.asarray(curve, dtype=np.float64)
    edges = [int(np.ceil(r)) for r in r_frames]
    bounds = sorted({0, *[e for e in edges if 0 < e < c.size], c.size})
    picks = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi - lo < 2:
            continue
        p = lo + int(np.argmax(c[lo:hi]))
        complete = lo in edges and hi in edges
        if complete or p not in (0, c.size - 1):
            picks.append(p)
    return picks


def analyse_cycles(curve: np.ndarray, frame_time_ms: float, heart_rate_bpm: float | None = None, *,
                   max_jump: float = 0.3, outlier_frac: float = 0.2, window_cycle: float = 0.2,
                   agree: float = 0.1, r_wave_ms: tuple[float, ...] = ()) -> CycleAnalysis:
    """Outlier frames, cycles and consistent cycles of an atrial area curve (cm² per frame).

    ``r_wave_ms``: the ECG's R waves (ms from the first frame); with two or more inside the loop the
    cycles are their R-R intervals. ``max_jump``: largest frame-to-frame change near a maximum, as a fraction of the median area;
    ``outlier_frac``: see :func:`outlier_frames`; ``window_cycle``: half-width of the checked window
    in cycles; ``agree``: how far (fraction) a kept maximum may lie from the kept group's median.
    """
    c = np.asarray(curve, dtype=np.float64).ravel()
    if c.size == 0:
        raise ValueError("curve must hold at least one frame, not 0")
    if not np.all(np.isfinite(c)):
        raise ValueError("curve must be finite; it holds NaN or infinite areas")
    if c.size < MIN_FRAMES_CHECKED:
        picks = pick_frames(c, frame_time_ms, heart_rate_bpm) if c.size > 1 else [0]
        short = tuple(Cycle(p, float(c[p]), (p, p), 0.0) for p in picks)
        return CycleAnalysis(c.copy(), (), short, None, checked=False)
    bad = outlier_frames(c, outlier_frac)
    cleaned = clean_curve(c, bad)
    r_frames = r_wave_frames(r_wave_ms, frame_time_ms, c.size) if len(r_wave_ms) else np.zeros(0)
    by_r = r_frames.size >= 2
    if by_r:
        period: float | None = float(np.median(np.diff(r_frames)))
    else:
        period_s = cycle_period_s(cleaned, frame_time_ms, heart_rate_bpm)
        period = period_s / (frame_time_ms / 1000.0) if period_s else None
    half = max(1, int(round(window_cycle * period))) if period else 2
    med = max(float(np.median(cleaned)), 1e-9)
    cycles: list[Cycle] = []
    for p in r_wave_picks(cleaned, r_frames) if by_r else pick_frames(cleaned, frame_time_ms, heart_rate_bpm):
        p = _good_peak(c, bad, p)
        lo, hi = max(0, p - half), min(c.size - 1, p + half)
        jump = float(np.abs(np.diff(cleaned[lo:hi + 1])).max()) / med if hi > lo else 0.0
        reason = ""
        if bad[max(0, p - 1):p + 2].any():
            reason = "outlier frame at the maximum"
        elif jump > max_jump:
            reason = f"area curve jumpy: {100 * jump:.0f} % change between consecutive frames"
        cycles.append(Cycle(p, float(c[p]), (lo, hi), jump, reason))
    return CycleAnalysis(cleaned, tuple(int(i) for i in np.nonzero(bad)[0]), tuple(_agreeing(cycles, agree)), period,
                         from_r_waves=by_r)


def _good_peak(curve: np.ndarray, bad: np.ndarray, p: int) -> int:
    """``p``, or the largest good frame within one frame of it when ``p`` itself is an outlier."""
    if not bad[p]:
        return int(p)
    near = [i for i in (p - 1, p + 1) if 0 <= i < curve.size and not bad[i]]
    return int(max(near, key=lambda i: curve[i])) if near else int(p)


def _agreeing(cycles: list[Cycle], agree: float) -> list[Cycle]:
    """Set aside the checked-good cycles outside the largest group of maxima within ``agree`` of its median."""
    good = sorted((c for c in cycles if c.kept), key=lambda c: c.value)
    if len(good) < 2:
        return cycles
    best: tuple[int, float, int, int] = (0, 0.0, 0, 0)  # (size, centre, i, j)
    for i in range(len(good)):
        for j in range(i, len(good)):
            lo, hi = good[i].value, good[j].value
            centre = float(np.median([c.value for c in good[i:j + 1]]))
            if (1 - agree) * centre <= lo and hi <= (1 + agree) * centre and (j - i + 1, centre) > best[:2]:
                best = (j - i + 1, centre, i, j)
    size, centre, i, j = best
    if size == 1 and len(good) >= 3:  # no two cycles agree: none is consistent
        return [c if not c.kept else Cycle(c.peak, c.value, c.window, c.max_jump,
                                           f"maxima of the {len(good)} cycles disagree by more than "
                                           f"{100 * agree:.0f} %") for c in cycles]
    inside = {id(c) for c in good[i:j + 1]}
    out = []
    for c in cycles:
        if c.kept and id(c) not in inside:
            off = 100 * (c.value / centre - 1)
            c = Cycle(c.peak, c.value, c.window, c.max_jump,
                      f"maximum {c.value:.1f} cm2 is {off:+.0f} % off the other cycles' {centre:.1f} cm2")
        out.append(c)
    return out
