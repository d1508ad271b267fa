"""Post-processing against synthetic masks and envelopes with exact truth."""
from __future__ import annotations

import math

import numpy as np
import pytest

from echoseg.atria.postprocess import area_curve, clean_mask, long_axis, pick_frames, soft_area_cm2
from echoseg.atria.qc import qc_atria
from echoseg.doppler.beats import erase_bar_columns, split_beats
from echoseg.doppler.envelope import envelope_from_flow
from echoseg.doppler.measure import beat_stats, beats_from_spans, rr_irregular, summarise_beats
from echoseg.doppler.qc import qc_doppler
from echoseg.imaging.signal import estimate_period
from echoseg.io.calibration import manual_spectral_calibration
from echoseg.types import Region, TissueCalibration


def tissue_cal(dx=0.04, dy=0.05, shape=(160, 200)) -> TissueCalibration:
    region = Region(0, 0, shape[1] - 1, shape[0] - 1, 1, 1, 3, 3, dx, dy)
    return TissueCalibration(region, dx, dy)


def ellipse_coverage(shape, cx, cy, a_cm, b_cm, angle, dx, dy, ss=8) -> np.ndarray:
    """Fraction of each pixel inside an ellipse defined in cm (supersampled ss x ss)."""
    h, w = shape
    off = (np.arange(ss) + 0.5) / ss - 0.5
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cov = np.zeros(shape)
    c, s = math.cos(angle), math.sin(angle)
    for oy in off:
        for ox in off:
            X = (xx + ox - cx) * dx
            Y = (yy + oy - cy) * dy
            u, v = c * X + s * Y, -s * X + c * Y
            cov += (u / a_cm) ** 2 + (v / b_cm) ** 2 <= 1.0
    return cov / ss ** 2


# ----------------------------------------------------------------------------- masks / atria
def test_clean_mask_keeps_largest_and_fills_holes():
    p = np.zeros((40, 40))
    p[5:25, 5:25] = 0.9
    p[12:15, 12:15] = 0.1  # hole
    p[30:34, 30:34] = 0.95  # small blob
    mk = clean_mask(p)
    assert mk[5:25, 5:25].all() and mk.sum() == 400
    assert not clean_mask(np.zeros((5, 5))).any()


def test_soft_area_of_ellipse_is_subpixel_accurate():
    dx, dy = 0.04, 0.05
    cal = tissue_cal(dx, dy)
    a, b = 2.2, 1.3  # cm
    cov = ellipse_coverage((160, 200), 100.3, 80.6, a, b, 0.4, dx, dy)
    blob = np.zeros_like(cov)
    blob[5:15, 5:15] = 0.8  # false positive far away: must not count
    truth = math.pi * a * b
    soft = soft_area_cm2(cov + blob, cal)
    binary = (cov > 0.5).sum() * dx * dy
    assert abs(soft - truth) / truth < 0.003
    assert abs(soft - truth) < abs(binary - truth) + 1e-9
    curve = area_curve(np.stack([cov, 0.6 * (cov > 0.99), np.zeros_like(cov)]), cal)
    assert curve[0] == pytest.approx(soft)
    assert curve[1] > 0 and curve[2] == 0.0


def test_pick_frames_three_cycles():
    ft = 33.3  # ms
    period = 0.8  # s -> 24 frames
    t = np.arange(80) * ft / 1000
    phase = (t - 0.15) / period
    curve = 15 + 6 * np.exp(-((phase - np.round(phase)) ** 2) / (2 * 0.12 ** 2))  # peaks at 0.15+k*0.8
    rng = np.random.default_rng(0)
    curve = curve + rng.normal(0, 0.1, curve.size)
    expect = [int(round((0.15 + k * period) / (ft / 1000))) for k in range(4) if 0.15 + k * period < t[-1]]
    for hr in (75.0, None):
        got = pick_frames(curve, ft, hr)
        assert len(got) == len(expect)
        assert all(abs(g - e) <= 1 for g, e in zip(got, expect))
    # a single frame or a flat curve -> the one largest frame
    assert pick_frames(np.array([3.0]), ft) == [0]
    assert pick_frames(np.full(10, 2.0), ft) == [0]


def test_estimate_period():
    dt = 0.004
    t = np.arange(0, 4.0, dt)
    x = np.maximum(np.sin(2 * np.pi * t / 0.9), 0) ** 3
    assert estimate_period(x, dt) == pytest.approx(0.9, abs=0.01)
    assert estimate_period(np.zeros(100), dt) is None


def test_long_axis_pca_and_annulus():
    dx, dy = 0.04, 0.05
    cal = tissue_cal(dx, dy)
    a, b = 2.4, 1.2
    cov = ellipse_coverage((160, 200), 100.0, 80.0, a, b, 0.6, dx, dy, ss=2)
    L = long_axis(cov > 0.5, cal)
    assert abs(L - 2 * a) < 1.5 * max(dx, dy)
    # half ellipse below an annulus line through its centre: length = semi-axis a (vertical)
    cov2 = ellipse_coverage((160, 200), 100.0, 40.0, 1.0, a, 0.0, dx, dy, ss=2)  # a along y
    half = (cov2 > 0.5) & (np.arange(160)[:, None] >= 40)
    L2 = long_axis(half, cal, annulus=((75.0, 40.0), (125.0, 40.0)))
    assert abs(L2 - a) < 1.0 * dy
    with pytest.raises(ValueError, match="empty"):
        long_axis(np.zeros((5, 5), bool), cal)


# ----------------------------------------------------------------------------- envelope
def envelope_truth(n_cols: int) -> np.ndarray:
    x = np.arange(n_cols)
    return np.clip(80 * np.sin(2 * np.pi * x / 97.0) + 10 * np.sin(x / 7.0), 0, None)  # cm/s


def flow_mask(shape, cal, cols, vel, binary=False) -> np.ndarray:
    """Coverage of each pixel by the interval between the baseline and the envelope row."""
    p = np.zeros(shape)
    rows = np.arange(shape[0])[:, None]
    e = cal.baseline_row + vel / cal.cm_s_per_px
    lo, hi = np.minimum(cal.baseline_row, e), np.maximum(cal.baseline_row, e)
    cov = np.clip(np.minimum(rows + 0.5, hi) - np.maximum(rows - 0.5, lo), 0, 1)
    if binary:
        cov = ((rows >= np.ceil(lo)) & (rows <= np.floor(hi)) & (hi > lo)).astype(float)  # pixel centres inside
    p[:, cols] = cov
    return p


@pytest.mark.parametrize("delta,baseline,sign", [(-2.0, 150.0, 1), (2.0, 150.0, 1), (-2.0, 60.0, -1),
                                                 (1.5, 35.0, 1), (-1.0, 185.5, 1)])
def test_envelope_from_flow_subpixel(delta, baseline, sign):
    shape = (240, 300)
    box = (20, 30, 279, 229)
    cal = manual_spectral_calibration(0.004, delta, baseline, box)
    cols = np.arange(box[0], box[2] + 1)
    truth = sign * envelope_truth(cols.size)
    limit = (box[3] + 0.5 - baseline) if (sign * delta > 0) else (baseline - box[1] + 0.5)
    truth = np.clip(truth, -(limit - 3) * abs(delta), (limit - 3) * abs(delta))
    p = flow_mask(shape, cal, cols, truth)
    env = envelope_from_flow(p, cal)
    assert env.side == sign
    assert (np.abs(env.velocity_cm_s - truth) / abs(delta)).max() < 1e-9  # exact for a coverage mask
    assert np.allclose(env.t_s, (cols - box[0]) * 0.004)
    assert env.confidence.min() == pytest.approx(1.0) and env.other_side_fraction == 0.0
    p += 0.3 * flow_mask(shape, cal, cols, -0.5 * truth)  # weaker mirror on the other side
    envm = envelope_from_flow(p, cal)
    assert envm.side == sign
    # the mirror shares only the baseline pixel with the flow: error well under 0.5 px
    assert (np.abs(envm.velocity_cm_s - truth) / abs(delta)).max() < 0.1
    assert 0.0 < envm.other_side_fraction < 0.2
    blurred = 0.5 * (np.roll(flow_mask(shape, cal, cols, truth), 3, axis=0) + np.roll(p, -3, axis=0))
    assert envelope_from_flow(blurred, cal).confidence.min() < 0.7
    envb = envelope_from_flow((flow_mask(shape, cal, cols, truth, binary=True)), cal)
    assert (np.abs(envb.velocity_cm_s - truth) / abs(delta)).max() <= 0.5 + 1e-9


def test_envelope_from_flow_ignores_background_blobs_and_holes():
    from scipy import ndimage
    rng = np.random.default_rng(7)
    shape, box = (240, 300), (20, 30, 279, 229)
    cal = manual_spectral_calibration(0.004, -2.0, 180.0, box)
    cols = np.arange(box[0], box[2] + 1)
    truth = envelope_truth(cols.size)
    clean = flow_mask(shape, cal, cols, truth)
    p = ndimage.gaussian_filter1d(clean, 1.0, axis=0)  # a soft model edge (sigma 1 px)
    core = ndimage.binary_erosion(clean > 0.99, np.ones((11, 1), bool))  # > 5 px inside the edge
    holes = core & (rng.random(shape) < 0.15)
    holes[175:181] |= core[175:181]  # a wall-filter gap at the baseline
    p[holes] = 0.2  # speckle holes inside the flow
    p[40:48, 200:240] = np.maximum(p[40:48, 200:240], 0.9)  # spurious blob far beyond the envelope
    p += rng.uniform(0.0, 0.08, shape) * (p < 0.5)  # low background probability everywhere
    env = envelope_from_flow(np.clip(p, 0, 1), cal)
    err_px = np.abs(env.velocity_cm_s - truth) / 2.0
    assert err_px.max() < 0.5 and np.median(err_px) < 0.2
    naive = (np.minimum(np.clip(p, 0, 1), 1)[box[1]:181, box[0]:box[2] + 1]).sum(axis=0)  # plain column sum
    assert np.median(np.abs(naive - truth / 2.0)) > 2.0  # what the outer-extent rule avoids


def test_envelope_side_forced_and_headroom():
    cal = manual_spectral_calibration(0.004, -2.0, 100.0, (0, 0, 49, 149))
    cols = np.arange(50)
    v = np.full(50, 150.0)  # 75 px above the baseline row 100 -> near the top edge? limit 100.5 px
    v[10] = 200.0  # exactly at the top edge: headroom 0.5 px
    p = flow_mask((150, 50), cal, cols, v) + 0.0
    env = envelope_from_flow(p, cal)
    assert env.headroom_px[10] == pytest.approx(0.5) and env.headroom_px[0] == pytest.approx(25.5)
    forced = envelope_from_flow(p, cal, side=-1)
    assert np.all(forced.velocity_cm_s <= 0) and forced.speed_cm_s.max() <= 0.5 * 2.0  # the baseline pixel only


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
            assert summary["value"] == pytest.approx(tr["value"], rel=0.03), seed
        if not tr["irregular"] and summary["heart_rate_bpm"] is not None:
            assert summary["heart_rate_bpm"] == pytest.approx(tr["heart_rate_bpm"], rel=0.1)
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


def test_synthetic_a4c_truth_reproduced():
    """Truth label masks of generated A4C cines -> area curve, picked frame, long axis and QC."""
    a4c = pytest.importorskip("echoseg.synth.a4c")
    from echoseg.io.calibration import tissue_calibration
    for seed in (0, 3):
        case = a4c.generate_a4c(seed)
        tr = case.truth
        cal = tissue_calibration(case.regions, case.frames.shape[1:3])
        for label, key in ((1, "la"), (2, "ra")):
            probs = (case.masks == label).astype(np.float32)
            curve = area_curve(probs, cal)
            assert np.allclose(curve, tr[f"{key}_area_cm2"], rtol=0.02)
            picks = pick_frames(curve, tr["frame_time_ms"], None)
            assert all(min(abs(p - e) for e in tr["es_frames"]) <= 1 for p in picks)
            f = max(picks, key=lambda i: curve[i])
            assert curve[f] == pytest.approx(tr[f"{key}_area"], rel=0.01)
            mask = clean_mask(probs[f])
            annulus = tuple(tuple(p) for p in tr[f"{key}_annulus_px"])
            assert long_axis(mask, cal, annulus) == pytest.approx(tr[f"{key}_length_cm"], abs=0.15)
            res = qc_atria(curve, mask, probs[f], f"{key}_area", frame=f, cal=cal)
            assert res.passed, res.reasons


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
