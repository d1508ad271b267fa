"""echoseg.doppler.measure: per-beat VTI, Vmax, gradients (exact on analytic beats), the strip summary, rhythm."""
from __future__ import annotations

import math
from dataclasses import FrozenInstanceError

import numpy as np
import pytest

from echoseg.doppler.measure import beat_stats, inflow_peaks, rr_irregular, summarise_beats, vti_cm
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


# ----------------------------------------------------------------------------- mitral E and A peaks
def test_inflow_peaks_recover_the_generators_e_and_a_waves():
    """Seeded analytic mitral beats (echoseg.synth.waveforms.InflowBeat): E and A within 2 %, when the
    speed between them dips clearly; a beat without an A wave (atrial fibrillation) gives A None."""
    from echoseg.synth.waveforms import InflowBeat

    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(40):
        e_pk, a_pk = rng.uniform(40, 120), rng.uniform(25, 90)
        e_acc, e_dec, a_dur = rng.uniform(0.06, 0.1), rng.uniform(0.14, 0.24), rng.uniform(0.1, 0.15)
        a_start = 0.1 + e_acc + e_dec + rng.uniform(0.05, 0.3)
        beat = InflowBeat(start_s=0.1, end_s=a_start + a_dur + 0.01, e_peak=e_pk, e_accel_s=e_acc, e_decel_s=e_dec,
                          a_peak=a_pk, a_start_s=a_start, a_dur_s=a_dur, diastasis=rng.uniform(0, 0.2) * min(e_pk, a_pk))
        t = np.arange(0.0, beat.end_s + 0.05, 0.004)
        v = beat.speed(t)
        e, a = inflow_peaks(t, v, 0, t.size - 1)
        assert e == pytest.approx(float(v[t < a_start].max()), rel=0.02)
        assert a == pytest.approx(float(v[t >= a_start].max()), rel=0.02)
        af = InflowBeat(start_s=0.1, end_s=0.1 + e_acc + e_dec, e_peak=e_pk, e_accel_s=e_acc, e_decel_s=e_dec,
                        a_peak=0.0, a_start_s=0.0, a_dur_s=0.1, diastasis=0.0)
        e_af, a_af = inflow_peaks(t, af.speed(t), 0, t.size - 1)
        assert e_af == pytest.approx(e_pk, rel=0.02) and a_af is None
        checked += 1
    assert checked == 40


def test_inflow_means_in_the_summary():
    beats = [Beat(i, 0.0, 0.5, 10.0, 80.0, 30.0, 2.6, 1.0, e_cm_s=80.0, a_cm_s=a) for i, a in enumerate((40.0, 50.0, None))]
    s = summarise_beats(beats)
    assert s.e_cm_s == pytest.approx(80.0)
    assert s.a_cm_s == pytest.approx(45.0)  # over the beats with an A wave
    assert s.e_a_ratio == pytest.approx((2.0 + 1.6) / 2)
    assert summarise_beats(beats[2:]).a_cm_s is None
