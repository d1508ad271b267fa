"""echoseg.doppler.measure: per-beat VTI, Vmax, gradients (exact on analytic beats), the strip summary, rhythm."""
from __future__ import annotations

import math
from dataclasses import FrozenInstanceError

import numpy as np
import pytest

from echoseg.doppler.measure import beat_stats, rr_irregular, summarise_beats, vti_cm
from echoseg.types import Beat, BeatSummary


def half_sine(vp: float, dur: float, n: int = 2001, sign: float = 1.0):
    t = np.linspace(0.0, dur, n)
    return t, sign * vp * np.sin(np.pi * t / dur)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_half_sine_beat_exact(sign):
    vp, dur = 120.0, 0.30
    t, v = half_sine(vp, dur, sign=sign)
    b = beat_stats(t, v, 0, t.size - 1, index=0)
    assert b.vti_cm == pytest.approx(2 * vp * dur / math.pi, rel=1e-5)  # 22.918 cm
    assert b.vmax_cm_s == pytest.approx(vp)
    assert b.vmean_cm_s == pytest.approx(2 * vp / math.pi, rel=1e-5)
    assert b.peak_gradient_mmhg == pytest.approx(4 * 1.2 ** 2)
    # mean of 4 v² for a half sine = 4 Vp²/2 = 2.88 mmHg, but 4 Vmean² = 4 (2Vp/π)² = 2.334 mmHg
    assert b.mean_gradient_mmhg == pytest.approx(2.88, rel=1e-5)
    assert b.mean_gradient_mmhg > 4 * (b.vmean_cm_s / 100) ** 2 * 1.2
    assert b.start_s == 0.0 and b.end_s == pytest.approx(dur)


def test_triangle_vti_and_subrange():
    t = np.linspace(0, 1.0, 1001)
    v = np.interp(t, [0.2, 0.3, 0.5], [0.0, 100.0, 0.0])
    assert vti_cm(t, v) == pytest.approx(0.5 * 0.3 * 100.0, rel=1e-9)  # 15 cm
    b = beat_stats(t, v, 200, 500, index=3, complete=False, rr_s=0.8)
    assert b.vti_cm == pytest.approx(15.0, rel=1e-9)
    assert b.vmean_cm_s == pytest.approx(50.0)
    # mean of v² over a triangle = Vp²/3 -> 4 * 1²/3 mmHg
    assert b.mean_gradient_mmhg == pytest.approx(4 / 3, rel=1e-4)
    assert (b.index, b.complete, b.rr_s) == (3, False, 0.8)


def test_beat_stats_rejects_bad_input():
    t, v = half_sine(100, 0.3, n=11)
    with pytest.raises(ValueError, match="start=5, end=5"):
        beat_stats(t, v, 5, 5, 0)
    with pytest.raises(ValueError, match="increase"):
        vti_cm(t[::-1], v)
    with pytest.raises(ValueError, match="NaN"):
        vti_cm(t, np.where(t > 0.1, np.nan, v))


def _beat(i, vti, rr=None, complete=True):
    return Beat(i, 0.0, 0.3, vti, 100.0, vti / 0.3, 4.0, 2.0, complete, rr)


def test_summary_regular():
    beats = [_beat(0, 21.0, None, False), _beat(1, 20.0, 0.8), _beat(2, 22.0, 0.8), _beat(3, 21.0, 0.82),
             _beat(4, 19.0, 0.79, False)]
    s = summarise_beats(beats)
    assert isinstance(s, BeatSummary)
    assert s.value == pytest.approx(21.0)
    assert s.sd == pytest.approx(1.0)
    assert s.cv == pytest.approx(1 / 21)
    assert (s.n, s.n_total, s.irregular, s.min_beats, s.enough_beats) == (3, 5, False, 3, True)
    assert s.heart_rate_bpm == pytest.approx(60 / 0.8)
    assert s.rr_cv == pytest.approx(np.std([0.8, 0.8, 0.82, 0.79], ddof=1) / np.mean([0.8, 0.8, 0.82, 0.79]))
    assert s.vmax_cm_s == pytest.approx(100.0) and s.mean_gradient_mmhg == pytest.approx(2.0)
    with pytest.raises(FrozenInstanceError):
        s.value = 1.0  # type: ignore[misc]


def test_summary_irregular_needs_five_and_no_complete():
    rr = [0.5, 1.1, 0.7, 1.3, 0.6]
    beats = [_beat(i, 15 + i, r) for i, r in enumerate(rr)][:4]
    s = summarise_beats(beats)
    assert s.irregular is True and s.min_beats == 5 and s.enough_beats is False
    s2 = summarise_beats([_beat(0, 10, None, False)])
    assert s2.value is None and s2.n == 0 and s2.n_total == 1 and s2.heart_rate_bpm is None
    assert (s2.sd, s2.cv, s2.vmax_cm_s, s2.vmean_cm_s, s2.peak_gradient_mmhg) == (None,) * 5
    assert summarise_beats(beats, irregular=False).min_beats == 3


def test_rr_irregular():
    assert rr_irregular([0.8, 0.8]) is None
    assert rr_irregular([0.80, 0.82, 0.79, 0.81, 0.80]) is False
    # slow respiratory drift: CV 4 %, successive differences small
    assert rr_irregular(list(0.8 + 0.04 * np.sin(np.arange(12) / 2))) is False
    assert rr_irregular([0.5, 1.1, 0.7, 1.3, 0.6]) is True
