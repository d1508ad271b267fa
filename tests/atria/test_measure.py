"""echoseg.atria.measure: the area-length volume."""
from __future__ import annotations

import pytest

from echoseg.atria.measure import area_length_volume_ml


def test_area_length_volume():
    assert area_length_volume_ml(20.0, 5.0) == pytest.approx(0.85 * 400 / 5)  # 68 ml
    with pytest.raises(ValueError, match="length_cm must be between 0.1 and 20 cm, not 0"):
        area_length_volume_ml(20.0, 0)
