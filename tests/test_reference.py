"""echoseg.reference: reference-range classes."""
from __future__ import annotations

import pytest

from echoseg.reference import classify


@pytest.mark.parametrize("q,value,label", [
    ("la_area_cm2", 20.0, "normal"), ("la_area_cm2", 20.1, "mildly enlarged"),
    ("la_area_cm2", 41, "severely enlarged"), ("ra_area_cm2", 18.5, "enlarged"),
    ("ava_cm2", 0.99, "severe AS"), ("ava_cm2", 1.0, "moderate AS"), ("ava_cm2", 1.6, "mild or no AS"),
    ("dimensionless_index", 0.24, "severe AS"), ("lvot_vti_cm", 17.0, "low"), ("lvot_vti_cm", 20.0, "normal"),
    ("qp_qs", 1.6, "significant shunt"), ("av_vmax_cm_s", 420, "severe AS"),
    ("av_mean_gradient_mmhg", 40, "severe AS"), ("stroke_volume_index_ml_m2", 30, "low flow"),
])
def test_classify(q, value, label):
    assert classify(q, value) == label


def test_classify_unknown():
    with pytest.raises(ValueError, match="quantity must be one of"):
        classify("lv_mass", 1.0)
