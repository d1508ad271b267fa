"""echoseg.doppler.qc: the refusal rules of Doppler VTI."""
from __future__ import annotations

import numpy as np
import pytest

from echoseg.doppler.measure import summarise_beats
from echoseg.doppler.qc import qc_doppler, scale_limit_cm_s
from echoseg.io.calibration import manual_spectral_calibration
from echoseg.types import Beat


# ----------------------------------------------------------------------------- Doppler
def beats(vtis, vmax=100.0, complete=None, rr=0.8):
    complete = complete or [True] * len(vtis)
    return [Beat(i, i * rr, i * rr + 0.3, v, vmax, v / 0.3, 4 * (vmax / 100) ** 2, 2.0, c, rr if i else None)
            for i, (v, c) in enumerate(zip(vtis, complete))]


def scal():
    # strip rows 0..199, baseline row 150, velocity grows upwards (delta -2): +limit 301 cm/s, -limit 99 cm/s
    return manual_spectral_calibration(0.004, -2.0, 150.0, (0, 0, 399, 199), "PW")


def run(bs, site="lvot", env_conf=0.9, site_conf=0.9, side=1, irregular=None, cal="default"):
    cal = scal() if cal == "default" else cal
    return qc_doppler(bs, summarise_beats(bs, irregular), env_conf, site_conf, cal, site=site, side=side)


def test_doppler_clean_case_passes_with_warnings():
    res = run(beats([20, 21, 19, 20, 25], complete=[True, True, True, True, False]))
    assert res.passed and res.reasons == ()
    assert res.warnings == ("1 beat(s) not counted (cut by the strip edge or an erase bar, or set aside: "
                            "see the notes)",)
    assert res.confidence == pytest.approx(0.9)
    few = run(beats([20, 21]))
    assert few.passed and few.warnings[0] == "only 2 complete beat(s); 3 advised"


@pytest.mark.parametrize("kw,expect", [
    (dict(bs=beats([20, 21], complete=[False, False])), "no complete beat in the strip (2 partial)"),
    (dict(bs=[]), "no beat found"),
    (dict(bs=beats([10, 20, 30, 15])), "beats inconsistent"),
    (dict(bs=beats([20, 21, 20], vmax=298.0), site="av"), "strip clipped: envelope reaches the scale limit in 3 of 3 beats"),
    (dict(bs=beats([20, 21, 20], vmax=98.0), side=-1), "strip clipped"),
    (dict(bs=beats([20, 21, 20]), env_conf=np.array([0.2, 0.1])), "envelope uncertain: confidence 0.15"),
    (dict(bs=beats([20, 21, 20]), site_conf=0.3), "site uncertain: confidence 0.30 that this is LVOT"),
    (dict(bs=beats([70, 71, 69])), "implausible VTI for LVOT: 70.0 cm"),
    (dict(bs=beats([90, 91, 89], vmax=750.0), site="av", cal=None), "implausible Vmax: 750 cm/s"),
    (dict(bs=beats([40, 42, 41], vmax=320.0), site="pv", cal=None),
     "Vmax 320 cm/s is too fast for PV flow (> 200): looks like tricuspid regurgitation"),
    (dict(bs=beats([60, 62, 61], vmax=450.0), site="mv", cal=None), "Vmax 450 cm/s is too fast for MV flow"),
    (dict(bs=beats([4, 4.2, 4.1], vmax=26.0), site="pv", cal=None),
     "Vmax 26 cm/s is too slow for PV flow (< 30): looks like venous flow"),
])
def test_doppler_rules(kw, expect):
    res = run(**kw) if "site" in kw else run(**kw, site="lvot")
    assert not res.passed
    assert any(r.startswith(expect) for r in res.reasons), res.reasons
    assert len(res.reasons) == 1, res.reasons


def test_each_site_keeps_its_own_flow_speed():
    from echoseg.doppler.qc import SITE_VMAX_CM_S

    # mitral stenosis inflow (2.5 m/s) and aortic stenosis (4.5 m/s) are their sites' VTIs; pulmonary
    # ejection at 1.3 m/s passes, a tricuspid jet at 2.8 m/s routed to RVOT does not
    assert run(beats([50, 51, 50], vmax=250.0), site="mv", cal=None).passed
    assert run(beats([90, 91, 89], vmax=450.0), site="av", cal=None).passed
    assert run(beats([20, 21, 20], vmax=130.0), site="pv", cal=None).passed
    assert not run(beats([30, 31, 30], vmax=280.0), site="rvot", cal=None).passed
    assert SITE_VMAX_CM_S["av"] == 700.0 and min(SITE_VMAX_CM_S.values()) >= 150.0


def test_slow_flow_is_refused_below_each_sites_floor_and_not_above_it():
    """The slowest ejection and inflow the generator draws (LVOT 70, RVOT 50, PV 60, AV 100 cm/s, mitral
    E 50) lie well above the floors; venous flow at 26 cm/s routed to PV does not pass."""
    from echoseg.doppler.qc import SITE_VMIN_CM_S

    for site, floor in SITE_VMIN_CM_S.items():
        vti = 6.0 if site != "mv" else 8.0
        assert run(beats([vti, vti, vti], vmax=floor + 1.0), site=site, cal=None).passed, site
        slow = run(beats([vti, vti, vti], vmax=floor - 1.0), site=site, cal=None)
        assert not slow.passed and "too slow" in slow.reasons[0], site


def test_doppler_cv_is_a_warning_in_irregular_rhythm():
    bs = beats([10, 20, 30, 15, 25, 18])
    assert not run(bs).passed
    res = run(bs, irregular=True)
    assert res.passed and any(w.startswith("beats inconsistent") for w in res.warnings)
    assert "irregular rhythm" in res.warnings
    assert "only" not in " ".join(res.warnings)  # 6 >= 5 beats
    assert scale_limit_cm_s(scal(), 1) == pytest.approx(301.0)
    assert scale_limit_cm_s(scal(), -1) == pytest.approx(99.0)
