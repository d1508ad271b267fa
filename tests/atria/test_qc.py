"""echoseg.atria.qc: the refusal rules of atrial areas."""
from __future__ import annotations

import numpy as np
import pytest

from echoseg.atria.qc import qc_atria
from echoseg.types import Region, TissueCalibration

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
    ("jumpy", "no consistent cardiac cycle: area curve jumpy"),
    ("view", "not an apical four-chamber view (looks like a colour"),
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
    view = ""
    if case == "jumpy":  # each cycle rises to 18 cm2 and drops by 6 (40 %) in one frame: no lone outlier
        curve = 12.0 + 6.0 * ((np.arange(30) + 7) % 15) / 14
    elif case == "view":
        view = "not an apical four-chamber view (looks like a colour Doppler or colour-rendered/3D image): 9 %"
    res = qc_atria(curve, mask, probs, "la_area", cal=tcal(), fan=fan, view_reason=view)
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


def test_one_bad_frame_does_not_sink_the_loop():
    """A lone frame whose atrium is lost (or leaks) is set aside, the loop still passes, with a warning."""
    mask = disc()
    for bad in (3.0, 30.0):
        curve = good_curve()
        curve[10] = bad
        res = qc_atria(curve, mask, 0.95 * mask, "la_area", cal=tcal())
        assert res.passed, res.reasons
        assert any("outlier frame(s) set aside: 10" in w for w in res.warnings), res.warnings
    curve = good_curve()
    curve[10] = 30.0
    chosen = qc_atria(curve, mask, 0.95 * mask, "la_area", cal=tcal(), frame=10)
    assert any("frame 10 is an outlier" in w for w in chosen.warnings)
