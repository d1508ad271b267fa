"""Beat splitting of a Doppler envelope without ECG, and sweep erase bars.

Beat spans are inclusive index ranges ``start..end`` into the envelope arrays; a span is complete
when neither strip edge nor an erase bar cuts it. Mitral inflow joins its E and A waves into one beat.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from echoseg.imaging.signal import estimate_period


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


MINOR_BEAT_FRAC = 0.4  # a flow period below this fraction of the strip's typical beat is not a beat
MINOR_BEAT_FRAC_IRREGULAR = 0.15  # in irregular rhythm, where VTI follows RR, only blips are dropped


def minor_beats(vti_cm: Sequence[float], complete: Sequence[bool], frac: float = MINOR_BEAT_FRAC) -> list[int]:
    """Indices of complete flow periods too small to be beats of the sampled flow.

    Between ejections, a sample volume also picks up small flow periods (the other valve's inflow
    leaking in, clutter, the end of a wave cut by the wall filter). A complete period whose VTI is
    below ``frac`` of the typical beat (the median of the larger half of the complete periods'
    VTIs) is one of them. With fewer than three complete periods nothing is dropped.

    >>> minor_beats([15.0, 4.0, 16.0, 5.0, 15.5], [True] * 5)
    [1, 3]
    >>> minor_beats([15.0, 4.0], [True, True])
    []
    """
    idx = [i for i, c in enumerate(complete) if c]
    if len(idx) < 3:
        return []
    vals = np.sort(np.asarray([vti_cm[i] for i in idx], dtype=np.float64))
    typical = float(np.median(vals[len(vals) // 2:]))
    return [i for i in idx if vti_cm[i] < frac * typical]


# ============================================================================= ejection lobes
EJECTION_NOTCH_FRAC = 0.35  # a dip below this fraction of the beat's peak ...
EJECTION_REBOUND_FRAC = 0.15  # ... followed by a rise of this fraction of it (outwards) starts another lobe


def trim_ejection(t: np.ndarray, speed: np.ndarray, spans: Sequence[Span], *, notch_frac: float = EJECTION_NOTCH_FRAC,
                  rebound_frac: float = EJECTION_REBOUND_FRAC) -> list[Span]:
    """Ejection beats cut to their main lobe.

    Aortic, LVOT, RVOT and pulmonary ejection rises from the baseline to one peak and falls back
    to it; a valve click or the haze beside it that the envelope runs into is another lobe, past a
    notch. Walking outwards from each span's peak, the span ends at the first dip below
    ``notch_frac`` x the peak after which the speed rises again by ``rebound_frac`` x the peak
    within the span (the dip's lowest sample is kept). A mid-systolic notch shallower than that
    stays. Completeness and RR are kept as they are (a cut never makes a beat complete).
    Not for mitral inflow, whose E and A are two lobes of one beat.
    """
    t = np.asarray(t, dtype=np.float64)
    s = np.abs(np.asarray(speed, dtype=np.float64))
    if t.shape != s.shape or t.ndim != 1:
        raise ValueError(f"t and speed must be 1-D arrays of equal length, not shapes {t.shape} and {s.shape}")
    out = []
    for sp in spans:
        seg = s[sp.start:sp.end + 1]
        if seg.size < 3:
            out.append(sp)
            continue
        k = int(np.argmax(seg))
        peak = float(seg[k])
        end = _lobe_edge(seg[k:], peak, notch_frac, rebound_frac)
        start = _lobe_edge(seg[k::-1], peak, notch_frac, rebound_frac)
        out.append(replace(sp, start=sp.start + k - start, end=sp.start + k + end,
                           clipped_start=sp.clipped_start and start == k, clipped_end=sp.clipped_end and end == seg.size - 1 - k))
    return out


def _lobe_edge(v: np.ndarray, peak: float, notch_frac: float, rebound_frac: float) -> int:
    """Index into ``v`` (speed from the peak outwards) where the main lobe ends: the lowest sample of
    the first qualifying notch, or the last sample."""
    if v.size < 3 or peak <= 0:
        return v.size - 1
    later_max = np.maximum.accumulate(v[::-1])[::-1]  # max of v[j:]
    for j in range(1, v.size - 1):
        if v[j] < notch_frac * peak and v[j] <= v[j - 1] and v[j] <= v[j + 1] \
                and later_max[j + 1] >= v[j] + rebound_frac * peak:
            return j
    return v.size - 1


# ============================================================================= ECG gating
ECG_EJECTION_LEAD = 0.1  # an ejection cycle starts this fraction of RR before its R wave
ECG_INFLOW_LAG = 0.15    # a mitral inflow cycle starts this fraction of RR after its R wave
ECG_BLIP_FRAC = 0.15     # a flow period below this fraction of its cycle's largest is not part of the beat
ECG_FRAGMENT_GAP = 0.12  # ejection fragments closer than this fraction of RR are one beat


@dataclass(frozen=True)
class EcgGating:
    """Flow periods regrouped by the ECG's cardiac cycles (:func:`gate_by_ecg`).

    ``spans``: one span per cardiac cycle with flow (its fragments, or E and A, joined), then the
    flow periods left out of every beat (marked incomplete); ``n_joined``: flow periods merged into
    another's beat; ``n_left_out``: flow periods counted in no beat (blips beside a cycle's beat,
    or a second ejection in one cycle).
    """

    spans: tuple[Span, ...]
    n_joined: int
    n_left_out: int


def gate_by_ecg(t: np.ndarray, speed: np.ndarray, spans: Sequence[Span], r_times_s: Sequence[float] | np.ndarray,
                inflow: bool) -> EcgGating:
    """Beats of a strip from the ECG's R waves: one beat per cardiac cycle.

    1. Cycles: consecutive R waves, extended beyond the first and last by the median RR so that
       every flow period falls in one. An ejection cycle (aortic, LVOT, RVOT, pulmonary flow) starts
       ``ECG_EJECTION_LEAD`` x RR before its R wave (ejection follows the QRS); a mitral inflow
       cycle (``inflow``) starts ``ECG_INFLOW_LAG`` x RR after it (the A wave ends at the next QRS).
    2. Each flow period belongs to the cycle holding its peak sample. In a cycle, periods below
       ``ECG_BLIP_FRAC`` of the cycle's largest VTI are left out; mitral inflow joins the rest (E and
       A, however long the diastasis); ejection joins fragments of the largest within
       ``ECG_FRAGMENT_GAP`` x RR of it and leaves any other period out (one ejection per cycle).
    3. A joined beat is complete when all its parts are; a mitral beat also needs its cycle's
       diastole inside the strip (E may start after the strip's first sample while A lies beyond
       its last). RR: the interval between the cycle's R wave and the previous one, both drawn; the
       periods left out are not beats and have none (they must not make a regular rhythm look
       irregular).

    ``t``/``speed``: the envelope (s, cm/s); ``spans``: its flow periods (:func:`split_beats` without
    joining); ``r_times_s``: R-wave times on the same clock, at least two.
    """
    t = np.asarray(t, dtype=np.float64)
    s = np.abs(np.asarray(speed, dtype=np.float64))
    r = np.sort(np.asarray(r_times_s, dtype=np.float64))
    if r.size < 2 or not np.all(np.diff(r) > 0):
        raise ValueError(f"need at least two distinct R-wave times to gate beats, not {r.size}")
    if t.ndim != 1 or t.shape != s.shape or t.size < 2:
        raise ValueError(f"t and speed must be 1-D arrays of equal length >= 2, not shapes {t.shape} and {s.shape}")
    rr_med = float(np.median(np.diff(r)))
    n_before = max(0, int(np.ceil((r[0] - t[0]) / rr_med)) + 1)
    n_after = max(0, int(np.ceil((t[-1] - r[-1]) / rr_med)) + 1)
    waves = np.concatenate([r[0] - rr_med * np.arange(n_before, 0, -1), r, r[-1] + rr_med * np.arange(1, n_after + 1)])
    drawn = np.concatenate([np.zeros(n_before, bool), np.ones(r.size, bool), np.zeros(n_after, bool)])
    shift = ECG_INFLOW_LAG if inflow else -ECG_EJECTION_LEAD
    bounds = waves + shift * rr_med
    dt = np.diff(t, prepend=t[0])
    vti = [float(np.sum(s[sp.start:sp.end + 1] * dt[sp.start:sp.end + 1])) for sp in spans]
    peak_t = [float(t[sp.start + int(np.argmax(s[sp.start:sp.end + 1]))]) for sp in spans]
    cycle_of = np.searchsorted(bounds, peak_t, side="right") - 1
    beats: list[Span] = []
    left_out: list[Span] = []
    n_joined = 0
    for c in np.unique(cycle_of):
        members = [i for i in range(len(spans)) if cycle_of[i] == c]
        top = max(vti[i] for i in members)
        parts = [i for i in members if vti[i] >= ECG_BLIP_FRAC * top]
        if not inflow:
            main = max(parts, key=lambda i: vti[i])
            lo = hi = parts.index(main)
            gap = ECG_FRAGMENT_GAP * rr_med
            while lo > 0 and t[spans[parts[lo]].start] - t[spans[parts[lo - 1]].end] <= gap:
                lo -= 1
            while hi + 1 < len(parts) and t[spans[parts[hi + 1]].start] - t[spans[parts[hi]].end] <= gap:
                hi += 1
            parts = parts[lo:hi + 1]
        first, last = spans[parts[0]], spans[parts[-1]]
        inside = [i for i in members if first.start <= spans[i].start and spans[i].end <= last.end]
        left_out += [replace(spans[i], complete=False, rr_s=None) for i in members if i not in inside]  # not beats: no RR
        complete = all(spans[i].complete for i in inside)
        if inflow:  # the cycle's diastole lies inside the strip
            complete = complete and bounds[c] + ECG_INFLOW_LAG * rr_med >= t[0] and waves[c + 1] <= t[-1]
        rr = float(waves[c] - waves[c - 1]) if c >= 1 and drawn[c] and drawn[c - 1] else None
        n_joined += len(inside) - 1
        beats.append(Span(first.start, last.end, bool(complete), rr, first.clipped_start, last.clipped_end))
    ordered = sorted(beats + left_out, key=lambda sp: sp.start)
    return EcgGating(tuple(ordered), n_joined, len(left_out))

