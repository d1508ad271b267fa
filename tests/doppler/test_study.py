"""echoseg.doppler.study: derived indices (SV, CO, AVA, DI, Qp/Qs), hand-worked, and their refusals."""
from __future__ import annotations

import pytest

from echoseg.doppler.study import cardiac_output_l_min, continuity_ava_cm2, dimensionless_index, qp_qs, stroke_volume_ml
from echoseg.reference import indexed


def test_derived_indices_hand_worked():
    # LVOT D 2.0 cm -> CSA π = 3.1416 cm²; VTI 20 -> SV 62.83 ml; HR 70 -> CO 4.398 l/min
    sv = stroke_volume_ml(20.0, 2.0)
    assert sv == pytest.approx(62.8319, rel=1e-5)
    assert cardiac_output_l_min(sv, 70) == pytest.approx(4.39823, rel=1e-5)
    assert continuity_ava_cm2(2.0, 20.0, 80.0) == pytest.approx(0.785398, rel=1e-5)
    assert dimensionless_index(20.0, 80.0) == pytest.approx(0.25)
    # RVOT 2.5 cm, VTI 18 vs LVOT 2.0 cm, VTI 20 -> (6.25*18)/(4*20) = 1.40625
    assert qp_qs(2.5, 18.0, 2.0, 20.0) == pytest.approx(1.40625)
    assert indexed(sv, 1.8) == pytest.approx(34.906, rel=1e-4)


def test_derived_validation_names_value():
    with pytest.raises(ValueError, match="lvot_diameter_cm must be between 1 and 4 cm, not 25"):
        stroke_volume_ml(20.0, 25)
    with pytest.raises(ValueError, match="heart_rate_bpm"):
        cardiac_output_l_min(60, 0)
    with pytest.raises(ValueError, match="av_vti_cm must be a number"):
        continuity_ava_cm2(2.0, 20.0, "x")
