"""Every QC rule triggered by a case built to trigger it, and a clean case that passes."""
from __future__ import annotations

import numpy as np
import pytest

from echoseg.atria.qc import qc_atria
from echoseg.doppler.measure import summarise_beats
from echoseg.doppler.qc import qc_doppler, scale_limit_cm_s
from echoseg.types import combine, make_result
from echoseg.io.calibration import manual_spectral_calibration
from echoseg.types import Beat, Region, TissueCalibration

H, W = 120, 140


def tcal() -> TissueCalibration:
    return TissueCalibration(Region(0, 0, W - 1, H - 1, 1, 1, 3, 3, 0.05, 0.05), 0.05, 0.05)


def disc(cx=70, cy=60, r=30) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r ** 2  # 2827 px * 0.0025 = 7.1 cm2


def good_curve(n=30, lo=12.0, hi=18.0) -> np.ndarray:
    return lo + (hi - lo) * 0.5 * (1 - np.cos(2 * np.pi * np.arange(n) / 15))


def test_atria_clean_case_passes():
    mask = disc()
    res = qc_atria(good_curve(), mask, 0.95 * mask, "la_area", cal=tcal())
    assert res.passed and res.reasons == () and res.reason == "" and res.qc == "pass"
    assert res.confidence == pytest.approx(0.95)


@pytest.mark.parametrize("case,expect", [
    ("area", "implausible area: 80.0 cm2 outside 3-70 cm2"),
    ("border", "atrium cut off"),
    ("fan", "atrium cut off"),
    ("fragment", "fragmented mask: 2 large pieces"),
    ("lowconf", "low model confidence: 0.55"),
    ("flat", "no cardiac motion"),
    ("jumpy", "area curve jumpy"),
])
def test_atria_rules(case, expect):
    mask, curve = disc(), good_curve()
    probs = 0.95 * mask
    fan = None
    if case == "area":
        curve = curve * 80.0 / curve.max()
    elif case == "border":
        mask = disc(cx=15)
        probs = 0.95 * mask
    elif case == "fan":
        yy, xx = np.mgrid[0:H, 0:W]
        fan = np.abs(xx - 70) <= (yy + 5) * 0.5  # apex at the top: the disc's upper part is outside
    elif case == "fragment":
        probs = 0.95 * (disc(cx=40, r=20) | disc(cx=105, r=18))
        mask = disc(cx=40, r=20)
    elif case == "lowconf":
        probs = 0.55 * mask
    elif case == "flat":
        curve = np.full(30, 15.0) + 0.01 * np.sin(np.arange(30))
    elif case == "jumpy":
        curve = curve.copy()
        curve[10] = 30.0
    res = qc_atria(curve, mask, probs, "la_area", cal=tcal(), fan=fan)
    assert not res.passed and res.qc == "fail"
    assert any(r.startswith(expect) for r in res.reasons), res.reasons
    assert len(res.reasons) == 1, res.reasons  # only the rule aimed at


def test_atria_task_ranges_and_empty():
    curve = good_curve(hi=65.0)
    mask = disc()
    assert qc_atria(curve, mask, None, "la_area").passed
    assert "outside 3-60 cm2" in qc_atria(curve, mask, None, "ra_area").reason
    empty = qc_atria(curve, np.zeros((H, W), bool), None, "ra_area")
    assert not empty.passed and empty.reasons == ("no RA found",)
    one = qc_atria(np.array([15.0]), mask, None, "la_area")
    assert one.passed and "cardiac cycle not checked" in one.warnings[0]
    with pytest.raises(ValueError, match="task must be one of"):
        qc_atria(curve, mask, None, "lv_area")


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
    assert res.warnings == ("1 beat(s) cut by the strip edge excluded",)
    assert res.confidence == pytest.approx(0.9)
    few = run(beats([20, 21]))
    assert few.passed and few.warnings[0] == "only 2 complete beat(s); 3 advised"


@pytest.mark.parametrize("kw,expect", [
    (dict(bs=beats([20, 21], complete=[False, False])), "no complete beat in the strip (2 partial)"),
    (dict(bs=[]), "no beat found"),
    (dict(bs=beats([10, 20, 30, 15])), "beats inconsistent"),
    (dict(bs=beats([20, 21, 20], vmax=298.0)), "strip clipped: envelope reaches the scale limit in 3 of 3 beats"),
    (dict(bs=beats([20, 21, 20], vmax=98.0), side=-1), "strip clipped"),
    (dict(bs=beats([20, 21, 20]), env_conf=np.array([0.2, 0.1])), "envelope uncertain: confidence 0.15"),
    (dict(bs=beats([20, 21, 20]), site_conf=0.3), "site uncertain: confidence 0.30 that this is LVOT"),
    (dict(bs=beats([70, 71, 69])), "implausible VTI for LVOT: 70.0 cm"),
    (dict(bs=beats([90, 91, 89], vmax=750.0), site="av", cal=None), "implausible Vmax: 750 cm/s"),
])
def test_doppler_rules(kw, expect):
    res = run(**kw) if "site" in kw else run(**kw, site="lvot")
    assert not res.passed
    assert any(r.startswith(expect) for r in res.reasons), res.reasons
    assert len(res.reasons) == 1, res.reasons


def test_doppler_cv_is_a_warning_in_irregular_rhythm():
    bs = beats([10, 20, 30, 15, 25, 18])
    assert not run(bs).passed
    res = run(bs, irregular=True)
    assert res.passed and any(w.startswith("beats inconsistent") for w in res.warnings)
    assert "irregular rhythm" in res.warnings
    assert "only" not in " ".join(res.warnings)  # 6 >= 5 beats
    assert scale_limit_cm_s(scal(), 1) == pytest.approx(301.0)
    assert scale_limit_cm_s(scal(), -1) == pytest.approx(99.0)


def test_combine():
    a = make_result(["x"], 0.8, ["w1"])
    b = make_result([], 0.6, ["w2"])
    c = combine(a, b)
    assert (c.passed, c.reasons, c.warnings, c.confidence) == (False, ("x",), ("w1", "w2"), 0.6)
