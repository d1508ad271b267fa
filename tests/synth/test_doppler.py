"""Synthetic spectral Doppler generator: truth consistency, calibration, ranges and flags."""
from __future__ import annotations

import json

import numpy as np
import pytest

from echoseg.io.calibration import row_to_velocity, spectral_calibration, velocity_to_row
from echoseg.synth.doppler import generate_doppler
from echoseg.synth.styles import HELDOUT_FAMILY
from echoseg.synth.waveforms import EjectionBeat, beat_stats
from echoseg.vocab import SITES

SIZE = (300, 420)  # small screens keep the suite fast


@pytest.fixture(scope="module")
def cases():
    return [generate_doppler(s, site=SITES[s % 5], image_size=SIZE) for s in range(40)]


def _cal(case):
    return spectral_calibration(case.regions, case.frames.shape[1:3])


def test_deterministic_per_seed():
    a, b = generate_doppler(7, image_size=SIZE), generate_doppler(7, image_size=SIZE)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.masks, b.masks)
    assert json.dumps(a.truth) == json.dumps(b.truth)  # also proves the truth is JSON-serialisable
    c = generate_doppler(8, image_size=SIZE)
    assert not np.array_equal(a.frames, c.frames)


def test_shapes_and_kinds(cases):
    for c in cases:
        assert c.kind == "doppler" and c.frames.shape == (1, *SIZE, 3) and c.frames.dtype == np.uint8
        assert c.masks.shape == (1, *SIZE) and set(np.unique(c.masks)) <= {0, 1}
        assert c.tasks == (f"{c.truth['site']}_vti",)


def test_calibration_from_regions_matches_truth(cases):
    for c in cases:
        cal, t = _cal(c), c.truth
        x0, y0, x1, y1 = t["strip"]
        assert (cal.region.x0, cal.region.y0, cal.region.x1, cal.region.y1) == (x0, y0, x1, y1)
        assert y0 < cal.baseline_row < y1 and cal.baseline_row == t["baseline_row"]
        assert cal.cm_s_per_px == t["cm_s_per_px"] and cal.s_per_px == t["s_per_px"]
        assert cal.mode == t["mode"] and cal.region.data_type == (3 if t["mode"] == "PW" else 4)
        assert len(t["envelope_cm_s"]) == x1 - x0 + 1
        assert 2.0 - 1e-9 <= cal.s_per_px * cal.region.width <= 6.0 + 1e-9


def test_envelope_sum_matches_beat_vti(cases):
    n = 0
    for c in cases:
        t = c.truth
        env = np.abs(np.asarray(t["envelope_cm_s"]))
        times = np.arange(env.size) * t["s_per_px"]
        for b in t["beats"]:
            if not b["complete"]:
                continue
            sel = (times >= b["start_s"]) & (times <= b["end_s"])
            vti = env[sel].sum() * t["s_per_px"]
            assert vti == pytest.approx(b["vti_cm"], rel=0.02), (c.seed, b)
            assert env[sel].max() == pytest.approx(b["vmax_cm_s"], rel=0.03)
            n += 1
        complete = [b["vti_cm"] for b in t["beats"] if b["complete"]]
        assert t["n_complete"] == len(complete) >= 1
        assert t["value"] == pytest.approx(np.mean(complete)) and t["vti_mean_cm"] == t["value"]
    assert n > 100


def test_mask_agrees_with_envelope_through_calibration(cases):
    for c in cases:
        cal, t = _cal(c), c.truth
        x0, y0, x1, y1 = t["strip"]
        env = np.asarray(t["envelope_cm_s"])
        env_rows = velocity_to_row(cal, env)
        m = c.masks[0]
        assert m[:y0].sum() == 0 and m[y1 + 1:].sum() == 0 and m[:, :x0].sum() == 0 and m[:, x1 + 1:].sum() == 0
        comp = c.extra["companion_envelope_cm_s"]
        m_comp = m.copy()
        m_comp[:, x0:x1 + 1] *= (row_to_velocity(cal, np.arange(m.shape[0])) * t["direction"] < 0)[:, None]
        if comp is None:
            assert m_comp.sum() == 0
        else:  # the companion flow across the baseline is in the mask too, to its envelope
            comp_rows = velocity_to_row(cal, np.asarray(comp))
            got = m_comp[:, x0:x1 + 1].sum(axis=0)
            assert np.all(np.abs(got - np.abs(comp_rows - cal.baseline_row)) <= 1.0), c.seed
        m = m - m_comp
        counts = m[:, x0:x1 + 1].sum(axis=0)
        assert np.all(np.abs(counts - np.abs(env_rows - cal.baseline_row)) <= 1.0), c.seed
        assert np.all(counts[env == 0] == 0)
        # every mask pixel of the measured side has the flow's sign and is no faster than the envelope there
        rr, cc = np.nonzero(m)
        v = row_to_velocity(cal, rr)
        assert np.all(np.sign(v) == t["direction"])
        assert np.all(np.abs(v) <= np.abs(env[cc - x0]) + abs(cal.cm_s_per_px) * 0.5 + 1e-9)


def test_display_polarity_is_random_and_consistent(cases):
    signs = {np.sign(c.truth["cm_s_per_px"]) for c in cases}
    assert signs == {-1.0, 1.0}
    for c in cases:
        t = c.truth
        assert t["inverted"] == (t["cm_s_per_px"] > 0)
        rows = np.nonzero(c.masks[0])[0]
        above = rows.mean() < t["baseline_row"]
        # standard display (negative delta): flow toward the probe is drawn above the baseline
        assert above == ((t["direction"] > 0) != t["inverted"]), c.seed
        assert t["direction"] == (1 if t["site"] == "mv" else -1)


def test_baselines_and_strips_vary(cases):
    rel = [(c.truth["baseline_row"] - c.truth["strip"][1]) / (c.truth["strip"][3] - c.truth["strip"][1]) for c in cases]
    assert min(rel) < 0.35 and max(rel) > 0.65
    assert len({tuple(c.truth["strip"]) for c in cases}) > 30


def test_peak_velocities_in_site_ranges():
    nominal = {"mv": (50, 250), "av": (100, 500), "lvot": (70, 130), "rvot": (50, 100), "pv": (60, 120)}
    for site in SITES:
        peaks = []
        for s in range(20):
            c = generate_doppler(1000 + s, site=site, image_size=SIZE)
            peaks += [b["vmax_cm_s"] for b in c.truth["beats"]]
            assert c.truth["mode"] == "CW" if site == "av" else c.truth["mode"] in ("PW", "CW")
            # the scale never clips the flow: every envelope fits inside the strip
            cal = _cal(c)
            rows = velocity_to_row(cal, np.asarray(c.truth["envelope_cm_s"]))
            assert rows.min() >= cal.region.y0 and rows.max() <= cal.region.y1
        lo, hi = nominal[site]
        assert lo * 0.6 <= min(peaks) and max(peaks) <= hi * 1.35, site
        assert lo <= np.median(peaks) <= hi, site


def test_edge_beats_are_incomplete(cases):
    n_edge = 0
    for c in cases:
        t = c.truth
        t_last = (len(t["envelope_cm_s"]) - 1) * t["s_per_px"]
        gap = t["erase_gap_cols"]
        for b in t["beats"]:
            inside = b["start_s"] >= 0 and b["end_s"] <= t_last
            if gap is not None:
                g0, g1 = gap[0] * t["s_per_px"], (gap[1] - 1) * t["s_per_px"]
                inside = inside and not (b["start_s"] <= g1 and b["end_s"] >= g0)
            assert b["complete"] == inside
            assert b["end_s"] > 0 and b["start_s"] < t_last  # only beats that show are listed
        env = np.asarray(t["envelope_cm_s"])
        if env[0] != 0:  # flow at the left edge: the first listed beat started before the strip
            assert not t["beats"][0]["complete"]
            n_edge += 1
        if env[-1] != 0:
            assert not t["beats"][-1]["complete"]
        starts = [b["start_s"] for b in t["beats"]]
        assert starts == sorted(starts)
    assert n_edge > 0


def test_sweep_erase_bar_blanks_flow_and_splits_beats():
    gapped = [c for c in (generate_doppler(s, site="lvot", image_size=SIZE) for s in range(40))
              if c.truth["erase_gap_cols"] is not None]
    assert gapped
    for c in gapped:
        t = c.truth
        g0, g1 = t["erase_gap_cols"]
        x0, y0, x1, y1 = t["strip"]
        assert np.all(np.asarray(t["envelope_cm_s"])[g0:g1] == 0)
        assert c.masks[0][:, x0 + g0:x0 + g1].sum() == 0
        strip = c.frames[0, y0:y1 + 1, x0 + g0:x0 + g1].reshape(-1, 3)
        assert np.mean(np.all(strip == strip[0], axis=1)) > 0.97  # background colour (text may cross it)


def test_rhythm_truth(cases):
    irregular = [c for c in cases if c.truth["irregular"]]
    regular = [c for c in cases if not c.truth["irregular"]]
    assert regular and irregular
    for c in regular:
        rr = np.asarray(c.truth["rr_s"])
        assert 45 <= c.truth["heart_rate_bpm"] <= 135 and rr.std() / rr.mean() < 0.12
    for c in irregular:
        assert min(c.truth["rr_s"]) >= 0.38 and max(c.truth["rr_s"]) <= 1.6


def test_analytic_beat_vti():
    b = EjectionBeat(start_s=0.0, end_s=0.3, peak_cm_s=100.0, p=0.5, a=1.0, b=1.0)
    vti, vmax, vmean = beat_stats(b)
    # sin rise and cos fall of equal halves: integral = peak * T * 2/pi
    assert vti == pytest.approx(100 * 0.3 * 2 / np.pi, rel=1e-4)
    assert vmax == pytest.approx(100.0) and vmean == pytest.approx(vti / 0.3)


def test_styles_heldout_and_monochrome():
    c = generate_doppler(3, heldout=True, image_size=SIZE)
    assert c.style == HELDOUT_FAMILY == c.truth["style"]
    mono = [generate_doppler(s, family="grey", image_size=SIZE) for s in range(8)]
    mono = [m for m in mono if m.monochrome]
    assert mono
    for m in mono:
        f = m.frames[0]
        assert np.array_equal(f[..., 0], f[..., 1]) and np.array_equal(f[..., 0], f[..., 2])


def test_thumbnail_region_is_2d_tissue_in_cm():
    with_thumb = [c for c in (generate_doppler(s, image_size=SIZE) for s in range(12)) if len(c.regions) == 2]
    assert with_thumb
    for c in with_thumb:
        tissue = c.regions[0]
        assert tissue.is_2d_tissue and tissue.units_x == 3 and tissue.delta_x > 0
        assert tissue.y1 < c.truth["strip"][1]


def test_flow_is_drawn_brighter_than_background(cases):
    for c in cases[:15]:
        t = c.truth
        g = c.frames[0].astype(np.float64).mean(axis=2)
        m = c.masks[0].astype(bool)
        x0, y0, x1, y1 = t["strip"]
        far = np.zeros_like(m)
        far[y0:y1 + 1, x0:x1 + 1] = True
        rows = np.arange(g.shape[0])[:, None]
        far &= np.abs(rows - t["baseline_row"]) > 0.9 * np.abs(np.asarray(
            velocity_to_row(_cal(c), max(t["envelope_cm_s"], key=abs))) - t["baseline_row"])
        assert g[m].mean() > g[far].mean() + 10, c.seed


def test_bad_site_is_refused():
    with pytest.raises(ValueError, match="site must be one of"):
        generate_doppler(0, site="tv")
