"""Spectral Doppler calibration read off the screen itself, for screenshots without DICOM regions.

The velocity scale is fitted to every numeric tick label beside the strip ("100", "--200" cm/s,
"-1.0" m/s: |value| against label row, robust to OCR misreads and lost minus signs) and the drawn
baseline; the time scale comes from the ECG R-R interval and the printed heart rate ("54bpm"),
snapped to the time marks when they agree. The result converts to an echoseg SpectralCalibration.
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
from numpy.typing import ArrayLike

from echoseg.doppler import screen_text
from echoseg.doppler.screen_text import Word
from echoseg.errors import CalibrationError
from echoseg.io.calibration import manual_spectral_calibration
from echoseg.types import SpectralCalibration

_NUMBER = re.compile(r"([+\-\u2013\u2014]*)(\d+(?:\.\d+)?)")
_MAX_CM_S = 2000.0  # no Doppler scale reaches 20 m/s
_TOL = 0.25  # inlier tolerance, fraction of the gap between labels
_MAX_RESIDUAL = 0.1  # refuse when the RMS label offset exceeds this fraction of the tick spacing
_MARK_S = (0.1, 0.2, 0.25, 0.5, 1.0)  # time-mark intervals scanners use (s)


@dataclass(frozen=True)
class TickLabel:
    """A numeric label: magnitude (cm/s), centre (x, y) and box size (px), the sign read (-1, +1 or
    0 for none), how far that sign is trusted (a tick dash reads as a minus) and its digits."""
    magnitude: float
    x: float
    y: float
    sign: int = 0
    weight: float = 0.0
    width: float = 0.0
    height: float = 0.0
    digits: str = ""


@dataclass(frozen=True)
class TickFit:
    """Velocity scale from tick labels: signed cm/s per px (negative = velocity grows upwards), zero
    row, pixels between labelled ticks, RMS label offset (px) and the labels used, top to bottom."""
    cm_s_per_px: float
    baseline_row: float
    spacing_px: float
    residual_px: float
    labels: tuple[TickLabel, ...]


@dataclass(frozen=True)
class ScreenScale:
    """Calibration read off a Doppler screen: strip ``box`` (x0, y0, x1, y1, inclusive image pixels),
    baseline row, signed cm/s per px like DICOM PhysicalDeltaY, s per px (None when unreadable)."""
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
            raise CalibrationError("the screen's time scale could not be read (it needs an ECG with regular R waves "
                                   "and a printed heart rate in bpm); pass s_per_px explicitly")
        return manual_spectral_calibration(self.s_per_px, self.cm_s_per_px, self.baseline_row, self.box, self.mode)


def words_from_ocr_csv(path: str | Path, filename: str) -> list[Word]:
    """Words of one screen from an OCR listing (columns Filename, DetectedText, X, Y = word centre).
    The listing has no confidence or size: words get conf 100 and a zero-size box at the centre."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("Filename") == filename]
    return [Word(r["DetectedText"].strip(), 100.0, (int(float(r["X"])), int(float(r["Y"])), 0, 0))
            for r in rows if (r.get("DetectedText") or "").strip()]


def tick_labels(words: Sequence[Word]) -> list[TickLabel]:
    """Words holding a round number (multiple of 5 cm/s) that could be a velocity label; decimals
    are m/s. The longest number in a word is the label ("-140-5": -140 and a tick dash)."""
    out = []
    for w in words:
        text = w.text.strip().replace(",", ".")
        m = max(_NUMBER.finditer(text), key=lambda f: (len(f.group(2)), f.start()), default=None)
        if m is None:
            continue
        after, before = text[m.end():m.end() + 1], text[m.start(2) - 1:m.start(2)]
        if re.match(r"[A-Za-z%:\u00b0]", after) or (not m.group(1) and before.isalpha()):
            continue  # "20%", "1.5mm", "M5S", "MI0.4": parameter text, not a velocity label
        signs, digits = m.group(1), m.group(2)
        value = float(digits) * (100.0 if "." in digits else 1.0)
        if value > _MAX_CM_S or value % 5 > 1e-6:
            continue
        minus = any(c in "-\u2013\u2014" for c in signs)
        sign = -1 if minus else (1 if "+" in signs else 0)
        # "--200": tick dash and minus; a lone "-" may be the tick; no sign says little (OCR drops minus signs)
        weight = (1.5 if m.start(2) > 1 else 0.5) if minus else (1.0 if sign else 0.0)
        x, y, bw, bh = w.box
        out.append(TickLabel(value, x + bw / 2, y + bh / 2, sign, weight, float(bw), float(bh), digits))
    return out


def _columns(labels: Sequence[TickLabel], tol: float) -> list[list[TickLabel]]:
    """Labels grouped into columns (x centres within ``tol`` of the previous one), two or more each.
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


def _hypotheses(labels: Sequence[TickLabel]) -> Iterator[tuple[float, float]]:
    """(k cm/s per px, zero row) through each pair of labels, for each way the pair can sit about
    the baseline (both above, both below, one each side): magnitude = k * |row - zero row|."""
    for a, b in itertools.combinations(sorted(labels, key=lambda t: t.y), 2):
        for sa, sb in ((1, 1), (-1, -1), (1, -1)):  # signed values, upper label first
            du, dy = sa * a.magnitude - sb * b.magnitude, b.y - a.y
            if dy >= 2.0 and du > 0:
                yield du / dy, a.y + sa * a.magnitude * dy / du


def _offsets(labels: Sequence[TickLabel], k: float, zero: float) -> np.ndarray:
    """Pixel offset of each label from the row its magnitude belongs at under the V-shaped model."""
    return np.array([abs(abs(t.y - zero) - t.magnitude / k) for t in labels])


def _tolerance(labels: Sequence[TickLabel]) -> float:
    """Inlier tolerance (px): a quarter of the median gap between labels, at most half a label's
    height when OCR gave boxes (a listing of centres only gets the looser bound); 2 px at least."""
    gaps = np.diff(np.sort([t.y for t in labels]))
    tol = _TOL * float(np.median(gaps[gaps > 2])) if (gaps > 2).any() else 2.0
    heights = [t.height for t in labels if t.height > 0]
    return max(2.0, min(tol, 0.5 * float(np.median(heights))) if heights else tol)


def _best_line(column: Sequence[TickLabel], lines: Sequence[float]) -> tuple[int, float, float, float, float]:
    """(inliers, zero on a drawn line, -offset sum, k, zero) of the best hypothesis of a column."""
    tol = _tolerance(column)
    best = (0, 0.0, -np.inf, 0.0, 0.0)
    for k, zero in _hypotheses(column):
        off = _offsets(column, k, zero)
        key = (int((off <= tol).sum()), float(any(abs(zero - r) <= tol for r in lines)), -float(off[off <= tol].sum()))
        if key > best[:3]:
            best = (*key, k, zero)
    return best


def fit_ticks(labels: Sequence[TickLabel], lines: Sequence[float] = (), x_tol: float = 25.0) -> TickFit:
    """Velocity scale from tick labels: the column and V-shaped line (|cm/s| against row, ticks being
    evenly spaced) most labels agree with, a zero row on a drawn line breaking ties; least squares
    on those. Misreads are dropped, signs come from the side of the baseline, the orientation from
    the signs read (upwards unless they say otherwise). CalibrationError below two agreeing labels
    or with a poor fit."""
    best: tuple[int, float, float, float, float, list[TickLabel]] = (0, 0.0, -np.inf, 0.0, 0.0, [])
    for col in _columns(labels, x_tol):
        found = _best_line(col, lines)
        if found[:3] > best[:3]:
            best = (*found, col)
    n, on_line, _, k, zero, col = best
    if n < 2 or (n == 2 < len(col) and not on_line):  # two of several numbers always fit a line
        raise CalibrationError(f"found {n} consistent velocity tick label(s) among {len(labels)} numbers on the "
                               "screen; at least 2 (3 without a drawn baseline) are needed to read the scale")
    tol, rms = _tolerance(col), 0.0
    for _ in range(2):
        keep = [t for t, d in zip(col, _offsets(col, k, zero)) if d <= tol]
        rows, px_per = np.array([t.y for t in keep]), 0.0
        for _ in range(3 if len(set(rows)) >= 2 else 0):  # least squares of row on signed value
            vals = np.array([t.magnitude * (1.0 if t.y < zero else -1.0) for t in keep])
            px_per, zero = (float(v) for v in np.polyfit(vals, rows, 1))
            rms = float(np.sqrt(np.mean((rows - zero - px_per * vals) ** 2)))
        k = -1.0 / px_per if px_per < 0 else 0.0
        if not k > 0:
            raise CalibrationError("the velocity tick labels do not agree on one scale")
    vals = np.unique(np.round([t.magnitude for t in keep], 3))
    step = float(np.diff(vals).min()) if vals.size > 1 else float(vals.max())
    spacing = step / k
    if rms > _MAX_RESIDUAL * spacing:
        raise CalibrationError(f"the velocity tick labels lie {rms:.1f} px (RMS) off a straight scale with "
                               f"ticks {spacing:.0f} px apart; the scale reading is unreliable")
    votes = 0.3 + sum(t.weight * (1 if t.y < zero else -1) * (1 if t.sign >= 0 else -1) for t in keep if t.magnitude)
    return TickFit((-k if votes >= 0 else k), zero, spacing, rms, tuple(sorted(keep, key=lambda t: t.y)))


def line_rows(grey: np.ndarray, min_contrast: float = 10.0, min_flat: float = 0.7) -> list[float]:
    """Centre rows of opaque horizontal lines across the middle of the screen (a drawn baseline): one
    constant, non-black value in most columns, brighter or darker than the rows 3 px away."""
    mid = grey[:, int(0.15 * grey.shape[1]):int(0.85 * grey.shape[1])]
    med = np.median(mid, axis=1)
    d = np.zeros(grey.shape[0])
    d[3:-3] = med[3:-3] - 0.5 * (med[:-6] + med[6:])
    good = ((np.abs(d) >= min_contrast) & ((np.abs(mid - med[:, None]) <= 3).mean(axis=1) >= min_flat)
            & (med >= float(np.percentile(grey, 10)) + 20))
    return [(a + b - 1) / 2 for a, b in _runs(good)]


def _grey(img: np.ndarray) -> np.ndarray:
    """Brightest channel of an RGB (or grey) screen, float32."""
    return (img.max(axis=2) if img.ndim == 3 else img).astype(np.float32)


def _runs(mask: ArrayLike) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a 1-D boolean array."""
    edges = np.diff(np.concatenate([[0], np.asarray(mask, dtype=np.int8), [0]]))
    return list(zip(np.nonzero(edges == 1)[0].tolist(), np.nonzero(edges == -1)[0].tolist()))


def _strip_box(lit: np.ndarray, fit: TickFit, baseline: float, edge: int) -> tuple[int, int, int, int]:
    """Strip left of column ``edge`` (the labels). Columns: texture in rows clear of the (minor)
    ticks, or the baseline in a run longer than a tick dash, bridging dark gaps between beats. Rows:
    textured rows about the baseline, from half to one tick spacing beyond the outer labels."""
    sp, b = fit.spacing_px, round(baseline)
    rows = [round(baseline + (n + f) * sp) for n in range(-12, 12) for f in (0.25, 0.75)]
    rows = [r for r in rows if fit.labels[0].y - sp <= r <= fit.labels[-1].y + sp and 0 <= r < lit.shape[0]]
    tex = np.convolve(lit[rows, :edge].mean(axis=0), np.ones(3) / 3, mode="same") if rows else np.zeros(edge)
    solid = np.convolve(lit[b, :edge], np.ones(9), mode="full")[:edge] >= 9
    cols = np.nonzero((tex >= 0.2) | solid)[0]
    if cols.size == 0:
        raise CalibrationError("no spectral strip found beside the velocity tick labels")
    x0 = x1 = int(cols[-1])
    for c in cols[::-1]:
        if x0 - c > max(3, edge // 30):
            break
        x0 = int(c)
    tex = np.convolve(lit[:, x0:x1 + 1].mean(axis=1), np.ones(5) / 5, mode="same")
    lo, hi = max(0, int(min(fit.labels[0].y, b) - sp)), min(lit.shape[0] - 1, int(max(fit.labels[-1].y, b) + sp))
    y0, y1 = max(lo, int(min(fit.labels[0].y, b) - sp / 2)), min(hi, int(max(fit.labels[-1].y, b) + sp / 2))
    while y0 > lo and tex[y0 - 1] >= 0.1:
        y0 -= 1
    while y1 < hi and tex[y1 + 1] >= 0.1:
        y1 += 1
    return x0, y0, x1, y1


def rr_interval_px(band: np.ndarray) -> tuple[float | None, float]:
    """(mean R-R px, trace row) of an ECG in ``band`` (ink, rows x strip columns): R waves are narrow
    spikes of ink joined to the trace (not text or a 2D image above it). None with under two R waves
    or intervals more than 20 % apart (irregular: the printed rate need not match them)."""
    inked, width = band.any(axis=0), band.shape[1]
    level = float(np.median(np.where(inked, np.argmax(band, axis=0), band.shape[0])))
    conn, lo = np.zeros_like(band), max(0, int(level) - 6)
    conn[lo:int(level) + 7] = band[lo:int(level) + 7]
    for r in range(lo - 1, -1, -1):  # ink joined to the trace across gaps of up to two pixels
        conn[r] = band[r] & conn[r + 1:r + 4].any(axis=0)
    rise = level - np.where(conn.any(axis=0), np.argmax(conn, axis=0), level)
    runs = [(a, b) for a, b in _runs(rise >= 5) if b - a <= max(4, 0.03 * width) and 0.02 * width < a < 0.98 * width]
    if inked.mean() < 0.6 or not runs:
        return None, level
    height = np.array([rise[a:b].max() for a, b in runs])
    merged: list[int] = []
    for (a, b), v in zip(runs, height):  # an R and its S wave, or a notched R, are one beat
        p = a + int(np.argmax(rise[a:b]))
        if v >= 0.5 * height.max() and (not merged or p - merged[-1] >= 0.04 * width):
            merged.append(p)
    close = np.diff(merged) < 0.06 * width  # spikes closer than any heart rate: text or clutter
    merged = [p for p, c in zip(merged, np.r_[False, close] | np.r_[close, False]) if not c]
    if len(merged) < 2:
        return None, level
    diffs = np.diff(merged)
    beats = np.maximum(1, np.round(diffs / np.median(diffs)))  # a missed R counts as two beats
    rr = (merged[-1] - merged[0]) / float(beats.sum())
    return (None if np.abs(diffs / beats / rr - 1).max() > 0.2 else rr), level


def mark_period_px(lit: np.ndarray, cols: tuple[int, int], rows: Sequence[int]) -> tuple[float, int] | None:
    """(spacing px, row) of time marks: the 3-row band of ``rows`` whose ink repeats most regularly
    (autocorrelation >= 0.5, six marks or more), refined by least squares on the mark centres."""
    best = (0.5, 0, 0)
    for r in rows:
        p = lit[max(0, r - 1):r + 2, cols[0]:cols[1] + 1].any(axis=0).astype(np.float64)
        first = max(6, int(0.015 * p.size))
        if not 0.005 < p.mean() < 0.25 or p.size < 4 * first:
            continue
        ac = np.fft.irfft(np.abs(np.fft.rfft(p - p.mean(), 2 * p.size)) ** 2)[:p.size // 4]
        lag = first + int(np.argmax(ac[first:] >= 0.8 * ac[first:].max()))  # the fundamental
        while lag + 1 < ac.size and ac[lag + 1] > ac[lag]:
            lag += 1
        if ac[lag] > best[0] * ac[0]:
            best = (float(ac[lag] / ac[0]), lag, r)
    _, lag, row = best
    centres = np.array([(a + b - 1) / 2 for a, b in _runs(lit[max(0, row - 1):row + 2, cols[0]:cols[1] + 1].any(0))])
    if lag == 0 or centres.size < 6:
        return None
    k = np.round((centres - centres[0]) / lag)
    ok = np.abs(centres - centres[0] - k * lag) <= 0.25 * lag
    return (float(np.polyfit(k[ok], centres[ok], 1)[0]), row) if ok.sum() >= 6 else None


def heart_rate(words: Sequence[Word]) -> float | None:
    """Printed heart rate in bpm ("54bpm", "HR 72 bpm", "HR98"), 25-250 only, or None."""
    text = " ".join(w.text for w in words)
    for pat in (r"(?<![\d.])(\d{2,3})\s*bpm", r"\bHR\s*:?\s*(\d{2,3})(?![\d.])"):
        for m in re.finditer(pat, text, flags=re.IGNORECASE):
            if 25 <= int(m.group(1)) <= 250:
                return float(m.group(1))
    return None


def _time_scale(lit: np.ndarray, ink: np.ndarray, box: tuple[int, int, int, int], sp: float,
                hr: float | None) -> tuple[float | None, int, int]:
    """(s per px or None, y0, y1): ECG R-R (above the strip, else below) and printed rate, snapped to
    the time marks (None if they disagree by > 6 %); the rows trimmed inside the ECG and marks."""
    x0, y0, x1, y1 = box
    s = None
    for lo, hi, above in ((max(0, y0 - int(1.5 * sp)), y0 + int(sp / 4), True),
                          (y1 + 2, min(ink.shape[0], y1 + int(2.5 * sp)), False)):
        rr, level = rr_interval_px(ink[lo:hi, x0:x1 + 1]) if hi - lo >= 8 else (None, 0.0)
        if rr is None and not above and hi - lo - level > 12:  # a frame line, not the ECG: look below it
            lo += int(level) + 4
            rr, level = rr_interval_px(ink[lo:hi, x0:x1 + 1])
        if rr is not None:
            y0, y1 = (max(y0, lo + int(level) + 3), y1) if above else (y0, min(y1, lo + int(level) - 3))
            s = 60.0 / (hr * rr) if hr else None
            break
    marks = mark_period_px(lit, (x0, x1), [*range(max(0, y1 - int(sp)), min(lit.shape[0], y1 + int(sp))),
                                           *range(y0, y0 + 8)])
    if marks is not None:
        y1 = min(y1, marks[1] - 3) if marks[1] > (y0 + y1) / 2 else y1
        if s is not None:
            span = s * marks[0]  # seconds between marks by the heart rate
            nice = min(_MARK_S, key=lambda t: abs(np.log(span / t)))
            s = nice / marks[0] if abs(span / nice - 1) <= 0.06 else None  # disagree: trust neither
    return (s if s is not None and 1e-4 < s < 0.05 else None), y0, y1


def _ocr_passes(img: np.ndarray) -> Iterator[list[Word]]:
    """Tesseract readings, lazily: screen_text's text image, then one in which anything as bright as
    the median inked pixel is black (dim text beside a bright spectrum falls below the threshold)."""
    if not screen_text.available():
        raise CalibrationError("no OCR words were given and Tesseract is not available to read the velocity labels")
    grey = _grey(img)
    bg = float(np.percentile(grey, 10))
    top = float(np.median(grey[grey > bg + 40])) if (grey > bg + 40).any() else bg + 1.0  # median inked
    stretched = np.round(255.0 * (1.0 - np.clip((grey - bg) / max(top - bg, 1.0), 0.0, 1.0))).astype(np.uint8)
    for make in (lambda: screen_text.text_image(img), lambda: stretched):
        try:
            yield screen_text.read_words(make())
        except (subprocess.TimeoutExpired, RuntimeError):
            yield []


def read_screen_scale(rgb: np.ndarray, words: Sequence[Word] | None = None) -> ScreenScale:
    """Read the spectral calibration off one Doppler screen ((H, W, 3) RGB or (H, W) grey). ``words``:
    OCR words of the screen, else Tesseract reads it (twice if needed). CalibrationError when the
    velocity scale cannot be read reliably; ``s_per_px`` is None when the time scale cannot."""
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
    """read_screen_scale for one set of words. Labels left of the strip are handled mirrored."""
    grey = _grey(img)
    (h, w), lines = grey.shape, line_rows(grey)
    fit = fit_ticks(tick_labels(words), lines, x_tol=max(20.0, 0.03 * w))
    near = [r for r in lines if abs(r - fit.baseline_row) <= _tolerance(fit.labels)]
    if not near and len(fit.labels) < 3:
        raise CalibrationError("only two velocity tick labels agree and no baseline is drawn where they put zero "
                               "velocity; the scale is not trusted")
    baseline = min(near, key=lambda r: abs(r - fit.baseline_row)) if near else fit.baseline_row
    if not 0 <= baseline < h:
        raise CalibrationError(f"the velocity labels put zero velocity at row {baseline:.0f}, outside the image")
    flip = bool(np.median([t.x for t in fit.labels]) < w / 2)
    view = grey[:, ::-1] if flip else grey
    vfit = replace(fit, labels=tuple(replace(t, x=w - 1 - t.x) for t in fit.labels)) if flip else fit
    bg = float(np.percentile(grey, 10))
    lit, ink = view > bg + 20, view > bg + 35
    edge = min(t.x - t.width / 2 - 2 if t.width > 0 else t.x - 0.3 * fit.spacing_px for t in vfit.labels)
    x0, y0, x1, y1 = _strip_box(lit, vfit, baseline, int(min(max(edge, 1), w)))
    s_per_px, y0, y1 = _time_scale(lit, ink, (x0, y0, x1, y1), fit.spacing_px, hr := heart_rate(words))
    x0, x1 = (w - 1 - x1, w - 1 - x0) if flip else (x0, x1)
    box = (x0, min(y0, int(np.floor(baseline))), x1, max(y1, int(np.ceil(baseline))))
    cw = any(wd.conf >= 50 and re.fullmatch(r"\W*CW\W*", wd.text, flags=re.IGNORECASE) and not (  # CW printed
        x0 <= wd.box[0] + wd.box[2] / 2 <= x1 and box[1] <= wd.box[1] + wd.box[3] / 2 <= box[3]) for wd in words)
    return ScreenScale(box, float(baseline), fit.cm_s_per_px, s_per_px, "CW" if cw else "unknown", len(fit.labels),
                       fit.residual_px, hr)
