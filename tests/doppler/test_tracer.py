"""echoseg.doppler.tracer: the model-free envelope and its per-beat agreement with the network."""
from __future__ import annotations

import numpy as np
import pytest

from echoseg.doppler.prepare import strip_luminance
from echoseg.doppler.tracer import AGREEMENT_MARGIN, beat_agreement, span_vti, trace_envelope, tracer_vtis
from echoseg.io.calibration import manual_spectral_calibration, spectral_calibration
from echoseg.synth.doppler import generate_doppler
from echoseg.types import Beat


def _cal(baseline: float = 20.0, delta: float = -2.0):
    return manual_spectral_calibration(0.01, delta, baseline_row=baseline, box=(0, 0, 199, 159))


def _beat(i: int, start: float, end: float, vti: float, complete: bool = True) -> Beat:
    return Beat(i, start, end, vti, 100.0, 50.0, 4.0, 2.0, complete)


@pytest.mark.parametrize("delta, side", [(-2.0, -1), (2.0, 1), (-2.0, 1)])
def test_a_crisp_band_is_traced_at_its_edge_on_either_side(delta, side):
    cal = _cal(baseline=80.0, delta=delta)
    strip = np.full((160, 200), 12.0)
    depth = 50 * np.sin(np.linspace(0, np.pi, 200)) ** 2  # px from the baseline
    rows = np.arange(160)[:, None]
    sign_down = 1 if delta > 0 else -1
    inside = (rows > 80) & (rows <= 80 + depth) if side == sign_down else (rows < 80) & (rows >= 80 - depth)
    strip[inside] = 180.0
    env = trace_envelope(strip, cal, side)
    assert np.all(np.sign(env.velocity_cm_s[env.speed_cm_s > 0]) == side)
    inner = depth > 8  # the tracer skips a clutter band next to the baseline
    np.testing.assert_allclose(env.speed_cm_s[inner] / 2.0, depth[inner], atol=1.1)


def test_noise_alone_is_not_flow_and_bad_arguments_are_refused():
    rng = np.random.default_rng(0)
    env = trace_envelope(rng.exponential(10.0, (160, 200)), _cal(), -1)
    assert float(np.mean(env.speed_cm_s > 0)) < 0.2  # speckle without a spectrum: mostly nothing
    with pytest.raises(ValueError, match="spectral region"):
        trace_envelope(np.zeros((10, 10)), _cal(), -1)
    with pytest.raises(ValueError, match="side"):
        trace_envelope(np.zeros((160, 200)), _cal(), 0)


@pytest.mark.parametrize("seed", range(9_200_000, 9_200_012))
def test_synthetic_strips_are_traced_close_to_the_truth(seed):
    case = generate_doppler(seed, heldout=seed % 2 == 0)
    cal = spectral_calibration(case.regions, case.frames.shape[1:3], "synthetic")
    env = trace_envelope(strip_luminance(case.frames[0], cal), cal, int(case.truth["direction"]))
    truth = np.abs(np.asarray(case.truth["envelope_cm_s"], dtype=np.float64))
    errors = [span_vti(env.t_s, env.speed_cm_s, b["start_s"], b["end_s"])
              / span_vti(env.t_s, truth, b["start_s"], b["end_s"]) - 1.0
              for b in case.truth["beats"] if b["complete"]]
    assert errors, "the generator drew no complete beat"
    assert -0.10 < float(np.median(errors)) < 0.25  # biased outwards by haze, never far off
    assert np.mean(np.abs(errors) < AGREEMENT_MARGIN) >= 0.5


def test_agreement_counts_beats_beyond_the_margin():
    t = np.linspace(0.0, 3.0, 301)
    speed = np.where((t % 1.0) < 0.3, 100.0 * np.sin(np.pi * (t % 1.0) / 0.3), 0.0)
    cal = _cal()
    from echoseg.doppler.tracer import TracedEnvelope
    traced = TracedEnvelope(np.arange(t.size), t, -speed, -1, 0.9)
    true_vti = span_vti(t, speed, 0.0, 0.3)
    same = [_beat(i, i, i + 0.3, true_vti) for i in range(3)]
    half = [_beat(i, i, i + 0.3, 0.5 * true_vti) for i in range(3)]
    ok = beat_agreement(same, tracer_vtis(same, traced))
    assert ok.agrees and ok.n_disagree == 0 and ok.reason() == ""
    low = beat_agreement(half, tracer_vtis(half, traced))
    assert not low.agrees and low.n_disagree == 3 and low.median == pytest.approx(2 / 3, rel=0.02)
    assert "disagree: 3 of 3 beats" in low.reason() and "+67 %" in low.reason()
    beats = same[:2] + half[2:] + [_beat(3, 0, 0.3, 1.0, complete=False)]
    mixed = beat_agreement(beats, tracer_vtis(beats, traced))
    assert mixed.agrees and len(mixed.differences) == 3 and mixed.n_disagree == 1
    with pytest.raises(ValueError, match="one per beat"):
        beat_agreement(beats, (1.0,))
    assert cal.region.width == 200


def test_the_clutter_band_between_beats_does_not_count_inside_them():
    from echoseg.doppler.tracer import TracedEnvelope, clutter_level

    t = np.arange(0, 2.0, 0.005)
    flow = np.where((t % 1.0 > 0.2) & (t % 1.0 < 0.5), 90 * np.sin(np.pi * (t % 1.0 - 0.2) / 0.3), 0.0)
    traced_v = np.maximum(flow, 25.0)  # a threshold crossing runs along a 25 cm/s clutter band between beats
    traced = TracedEnvelope(np.arange(t.size), t, -traced_v, -1, 0.8)
    beats = [Beat(i, 0.1 + i, 0.6 + i, 0.0, 90, 0, 0, 0) for i in range(2)]  # spans wider than the flow
    assert clutter_level(traced, beats) == pytest.approx(25.0)
    truth = span_vti(t, flow, 0.1, 0.6)
    raw = span_vti(t, traced_v, 0.1, 0.6)
    got = tracer_vtis(beats, traced)
    assert raw > 1.3 * truth  # the band inflates the plain integral ...
    assert all(abs(v - truth) < 0.08 * truth for v in got)  # ... and not the tracer's VTI
    assert clutter_level(traced, [Beat(0, 0.0, 2.0, 0, 0, 0, 0, 0)]) == 0.0  # nothing outside the beats


def test_another_flow_between_the_beats_is_not_taken_for_the_clutter_band():
    """Mitral stenosis CW: the regurgitant jet's mirror fills the inflow's side in systole at full
    height; the beats' tracer VTIs must not be wiped out by it (they were 0: "tracer -200 %")."""
    from echoseg.doppler.tracer import TracedEnvelope, clutter_level

    t = np.arange(0, 2.0, 0.005)
    ph = t % 1.0
    inflow = np.where((ph > 0.45) & (ph < 0.95), 180 - 250 * (ph - 0.45), 0.0)
    mirror = np.where(ph < 0.4, 400.0, 0.0)
    traced_v = np.maximum(np.maximum(inflow, mirror), 20.0)  # a 20 cm/s clutter band where neither runs
    traced = TracedEnvelope(np.arange(t.size), t, traced_v, 1, 0.8)
    beats = [Beat(i, 0.44 + i, 0.96 + i, 0.0, 180, 0, 0, 0) for i in range(2)]
    assert clutter_level(traced, beats) == pytest.approx(20.0)
    truth = span_vti(t, inflow, 0.44, 0.96)
    assert all(abs(v - truth) < 0.1 * truth for v in tracer_vtis(beats, traced))
