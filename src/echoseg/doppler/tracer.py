"""A model-free envelope tracer for spectral Doppler, the second opinion QC holds the network to.

Method (a modified threshold crossing, after Cloutier et al. and Zolgharni et al., IEEE TMI 2014):

1. The strip's luminance (overlays drawn off the colour map already painted out) is smoothed with a
   small Gaussian (speckle is the spectrum's texture, not its edge).
2. On the flow side of the baseline, rows are taken outwards from the baseline; a clutter band of
   ``clutter_frac`` of the side's height next to the baseline (wall filter, tissue clutter) is skipped.
3. Noise floor N = median over columns of each column's 20th percentile; signal level S = 90th
   percentile over columns of each column's 97th percentile. A column's threshold is
   ``max(N + frac/2 (S - N), N + frac (P_c - N))`` with P_c that column's 97th percentile: a global
   floor so that noise never counts as flow, and a column term so that a faint beat is traced at
   its own edge. The threshold is never below N + 6 sigma, sigma the noise's spread ((P50 - P10) / 1.28
   of the strip's smoothed pixels), so speckle alone is not traced as flow.
4. The envelope is the outermost crossing: the far end of the outermost run of ``run`` pixels above
   the threshold, with the sub-pixel position of the crossing interpolated between the last pixel
   above and the first below. A running median over 25 ms (at least 5 columns) removes narrower
   spikes: valve clicks, cursor lines, text crossing the strip.

Nothing is learned, so it behaves the same on every vendor's look; it is biased outwards by haze
and by noise (synthetic strips: +5 to +13 % per beat), which is why QC compares it with the
network at a margin (:func:`beat_agreement`) instead of reporting it.

Example::

    >>> import numpy as np
    >>> from echoseg.io.calibration import manual_spectral_calibration
    >>> cal = manual_spectral_calibration(0.01, -2.0, baseline_row=10.0, box=(0, 0, 99, 109))
    >>> strip = np.full((110, 100), 10.0); strip[11:61, 20:80] = 200.0   # flow 50 px below the baseline
    >>> env = trace_envelope(strip, cal, side=-1)
    >>> round(float(env.speed_cm_s[50]), 0), float(env.speed_cm_s[5])
    (100.0, 0.0)
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from echoseg.io.calibration import col_to_time
from echoseg.types import Beat, SpectralCalibration

FRAC = 0.5  # threshold: this fraction of the way from the noise floor to the signal level
SPIKE_S = 0.025  # the median filter over time removes narrower spikes (cursors, clicks, text)
SIGNIFICANCE = 6.0  # and at least this many pixel-noise deviations above the noise floor
AGREEMENT_MARGIN = 0.25  # beats whose VTIs differ by more than this fraction of their mean disagree
ROW_BACKGROUND_PCT = 15.0  # a row's level in this percentile of columns is background (clutter, haze, lines)


@dataclass(frozen=True, eq=False)
class TracedEnvelope:
    """The tracer's envelope, one sample per strip column.

    cols: whole-image columns; t_s: time from the strip's left edge (s); velocity_cm_s: signed
    (sign ``side``); contrast: (S - N) / S of the strip, 0 (no signal above noise) .. 1.
    """

    cols: np.ndarray
    t_s: np.ndarray
    velocity_cm_s: np.ndarray
    side: int
    contrast: float

    @property
    def speed_cm_s(self) -> np.ndarray:
        return np.abs(self.velocity_cm_s)


def _outward(grey: np.ndarray, cal: SpectralCalibration, side: int) -> np.ndarray:
    """Rows of the strip on the flow side, ordered outwards from the baseline (first row: the one after it)."""
    r = cal.region
    b = int(round(cal.baseline_row - r.y0))
    sign_down = 1 if cal.cm_s_per_px > 0 else -1
    if side == sign_down:
        return grey[b + 1:, :]
    return grey[:max(b, 0)][::-1, :]


def trace_envelope(strip_grey: np.ndarray, cal: SpectralCalibration, side: int, *, frac: float = FRAC,
                   clutter_frac: float = 0.03, run: int = 3) -> TracedEnvelope:
    """Envelope of the flow on side ``side`` (+1 toward the transducer, -1 away) of a strip.

    ``strip_grey``: (rows, cols) luminance of the spectral region (region y0..y1, x0..x1 of ``cal``).
    """
    g = np.asarray(strip_grey, dtype=np.float32)
    r = cal.region
    if g.shape != (r.height, r.width):
        raise ValueError(f"strip_grey has shape {g.shape}, but the spectral region is {r.height}x{r.width} px; "
                         "pass the region's pixels")
    if side not in (1, -1):
        raise ValueError(f"side must be +1 or -1, not {side!r}")
    if not 0.0 < frac < 1.0:
        raise ValueError(f"frac must lie between 0 and 1, not {frac!r}")
    cols = np.arange(r.x0, r.x1 + 1)
    q = _outward(ndimage.gaussian_filter(g, (1.2, 1.0)), cal, side)
    skip = max(3, int(clutter_frac * q.shape[0]))
    body = q[skip:]
    body = np.maximum(body - np.percentile(body, ROW_BACKGROUND_PCT, axis=1)[:, None], 0.0)
    if body.shape[0] < 2 * run:
        return TracedEnvelope(cols, col_to_time(cal, cols), np.zeros(cols.size), side, 0.0)
    px, contrast = _crossing(body, frac, run)
    px = np.where(px > 0, px + skip, 0.0)
    width = max(5, 2 * int(round(0.5 * SPIKE_S / cal.s_per_px)) + 1)  # odd, about SPIKE_S wide
    px = ndimage.median_filter(px, size=width, mode="nearest")
    return TracedEnvelope(cols, col_to_time(cal, cols), side * px * cal.speed_per_px, side, contrast)


def _crossing(body: np.ndarray, frac: float, run: int) -> tuple[np.ndarray, float]:
    """Outermost threshold crossing per column of ``body`` (rows outwards), in px from its first row's
    inner edge (0 where nothing crosses), and the strip's contrast."""
    col_lo = np.percentile(body, 20, axis=0)
    col_hi = np.percentile(body, 97, axis=0)
    noise, signal = float(np.median(col_lo)), float(np.percentile(col_hi, 90))
    contrast = (signal - noise) / signal if signal > 0 else 0.0
    p10, p50 = np.percentile(body, (10, 50))
    spread = float(p50 - p10) / 1.2816  # the noise's standard deviation where noise fills most of the strip
    thr = np.maximum.reduce([np.full(body.shape[1], noise + 0.5 * frac * (signal - noise)),
                             noise + frac * (col_hi - noise), np.full(body.shape[1], noise + SIGNIFICANCE * spread)])
    above = body > thr[None, :]
    d_n = body.shape[0]
    cs = np.concatenate([np.zeros((1, body.shape[1]), dtype=np.int64), np.cumsum(above, axis=0)])
    full = np.zeros_like(above)
    full[run - 1:] = (cs[run:] - cs[:-run]) == run  # rows d-run+1 .. d all above the threshold
    last = np.where(full, np.arange(d_n)[:, None], -1).max(axis=0)  # outermost pixel of such a run
    c = np.arange(body.shape[1])
    last_ok = np.maximum(last, 0)
    nxt = np.minimum(last_ok + 1, d_n - 1)
    v_in, v_out = body[last_ok, c], body[nxt, c]
    with np.errstate(divide="ignore", invalid="ignore"):
        sub = np.where((nxt > last_ok) & (v_in > v_out), (v_in - thr) / (v_in - v_out), 0.5)
    px = last_ok + 0.5 + np.clip(sub, 0.0, 1.0)  # pixel d spans [d, d + 1): its centre is d + 0.5
    return np.where(last >= 0, px, 0.0), float(contrast)


def span_vti(t: np.ndarray, speed: np.ndarray, start_s: float, end_s: float) -> float:
    """Trapezoid VTI (cm) of ``speed`` (cm/s) over the samples with start_s <= t <= end_s."""
    m = (t >= start_s) & (t <= end_s)
    if m.sum() < 2:
        return 0.0
    s, tt = np.abs(speed[m]), t[m]
    return float(np.sum(0.5 * (s[1:] + s[:-1]) * np.diff(tt)))


@dataclass(frozen=True)
class Agreement:
    """Network vs tracer over the network's complete beats: per-beat relative differences
    (tracer - network) / mean of both, and how many exceed ``margin``."""

    differences: tuple[float, ...]
    margin: float = AGREEMENT_MARGIN

    @property
    def n_disagree(self) -> int:
        return sum(1 for d in self.differences if abs(d) > self.margin)

    @property
    def agrees(self) -> bool:
        """True unless more than half of the beats disagree (an empty comparison agrees)."""
        return self.n_disagree * 2 <= len(self.differences)

    @property
    def median(self) -> float | None:
        return float(np.median(self.differences)) if self.differences else None

    def reason(self) -> str:
        """The QC refusal this comparison gives ("" when the two agree)."""
        if self.agrees:
            return ""
        return (f"the network and the model-free tracer disagree: {self.n_disagree} of {len(self.differences)} "
                f"beats differ by more than {100 * self.margin:.0f} % (tracer {100 * (self.median or 0.0):+.0f} % "
                "median); this screen may look unlike what the network learned")


def tracer_vtis(beats: Sequence[Beat], traced: TracedEnvelope) -> tuple[float, ...]:
    """The tracer's VTI (cm) over each beat's time span, in the order of ``beats``.

    Between beats a threshold crossing finds the clutter band at the baseline (wall signals, valve
    motion) as well as flow, and inside a beat's span it runs along that band before the flow rises
    out of it and after it falls back. The band's level is the median speed of the samples outside
    every beat (:func:`clutter_level`), and only samples above it count towards a beat's VTI.
    """
    level = clutter_level(traced, beats)
    speed = np.where(np.abs(traced.speed_cm_s) > level, traced.speed_cm_s, 0.0)
    return tuple(span_vti(traced.t_s, speed, b.start_s, b.end_s) for b in beats)


CLUTTER_MIN_OUTSIDE = 0.1  # the clutter level needs at least this fraction of the strip outside every beat
CLUTTER_MAX_SHARE = 0.35  # a level above this share of the beats' peak speed is another flow there, not clutter


def clutter_level(traced: TracedEnvelope, beats: Sequence[Beat]) -> float:
    """Median traced speed (cm/s) of the samples outside every beat's span; 0 when fewer than
    :data:`CLUTTER_MIN_OUTSIDE` of the strip's samples lie outside.

    Outside the beats a threshold crossing may find another flow instead of the clutter band: in a
    mitral stenosis CW strip the regurgitant jet's mirror fills the inflow's side in systole, up to
    the strip's edge. Its level would wipe out every beat (a tracer VTI of 0, "tracer -200 %"), so
    a median above :data:`CLUTTER_MAX_SHARE` of the 95th-percentile traced speed inside the beats is
    not taken for the band: the level is then the 25th percentile of the samples outside below that
    share (0 when there are none).
    """
    t = traced.t_s
    speed = np.abs(traced.speed_cm_s)
    outside = np.ones(t.size, dtype=bool)
    for b in beats:
        outside &= ~((t >= b.start_s) & (t <= b.end_s))
    if outside.sum() < max(2, CLUTTER_MIN_OUTSIDE * t.size):
        return 0.0
    level = float(np.median(speed[outside]))
    inside = speed[~outside]
    cap = CLUTTER_MAX_SHARE * float(np.percentile(inside, 95)) if inside.size else level
    if level <= cap:
        return level
    low = speed[outside][speed[outside] <= cap]
    return float(np.percentile(low, 25)) if low.size else 0.0


def beat_agreement(beats: Sequence[Beat], tracer_vti: Sequence[float], margin: float = AGREEMENT_MARGIN) -> Agreement:
    """Compare each complete network beat's VTI with the tracer's VTI over the same span
    (``tracer_vti[i]`` belongs to ``beats[i]``; see :func:`tracer_vtis`)."""
    if len(tracer_vti) != len(beats):
        raise ValueError(f"tracer_vti has {len(tracer_vti)} values for {len(beats)} beats; give one per beat")
    diffs = []
    for b, other in zip(beats, tracer_vti):
        if not b.complete:
            continue
        mean = 0.5 * (other + b.vti_cm)
        diffs.append((other - b.vti_cm) / mean if mean > 0 else 0.0)
    return Agreement(tuple(diffs), float(margin))
