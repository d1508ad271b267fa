"""Doppler measurement math: pure functions from envelopes to per-beat values in physical units.

Nothing here reads files, images or calibration: inputs are already in s and cm/s
(:mod:`echoseg.io.calibration` does the pixel conversions, :mod:`echoseg.doppler.envelope` extracts
the envelope). Definitions (docs/measurements.md has the formulas with units):

* VTI (cm) = integral over the flow period of the outer-envelope *speed* |v(t)| (trapezoid rule).
* Vmax (cm/s) = largest speed of the beat; Vmean (cm/s) = VTI / flow duration.
* Peak gradient (mmHg) = 4 Vmax² with V in m/s (simplified Bernoulli);
  mean gradient (mmHg) = time average of 4 v(t)², which is larger than 4 Vmean².
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from echoseg.imaging.signal import find_peaks
from echoseg.types import Beat, BeatSummary

MMHG_PER_M2_S2 = 4.0  # simplified Bernoulli: dP (mmHg) = 4 v² (v in m/s)


def _check_envelope(t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(t, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    if t.ndim != 1 or t.shape != v.shape:
        raise ValueError(f"times and velocities must be 1-D arrays of equal length, not shapes {t.shape} and {v.shape}")
    if t.size and not np.all(np.diff(t) > 0):
        raise ValueError("times must increase strictly; sort the envelope by time first")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"velocities contain {int((~np.isfinite(v)).sum())} NaN/inf values; fill or drop them first")
    return t, v


def _trapz(y: np.ndarray, x: np.ndarray) -> float:
    """Trapezoid rule (np.trapezoid is numpy >= 2 only)."""
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)))


# ----------------------------------------------------------------------------- Doppler beats
def vti_cm(t: np.ndarray, speed: np.ndarray) -> float:
    """Velocity-time integral (cm): trapezoid integral of |speed| (cm/s) over times ``t`` (s)."""
    t, v = _check_envelope(t, speed)
    if t.size < 2:
        return 0.0
    return float(_trapz(np.abs(v), t))


def beat_stats(t: np.ndarray, v: np.ndarray, start: int, end: int, index: int,
               complete: bool = True, rr_s: float | None = None) -> Beat:
    """Per-beat values of the envelope samples ``start..end`` (both inclusive).

    ``v`` may be signed (cm/s): speed |v| is used throughout. Vmean is the time average of
    speed over the flow period (VTI / duration); the mean gradient is the time average of
    4 v(t)² (m/s -> mmHg), not 4 Vmean².
    """
    t, v = _check_envelope(t, v)
    n = t.size
    if not (0 <= start < end < n):
        raise ValueError(f"beat indices must satisfy 0 <= start < end < {n}, not start={start}, end={end}")
    tt, s = t[start:end + 1], np.abs(v[start:end + 1])
    dur = float(tt[-1] - tt[0])
    vti = float(_trapz(s, tt))
    vmax = float(s.max())
    s_m = s / 100.0
    mean_grad = float(_trapz(MMHG_PER_M2_S2 * s_m * s_m, tt) / dur)
    return Beat(index=int(index), start_s=float(tt[0]), end_s=float(tt[-1]), vti_cm=vti, vmax_cm_s=vmax,
                vmean_cm_s=vti / dur, peak_gradient_mmhg=MMHG_PER_M2_S2 * (vmax / 100.0) ** 2,
                mean_gradient_mmhg=mean_grad, complete=bool(complete),
                rr_s=None if rr_s is None else float(rr_s))


INFLOW_DIP = 0.15  # E and A are two waves when the speed between them dips this fraction below the smaller peak


def inflow_peaks(t: np.ndarray, v: np.ndarray, start: int, end: int, dip: float = INFLOW_DIP,
                 min_gap_s: float = 0.08) -> tuple[float, float | None]:
    """(E, A) peak speeds (cm/s) of the mitral inflow beat ``start..end`` (inclusive samples).

    The speed is smoothed over about 20 ms; of its peaks at least ``min_gap_s`` apart and above 30 %
    of the largest, E is the first and A the last, when the speed between them dips at least
    ``dip`` below the smaller of the two (two waves, not one wave's ripple). Each peak is the largest
    raw speed of its wave (beat start to the dip, dip to beat end). A is None when the waves are
    fused or there is no A wave (atrial fibrillation); E is then the beat's Vmax.

    >>> t = np.arange(0, 0.8, 0.004)
    >>> v = 80 * np.exp(-((t - 0.15) / 0.06) ** 2) + 50 * np.exp(-((t - 0.6) / 0.05) ** 2)
    >>> e, a = inflow_peaks(t, v, 0, t.size - 1)
    >>> round(e), round(a)
    (80, 50)
    """
    t, v = _check_envelope(t, v)
    if not 0 <= start < end < t.size:
        raise ValueError(f"beat indices must satisfy 0 <= start < end < {t.size}, not start={start}, end={end}")
    s = np.abs(v[start:end + 1])
    dt = float(np.median(np.diff(t[start:end + 1])))
    w = max(1, round(0.02 / dt))
    smooth = np.convolve(np.pad(s, w // 2, mode="edge"), np.ones(w) / w, mode="valid")[:s.size]
    peaks = find_peaks(smooth, distance=max(1.0, min_gap_s / dt))
    peaks = peaks[smooth[peaks] >= 0.3 * float(smooth.max())] if peaks.size else peaks
    if peaks.size < 2:
        return float(s.max()), None
    e_i, a_i = int(peaks[0]), int(peaks[-1])
    low = e_i + int(np.argmin(smooth[e_i:a_i + 1]))
    if smooth[low] > (1.0 - dip) * min(smooth[e_i], smooth[a_i]):
        return float(s.max()), None
    return float(s[:low + 1].max()), float(s[low:].max())


def beats_from_spans(t: np.ndarray, v: np.ndarray, spans: Sequence[Any]) -> list[Beat]:
    """:func:`beat_stats` for each span (objects with ``start``, ``end``, ``complete``, ``rr_s``)."""
    return [beat_stats(t, v, s.start, s.end, i, s.complete, getattr(s, "rr_s", None))
            for i, s in enumerate(spans)]


def rr_irregular(rr_s: Sequence[float], cv_limit: float = 0.10, succ_limit: float = 0.10) -> bool | None:
    """True when RR intervals vary like atrial fibrillation; None with fewer than 3 intervals.

    Irregular when the coefficient of variation of RR exceeds ``cv_limit`` or the mean absolute
    successive difference exceeds ``succ_limit`` of the mean RR (sinus arrhythmia changes RR slowly,
    so it raises the CV a little but the successive differences hardly).
    """
    rr = np.asarray([r for r in rr_s if r is not None], dtype=np.float64)
    if rr.size < 3:
        return None
    mean = float(rr.mean())
    cv = float(rr.std(ddof=1) / mean)
    succ = float(np.mean(np.abs(np.diff(rr))) / mean)
    return bool(cv > cv_limit or succ > succ_limit)


def summarise_beats(beats: Sequence[Beat], irregular: bool | None = None) -> BeatSummary:
    """Summary of a strip (:class:`~echoseg.types.BeatSummary`): the reported value is the mean VTI
    over complete beats.

    ``irregular``: the rhythm as already known; None detects it from the beats' RR intervals
    (:func:`rr_irregular`). Means are over complete beats; the heart rate is 60 / median RR.
    """
    comp = [b for b in beats if b.complete]
    rr = [b.rr_s for b in beats if b.rr_s is not None]
    if irregular is None:
        irregular = rr_irregular(rr)
    min_beats = 5 if irregular else 3
    heart_rate: float | None = None
    rr_cv: float | None = None
    if rr:
        arr = np.asarray(rr)
        heart_rate = 60.0 / float(np.median(arr))
        rr_cv = float(arr.std(ddof=1) / arr.mean()) if arr.size > 1 else None
    head = BeatSummary(n=len(comp), n_total=len(beats), irregular=irregular, min_beats=min_beats,
                       enough_beats=len(comp) >= min_beats, heart_rate_bpm=heart_rate, rr_cv=rr_cv)
    if not comp:
        return head
    vti = np.array([b.vti_cm for b in comp])
    mean = float(vti.mean())
    sd = float(vti.std(ddof=1)) if vti.size > 1 else 0.0
    return replace(head, value=mean, sd=sd, cv=sd / mean if vti.mean() > 0 else None,
                   vmax_cm_s=float(np.mean([b.vmax_cm_s for b in comp])),
                   vmean_cm_s=float(np.mean([b.vmean_cm_s for b in comp])),
                   peak_gradient_mmhg=float(np.mean([b.peak_gradient_mmhg for b in comp])),
                   mean_gradient_mmhg=float(np.mean([b.mean_gradient_mmhg for b in comp])),
                   e_cm_s=_mean([b.e_cm_s for b in comp if b.e_cm_s is not None]),
                   a_cm_s=_mean([b.a_cm_s for b in comp if b.e_cm_s is not None and b.a_cm_s]),
                   e_a_ratio=_mean([b.e_cm_s / b.a_cm_s for b in comp if b.e_cm_s is not None and b.a_cm_s]))


def _mean(values: Sequence[float]) -> float | None:
    """Mean of ``values``, None when there are none."""
    return float(np.mean(values)) if values else None
