"""Study-level values: one row per StudyInstanceUID with the indices that combine sites
(stroke volume, cardiac output, AVA by continuity, dimensionless index, Qp/Qs) and their
reference-range classes (:mod:`echoseg.reference`).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from echoseg.reference import check_range, classify
from echoseg.types import DopplerDetails, FileResult, Measurement
from echoseg.vocab import TASKS


# ----------------------------------------------------------------------------- derived indices
def _csa_cm2(d_cm: float) -> float:
    return math.pi * (d_cm / 2.0) ** 2


def stroke_volume_ml(lvot_vti_cm: float, lvot_diameter_cm: float) -> float:
    """Stroke volume (ml) = π (D/2)² · VTI, the outflow tract taken as a circle of diameter D."""
    vti = check_range("lvot_vti_cm", lvot_vti_cm, 1.0, 80.0, "cm")
    d = check_range("lvot_diameter_cm", lvot_diameter_cm, 1.0, 4.0, "cm")
    return _csa_cm2(d) * vti


def cardiac_output_l_min(sv_ml: float, heart_rate_bpm: float) -> float:
    """Cardiac output (l/min) = SV (ml) · HR (/min) / 1000."""
    sv = check_range("sv_ml", sv_ml, 0.0, 400.0, "ml")
    hr = check_range("heart_rate_bpm", heart_rate_bpm, 20.0, 300.0, "bpm")
    return sv * hr / 1000.0


def continuity_ava_cm2(lvot_diameter_cm: float, lvot_vti_cm: float, av_vti_cm: float) -> float:
    """Aortic valve area (cm²) by the continuity equation: π (D/2)² · VTI_LVOT / VTI_AV."""
    d = check_range("lvot_diameter_cm", lvot_diameter_cm, 1.0, 4.0, "cm")
    lv = check_range("lvot_vti_cm", lvot_vti_cm, 1.0, 80.0, "cm")
    av = check_range("av_vti_cm", av_vti_cm, 1.0, 250.0, "cm")
    return _csa_cm2(d) * lv / av


def dimensionless_index(lvot_vti_cm: float, av_vti_cm: float) -> float:
    """Dimensionless index (velocity ratio by VTI) = VTI_LVOT / VTI_AV."""
    lv = check_range("lvot_vti_cm", lvot_vti_cm, 1.0, 80.0, "cm")
    av = check_range("av_vti_cm", av_vti_cm, 1.0, 250.0, "cm")
    return lv / av


def qp_qs(rvot_diameter_cm: float, rvot_vti_cm: float, lvot_diameter_cm: float, lvot_vti_cm: float) -> float:
    """Pulmonary-to-systemic flow ratio = (π (D_RVOT/2)² VTI_RVOT) / (π (D_LVOT/2)² VTI_LVOT)."""
    rd = check_range("rvot_diameter_cm", rvot_diameter_cm, 1.0, 5.0, "cm")
    rv = check_range("rvot_vti_cm", rvot_vti_cm, 1.0, 80.0, "cm")
    ld = check_range("lvot_diameter_cm", lvot_diameter_cm, 1.0, 4.0, "cm")
    lv = check_range("lvot_vti_cm", lvot_vti_cm, 1.0, 80.0, "cm")
    return (_csa_cm2(rd) * rv) / (_csa_cm2(ld) * lv)


def _sureness(m: Measurement) -> float:
    """How sure a row is of its parameter: the site confidence of a Doppler row, else its QC confidence."""
    if isinstance(m.details, DopplerDetails):
        return float(m.details.site_confidence)
    return float(m.confidence or 0.0)


def study_rows(results: Sequence[FileResult], lvot_diameter_cm: float | None = None,
               rvot_diameter_cm: float | None = None) -> list[dict[str, object]]:
    """One row per StudyInstanceUID: the study's passing values and the derived indices they allow."""

    studies: dict[str, dict[str, Any]] = {}
    best: dict[tuple[str, str], Measurement] = {}
    for r in results:
        key = r.study_uid or Path(r.file).parent.name
        row = studies.setdefault(key, {"study_uid": key, "files": 0, "conflicts": ""})
        row["files"] += 1
        for meas in r.measurements:
            if meas.qc != "pass" or meas.value is None or meas.task not in TASKS:
                continue
            prev = best.get((key, meas.task))
            if prev is not None:  # two files claim one parameter: keep the more confident, say so
                row["conflicts"] = "; ".join(filter(None, [row["conflicts"], f"{meas.task} from "
                                             f"{Path(prev.file).name} and {Path(meas.file).name}"]))
                if _sureness(prev) >= _sureness(meas):
                    continue
            best[(key, meas.task)] = meas
            row[meas.task] = meas.value
            hr = meas.details.summary.heart_rate_bpm if isinstance(meas.details, DopplerDetails) else None
            if meas.task == "lvot_vti" and hr:
                row["heart_rate_bpm"] = hr
    out = []
    for row in studies.values():
        lv, av, rv = row.get("lvot_vti"), row.get("av_vti"), row.get("rvot_vti")
        if lv and av:
            row["dimensionless_index"] = dimensionless_index(lv, av)
            row["dimensionless_index_class"] = classify("dimensionless_index", row["dimensionless_index"])
        if lv and lvot_diameter_cm:
            sv = stroke_volume_ml(lv, lvot_diameter_cm)
            row["stroke_volume_ml"] = sv
            if row.get("heart_rate_bpm"):
                row["cardiac_output_l_min"] = cardiac_output_l_min(sv, row["heart_rate_bpm"])
            if av:
                row["ava_cm2"] = continuity_ava_cm2(lvot_diameter_cm, lv, av)
                row["ava_class"] = classify("ava_cm2", row["ava_cm2"])
            if rv and rvot_diameter_cm:
                row["qp_qs"] = qp_qs(rvot_diameter_cm, rv, lvot_diameter_cm, lv)
                row["qp_qs_class"] = classify("qp_qs", row["qp_qs"])
        out.append(row)
    cols: list[str] = []
    for row in out:
        cols += [c for c in row if c not in cols]
    return [{c: row.get(c) for c in cols} for row in out]
