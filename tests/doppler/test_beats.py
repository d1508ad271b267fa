"""echoseg.doppler.beats: beat splitting (E-A joining, invalid stretches), erase bars; synthetic Doppler truth reproduced."""
from __future__ import annotations

import math

import numpy as np
import pytest

from echoseg.doppler.beats import erase_bar_columns, gate_by_ecg, split_beats
from echoseg.doppler.envelope import envelope_from_flow
from echoseg.doppler.measure import beat_stats, beats_from_spans, rr_irregular, summarise_beats
from echoseg.doppler.qc import qc_doppler
from echoseg.io.calibration import manual_spectral_calibration


# ----------------------------------------------------------------------------- beats
def half_sine_train(t, beats):
    v = np.zeros_like(t)
    for a, d, vp in beats:
        inside = (t > a) & (t < a + d)
        v[inside] += vp * np.sin(np.pi * (t[inside] - a) / d)
    return v


def test_split_beats_regular_with_partial_edges():
    dt = 0.004
    t = np.arange(0, 3.2, dt)
    starts = [-0.1, 0.55, 1.38, 2.2, 3.05]  # first and last cut by the strip edges
    beats = [(s, 0.3, 100 + 10 * i) for i, s in enumerate(starts)]
    v = -half_sine_train(t, beats)  # negative velocities: speed is used
    spans = split_beats(t, v)
    assert len(spans) == 5
    assert [s.complete for s in spans] == [False, True, True, True, False]
    for sp, (a, d, vp) in zip(spans[1:4], beats[1:4]):
        assert abs(t[sp.start] - a) <= dt and abs(t[sp.end] - (a + d)) <= dt
        b = beat_stats(t, v, sp.start, sp.end, 0)
        assert b.vti_cm == pytest.approx(2 * vp * d / math.pi, rel=2e-3)
    assert spans[1].rr_s is None  # previous start is outside the strip
    assert spans[2].rr_s == pytest.approx(0.83, abs=1.5 * dt) and spans[3].rr_s == pytest.approx(0.82, abs=1.5 * dt)


def test_split_beats_irregular_and_noise():
    rng = np.random.default_rng(3)
    dt = 0.005
    t = np.arange(0, 6.0, dt)
    rr = [0.5, 1.2, 0.7, 1.3, 0.6, 0.9]
    starts = 0.2 + np.concatenate([[0], np.cumsum(rr)])[:6]
    beats = [(s, 0.26, rng.uniform(70, 110)) for s in starts]
    v = half_sine_train(t, beats) + np.abs(rng.normal(0, 1.5, t.size))  # small noise floor
    v[50:52] += 60  # a 10 ms click: shorter than min_dur, dropped
    spans = split_beats(t, v)
    assert len(spans) == 6 and all(s.complete for s in spans)
    assert all(abs(t[s.start] - a) <= 0.02 for s, (a, _, _) in zip(spans, beats))
    got_rr = [s.rr_s for s in spans[1:]]
    assert np.allclose(got_rr, rr[:5], atol=0.02)
    assert rr_irregular(got_rr) is True


def mitral_train(t, cycles, e_dur=0.2, a_dur=0.12, dias=0.15, fused=()):
    """E then A per cycle start; in `fused` cycles A starts as E ends (no diastasis)."""
    beats = []
    for i, c in enumerate(cycles):
        gap = 0.0 if i in fused else dias
        beats += [(c, e_dur, 80.0), (c + e_dur + gap, a_dur, 55.0)]
    return half_sine_train(t, beats)


def test_split_beats_mitral_joins_e_and_a():
    dt = 0.004
    t = np.arange(0, 4.0, dt)
    cycles = [0.3, 1.3, 2.32, 3.3]  # last cycle's A ends at 3.77 s: inside
    v = mitral_train(t, cycles, fused=(2,))
    assert len(split_beats(t, v)) == 7  # without joining: E and A apart (E+A fused once)
    spans = split_beats(t, v, join=True)
    assert len(spans) == 4 and all(s.complete for s in spans)
    for sp, c in zip(spans, cycles):
        assert abs(t[sp.start] - c) <= dt
    assert abs(t[spans[0].end] - (0.3 + 0.2 + 0.15 + 0.12)) <= dt
    assert spans[1].rr_s == pytest.approx(1.0, abs=dt)
    # with the heart rate known instead of estimated: same beats
    assert [(s.start, s.end) for s in split_beats(t, v, join=True, period_s=1.0)] == \
        [(s.start, s.end) for s in spans]


def test_split_beats_mitral_joins_a_long_diastasis_pair_among_fused_beats():
    dt = 0.004
    t = np.arange(0, 4.2, dt)
    cycles = [0.2, 1.2, 2.2, 3.2]
    gaps = [0.15, 0.26, 0.15, 0.15]  # cycle 1: diastasis too long for the short-gap rule
    beats = []
    for c, g in zip(cycles, gaps):
        beats += [(c, 0.3, 80.0), (c + 0.3 + g, 0.12, 55.0)]
    v = half_sine_train(t, beats)
    spans = split_beats(t, v, join=True)
    assert len(spans) == 4 and all(s.complete for s in spans)
    for sp, c, g in zip(spans, cycles, gaps):
        assert abs(t[sp.start] - c) <= dt and abs(t[sp.end] - (c + 0.42 + g)) <= 2 * dt
    # atrial fibrillation: E waves only, similar durations: nothing is joined
    af = half_sine_train(t, [(c, 0.3, 80.0) for c in (0.2, 0.9, 1.8, 2.4, 3.3)])
    assert len(split_beats(t, af, join=True)) == 5


def test_split_beats_mitral_lone_wave_at_edge_is_incomplete():
    dt = 0.004
    t = np.arange(0, 3.0, dt)
    # the strip starts in diastasis: the first cycle's E lies before the strip, its A inside
    v = mitral_train(t, [-0.3, 0.75, 1.75])
    spans = split_beats(t, v, join=True)
    assert len(spans) == 3
    assert [s.complete for s in spans] == [False, True, True]
    assert abs(t[spans[0].start] - 0.05) <= dt  # the lone A wave


# ----------------------------------------------------------------------------- ECG gating
def test_gate_by_ecg_joins_mitral_e_and_a_whatever_the_diastasis():
    dt = 0.004
    t = np.arange(0, 4.2, dt)
    r = np.array([0.0, 1.05, 2.1, 3.15])  # R waves; E starts 0.45 s after each, A ends at the next
    gaps = [0.35, 0.1, 0.35]  # diastasis too long for the spectrum-only joining rules in two cycles
    beats = []
    for r0, g in zip(r[:-1], gaps):
        e0 = r0 + 0.45
        beats += [(e0, 0.6 - g - 0.12, 80.0), (r0 + 1.05 - 0.12, 0.12, 50.0)]
    v = half_sine_train(t, beats)
    spans = split_beats(t, v)
    assert len(spans) == 6  # E and A apart
    gated = gate_by_ecg(t, v, spans, r, inflow=True)
    assert len(gated.spans) == 3 and gated.n_joined == 3 and gated.n_left_out == 0
    for sp, r0 in zip(gated.spans, r[:-1]):
        assert abs(t[sp.start] - (r0 + 0.45)) <= 2 * dt and abs(t[sp.end] - (r0 + 1.05)) <= 2 * dt
    assert [sp.complete for sp in gated.spans] == [True, True, True]
    assert gated.spans[0].rr_s is None and gated.spans[1].rr_s == pytest.approx(1.05)


def test_gate_by_ecg_mitral_beat_whose_a_wave_lies_beyond_the_strip_is_incomplete():
    dt = 0.004
    t = np.arange(0, 2.1, dt)  # ends after the second cycle's E but before its A
    r = np.array([0.1, 1.15])
    beats = [(0.55, 0.3, 80.0), (1.03, 0.12, 50.0), (1.6, 0.3, 80.0), (2.13, 0.12, 50.0)]
    v = half_sine_train(t, beats)
    gated = gate_by_ecg(t, v, split_beats(t, v), r, inflow=True)
    assert [sp.complete for sp in gated.spans] == [True, False]


def test_gate_by_ecg_ejection_fragments_joined_and_blips_left_out():
    dt = 0.004
    t = np.arange(0, 3.3, dt)
    r = np.array([0.2, 1.0, 1.8, 2.6])
    beats = []
    for r0 in r[:3]:
        beats += [(r0 + 0.06, 0.3, 90.0), (r0 + 0.55, 0.12, 12.0)]  # ejection, then a late diastolic blip
    v = half_sine_train(t, beats)
    v[(t > 1.0 + 0.06 + 0.12) & (t < 1.0 + 0.06 + 0.15)] = 0.0  # a dropout splits the second ejection
    spans = split_beats(t, v, min_peak_frac=0.1)
    assert len(spans) == 7
    gated = gate_by_ecg(t, v, spans, r, inflow=False)
    counted = [sp for sp in gated.spans if sp.complete]
    assert len(counted) == 3 and gated.n_joined == 1 and gated.n_left_out == 3
    for sp, r0 in zip(counted, r[:3]):
        assert abs(t[sp.start] - (r0 + 0.06)) <= 2 * dt and abs(t[sp.end] - (r0 + 0.36)) <= 2 * dt
    assert counted[1].rr_s == pytest.approx(0.8)
    left = [sp for sp in gated.spans if not sp.complete]
    assert left and all(sp.rr_s is None for sp in left)  # blips are not beats: no RR of their own
    from echoseg.doppler.measure import beats_from_spans, summarise_beats
    assert summarise_beats(beats_from_spans(t, v, gated.spans)).irregular is not True  # a regular rhythm stays regular


def test_gate_by_ecg_inputs():
    t = np.arange(0, 1, 0.01)
    with pytest.raises(ValueError, match="two distinct R-wave times"):
        gate_by_ecg(t, np.zeros_like(t), [], [0.5], inflow=False)


# ----------------------------------------------------------------------------- synthetic Doppler cases
@pytest.mark.parametrize("site", ["mv", "av", "lvot", "rvot", "pv"])
def test_synthetic_doppler_truth_reproduced(site):
    """Truth envelope -> split_beats + beat_stats gives each complete beat's VTI within 3 %, and the
    truth flow mask -> envelope_from_flow -> beats gives the strip's value within 3 %. A sweep
    erase bar, when the case has one, is passed as invalid samples."""
    doppler = pytest.importorskip("echoseg.synth.doppler")
    for seed in range(6):
        case = doppler.generate_doppler(seed, site=site)
        tr = case.truth
        env = np.asarray(tr["envelope_cm_s"])
        t = np.arange(env.size) * tr["s_per_px"]
        valid = np.ones(env.size, bool)
        if tr.get("erase_gap_cols"):
            valid[slice(*tr["erase_gap_cols"])] = False
        beats = beats_from_spans(t, env, split_beats(t, env, join=site == "mv", valid=valid))
        for tb in (b for b in tr["beats"] if b["complete"]):
            match = [b for b in beats if b.complete and abs(b.start_s - tb["start_s"]) < 0.03]
            assert len(match) == 1, (seed, tb)
            assert match[0].vti_cm == pytest.approx(tb["vti_cm"], rel=0.03)
        cal = manual_spectral_calibration(tr["s_per_px"], tr["cm_s_per_px"], tr["baseline_row"], tuple(tr["strip"]))
        fe = envelope_from_flow(case.masks[0].astype(np.float64), cal)
        assert fe.side == np.sign(env[np.argmax(np.abs(env))])
        spans = split_beats(fe.t_s, fe.velocity_cm_s, join=site == "mv", valid=valid)
        summary = summarise_beats(beats_from_spans(fe.t_s, fe.velocity_cm_s, spans))
        if tr["value"] is not None:
            assert summary.value == pytest.approx(tr["value"], rel=0.03), seed
        if not tr["irregular"] and summary.heart_rate_bpm is not None:
            assert summary.heart_rate_bpm == pytest.approx(tr["heart_rate_bpm"], rel=0.1)
        beats = beats_from_spans(fe.t_s, fe.velocity_cm_s, spans)
        res = qc_doppler(beats, summary, fe.confidence, None, cal, site=site, side=fe.side)
        assert res.passed == (tr["value"] is not None), (seed, res.reasons)


def test_split_beats_invalid_stretch_cuts_beat():
    dt = 0.004
    t = np.arange(0, 2.6, dt)
    v = half_sine_train(t, [(0.2, 0.3, 100.0), (1.0, 0.3, 100.0), (1.8, 0.3, 100.0)])
    valid = np.ones(t.size, bool)
    valid[(t > 1.1) & (t < 1.14)] = False  # erase bar through the middle beat
    v = np.where(valid, v, 0.0)
    spans = split_beats(t, v, valid=valid)
    assert [s.complete for s in spans] == [True, False, False, True]  # the middle beat in two cut pieces
    assert spans[-1].rr_s is None  # its predecessor's start is not a beat start
    whole = split_beats(t, v)  # without the flags the pieces look like (short) beats
    assert all(s.complete for s in whole)
    nan = split_beats(t, np.where(valid, v, np.nan))  # NaN samples count as invalid
    assert [s.complete for s in nan] == [True, False, False, True]


def test_erase_bar_columns_match_the_generators_erase_bars():
    from echoseg.synth.doppler import generate_doppler

    n_gaps = 0
    for seed in range(9005000, 9005040):
        case = generate_doppler(seed)
        x0, y0, x1, y1 = case.truth["strip"]
        found = erase_bar_columns(case.frames[0][y0:y1 + 1, x0:x1 + 1])
        gap = case.truth["erase_gap_cols"]
        if gap is None:
            assert not found.any(), seed
        else:
            n_gaps += 1
            assert found[gap[0]:gap[1]].all(), seed
            assert found.sum() - (gap[1] - gap[0]) <= 2, seed  # one blurred edge column each side
    assert n_gaps >= 3


def test_erase_bar_columns_ignore_wide_flat_stretches_and_edges():
    rng = np.random.default_rng(3)
    strip = rng.integers(0, 200, (100, 400)).astype(np.uint8)
    strip[:, 100:106] = 0  # narrow blank run inside: an erase bar
    strip[:, 200:300] = 0  # a clean display's empty diastole: too wide
    strip[:, :5] = 0  # at the strip's edge: not bounded
    found = erase_bar_columns(strip)
    assert found[99:107].all() and found.sum() == 8
    with pytest.raises(ValueError, match="strip must be"):
        erase_bar_columns(np.zeros(5))


def test_trim_ejection_cuts_a_click_lobe_and_keeps_a_shallow_notch() -> None:
    from echoseg.doppler.beats import Span, trim_ejection

    t = np.arange(0, 1.0, 0.005)
    main = np.where((t > 0.1) & (t < 0.4), 100 * np.sin(np.pi * (t - 0.1) / 0.3), 0.0)
    click = np.where((t > 0.42) & (t < 0.5), 40 * np.sin(np.pi * (t - 0.42) / 0.08), 0.0)
    speed = main + click + 2.0
    (cut,) = trim_ejection(t, speed, [Span(10, 110, True, 0.8)])
    assert abs(t[cut.end] - 0.41) < 0.015 and cut.start == 10 and cut.complete and cut.rr_s == 0.8
    notched = main * np.where(np.abs(t - 0.25) < 0.03, 0.6, 1.0) + 2.0  # a mid-systolic notch to 60 %
    assert trim_ejection(t, notched, [Span(10, 110, True)]) == [Span(10, 110, True)]
    # a lobe before the ejection (opening click) goes too; a clipped side that is cut is no longer clipped
    pre = np.where((t > 0.02) & (t < 0.08), 50 * np.sin(np.pi * (t - 0.02) / 0.06), 0.0) + main + 2.0
    (cut,) = trim_ejection(t, pre, [Span(0, 90, False, None, clipped_start=True)])
    assert abs(t[cut.start] - 0.09) < 0.015 and not cut.clipped_start and not cut.complete
