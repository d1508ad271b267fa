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
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from echoseg.doppler import screen_text
from echoseg.doppler.screen_text import Word
from echoseg.errors import CalibrationError
from echoseg.io.calibration import manual_spectral_calibration
from echoseg.types import SpectralCalibration

_NUMBER = re.compile(r"([+\-\u2013\u2014]*)(\d+(?:\.\d+)?)")
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
    width: float = 0.0
    height: float = 0.0
    digits: str = ""


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
    """Every word holding a number that could be a velocity label, in cm/s (decimals are m/s). The
    longest number in the word is the label ("-140-5" is -140 with a tick dash read after it)."""
    out = []
    for w in words:
        text = w.text.strip().replace(",", ".")
        found = list(_NUMBER.finditer(text))
        if not found:
            continue
        m = max(found, key=lambda f: (len(f.group(2)), f.start()))
        after, before = text[m.end():m.end() + 1], text[m.start(2) - 1:m.start(2)]
        if re.match(r"[A-Za-z%:\u00b0]", after) or (not m.group(1) and before.isalpha()):
            continue  # "20%", "1.5mm", "M5S", "MI0.4": parameter text, not a velocity label
        signs, digits = m.group(1), m.group(2)
        value = float(digits) * (100.0 if "." in digits else 1.0)
        if value > _MAX_CM_S or value % 5 > 1e-6:  # tick values are round: multiples of 5 cm/s
            continue
        minus = sum(c in "-\u2013\u2014" for c in signs)
        sign = -1 if minus else (1 if "+" in signs else 0)
        # "--200" or "x-200": a tick dash before a real minus; a lone "-" may be the tick itself, and a
        # missing sign says little (OCR drops minus signs far more often than it invents plus signs)
        weight = (1.5 if m.start(2) > 1 else 0.5) if minus else (1.0 if sign else 0.0)
        x, y, bw, bh = w.box
        out.append(TickLabel(value, x + bw / 2.0, y + bh / 2.0, sign, weight, float(bw), float(bh), digits))
    return out


def _columns(labels: Sequence[TickLabel], tol: float) -> list[list[TickLabel]]:
    """Labels grouped into vertical columns (centres within ``tol`` px of the previous one in x).
    In a column of mostly m/s labels, whole numbers lost their decimal point ("15" is 1.5 m/s)."""
    groups: list[list[TickLabel]] = []
    for lab in sorted(labels, key=lambda t: t.x):
        if groups and lab.x - groups[-1][-1].x <= tol:
            groups[-1].append(lab)
        else:
            groups.append([lab])
    out = []
    for g in (g for g in groups if len(g) >= 2):
        if 2 * sum("." in t.digits for t in g) >= len(g):
            g = [t if "." in t.digits or not t.digits else
                 replace(t, magnitude=100.0 * int(t.digits) / 10 ** (len(t.digits) - 1)) for t in g]
        out.append(g)
    return out


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


def _tolerance(column: Sequence[TickLabel]) -> float:
    """Inlier tolerance (px): a quarter of the median gap between labels, and at most half a label
    height when OCR gave label boxes (a listing of centres only gets the looser bound)."""
    gaps = np.diff(np.sort([t.y for t in column]))
    tol = _TOL * float(np.median(gaps[gaps > 2])) if (gaps > 2).any() else 2.0
    heights = [t.height for t in column if t.height > 0]
    return max(2.0, min(tol, 0.5 * float(np.median(heights))) if heights else tol)


def _best_line(column: Sequence[TickLabel], line_rows: Sequence[float]) -> tuple[int, float, float, float, float]:
    """(inliers, near a line, -offset sum, k, zero) of the hypothesis most labels agree with; a zero
    row on one of ``line_rows`` (a drawn baseline), then the smaller offsets break ties."""
    tol = _tolerance(column)
    best = (0, -np.inf, -np.inf, 0.0, 0.0)
    for k, zero in _hypotheses(column):
        off = _offsets(column, k, zero)
        n = int((off <= tol).sum())
        hint = float(any(abs(zero - r) <= tol for r in line_rows))
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
    tol = _tolerance(col)
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


def _grey(rgb: np.ndarray) -> np.ndarray:
    """Brightest channel of an RGB (or grey) screen as float32."""
    return (rgb.max(axis=2) if rgb.ndim == 3 else rgb).astype(np.float32)


def line_rows(grey: np.ndarray, min_contrast: float = 10.0, min_flat: float = 0.7) -> list[float]:
    """Rows (sub-pixel centres) of opaque horizontal lines across the middle of the screen, such as
    a drawn baseline: rows of one constant, non-black value in most columns that differ from the
    rows 3 px above and below (brighter, or darker where the line is drawn over bright clutter)."""
    w = grey.shape[1]
    mid = grey[:, int(0.15 * w):int(0.85 * w)]
    med = np.median(mid, axis=1)
    flat = (np.abs(mid - med[:, None]) <= 3).mean(axis=1)
    d = np.zeros(grey.shape[0], dtype=np.float64)
    d[3:-3] = med[3:-3] - 0.5 * (med[:-6] + med[6:])
    good = (np.abs(d) >= min_contrast) & (flat >= min_flat) & (med >= float(np.percentile(grey, 10)) + 20)
    rows, run = [], []
    for r in range(grey.shape[0] + 1):  # centre of each run of line rows
        if r < grey.shape[0] and good[r]:
            run.append(r)
        elif run:
            rows.append(float(np.mean(run)))
            run = []
    return rows


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a 1-D boolean array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.nonzero(edges == 1)[0].tolist(), np.nonzero(edges == -1)[0].tolist()))


def _strip_columns(lit: np.ndarray, fit: TickFit, baseline: float, edge: int) -> tuple[int, int]:
    """(x0, x1) of the strip left of column ``edge`` (the tick labels): columns with texture in
    rows between the labelled ticks, or on the drawn baseline in a run longer than a tick dash."""
    h = lit.shape[0]
    sp = fit.spacing_px
    steps = np.concatenate([np.arange(-12, 12) + 0.25, np.arange(-12, 12) + 0.75])  # clear of (minor) ticks
    rows = [int(round(baseline + f * sp)) for f in steps]
    rows = [r for r in rows if fit.labels[0].y - sp <= r <= fit.labels[-1].y + sp and 0 <= r < h]
    tex = lit[rows, :edge].mean(axis=0) if rows else np.zeros(edge)
    tex = np.convolve(tex, np.ones(3) / 3, mode="same")
    base = lit[int(round(baseline)), :edge]
    solid = np.convolve(base, np.ones(9), mode="full")[:edge] >= 9  # 9 lit columns ending here
    ok = (tex >= 0.2) | solid
    cols = np.nonzero(ok)[0]
    if cols.size == 0:
        raise CalibrationError("no spectral strip found beside the velocity tick labels")
    x1 = int(cols[-1])
    gap = max(3, edge // 30)  # spectra may leave dark gaps between beats
    x0 = x1
    for c in cols[::-1]:
        if x0 - c > gap:
            break
        x0 = int(c)
    return x0, x1


def _strip_rows(lit: np.ndarray, fit: TickFit, baseline: float, cols: tuple[int, int]) -> tuple[int, int]:
    """(y0, y1) of the strip in columns ``cols``: textured rows around the baseline, reaching at
    least half a tick spacing beyond the outer labels and at most one spacing."""
    h = lit.shape[0]
    sp = fit.spacing_px
    tex = np.convolve(lit[:, cols[0]:cols[1] + 1].mean(axis=1), np.ones(5) / 5, mode="same")
    b = int(round(baseline))
    lo, hi = max(0, int(min(fit.labels[0].y, b) - sp)), min(h - 1, int(max(fit.labels[-1].y, b) + sp))
    y0 = max(lo, min(int(fit.labels[0].y - sp / 2), b))
    while y0 > lo and tex[y0 - 1] >= 0.1:
        y0 -= 1
    y1 = min(hi, max(int(fit.labels[-1].y + sp / 2), b))
    while y1 < hi and tex[y1 + 1] >= 0.1:
        y1 += 1
    return y0, y1


def rr_interval_px(band: np.ndarray) -> tuple[float | None, float]:
    """(mean R-R interval in px or None, row of the trace) of an ECG in ``band``, an ink mask of
    rows x strip columns: R waves are narrow upward spikes of the ink's upper edge. None with
    fewer than two R waves or intervals that differ by more than 20 %."""
    inked = band.any(axis=0)
    top = np.where(inked, np.argmax(band, axis=0), band.shape[0]).astype(np.float64)
    level, width = float(np.median(top)), top.size
    rise = level - top
    runs = [(a, b) for a, b in _runs(rise >= 5) if b - a <= max(4, 0.03 * width)]  # wide: text, 2D image
    if inked.mean() < 0.6 or not runs:  # no trace across the strip, or no R wave
        return None, level
    height = np.array([rise[a:b].max() for a, b in runs])
    peaks = [a + int(np.argmax(rise[a:b])) for (a, b), v in zip(runs, height) if v >= 0.5 * height.max()]
    merged: list[int] = []
    for p in peaks:  # an R and its S wave, or a notched R, are one beat
        if not merged or p - merged[-1] >= 0.015 * width:
            merged.append(p)
    close = np.diff(merged) < 0.06 * width  # spikes closer than any heart rate: text or clutter
    crowded = np.concatenate([[False], close]) | np.concatenate([close, [False]])
    merged = [p for p, c in zip(merged, crowded) if not c]
    if len(merged) < 2:
        return None, level
    diffs = np.diff(merged)
    beats = np.maximum(1, np.round(diffs / np.median(diffs)))  # a missed R counts as two beats
    rr = (merged[-1] - merged[0]) / beats.sum()
    if np.abs(diffs / beats / rr - 1).max() > 0.2:  # irregular rhythm (or not an ECG): the printed
        return None, level                          # rate need not match these beats
    return float(rr), level


def heart_rate(words: Sequence[Word]) -> float | None:
    """Printed heart rate in bpm ("54bpm", "HR 72 bpm", "HR98"), or None; plausible values only."""
    text = " ".join(w.text for w in words)
    for pat in (r"(?<![\d.])(\d{2,3})\s*bpm", r"\bHR\s*:?\s*(\d{2,3})(?![\d.])"):
        for m in re.finditer(pat, text, flags=re.IGNORECASE):
            if 25 <= int(m.group(1)) <= 250:
                return float(m.group(1))
    return None


def _time_scale(ink: np.ndarray, box: tuple[int, int, int, int], sp: float,
                hr: float | None) -> tuple[float | None, tuple[int, int]]:
    """(s per px or None, strip rows trimmed to just inside an ECG found above or below it): the
    ECG is looked for in a band above the strip, then below it (clear of the time marks)."""
    x0, y0, x1, y1 = box
    for lo, hi, above in ((max(0, y0 - int(1.5 * sp)), y0 + int(sp / 4), True),
                          (y1 + 10, min(ink.shape[0], y1 + int(2.5 * sp)), False)):
        rr, level = rr_interval_px(ink[lo:hi, x0:x1 + 1]) if hi - lo >= 8 else (None, 0.0)
        if rr is None:
            continue
        trace = lo + int(level)
        y0, y1 = (max(y0, trace + 3), y1) if above else (y0, min(y1, trace - 3))
        s = 60.0 / (hr * rr) if hr else None
        return (s if s is not None and 1e-4 < s < 0.05 else None), (y0, y1)
    return None, (y0, y1)


def _snap(fit: TickFit, lines: Sequence[float]) -> float | None:
    """The drawn line nearest the labels' zero-velocity row, within the label inlier tolerance."""
    near = [r for r in lines if abs(r - fit.baseline_row) <= _tolerance(fit.labels)]
    return min(near, key=lambda r: abs(r - fit.baseline_row)) if near else None


def _mode(words: Sequence[Word], box: tuple[int, int, int, int]) -> str:
    """"CW" when the screen prints CW outside the strip, else "unknown"."""
    x0, y0, x1, y1 = box
    for w in words:
        cx, cy = w.box[0] + w.box[2] / 2, w.box[1] + w.box[3] / 2
        inside = x0 <= cx <= x1 and y0 <= cy <= y1
        if w.conf >= 50 and not inside and re.fullmatch(r"\W*CW\W*", w.text, flags=re.IGNORECASE):
            return "CW"
    return "unknown"


def _layout(grey: np.ndarray, fit: TickFit, baseline: float) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """Strip box for labels right of the strip, and the ECG ink mask."""
    bg = float(np.percentile(grey, 10))
    lit, ink = grey > bg + 20, grey > bg + 60
    lefts = [t.x - t.width / 2 - 2 if t.width > 0 else t.x - 0.3 * fit.spacing_px for t in fit.labels]
    edge = int(max(1, min(min(lefts), grey.shape[1])))
    x0, x1 = _strip_columns(lit, fit, baseline, edge)
    y0, y1 = _strip_rows(lit, fit, baseline, (x0, x1))
    return (x0, y0, x1, y1), ink


def _stretched_text(img: np.ndarray) -> np.ndarray:
    """Dark-on-light text image in which anything as bright as the median inked pixel is black, for
    screens whose spectrum outshines dim text (Tesseract's threshold then drops the text)."""
    grey = _grey(img)
    bg = float(np.percentile(grey, 10))
    inked = grey[grey > bg + 40]
    top = float(np.median(inked)) if inked.size else bg + 1.0
    ink = np.clip((grey - bg) / max(top - bg, 1.0), 0.0, 1.0)
    return np.round(255.0 * (1.0 - ink)).astype(np.uint8)


def _ocr_passes(img: np.ndarray) -> Iterator[list[Word]]:
    """Tesseract readings of the screen, lazily: screen_text's text image, then a stretched one."""
    if not screen_text.available():
        raise CalibrationError("no OCR words were given and Tesseract is not available, so the screen's "
                               "velocity labels cannot be read")
    for make in (screen_text.text_image, _stretched_text):
        try:
            yield screen_text.read_words(make(img))
        except (subprocess.TimeoutExpired, RuntimeError):
            yield []


def read_screen_scale(rgb: np.ndarray, words: Sequence[Word] | None = None) -> ScreenScale:
    """Read the spectral calibration off one Doppler screen (H, W, 3 RGB or H, W grey).

    ``words`` are OCR words of the screen; when None, Tesseract reads it (a second time with dim
    text stretched, if the first reading gives no scale). Raises CalibrationError when the
    velocity scale cannot be read reliably; ``s_per_px`` is None when the time scale cannot (no
    regular ECG R-R interval or no printed heart rate)."""
    img = np.asarray(rgb)
    if img.ndim not in (2, 3):
        raise ValueError(f"expected an (H, W) or (H, W, 3) image, not shape {img.shape}")
    error = CalibrationError("no OCR reading of the screen")
    for found in ([list(words)] if words is not None else _ocr_passes(img)):
        try:
            return _read(img, found)
        except CalibrationError as exc:
            error = exc
    raise error


def _read(img: np.ndarray, words: list[Word]) -> ScreenScale:
    """read_screen_scale for one set of OCR words."""
    grey = _grey(img)
    w = grey.shape[1]
    lines = line_rows(grey)
    fit = fit_ticks(tick_labels(words), lines, x_tol=max(20.0, 0.03 * w))
    baseline = _snap(fit, lines)
    if baseline is None and len(fit.labels) < 3:
        raise CalibrationError("only two velocity tick labels agree and no baseline is drawn where they put "
                               "zero velocity; the scale is not trusted")
    baseline = fit.baseline_row if baseline is None else baseline
    if not 0 <= baseline < grey.shape[0]:
        raise CalibrationError(f"the velocity labels put zero velocity at row {baseline:.0f}, outside the image")
    flip = bool(np.median([t.x for t in fit.labels]) < w / 2)  # labels left of the strip: mirror
    view = grey[:, ::-1] if flip else grey
    vfit = replace(fit, labels=tuple(replace(t, x=w - 1 - t.x) for t in fit.labels)) if flip else fit
    (x0, y0, x1, y1), ink = _layout(view, vfit, baseline)
    hr = heart_rate(words)
    s_per_px, (y0, y1) = _time_scale(ink, (x0, y0, x1, y1), fit.spacing_px, hr)
    if flip:
        x0, x1 = w - 1 - x1, w - 1 - x0
    box = (x0, min(y0, int(np.floor(baseline))), x1, max(y1, int(np.ceil(baseline))))
    return ScreenScale(box, float(baseline), fit.cm_s_per_px, s_per_px, _mode(words, box), len(fit.labels),
                       fit.residual_px, hr)
