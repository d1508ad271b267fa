"""Signal-level synthetic Doppler screens: truth like generate_doppler's, analytic VTI, non-target flows."""
from __future__ import annotations

import json

import numpy as np
import pytest

from echoseg.io.calibration import spectral_calibration, velocity_to_row
from echoseg.synth.doppler import generate_doppler
from echoseg.synth.doppler_signal import generate_doppler_signal
from echoseg.synth.nontarget import DIRECTION, MODE, NONTARGETS, PEAK_RANGE, nontarget_envelope, sample_nontarget
from echoseg.synth.waveforms import beat_stats, make_beats, sample_rhythm
from echoseg.vocab import SITES

SIZE = (300, 420)  # small screens keep the suite fast


@pytest.fixture(scope="module")
def cases():
    return [generate_doppler_signal(s, site=SITES[s % 5], image_size=SIZE) for s in range(20)]


@pytest.fixture(scope="module")
def others():
    return [generate_doppler_signal(100 + s, nontarget=NONTARGETS[s % len(NONTARGETS)], image_size=SIZE)
            for s in range(2 * len(NONTARGETS))]


def test_deterministic_per_seed() -> None:
    a, b = generate_doppler_signal(7, image_size=SIZE), generate_doppler_signal(7, image_size=SIZE)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.masks, b.masks)
    assert json.dumps(a.truth) == json.dumps(b.truth)  # also proves the truth is JSON-serialisable
    assert not np.array_equal(a.frames, generate_doppler_signal(8, image_size=SIZE).frames)


def test_truth_keys_and_shapes_match_generate_doppler(cases, others) -> None:
    keys = set(generate_doppler(0, image_size=SIZE).truth)
    for c in cases + others:
        assert set(c.truth) == keys
        assert c.kind == "doppler" and c.frames.shape == (1, *SIZE, 3) and c.frames.dtype == np.uint8
        assert c.masks is not None and c.masks.shape == (1, *SIZE) and set(np.unique(c.masks)) <= {0, 1}
        assert c.extra["generator"] == "signal"


def test_calibration_from_regions_matches_truth(cases, others) -> None:
    for c in cases + others:
        cal, t = spectral_calibration(c.regions, c.frames.shape[1:3]), c.truth
        x0, y0, x1, y1 = t["strip"]
        assert (cal.region.x0, cal.region.y0, cal.region.x1, cal.region.y1) == (x0, y0, x1, y1)
        assert cal.baseline_row == t["baseline_row"] and cal.cm_s_per_px == t["cm_s_per_px"]
        assert cal.mode == t["mode"] and len(t["envelope_cm_s"]) == x1 - x0 + 1


def test_truth_vti_is_the_integral_of_the_analytic_envelope(cases) -> None:
    n = 0
    for c in cases:
        t = c.truth
        env = np.asarray(t["envelope_cm_s"])
        assert np.all(t["direction"] * env >= 0)
        times = np.arange(env.size) * t["s_per_px"]
        for b in t["beats"]:
            if not b["complete"]:
                continue
            sel = (times >= b["start_s"]) & (times <= b["end_s"])
            assert np.abs(env[sel]).sum() * t["s_per_px"] == pytest.approx(b["vti_cm"], rel=0.02)
            assert np.abs(env[sel]).max() == pytest.approx(b["vmax_cm_s"], rel=0.03)
            n += 1
        complete = [b["vti_cm"] for b in t["beats"] if b["complete"]]
        assert t["n_complete"] == len(complete) >= 1
        assert t["value"] == pytest.approx(np.mean(complete)) and t["vti_mean_cm"] == t["value"]
    assert n > 40


def test_vti_matches_the_waveform_beats_exactly() -> None:
    """Same rng stream as the generator's beats: the truth is beat_stats of the analytic beats."""
    rng = np.random.default_rng(0)
    r = sample_rhythm(rng, 4.0, 75.0, False)
    beats = make_beats(rng, "lvot", "normal", r, False)
    for b in beats:
        tt = np.linspace(b.start_s, b.end_s, 200001)
        assert beat_stats(b)[0] == pytest.approx(float(np.trapezoid(b.speed(tt), tt)), rel=1e-4)


def test_mask_follows_the_signed_envelope(cases, others) -> None:
    for c in cases + others:
        cal, t = spectral_calibration(c.regions, c.frames.shape[1:3]), c.truth
        x0, y0, x1, y1 = t["strip"]
        m = c.masks[0, y0:y1 + 1, x0:x1 + 1].astype(bool)
        comp = c.extra["companion_envelope_cm_s"]
        up = np.arange(y0, y1 + 1) < cal.baseline_row  # rows above the baseline
        for env in [np.asarray(t["envelope_cm_s"])] + ([] if comp is None else [np.asarray(comp)]):
            rows = velocity_to_row(cal, env)
            inside = (rows >= y0) & (rows <= y1) & (np.abs(env) > 0)
            expect = np.round(np.abs(rows - cal.baseline_row))
            side = np.where((rows < cal.baseline_row)[None, :], up[:, None], ~up[:, None])
            got = (m & side).sum(axis=0)
            assert np.abs(got[inside] - expect[inside]).max() <= 1
        assert c.masks[0].sum() == m.sum()  # nothing outside the strip


def test_companion_flow_is_in_the_mask_and_mitral_stenosis_gets_the_regurgitant_jet() -> None:
    """The flow across the baseline is flow too (the task layer picks the side); in a mitral
    stenosis CW strip it is mostly the regurgitant jet, faster than the inflow."""
    jets = comps = 0
    for seed in range(60):
        c = generate_doppler_signal(seed, site="mv")
        comp = c.extra["companion_envelope_cm_s"]
        if comp is None:
            continue
        comps += 1
        comp, env = np.asarray(comp), np.asarray(c.truth["envelope_cm_s"])
        assert np.all(comp * c.truth["direction"] <= 0)  # the other side of the baseline
        if c.truth["mode"] == "CW" and c.truth["variant"] == "stenosis" and np.abs(comp).max() > 1.3 * np.abs(env).max():
            jets += 1
    assert comps >= 10 and jets >= 2


def test_strip_is_bright_where_the_flow_is(cases) -> None:
    """The rendered spectrum agrees with the truth: brighter inside the mask than far beyond the envelope."""
    ok = eligible = 0
    for c in cases:
        t = c.truth
        x0, y0, x1, y1 = t["strip"]
        lum = c.frames[0, y0:y1 + 1, x0:x1 + 1].astype(np.float32).mean(axis=2)
        m = c.masks[0, y0:y1 + 1, x0:x1 + 1].astype(bool)
        cal = spectral_calibration(c.regions, c.frames.shape[1:3])
        vmax = max(b["vmax_cm_s"] for b in t["beats"])
        rows = np.arange(y0, y1 + 1)
        far_v = (rows - cal.baseline_row) * cal.cm_s_per_px * t["direction"]
        far = np.repeat((far_v > 1.3 * vmax)[:, None], m.shape[1], axis=1) & ~m
        if far.sum() < 200:
            continue
        eligible += 1
        ok += int(lum[m].mean() > lum[far].mean() + 10)
    assert eligible >= 10 and ok == eligible


@pytest.mark.parametrize("name", NONTARGETS)
def test_nontarget_flows_have_the_documented_direction_and_range(name: str) -> None:
    for seed in range(6):
        rng = np.random.default_rng(seed)
        hr = rng.uniform(50, 110)
        r = sample_rhythm(rng, 4.0, hr, False)
        t = np.linspace(0, 4.0, 4000)
        v, got = nontarget_envelope(rng, name, t, r)
        assert got == name
        d = DIRECTION[name]
        lo, hi = PEAK_RANGE[name]
        main = float(np.max(d * v))
        assert lo * 0.97 <= main <= hi * (1.27 if name == "tv_inflow" else 1.0), (seed, main)
        other = float(np.max(-d * v, initial=0.0))
        if name in ("tr", "mr", "ar", "pr", "tv_inflow"):
            assert other == 0.0  # one direction only
        else:
            assert 0 < other < main * (1.01 if name == "tdi" else 0.8)  # s' / reversal waves on the other side
        assert np.all(np.isfinite(v))


def test_nontarget_timing() -> None:
    r = np.arange(-1.0, 6.0, 0.8)
    t = np.linspace(0.0, 4.0, 8000)
    rng = np.random.default_rng(1)
    for name, systolic in (("tr", True), ("mr", True), ("ar", False), ("pr", False)):
        v = sample_nontarget(rng, name, r).velocity(t)
        phase = np.mod(t - r[0], 0.8)
        busy = np.abs(v) > 0.5 * np.abs(v).max()
        sys_frac = float(np.mean(phase[busy] < 0.4))
        assert (sys_frac > 0.9) if systolic else (sys_frac < 0.4), (name, sys_frac)
    ar = sample_nontarget(rng, "ar", r).velocity(t)
    beat = (t > r[2] + 0.35) & (t < r[3])
    seg = ar[beat][ar[beat] > 0]
    assert seg[: seg.size // 5].mean() > seg[-seg.size // 4:].mean()  # decrescendo
    with pytest.raises(ValueError):
        sample_nontarget(rng, "vsd", r)


def test_nontarget_screens(others) -> None:
    names = set()
    for c in others:
        t = c.truth
        names.add(t["variant"])
        assert t["site"] == "other" and t["value"] is None and t["vti_mean_cm"] is None
        assert t["beats"] == [] and t["n_complete"] == 0 and c.extra["flow"] == t["variant"]
        assert t["mode"] == MODE[t["variant"]] and t["direction"] == DIRECTION[t["variant"]]
        env = np.asarray(t["envelope_cm_s"])
        assert float(np.max(t["direction"] * env)) > 0
    assert names == set(NONTARGETS)
    c = generate_doppler_signal(3, site="other", image_size=SIZE)
    assert c.truth["site"] == "other" and c.truth["variant"] in NONTARGETS


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        generate_doppler_signal(0, site="tv")
    with pytest.raises(ValueError):
        generate_doppler_signal(0, nontarget="vsd")


def test_segmentation_fill_paints_only_the_flow_region() -> None:
    """An analysis program's fill over the flow stays inside the (slightly widened) flow region."""
    from dataclasses import replace

    from echoseg.synth.doppler_screen import sample_layout
    from echoseg.synth.doppler_signal import _flow_mask, _segmentation_fill

    case = generate_doppler_signal(11, site="lvot")
    frame = case.frames[0].copy()
    cal = spectral_calibration(case.regions, frame.shape[:2], "seed 11")
    lay = replace(sample_layout(np.random.default_rng(0), frame.shape[:2]), strip=tuple(case.truth["strip"]),
                  height=frame.shape[0], width=frame.shape[1])
    env = np.asarray(case.truth["envelope_cm_s"])
    _segmentation_fill(np.random.default_rng(3), frame, cal, lay, env, np.arange(env.size) * case.truth["s_per_px"], p=1.0)
    changed = np.any(frame != case.frames[0], axis=2)
    assert changed.sum() > 0.3 * case.masks[0].sum()  # a real fill over most of the flow
    assert not np.any(changed & ~_flow_mask(cal, lay, env * 1.05)[0].astype(bool))


def test_a_segmentation_fill_may_sit_inside_the_flow_but_the_truth_stays_the_flow() -> None:
    """Programs under-trace too: some fills stop well inside the envelope, leaving the spectrum's
    outer band visible; the flow mask is the true envelope whatever the fill."""
    from dataclasses import replace

    from echoseg.synth.doppler_screen import sample_layout
    from echoseg.synth.doppler_signal import _flow_mask, _segmentation_fill

    case = generate_doppler_signal(11, site="lvot")
    cal = spectral_calibration(case.regions, case.frames.shape[1:3], "seed 11")
    lay = replace(sample_layout(np.random.default_rng(0), case.frames.shape[1:3]), strip=tuple(case.truth["strip"]),
                  height=case.frames.shape[1], width=case.frames.shape[2])
    env = np.asarray(case.truth["envelope_cm_s"])
    t_cols = np.arange(env.size) * case.truth["s_per_px"]
    outer = case.masks[0].astype(bool) & ~_flow_mask(cal, lay, env * 0.9)[0].astype(bool)  # the outer 10 % band
    covered = []
    for seed in range(12):
        frame = case.frames[0].copy()
        assert _segmentation_fill(np.random.default_rng(seed), frame, cal, lay, env, t_cols, p=1.0)
        changed = np.any(frame != case.frames[0], axis=2)
        covered.append(float((changed & outer).sum()) / max(1, int(outer.sum())))
    assert min(covered) < 0.2 and max(covered) > 0.5  # some fills leave the outer band, others cover it


def test_a_faded_outer_band_changes_the_picture_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from echoseg.synth import doppler_signal as ds
    from echoseg.synth import spectral

    drawn = []
    real_flow = spectral.Flow

    def spy(*a, **kw):
        f = real_flow(*a, **kw)
        drawn.append(f)
        return f

    monkeypatch.setattr(ds, "Flow", spy)
    seeds = range(300, 312)
    with_fade = [ds.generate_doppler_signal(s) for s in seeds]
    share = np.mean([f.edge_fade_db > 0 for f in drawn if f.kind != "tissue"])
    assert 0.2 < share < 0.8 and all(f.edge_fade_db == 0 for f in drawn if f.kind == "tissue")
    assert all(3.0 <= f.edge_fade_db <= 15.0 for f in drawn if f.edge_fade_db > 0)
    monkeypatch.setattr(ds, "EDGE_FADE_SHARE", 0.0)
    without = [ds.generate_doppler_signal(s) for s in seeds]
    for a, b in zip(with_fade, without):  # the same case (own generator for the fade) and the same truth
        assert json.dumps(a.truth, sort_keys=True, default=str) == json.dumps(b.truth, sort_keys=True, default=str)
        assert np.array_equal(a.masks, b.masks)
    assert sum(not np.array_equal(a.frames, b.frames) for a, b in zip(with_fade, without)) >= 3


def test_the_truth_is_the_traced_edge_outside_the_analytic_envelope(monkeypatch) -> None:
    """A traced beat's VTI is the analytic one moved out by k broadening widths (closed form), and a
    generated screen's truth beats are the analytic ones (k = 0, the same seed) moved out by the
    case's own broadening: more for CW (k 1.5) than for PW (k 0.3). (The spectrum is rendered from the
    analytic envelope either way; the sonographer's marks drawn on the screen follow the truth.)"""
    import echoseg.synth.doppler_signal as ds
    from echoseg.synth.waveforms import TracedBeat

    rng = np.random.default_rng(3)
    for site in ("lvot", "av", "mv"):
        for b in make_beats(rng, site, "normal", sample_rhythm(rng, 4.0, 70.0, False), False)[:2]:
            vti, vmax, _ = beat_stats(b)
            tvti, tvmax, _ = beat_stats(TracedBeat(b, 1.5, 0.06, 2.0))
            assert tvti == pytest.approx(vti * 1.09 + 3.0 * (b.end_s - b.start_s), rel=2e-3)
            assert tvmax == pytest.approx(vmax * 1.09 + 3.0, rel=1e-6)
    assert ds.TRACED_SIGMAS["CW"] > ds.TRACED_SIGMAS["PW"] > 0
    seeds = range(48, 56)
    traced = [generate_doppler_signal(s, image_size=SIZE) for s in seeds]
    monkeypatch.setattr(ds, "TRACED_SIGMAS", {"CW": 0.0, "PW": 0.0})
    analytic = [generate_doppler_signal(s, image_size=SIZE) for s in seeds]
    modes = set()
    for a, c in zip(analytic, traced):
        k, sc = {"CW": 1.5, "PW": 0.3}[c.truth["mode"]], c.extra["scanner"]
        modes.add(c.truth["mode"])
        for ra, rc in zip(a.truth["beats"], c.truth["beats"]):
            dur = ra["end_s"] - ra["start_s"]
            want = ra["vti_cm"] * (1 + k * sc["beta"]) + k * sc["sigma0_cm_s"] * dur
            assert rc["vti_cm"] == pytest.approx(want, rel=2e-3)
        assert c.masks.sum() >= a.masks.sum()
    assert modes == {"CW", "PW"}
