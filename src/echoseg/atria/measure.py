"""Atrial measurement math: pure functions of areas and lengths already in cm and cm².

* Area-length volume (ml) = 0.85 A² / L (single-plane, Lang et al. 2015).
"""
from __future__ import annotations

from echoseg.reference import check_range


# ----------------------------------------------------------------------------- atria
def area_length_volume_ml(area_cm2: float, length_cm: float) -> float:
    """Single-plane area-length volume (ml): 0.85 · A² / L (A in cm², L in cm)."""
    a = check_range("area_cm2", area_cm2, 0.0, 200.0, "cm2")
    length = check_range("length_cm", length_cm, 0.1, 20.0, "cm")
    return 0.85 * a * a / length
