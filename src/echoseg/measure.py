"""Measurement math: pure functions from envelopes, areas and lengths to values in physical units.

Nothing here reads files, images or calibration: inputs are already in cm, cm², s and cm/s
(calibration.py does the pixel conversions, postprocess.py extracts envelopes and masks).

Definitions (docs/measurements.md has the formulas with units):

* VTI (cm) = integral over the flow period of the outer-envelope *speed* |v(t)| (trapezoid rule).
* Vmax (cm/s) = largest speed of the beat; Vmean (cm/s) = VTI / flow duration.
* Peak gradient (mmHg) = 4 Vmax² with V in m/s (simplified Bernoulli);
  mean gradient (mmHg) = time average of 4 v(t)², which is larger than 4 Vmean².
* Area-length volume (ml) = 0.85 A² / L (single-plane, Lang et al. 2015).

Reference ranges quoted by :func:`classify` (adult, transthoracic):

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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .types import Beat

MMHG_PER_M2_S2 = 4.0  # simplified Bernoulli: dP (mmHg) = 4 v² (v in m/s)


# ----------------------------------------------------------------------------- validation
def _check(name: str, value: float, lo: float, hi: float, unit: str) -> float:
    """Return ``value`` as float or raise ValueError naming it, its range and unit."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in {unit}, not {value!r}") from None
    if not (math.isfinite(x) and lo <= x <= hi):
        raise ValueError(f"{name} must be between {lo:g} and {hi:g} {unit}, not {value!r}")
    return x


def _check_envelope(t: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(t, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    if t.ndim != 1 or t.shape != v.shape:
        raise ValueError(f"times and velocities must be 1-D arrays of equal length, not shapes {t.shape} and {v.shape}")
    if t.size and not np.all(np.diff(t) > 0):
        raise ValueError("times must increase strictly; sort the envelope by time first")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"velocities contain {int((~np.isfinite(v)).sum())} NaN/inf values; fill or drop them first")
    return t, v


def _trapz(y: np.ndarray, x: np.ndarray) -> float:
    """Trapezoid rule (np.trapezoid is numpy >= 2 only)."""
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)))


# ----------------------------------------------------------------------------- atria
def area_length_volume_ml(area_cm2: float, length_cm: float) -> float:
    """Single-plane area-length volume (ml): 0.85 · A² / L (A in cm², L in cm)."""
    a = _check("area_cm2", area_cm2, 0.0, 200.0, "cm2")
    length = _check("length_cm", length_cm, 0.1, 20.0, "cm")
    return 0.85 * a * a / length


# ----------------------------------------------------------------------------- Doppler beats
def vti_cm(t: np.ndarray, speed: np.ndarray) -> float:
    """Velocity-time integral (cm): trapezoid integral of |speed| (cm/s) over times ``t`` (s)."""
    t, v = _check_envelope(t, speed)
    if t.size < 2:
        return 0.0
    return float(_trapz(np.abs(v), t))


def beat_stats(t: np.ndarray, v: np.ndarray, start: int, end: int, index: int,
               complete: bool = True, rr_s: float | None = None) -> Beat:
    """Per-beat values of the envelope samples ``start..end`` (both inclusive).

    ``v`` may be signed (cm/s): speed |v| is used throughout. Vmean is the time average of
    speed over the flow period (VTI / duration); the mean gradient is the time average of
    4 v(t)² (m/s -> mmHg), not 4 Vmean².
    """
    t, v = _check_envelope(t, v)
    n = t.size
    if not (0 <= start < end < n):
        raise ValueError(f"beat indices must satisfy 0 <= start < end < {n}, not start={start}, end={end}")
    tt, s = t[start:end + 1], np.abs(v[start:end + 1])
    dur = float(tt[-1] - tt[0])
    vti = float(_trapz(s, tt))
    vmax = float(s.max())
    s_m = s / 100.0
    mean_grad = float(_trapz(MMHG_PER_M2_S2 * s_m * s_m, tt) / dur)
    return Beat(index=int(index), start_s=float(tt[0]), end_s=float(tt[-1]), vti_cm=vti, vmax_cm_s=vmax,
                vmean_cm_s=vti / dur, peak_gradient_mmhg=MMHG_PER_M2_S2 * (vmax / 100.0) ** 2,
                mean_gradient_mmhg=mean_grad, complete=bool(complete),
                rr_s=None if rr_s is None else float(rr_s))


def beats_from_spans(t: np.ndarray, v: np.ndarray, spans: Sequence[Any]) -> list[Beat]:
    """:func:`beat_stats` for each span (objects with ``start``, ``end``, ``complete``, ``rr_s``)."""
    return [beat_stats(t, v, s.start, s.end, i, s.complete, getattr(s, "rr_s", None))
            for i, s in enumerate(spans)]


def rr_irregular(rr_s: Sequence[float], cv_limit: float = 0.10, succ_limit: float = 0.10) -> bool | None:
    """True when RR intervals vary like atrial fibrillation; None with fewer than 3 intervals.

    Irregular when the coefficient of variation of RR exceeds ``cv_limit`` or the mean absolute
    successive difference exceeds ``succ_limit`` of the mean RR (sinus arrhythmia changes RR slowly,
    so it raises the CV a little but the successive differences hardly).
    """
    rr = np.asarray([r for r in rr_s if r is not None], dtype=np.float64)
    if rr.size < 3:
        return None
    mean = float(rr.mean())
    cv = float(rr.std(ddof=1) / mean)
    succ = float(np.mean(np.abs(np.diff(rr))) / mean)
    return bool(cv > cv_limit or succ > succ_limit)


def summarise_beats(beats: Sequence[Beat], irregular: bool | None = None) -> dict[str, Any]:
    """Summary of a strip: the reported value is the mean VTI over complete beats.

    Keys: value (cm, None without complete beats), sd, cv, n (complete beats), n_total,
    vmax_cm_s, vmean_cm_s, peak_gradient_mmhg, mean_gradient_mmhg (means over complete beats),
    heart_rate_bpm (60 / median RR, None without RR), rr_cv, irregular (given, else detected from
    RR; None when undecidable), min_beats (3, or 5 in irregular rhythm, as guidelines advise),
    enough_beats.
    """
    comp = [b for b in beats if b.complete]
    rr = [b.rr_s for b in beats if b.rr_s is not None]
    if irregular is None:
        irregular = rr_irregular(rr)
    min_beats = 5 if irregular else 3
    out: dict[str, Any] = {"n": len(comp), "n_total": len(beats), "irregular": irregular, "min_beats": min_beats,
                           "enough_beats": len(comp) >= min_beats}
    if comp:
        vti = np.array([b.vti_cm for b in comp])
        sd = float(vti.std(ddof=1)) if vti.size > 1 else 0.0
        out.update(value=float(vti.mean()), sd=sd, cv=sd / float(vti.mean()) if vti.mean() > 0 else None,
                   vmax_cm_s=float(np.mean([b.vmax_cm_s for b in comp])),
                   vmean_cm_s=float(np.mean([b.vmean_cm_s for b in comp])),
                   peak_gradient_mmhg=float(np.mean([b.peak_gradient_mmhg for b in comp])),
                   mean_gradient_mmhg=float(np.mean([b.mean_gradient_mmhg for b in comp])))
    else:
        out.update(value=None, sd=None, cv=None, vmax_cm_s=None, vmean_cm_s=None,
                   peak_gradient_mmhg=None, mean_gradient_mmhg=None)
    if rr:
        arr = np.asarray(rr)
        out["heart_rate_bpm"] = 60.0 / float(np.median(arr))
        out["rr_cv"] = float(arr.std(ddof=1) / arr.mean()) if arr.size > 1 else None
    else:
        out["heart_rate_bpm"], out["rr_cv"] = None, None
    return out


# ----------------------------------------------------------------------------- derived indices
def _csa_cm2(d_cm: float) -> float:
    return math.pi * (d_cm / 2.0) ** 2


def stroke_volume_ml(lvot_vti_cm: float, lvot_diameter_cm: float) -> float:
    """Stroke volume (ml) = π (D/2)² · VTI, the outflow tract taken as a circle of diameter D."""
    vti = _check("lvot_vti_cm", lvot_vti_cm, 1.0, 80.0, "cm")
    d = _check("lvot_diameter_cm", lvot_diameter_cm, 1.0, 4.0, "cm")
    return _csa_cm2(d) * vti


def cardiac_output_l_min(sv_ml: float, heart_rate_bpm: float) -> float:
    """Cardiac output (l/min) = SV (ml) · HR (/min) / 1000."""
    sv = _check("sv_ml", sv_ml, 0.0, 400.0, "ml")
    hr = _check("heart_rate_bpm", heart_rate_bpm, 20.0, 300.0, "bpm")
    return sv * hr / 1000.0


def indexed(value: float, bsa_m2: float) -> float:
    """A value divided by body surface area (m²), e.g. SVi (ml/m²), CI (l/min/m²), LAVi (ml/m²)."""
    bsa = _check("bsa_m2", bsa_m2, 0.2, 3.5, "m2")
    return float(value) / bsa


def continuity_ava_cm2(lvot_diameter_cm: float, lvot_vti_cm: float, av_vti_cm: float) -> float:
    """Aortic valve area (cm²) by the continuity equation: π (D/2)² · VTI_LVOT / VTI_AV."""
    d = _check("lvot_diameter_cm", lvot_diameter_cm, 1.0, 4.0, "cm")
    lv = _check("lvot_vti_cm", lvot_vti_cm, 1.0, 80.0, "cm")
    av = _check("av_vti_cm", av_vti_cm, 1.0, 250.0, "cm")
    return _csa_cm2(d) * lv / av


def dimensionless_index(lvot_vti_cm: float, av_vti_cm: float) -> float:
    """Dimensionless index (velocity ratio by VTI) = VTI_LVOT / VTI_AV."""
    lv = _check("lvot_vti_cm", lvot_vti_cm, 1.0, 80.0, "cm")
    av = _check("av_vti_cm", av_vti_cm, 1.0, 250.0, "cm")
    return lv / av


def qp_qs(rvot_diameter_cm: float, rvot_vti_cm: float, lvot_diameter_cm: float, lvot_vti_cm: float) -> float:
    """Pulmonary-to-systemic flow ratio = (π (D_RVOT/2)² VTI_RVOT) / (π (D_LVOT/2)² VTI_LVOT)."""
    rd = _check("rvot_diameter_cm", rvot_diameter_cm, 1.0, 5.0, "cm")
    rv = _check("rvot_vti_cm", rvot_vti_cm, 1.0, 80.0, "cm")
    ld = _check("lvot_diameter_cm", lvot_diameter_cm, 1.0, 4.0, "cm")
    lv = _check("lvot_vti_cm", lvot_vti_cm, 1.0, 80.0, "cm")
    return (_csa_cm2(rd) * rv) / (_csa_cm2(ld) * lv)


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
