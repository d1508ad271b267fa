"""echoseg.atria.cycles: outlier frames, cycles, consistent cycles and their spread."""
from __future__ import annotations

import numpy as np
import pytest

from echoseg.atria.cycles import analyse_cycles, clean_curve, outlier_frames, r_wave_frames, r_wave_picks

FT = 33.3  # ms per frame


def loop(n=110, period=27, maxima=(17.5, 16.8, 18.2, 17.0), seed=0) -> np.ndarray:
    """An LA-like curve: per-cycle maxima ``maxima`` (cm²), minima at 60 % of them, a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    k = np.clip((t + period // 2) // period, 0, len(maxima) - 1)
    amp = np.asarray(maxima)[k]
    shape = 0.5 * (1 + np.cos(2 * np.pi * (t - 5) / period))
    return amp * (0.6 + 0.4 * shape) + rng.normal(0, 0.1, n)


def test_outliers_found_and_interpolated():
    c = loop()
    c[[20, 50, 51]] = [0.4, 30.0, 29.0]  # a lost frame and a two-frame leak
    bad = outlier_frames(c)
    assert set(np.nonzero(bad)[0]) == {20, 50, 51}
    cleaned = clean_curve(c, bad)
    assert cleaned[20] == pytest.approx(0.5 * (c[19] + c[21]))
    assert np.all(cleaned[[50, 51]] < 20)
    assert np.array_equal(cleaned[~bad], c[~bad])
    with pytest.raises(ValueError, match="outlier_frac must be between 0 and 1, not 1.5"):
        outlier_frames(c, 1.5)


def test_smooth_loop_keeps_every_cycle():
    c = loop()
    cyc = analyse_cycles(c, FT)
    assert cyc.outliers == ()
    assert [x.peak for x in cyc.kept] == [5, 32, 59, 86]
    assert cyc.frame == 59 and cyc.reason == "" and cyc.notes == ()
    assert cyc.spread == pytest.approx(np.std([17.5, 16.8, 18.2, 17.0], ddof=1) / 17.375, abs=0.01)
    assert cyc.period_frames == pytest.approx(27, abs=1)


def test_bad_frames_and_an_odd_cycle_are_set_aside():
    c = loop(maxima=(17.5, 16.8, 18.2, 13.0))
    c[59] = 35.0  # a leaking frame on the largest maximum: never the measured frame
    c[72] = 0.5  # a lost frame in diastole
    cyc = analyse_cycles(c, FT)
    assert {59, 72} <= set(cyc.outliers)
    by_peak = {x.peak: x for x in cyc.cycles}
    fourth = next(x for p, x in by_peak.items() if abs(p - 86) <= 1)
    third = next(x for p, x in by_peak.items() if abs(p - 59) <= 1)
    assert "off the other cycles" in fourth.reason
    assert third.reason == "outlier frame at the maximum"  # the leak is never the measured frame
    assert [x.peak for x in cyc.kept] == [5, 32] and cyc.frame == 5 and cyc.reason == ""
    assert cyc.spread is not None and cyc.spread < 0.05
    assert any("cycles set aside" in n for n in cyc.notes)


def test_refused_only_when_no_cycle_is_consistent():
    t = np.arange(90)
    saw = 12.0 + 6.0 * ((t + 7) % 27) / 26  # each cycle drops 6 cm2 in one frame right after its maximum
    cyc = analyse_cycles(saw, FT)
    assert cyc.kept == () and cyc.reason.startswith("no consistent cardiac cycle: area curve jumpy")
    some = loop()
    for peak in (5, 59):  # two cycles lose 6 cm2 for 8 frames right after the maximum (a step, no outlier)
        some[peak + 1:peak + 9] -= 6.0
    cyc = analyse_cycles(some, FT, heart_rate_bpm=60000 / (27 * FT))  # the cycle from the heart rate
    assert cyc.reason == "" and [x.peak for x in cyc.kept] == [32, 86]  # smooth cycles are enough
    assert all(x.reason.startswith("area curve jumpy") for x in cyc.cycles if x.peak in (5, 59))
    scattered = loop(maxima=(10.0, 14.0, 19.0, 25.0))
    res = analyse_cycles(scattered, FT)
    assert res.kept == () and "disagree by more than 10 %" in res.reason


def test_short_clips_are_not_checked():
    cyc = analyse_cycles(np.array([10.0, 12.0, 11.0]), FT)
    assert not cyc.checked and cyc.frame == 1 and cyc.reason == ""
    with pytest.raises(ValueError, match="at least one frame"):
        analyse_cycles(np.array([]), FT)


def test_r_waves_give_the_cycles_where_the_heart_rate_misleads() -> None:
    """One maximum per R-R interval, at the cycle's true maximum, even with a second hump per
    cycle and a heart rate in the header twice the real one."""
    period, n = 24, 96
    t = np.arange(n, dtype=np.float64)
    ph = (t % period) / period
    curve = 12 + 6 * np.exp(-((ph - 0.35) / 0.08) ** 2) + 3.5 * np.exp(-((ph - 0.8) / 0.06) ** 2)
    r_ms = [i * period * FT for i in range(5)]  # R waves on frames 0, 24, 48, 72, 96
    wrong_hr = 2 * 60000.0 / (period * FT)
    by_hr = analyse_cycles(curve, FT, wrong_hr)
    by_r = analyse_cycles(curve, FT, wrong_hr, r_wave_ms=tuple(r_ms))
    assert len(by_hr.cycles) > 4  # the header's heart rate alone picks the second humps too
    assert by_r.from_r_waves and not by_hr.from_r_waves
    assert [c.peak for c in by_r.cycles] == [round(i * period + 0.35 * period) for i in range(4)]
    assert by_r.period_frames == pytest.approx(period)
    assert by_r.reason == "" and len(by_r.kept) == 4


def test_r_wave_frames_keep_those_inside_the_loop_and_partial_cycles_count_when_their_maximum_is_inside() -> None:
    assert list(r_wave_frames([-10.0, 0.0, 330.0, 10000.0], 33.0, 20)) == [0.0, 10.0]
    with pytest.raises(ValueError, match="frame_time_ms"):
        r_wave_frames([0.0], 0.0, 10)
    c = np.array([5, 6, 7, 6, 5, 4, 5, 6, 9, 6, 5, 4, 3, 2, 3, 4, 5, 6, 7, 8], dtype=float)
    # R waves at frames 4 and 12: [0, 4) has its max inside (2), [4, 12) is complete (8), [12, 20) peaks on the last frame
    assert r_wave_picks(c, np.array([4.0, 12.0])) == [2, 8]
