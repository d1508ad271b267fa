"""Spectral Doppler calibration read off the screen itself, for screenshots without DICOM regions.

A Doppler screen prints its velocity scale as tick labels beside the strip ("100", "-200" cm/s or
"-1.0" m/s), draws the zero-velocity baseline, an ECG trace and a printed heart rate ("54bpm"). This
module fits the velocity scale to every numeric tick label (value against label row, robust to OCR
misreads and lost minus signs), locates the strip, and derives the time scale from the ECG R-R
interval in pixels and the printed heart rate when both can be read. The result converts to an
echoseg :class:`~echoseg.types.SpectralCalibration` like one read from DICOM.
"""
from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echoseg.doppler import screen_text
from echoseg.doppler.screen_text import Word
from echoseg.errors import CalibrationError
from echoseg.io.calibration import manual_spectral_calibration
from echoseg.types import SpectralCalibration

_NUMBER = re.compile(r"([+\-\u2013\u2014]*)(\d+(?:\.\d+)?)$")  # a label ends in its number
_MAX_CM_S = 2000.0  # no Doppler scale reaches 20 m/s
_TOL = 0.25  # inlier tolerance, fraction of the label spacing
_MAX_RESIDUAL = 0.2  # refuse when the RMS label offset exceeds this fraction of the spacing


@dataclass(frozen=True)
class TickLabel:
    """One numeric velocity label: magnitude in cm/s, centre (x, y) in pixels and the sign it showed
    (-1 minus, +1 plus, 0 none) with how much that sign is trusted (a tick dash reads as a minus)."""

    magnitude: float
    x: float
    y: float
    sign: int
    weight: float


@dataclass(frozen=True)
class TickFit:
    """Velocity scale fitted to tick labels: signed cm/s per pixel (negative = velocity grows
    upwards), zero-velocity row, label spacing in pixels, RMS label offset and the labels used."""

    cm_s_per_px: float
    baseline_row: float
    spacing_px: float
    residual_px: float
    labels: tuple[TickLabel, ...]


@dataclass(frozen=True)
class ScreenScale:
    """Calibration read off a Doppler screen. ``box`` is the strip (x0, y0, x1, y1) in image pixels;
    ``s_per_px`` is None when no ECG R-R interval and printed heart rate could be read."""

    box: tuple[int, int, int, int]
    baseline_row: float
    cm_s_per_px: float
    s_per_px: float | None
    mode: str
    n_ticks: int
    residual_px: float
    heart_rate_bpm: float | None = None

    def calibration(self) -> SpectralCalibration:
        """This scale as an echoseg SpectralCalibration; CalibrationError without a time scale."""
        if self.s_per_px is None:
            raise CalibrationError(
                "the screen's time scale could not be read (needs an ECG with at least two R waves and a "
                "printed heart rate in bpm); pass s_per_px explicitly")
        return manual_spectral_calibration(self.s_per_px, self.cm_s_per_px, self.baseline_row, self.box, self.mode)


def words_from_ocr_csv(path: str | Path, filename: str) -> list[Word]:
    """Words of one screen from an OCR listing with columns Filename, DetectedText, X, Y (the word's
    centre). The listing has no confidence or size: words get conf 100 and a zero-size box."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("Filename") == filename]
    return [Word(r["DetectedText"].strip(), 100.0, (int(float(r["X"])), int(float(r["Y"])), 0, 0))
            for r in rows if r.get("DetectedText", "").strip()]


def tick_labels(words: Sequence[Word]) -> list[TickLabel]:
    """Every word ending in a number that could be a velocity label, in cm/s (decimals are m/s)."""
    out = []
    for w in words:
        m = _NUMBER.search(w.text.strip().replace(",", "."))
        if m is None:
            continue
        signs, digits = m.group(1), m.group(2)
        value = float(digits) * (100.0 if "." in digits else 1.0)
        if value > _MAX_CM_S or value % 5 > 1e-6:  # tick values are round: multiples of 5 cm/s
            continue
        head = w.text.strip()[:m.start(2)]
        minus = sum(c in "-\u2013\u2014" for c in signs)
        sign = -1 if minus else (1 if "+" in signs else 0)
        # "--200" or "x-200": a tick dash before a real minus; a lone "-" may be the tick itself, and a
        # missing sign says little (OCR drops minus signs far more often than it invents plus signs)
        weight = (1.5 if len(head) > 1 else 0.5) if minus else (1.0 if sign else 0.0)
        x, y, bw, bh = w.box
        out.append(TickLabel(value, x + bw / 2.0, y + bh / 2.0, sign, weight))
    return out


def _columns(labels: Sequence[TickLabel], tol: float) -> list[list[TickLabel]]:
    """Labels grouped into vertical columns (centres within ``tol`` px of the previous one in x)."""
    groups: list[list[TickLabel]] = []
    for lab in sorted(labels, key=lambda t: t.x):
        if groups and lab.x - groups[-1][-1].x <= tol:
            groups[-1].append(lab)
        else:
            groups.append([lab])
    return [g for g in groups if len(g) >= 2]


def _hypotheses(labels: Sequence[TickLabel]) -> list[tuple[float, float]]:
    """(cm/s per px magnitude k, zero row) through each pair of labels, for each way the two can sit
    about the baseline (both above, both below, either side): magnitude = k * |row - zero row|."""
    out = []
    for a, b in itertools.combinations(sorted(labels, key=lambda t: t.y), 2):
        dy = b.y - a.y
        if dy < 2.0:
            continue
        if a.magnitude > b.magnitude:  # both above the baseline
            k = (a.magnitude - b.magnitude) / dy
            out.append((k, b.y + b.magnitude / k))
        if b.magnitude > a.magnitude:  # both below
            k = (b.magnitude - a.magnitude) / dy
            out.append((k, a.y - a.magnitude / k))
        if a.magnitude + b.magnitude > 0:  # one on each side
            k = (a.magnitude + b.magnitude) / dy
            out.append((k, a.y + a.magnitude / k))
    return out


def _offsets(labels: Sequence[TickLabel], k: float, zero: float) -> np.ndarray:
    """Pixel offset of each label from where its magnitude belongs under the V-shaped scale model."""
    return np.array([abs(abs(t.y - zero) - t.magnitude / k) for t in labels])


def _refit(labels: Sequence[TickLabel], zero: float) -> tuple[float, float, float]:
    """Least-squares (k, zero row, RMS px) of row against signed value, sides taken about ``zero``."""
    zero_row = zero
    for _ in range(3):
        vals = np.array([t.magnitude * (1.0 if t.y < zero_row else -1.0) for t in labels])
        rows = np.array([t.y for t in labels])
        px_per, zero_row = np.polyfit(vals, rows, 1)
    res = rows - (zero_row + px_per * vals)
    k = -1.0 / px_per if px_per != 0 else 0.0
    return float(k), float(zero_row), float(np.sqrt(np.mean(res ** 2)))


def _orientation(labels: Sequence[TickLabel], zero: float) -> float:
    """+1 when the printed signs say velocity grows upwards (the usual display), -1 when inverted."""
    score = 0.3  # prior: scanners show flow towards the probe above the baseline
    for t in labels:
        side = 1.0 if t.y < zero else -1.0
        if t.magnitude > 0:
            score += t.weight * side * (1.0 if t.sign >= 0 else -1.0)
    return 1.0 if score >= 0 else -1.0


def _row_gap(column: Sequence[TickLabel]) -> float:
    """Median vertical gap between neighbouring labels of a column (pixels)."""
    gaps = np.diff(np.sort([t.y for t in column]))
    return float(np.median(gaps[gaps > 2])) if (gaps > 2).any() else 10.0


def _best_line(column: Sequence[TickLabel], line_rows: Sequence[float]) -> tuple[int, float, float, float, float]:
    """(inliers, -hint distance, -offset sum, k, zero) of the hypothesis most labels agree with; a
    row in ``line_rows`` (a drawn baseline), then the smaller offsets break ties."""
    tol = max(2.0, _TOL * _row_gap(column))
    best = (0, -np.inf, -np.inf, 0.0, 0.0)
    for k, zero in _hypotheses(column):
        off = _offsets(column, k, zero)
        n = int((off <= tol).sum())
        hint = -min([abs(zero - r) for r in line_rows] + [tol]) if line_rows else 0.0
        key = (n, hint, -float(off[off <= tol].sum()))
        if key > best[:3]:
            best = (*key, k, zero)
    return best


def fit_ticks(labels: Sequence[TickLabel], line_rows: Sequence[float] = (), x_tol: float = 25.0) -> TickFit:
    """Velocity scale from numeric tick labels: the column of labels and scale line (cm/s against
    row) that most labels agree with, then least squares on those. Labels whose value does not fit
    (OCR misreads) are dropped; signs come from the side of the baseline each label is on, the
    display's orientation from the signs that were read. Raises CalibrationError when fewer than two
    labels agree or the fit is poor."""
    best: tuple[int, float, float, float, float, list[TickLabel]] = (0, -np.inf, -np.inf, 0.0, 0.0, [])
    for col in _columns(labels, x_tol):
        found = _best_line(col, line_rows)
        if found[:3] > best[:3]:
            best = (*found, col)
    n, _, _, k, zero, col = best
    if n < 2:
        raise CalibrationError(
            f"found {n} consistent velocity tick label(s) in {len(labels)} numbers on the screen; "
            "need at least 2 to read the velocity scale")
    tol = max(2.0, _TOL * _row_gap(col))
    for _ in range(2):
        keep = [t for t, d in zip(col, _offsets(col, k, zero)) if d <= tol]
        if len(keep) < 2 or len({t.y for t in keep}) < 2:
            raise CalibrationError("velocity tick labels do not agree on one scale; the scale cannot be read")
        k, zero, rms = _refit(keep, zero)
        if not k > 0:
            raise CalibrationError("velocity tick labels give no usable scale (values do not change with row)")
    sp_px = _spacing(keep, k)
    if rms > _MAX_RESIDUAL * sp_px:
        raise CalibrationError(
            f"velocity tick labels lie {rms:.1f} px (RMS) off a straight scale with ticks {sp_px:.0f} px apart; "
            "the scale reading is unreliable")
    sign = _orientation(keep, zero)
    return TickFit(-sign * k, zero, sp_px, rms, tuple(sorted(keep, key=lambda t: t.y)))


def _spacing(labels: Sequence[TickLabel], k: float) -> float:
    """Pixels between neighbouring labelled ticks: the smallest value step among the labels over k."""
    vals = np.unique(np.round([t.magnitude for t in labels], 3))
    steps = np.diff(vals)
    step = float(steps.min()) if steps.size else float(vals.max() if vals.size else 0.0)
    return max(step, 1e-6) / k if k > 0 else 0.0
