"""Reference ranges of echo values and the range checks of the measurement functions.

Ranges quoted by :func:`classify` (adult, transthoracic):

* Lang RM et al. Recommendations for cardiac chamber quantification. JASE 2015;28:1-39
  (ASE/EACVI): LA area > 20 cm² enlarged (20-30 mild, 30-40 moderate, > 40 severe);
  LA volume index > 34 ml/m² enlarged (35-41 mild, 42-48 moderate, > 48 severe).
* Rudski LG et al. Guidelines for the echocardiographic assessment of the right heart.
  JASE 2010;23:685-713: RA area > 18 cm² enlarged.
* Baumgartner H et al. Recommendations on the echocardiographic assessment of aortic valve
  stenosis. JASE 2017;30:372-392 (EACVI/ASE): AVA < 1.0 cm² severe, 1.0-1.5 moderate;
  dimensionless index < 0.25 severe, 0.25-0.50 moderate; AV Vmax >= 4 m/s severe, 3-4 moderate,
  2.6-3 mild; mean gradient >= 40 mmHg severe, 20-40 moderate; SVi < 35 ml/m² low flow.
* Porter TR et al. Guidelines for the use of echocardiography as a monitor for therapeutic
  intervention in adults. JASE 2015;28:40-56, and the ASE Doppler quantification recommendations
  (Quinones MA et al. JASE 2002;15:167-184): LVOT VTI 18-22 cm typical at rest; cardiac index
  2.5-4.0 l/min/m².
* Qp/Qs >= 1.5 is the conventional threshold for a haemodynamically significant left-to-right
  shunt (ESC 2020 adult congenital heart disease guidelines, Baumgartner H et al.).
"""
from __future__ import annotations

import math
from dataclasses import dataclass


# ----------------------------------------------------------------------------- validation
def check_range(name: str, value: float, lo: float, hi: float, unit: str) -> float:
    """Return ``value`` as float or raise ValueError naming it, its range and unit."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in {unit}, not {value!r}") from None
    if not (math.isfinite(x) and lo <= x <= hi):
        raise ValueError(f"{name} must be between {lo:g} and {hi:g} {unit}, not {value!r}")
    return x


def indexed(value: float, bsa_m2: float) -> float:
    """A value divided by body surface area (m²), e.g. SVi (ml/m²), CI (l/min/m²), LAVi (ml/m²)."""
    bsa = check_range("bsa_m2", bsa_m2, 0.2, 3.5, "m2")
    return float(value) / bsa


@dataclass(frozen=True)
class RefRange:
    """Ordered category bounds: the first ``(bound, label)`` with value < bound (<= when inclusive) wins."""

    unit: str
    bounds: tuple[tuple[float, str], ...]
    inclusive: bool
    source: str


REFERENCE: dict[str, RefRange] = {
    "la_area_cm2": RefRange("cm2", ((20, "normal"), (30, "mildly enlarged"), (40, "moderately enlarged"),
                                    (math.inf, "severely enlarged")), True, "Lang 2015 ASE/EACVI"),
    "ra_area_cm2": RefRange("cm2", ((18, "normal"), (math.inf, "enlarged")), True, "Rudski 2010 ASE"),
    "la_volume_index_ml_m2": RefRange("ml/m2", ((34, "normal"), (41, "mildly enlarged"),
                                                (48, "moderately enlarged"), (math.inf, "severely enlarged")),
                                      True, "Lang 2015 ASE/EACVI"),
    "lvot_vti_cm": RefRange("cm", ((18, "low"), (22, "normal"), (math.inf, "above typical range")), False,
                            "Quinones 2002 / Porter 2015 ASE"),
    "stroke_volume_index_ml_m2": RefRange("ml/m2", ((35, "low flow"), (math.inf, "normal")), False,
                                          "Baumgartner 2017 EACVI/ASE"),
    "cardiac_index_l_min_m2": RefRange("l/min/m2", ((2.5, "low"), (4.0, "normal"), (math.inf, "high")), False,
                                       "Porter 2015 ASE"),
    "ava_cm2": RefRange("cm2", ((1.0, "severe AS"), (1.5, "moderate AS"), (math.inf, "mild or no AS")), False,
                        "Baumgartner 2017 EACVI/ASE"),
    "dimensionless_index": RefRange("", ((0.25, "severe AS"), (0.50, "moderate AS"), (math.inf, "mild or no AS")),
                                    False, "Baumgartner 2017 EACVI/ASE"),
    "av_vmax_cm_s": RefRange("cm/s", ((260, "normal"), (300, "aortic sclerosis or mild AS"), (400, "moderate AS"),
                                      (math.inf, "severe AS")), False, "Baumgartner 2017 EACVI/ASE"),
    "av_mean_gradient_mmhg": RefRange("mmHg", ((20, "mild or no AS"), (40, "moderate AS"),
                                               (math.inf, "severe AS")), False, "Baumgartner 2017 EACVI/ASE"),
    "qp_qs": RefRange("", ((1.5, "no significant shunt"), (2.0, "significant shunt"), (math.inf, "large shunt")),
                      False, "ESC 2020 ACHD"),
}


def classify(quantity: str, value: float) -> str:
    """Category of ``value`` for one of :data:`REFERENCE`'s quantities, e.g. ``classify("ava_cm2", 0.8)``."""
    if quantity not in REFERENCE:
        raise ValueError(f"quantity must be one of {', '.join(sorted(REFERENCE))}, not {quantity!r}")
    ref = REFERENCE[quantity]
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{quantity} must be a finite number, not {value!r}")
    for bound, label in ref.bounds:
        if x < bound or (ref.inclusive and x == bound):
            return label
    return ref.bounds[-1][1]
