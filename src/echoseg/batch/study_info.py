"""The study sidecar (``--study-info study_info.csv``): per-study diameters and body size, and the
indexed values they allow.

One row per study, keyed by ``study`` (a StudyInstanceUID, or the folder that holds the study's
files: its path or its name), with any of ``lvot_diameter_cm``, ``rvot_diameter_cm``,
``height_cm``, ``weight_kg`` and ``bsa_m2``. Body surface area is the given ``bsa_m2``, else
Mosteller's sqrt(height cm x weight kg / 3600) (Mosteller RD, N Engl J Med 1987;317:1098). Every
value is checked when the file is read, before any measuring.

    >>> info = StudyInfo(study="1.2.3", height_cm=180, weight_kg=80)
    >>> round(info.bsa(), 3)
    2.0
"""
from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from echoseg.batch.inputs import UsageError
from echoseg.batch.settings import LVOT_CM, RVOT_CM, check_diameter

COLUMNS = ("study", "lvot_diameter_cm", "rvot_diameter_cm", "height_cm", "weight_kg", "bsa_m2")
_RANGES = {"height_cm": (40.0, 250.0, "cm"), "weight_kg": (2.0, 400.0, "kg"), "bsa_m2": (0.2, 3.5, "m2")}


@dataclass(frozen=True)
class StudyInfo:
    """What the sidecar says of one study (None: not given)."""

    study: str
    lvot_diameter_cm: float | None = None
    rvot_diameter_cm: float | None = None
    height_cm: float | None = None
    weight_kg: float | None = None
    bsa_m2: float | None = None

    def bsa(self) -> float | None:
        """Body surface area (m²): given, else Mosteller's from height and weight, else None."""
        if self.bsa_m2 is not None:
            return self.bsa_m2
        if self.height_cm is not None and self.weight_kg is not None:
            return math.sqrt(self.height_cm * self.weight_kg / 3600.0)
        return None


def _number(where: str, col: str, text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        v = float(text)
    except ValueError:
        raise UsageError(f"{where}: {col} must be a number, not {text!r}") from None
    if col in ("lvot_diameter_cm", "rvot_diameter_cm"):
        lo, hi = LVOT_CM if col.startswith("lvot") else RVOT_CM
        return check_diameter(f"{where}: {col}", v, lo, hi)
    lo, hi, unit = _RANGES[col]
    if not (math.isfinite(v) and lo <= v <= hi):
        hint = " (it looks like metres: give centimetres)" if col == "height_cm" and 0.4 <= v <= 2.5 else ""
        raise UsageError(f"{where}: {col} must be between {lo:g} and {hi:g} {unit}, not {text!r}{hint}")
    return v


def read_study_info(path: str | os.PathLike[str]) -> dict[str, StudyInfo]:
    """study -> :class:`StudyInfo` from a sidecar CSV.

    Raises:
        UsageError: the file is missing, lacks the ``study`` column, has unknown columns, repeats a
            study, or holds a value out of range (a diameter in millimetres, a height in metres ...).
    """
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"--study-info {p}: file not found; check the path")
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in reader.fieldnames or []]
        if "study" not in header:
            raise UsageError(f"--study-info {p}: needs a 'study' column (study UID or folder); columns: "
                             f"{', '.join(COLUMNS)}")
        unknown = [h for h in header if h not in COLUMNS]
        if unknown:
            raise UsageError(f"--study-info {p}: unknown column(s) {', '.join(unknown)}; expected {', '.join(COLUMNS)}")
        out: dict[str, StudyInfo] = {}
        for i, raw in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "") for k, v in raw.items()}
            key = row["study"].strip()
            where = f"--study-info {p} line {i}"
            if not key:
                raise UsageError(f"{where}: the study column is empty")
            if key in out:
                raise UsageError(f"{where}: study {key!r} appears twice")
            vals: dict[str, Any] = {c: _number(where, c, row.get(c, "")) for c in COLUMNS[1:]}
            out[key] = StudyInfo(study=key, **vals)
    return out


def match(info: Mapping[str, StudyInfo], study_key: str, files: Sequence[str]) -> StudyInfo | None:
    """The sidecar row of a study: by study key (UID), else by a folder of its files (path, then name)."""
    if study_key in info:
        return info[study_key]
    for f in files:
        parent = Path(f).parent
        for k in (str(parent), parent.name):
            if k in info:
                return info[k]
    return None


def indexed_columns(row: Mapping[str, object], bsa_m2: float | None, la_volume_ml: float | None) -> dict[str, object]:
    """The indexed values of a study row (SVi, CI, AVAi, LAVi, with reference classes) for ``bsa_m2``."""
    from echoseg.reference import classify, indexed

    cols: dict[str, object] = {}
    if la_volume_ml is not None:
        cols["la_volume_ml"] = la_volume_ml
    if bsa_m2 is None:
        return cols
    cols["bsa_m2"] = bsa_m2

    def num(k: str) -> float | None:
        v = row.get(k)
        return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None

    sv, co, ava = num("stroke_volume_ml"), num("cardiac_output_l_min"), num("ava_cm2")
    if sv is not None:
        svi = cols["stroke_volume_index_ml_m2"] = indexed(sv, bsa_m2)
        cols["stroke_volume_index_class"] = classify("stroke_volume_index_ml_m2", svi)
    if co is not None:
        ci = cols["cardiac_index_l_min_m2"] = indexed(co, bsa_m2)
        cols["cardiac_index_class"] = classify("cardiac_index_l_min_m2", ci)
    if ava is not None:
        cols["ava_index_cm2_m2"] = indexed(ava, bsa_m2)
    if la_volume_ml is not None:
        lavi = cols["la_volume_index_ml_m2"] = indexed(la_volume_ml, bsa_m2)
        cols["la_volume_index_class"] = classify("la_volume_index_ml_m2", lavi)
    return cols
