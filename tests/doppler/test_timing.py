"""Flow timing against the ECG (doppler.timing): physiological beats from the synthetic generator's
rhythm and flow models, each site judged as itself and as the other phase."""
from __future__ import annotations

import numpy as np
import pytest

from echoseg.doppler.timing import DIASTOLE_FROM, DIASTOLE_UNTIL, SYSTOLE_BEFORE, flow_timing, timing_reason
from echoseg.synth.waveforms import envelope, make_beats, sample_rhythm
from echoseg.types import Beat


def _strip(seed: int, site: str, variant: str = "normal", irregular: bool = False):
    """(beats as echoseg Beats over the strip, t, speed, R times) of a 4 s synthetic strip."""
    rng = np.random.default_rng(seed)
    hr = rng.uniform(48, 130)
    r = sample_rhythm(rng, 4.0, hr, irregular)
    flow = make_beats(rng, site, variant, r, irregular)
    t = np.arange(0, 4.0, 0.004)
    speed = envelope(flow, t)
    beats = [Beat(i, b.start_s, b.end_s, 1.0, 1.0, 1.0, 0.0, 0.0, complete=b.start_s > 0 and b.end_s < 4.0)
             for i, b in enumerate(flow) if b.end_s > 0 and b.start_s < 4.0]
    return beats, t, speed, r[(r > -0.01) & (r < 4.0)]


@pytest.mark.parametrize("site", ["av", "lvot", "rvot", "pv", "mv"])
def test_every_site_passes_as_itself_over_heart_rates_and_rhythms(site) -> None:
    for seed in range(40):
        variant = "stenosis" if seed % 4 == 0 and site in ("av", "mv") else "normal"
        beats, t, speed, r = _strip(seed, site, variant, irregular=seed % 5 == 0)
        timing = flow_timing(beats, t, speed, r)
        assert timing is not None
        assert timing_reason(site, timing) == "", (seed, timing)


def test_mitral_inflow_judged_as_ejection_and_ejection_as_inflow_are_refused() -> None:
    for seed in range(40):
        mv = flow_timing(*_strip(seed, "mv"))
        lvot = flow_timing(*_strip(seed, "lvot"))
        assert DIASTOLE_FROM <= mv.phase <= DIASTOLE_UNTIL and lvot.phase < SYSTOLE_BEFORE, (seed, mv, lvot)
        assert timing_reason("mv", lvot).startswith("flow timing: the traced flow lies in systole")
        assert timing_reason("pv", mv).startswith("flow timing: the traced flow lies in diastole")


def test_no_timing_without_r_waves_or_complete_beats() -> None:
    beats, t, speed, r = _strip(1, "lvot")
    assert flow_timing(beats, t, speed, r[:1]) is None
    assert flow_timing([Beat(0, 0.1, 0.4, 1, 1, 1, 0, 0, complete=False)], t, speed, r) is None
    assert timing_reason("lvot", None) == ""


def test_a_mitral_trace_of_flow_away_from_the_transducer_is_refused_and_ejection_either_way_is_not() -> None:
    from echoseg.doppler.timing import direction_reason

    assert "mitral regurgitation" in direction_reason("mv", -1)
    assert direction_reason("mv", 1) == ""
    for site in ("av", "lvot", "rvot", "pv"):  # aortic stenosis from the right parasternal window runs towards
        assert direction_reason(site, 1) == direction_reason(site, -1) == ""
