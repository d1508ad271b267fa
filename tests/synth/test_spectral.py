"""Signal-level spectral Doppler model: energy where the envelope says, speckle, aliasing, processing."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.ndimage import maximum_filter1d, uniform_filter

from echoseg.synth import spectral as sp
from echoseg.synth.waveforms import EjectionBeat, envelope

BEATS = [EjectionBeat(0.2 + 0.8 * k, 0.5 + 0.8 * k, 100.0, 0.3, 0.9, 1.2) for k in range(4)]
V_ROWS = np.linspace(75.0, -175.0, 400, endpoint=False)  # strip rows: +75 (top) .. -175 cm/s
T_COLS = np.arange(900) * 3.2 / 900


def _scanner(mode: str = "PW", **kw) -> sp.Scanner:
    base = {"mode": mode, "span_cm_s": 250.0, "v_lo_cm_s": -175.0, "f0_hz": 2.5e6, "beta": 0.06, "sigma0_cm_s": 1.5,
            "wall_hz": 50.0, "noise_db": -40.0, "mirror_db": None, "click_db": -99.0, "win_len": 96, "nfft": 128,
            "hop": 24, "drift_db": 0.0}
    return sp.Scanner(**{**base, **kw})


def _away(t: np.ndarray) -> np.ndarray:
    return -envelope(BEATS, t)


@pytest.mark.parametrize("kind,mode", [("plug", "PW"), ("filled", "CW"), ("inflow", "PW")])
def test_energy_lies_inside_the_envelope_and_its_edge_reaches_it(kind: str, mode: str) -> None:
    sc = _scanner(mode)
    p = sp.render_power(np.random.default_rng(1), sc, [sp.Flow(_away, kind=kind, v_ref=100.0)], V_ROWS, T_COLS,
                        clutter=False)
    e = np.abs(_away(T_COLS))
    s = -V_ROWS[:, None]  # velocity along the flow
    noise = np.median(p[:, e == 0][V_ROWS < -120])
    excess = np.clip(p - noise, 0, None)
    lobe = 2 * sc.span_cm_s / sc.win_len  # the STFT window's main lobe
    k = int(np.ceil(sc.win_len / sc.fs_hz / T_COLS[1]))
    e_win = maximum_filter1d(e, 2 * k + 1)  # the envelope seen by one STFT window
    margin = e_win * (1 + 3 * sc.beta) + 3 * sc.sigma0_cm_s + lobe
    inside = (s > -lobe - 3 * sc.sigma0_cm_s) & (s <= margin[None, :])
    assert excess[inside].sum() / excess.sum() > 0.9
    # the edge of the dense signal (half the band's peak power) is within a few % of the analytic envelope
    ps = uniform_filter(p, (3, 5))
    errs = []
    for c in np.nonzero(e > 0.6 * e.max())[0]:
        band = (s[:, 0] > 0.7 * e[c]) & (s[:, 0] < e[c])
        above = (ps[:, c] > 0.5 * np.percentile(ps[band, c], 80)) & (s[:, 0] > 0)
        errs.append(s[above, 0].max() / e[c] - 1)
    assert abs(float(np.median(errs))) < 0.05
    assert np.percentile(np.abs(errs), 75) < 0.1


def test_stationary_edge_is_at_the_envelope_and_the_tail_is_faint() -> None:
    sc = _scanner("PW", beta=0.08)
    t = np.arange(300) / 300.0
    p = sp.render_power(np.random.default_rng(2), sc, [sp.Flow(lambda x: np.full(np.shape(x), -100.0), kind="plug")],
                        V_ROWS, t, clutter=False).mean(axis=1)
    s = -V_ROWS
    lvl = p[(s > 70) & (s < 100)].max()
    edge = s[(p > 0.5 * lvl) & (s > 0)].max()
    assert edge == pytest.approx(100.0, rel=0.04)
    sigma = sc.beta * 100 + sc.sigma0_cm_s
    assert p[np.argmin(np.abs(s - (100 + 2.5 * sigma)))] < 0.1 * lvl  # the broadened tail is faint


def _stationary_cv(power: np.ndarray) -> float:
    return float(np.mean(power.std(axis=1) / power.mean(axis=1)))


def test_speckle_is_exponential_before_compression() -> None:
    sc = _scanner("CW", nearest_t=True)
    nfft = sc.nfft
    v_bins = sp.bin_velocities(sc, nfft)
    rows = v_bins[(v_bins < -30) & (v_bins > -80)]  # well inside a filled band 0..100 cm/s
    t = np.arange(200) * sc.win_len / sc.fs_hz  # one column per non-overlapping window
    flow = sp.Flow(lambda x: np.full(np.shape(x), -100.0), kind="filled", shape_k=0.0, low_boost=0.0, floor_db=0.0)
    p = sp.render_power(np.random.default_rng(3), sc, [flow], rows, t, clutter=False)
    assert 0.85 < _stationary_cv(p) < 1.15
    frac = float(np.mean(p > p.mean(axis=1, keepdims=True)))
    assert frac == pytest.approx(np.exp(-1.0), abs=0.04)  # P(I > mean) of an exponential law


def test_random_phase_sum_of_sinusoids_matches_the_shaped_noise() -> None:
    """Mo & Cobbold's literal model and the shaped-noise synthesis: same mean spectrum, both exponential."""
    rng = np.random.default_rng(4)
    sc = _scanner("PW", span_cm_s=200.0, v_lo_cm_s=-100.0)
    n = 64
    v = sp.bin_velocities(sc, n)
    w = np.where((v > 20) & (v < 60), 1.0, 0.0)
    frames = np.stack([sp.random_phase_signal(rng, v, w, n, sc.fs_hz, sc.f0_hz, n_scatterers=300)
                       for _ in range(300)])
    p_rp = np.fft.fftshift(np.abs(np.fft.fft(frames * np.hanning(n), axis=1)) ** 2, axes=1)
    x = sp.shaped_noise_signal(rng, np.repeat(w[:, None], 1200, axis=1))
    p_sn, _ = sp.stft_power(x, "hann", n, n, n)
    m_rp, m_sn = p_rp.mean(axis=0), p_sn.mean(axis=0)
    inb = (v > 25) & (v < 55)
    out = (v < 0) | (v > 85)
    assert m_rp[out].mean() < 0.02 * m_rp[inb].mean() and m_sn[out].mean() < 0.02 * m_sn[inb].mean()
    assert 0.85 < _stationary_cv(p_rp[:, inb].T) < 1.15 and 0.85 < _stationary_cv(p_sn[:, inb].T) < 1.15


def test_pw_aliasing_wraps_beyond_nyquist_and_cw_clips() -> None:
    assert float(sp.alias_velocity(70.0, -50.0, 100.0)) == pytest.approx(-30.0)
    assert float(sp.alias_velocity(-20.0, -50.0, 100.0)) == pytest.approx(-20.0)
    rows = np.linspace(50.0, -50.0, 200, endpoint=False)
    t = np.arange(200) / 200.0
    flow = [sp.Flow(lambda x: np.full(np.shape(x), 70.0), kind="plug", band=0.1, fill=0.0, floor_db=-40.0)]
    for mode in ("PW", "CW"):
        sc = _scanner(mode, span_cm_s=100.0, v_lo_cm_s=-50.0)
        p = sp.render_power(np.random.default_rng(5), sc, flow, rows, t, clutter=False).mean(axis=1)
        wrapped = p[np.abs(rows - (-33.0)) < 3].mean()  # 64..70 cm/s shown at -36..-30
        far = p[np.abs(rows - 0.0) < 10].mean()
        if mode == "PW":
            assert wrapped > 100 * far
            assert -45.0 <= rows[np.argmax(p)] <= -29.0  # the band 56..70 cm/s, wrapped
        else:
            assert wrapped < 3 * far  # anti-alias filtered: nothing beyond the band


def test_cw_mirror_and_wall_filter() -> None:
    t = np.arange(300) / 300.0
    flow = [sp.Flow(lambda x: np.full(np.shape(x), -100.0), kind="filled", shape_k=0.0, low_boost=0.0)]
    rows = np.linspace(125.0, -125.0, 250, endpoint=False)
    p = sp.render_power(np.random.default_rng(6), _scanner("CW", v_lo_cm_s=-125.0, mirror_db=-20.0), flow,
                        rows, t, clutter=False).mean(axis=1)
    ratio = p[(rows > 40) & (rows < 80)].mean() / p[(rows < -40) & (rows > -80)].mean()
    assert 10 * np.log10(ratio) == pytest.approx(-20.0, abs=3.0)
    near = np.abs(rows) < 4
    lo = sp.render_power(np.random.default_rng(7), _scanner("CW", clutter_db=20.0, wall_hz=10.0), [], rows, t)
    hi = sp.render_power(np.random.default_rng(7), _scanner("CW", clutter_db=20.0, wall_hz=400.0), [], rows, t)
    assert hi[near].mean() < 0.1 * lo[near].mean()


def test_clicks_are_short_bright_and_fade_from_the_baseline() -> None:
    sc = _scanner("CW", click_db=15.0)
    rows = np.linspace(125.0, -125.0, 250, endpoint=False)
    t = np.arange(600) / 300.0
    p = sp.render_power(np.random.default_rng(8), sc, [], rows, t, click_times=[1.0], clutter=False)
    col = int(np.argmin(np.abs(t - 1.0)))
    near, far = np.abs(rows) < 20, np.abs(rows) > 90
    assert p[near, col].mean() > 30 * p[near, :100].mean()  # bright against the noise
    assert p[far, col].mean() < p[near, col].mean()
    assert p[near, col + 60].mean() < 3 * p[near, :100].mean()  # gone 0.2 s later


def test_render_strip_is_deterministic_in_range_and_varied() -> None:
    flows = [sp.Flow(_away, kind="plug", v_ref=100.0)]
    sc = sp.sample_scanner(np.random.default_rng(9), "PW", 250.0, -175.0, 900 / 3.2)
    a = sp.render_strip(np.random.default_rng(10), sc, flows, V_ROWS, T_COLS, [0.5])
    b = sp.render_strip(np.random.default_rng(10), sc, flows, V_ROWS, T_COLS, [0.5])
    c = sp.render_strip(np.random.default_rng(11), sc, flows, V_ROWS, T_COLS, [0.5])
    assert a.shape == (V_ROWS.size, T_COLS.size) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 0.0 <= float(a.min()) and float(a.max()) <= 1.0
    scs = [sp.sample_scanner(np.random.default_rng(s), m, 250.0, -175.0, 280.0) for s in range(40) for m in ("PW", "CW")]
    assert all(30 <= x.dyn_range_db <= 60 and x.window in sp.WINDOWS and 1 <= x.hop <= x.win_len <= 256 for x in scs)
    assert all(64 <= x.nfft <= 512 for x in scs)
    assert len({(x.mode, x.window, x.win_len, x.nfft, round(x.gain_db, 3)) for x in scs}) == len(scs)


def test_flow_density_shapes() -> None:
    s = np.linspace(-20, 140, 161)[:, None]
    e = np.array([100.0])
    plug = sp.flow_density(s, e, sp.Flow(_away, kind="plug", band=0.15, fill=0.0, floor_db=-20.0), 0.03, 1.0)[:, 0]
    filled = sp.flow_density(s, e, sp.Flow(_away, kind="filled", shape_k=1.0, low_boost=0.0, floor_db=-20.0),
                             0.03, 1.0)[:, 0]

    def at(v: float) -> int:
        return int(np.argmin(np.abs(s[:, 0] - v)))

    assert plug[at(93)] > 30 * plug[at(50)]  # hollow window below a narrow band at the envelope
    assert filled[at(50)] > 0.3 * filled[at(93)]  # CW jets are filled
    for d in (plug, filled):
        assert d[at(130)] < 1e-3 * d[at(93)] and d[at(-15)] < 1e-3 * d[at(93)]
    with pytest.raises(ValueError):
        sp.flow_density(s, e, dataclasses.replace(sp.Flow(_away), kind="laminar"), 0.03, 1.0)


@pytest.mark.parametrize("kind", ["filled", "plug"])
def test_a_faded_edge_is_dimmer_than_the_core_and_still_ends_at_the_envelope(kind: str) -> None:
    s = np.linspace(-20, 140, 321)[:, None]
    e = np.array([100.0])
    flat = sp.Flow(_away, kind=kind, band=0.6, fill=0.0, shape_k=0.01, low_boost=0.0, floor_db=-3.0)
    faded = dataclasses.replace(flat, edge_fade_db=12.0, edge_fade_w=0.3)
    d0, d1 = (sp.flow_density(s, e, f, 0.03, 1.0)[:, 0] for f in (flat, faded))

    def at(v: float) -> int:
        return int(np.argmin(np.abs(s[:, 0] - v)))

    assert d1[at(55)] == pytest.approx(d0[at(55)], rel=0.02)  # the core is untouched
    assert 10 * np.log10(d0[at(97)] / d1[at(97)]) > 9.0  # the outer band is about 12 dB dimmer
    # the dimmer band still ends at the envelope: its own half level is crossed within 3 % of E
    lvl = d1[(s[:, 0] > 85) & (s[:, 0] < 96)].min()
    edge = s[(d1 > 0.5 * lvl) & (s[:, 0] > 0), 0].max()
    assert edge == pytest.approx(100.0, rel=0.03)
    assert d1[at(110)] < 0.05 * lvl  # and nothing but the faint tail lies beyond it
