"""Quality-control rules for atrial areas: accept or refuse, with short human-readable reasons.

``fail`` is reserved for results that are likely wrong (the value should not be used); things a
reader should know but that do not invalidate the value go to ``warnings``. The ``reason`` column
of docs/output-format.md is ``"; ".join(result.reasons)`` and is empty when the result passes.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from echoseg.atria.cycles import MIN_FRAMES_CHECKED, CycleAnalysis, analyse_cycles
from echoseg.imaging.masks import components
from echoseg.types import QCResult, TissueCalibration, make_result

# plausible physical ranges (adult and paediatric echo, generous on purpose)
AREA_RANGE_CM2 = {"la_area": (3.0, 70.0), "ra_area": (3.0, 60.0)}


# ============================================================================= atria
def _border_band(shape: tuple[int, int], cal: TissueCalibration | None, fan: np.ndarray | None) -> np.ndarray:
    """Pixels on the edge of the imaged area: the region's (or image's) border rows/cols and the fan edge."""
    band = np.zeros(shape, dtype=bool)
    if cal is not None:
        r = cal.region
        inside = np.zeros(shape, dtype=bool)
        inside[max(r.y0, 0):r.y1 + 1, max(r.x0, 0):r.x1 + 1] = True
    else:
        inside = np.ones(shape, dtype=bool)
    if fan is not None:
        inside &= np.asarray(fan, dtype=bool)
    band |= inside & ~ndimage.binary_erosion(inside, border_value=0)
    band |= ~inside
    return band


def _cut_off_reasons(mask: np.ndarray, cal: TissueCalibration | None, fan: np.ndarray | None) -> list[str]:
    """A reason when the mask touches the region border or fan edge along >= 2 % of its perimeter (min 3 px)."""
    band = _border_band(mask.shape, cal, fan)
    touching = int((mask & band).sum())
    perimeter = int((mask & ~ndimage.binary_erosion(mask)).sum())
    if touching >= max(3, 0.02 * perimeter):
        return [f"atrium cut off: mask touches the image border or sector edge ({touching} px)"]
    return []


def _probability_checks(probs: np.ndarray, mask: np.ndarray, threshold: float, fragment_ratio: float,
                        min_confidence: float) -> tuple[float, list[str]]:
    """Confidence (mean probability inside the mask) and reasons: fragmented ``probs > threshold``, low confidence."""
    reasons: list[str] = []
    p = np.asarray(probs, dtype=np.float64)
    if p.shape != mask.shape:
        raise ValueError(f"probs shape {p.shape} must equal mask_at_frame shape {mask.shape}")
    _, sizes = components(p > threshold)
    if sizes.size > 1:
        big = np.sort(sizes)[::-1]
        if big[1] >= fragment_ratio * big[0]:
            reasons.append(f"fragmented mask: {int((sizes >= fragment_ratio * big[0]).sum())} large pieces")
    conf = float(p[mask].mean())
    if conf < min_confidence:
        reasons.append(f"low model confidence: {conf:.2f} inside the mask (< {min_confidence:g})")
    return conf, reasons


def _curve_checks(curve: np.ndarray, cycles: CycleAnalysis, frame: int | None,
                  min_motion: float) -> tuple[list[str], list[str]]:
    """(reasons, warnings) from the area curve: no cardiac motion, no consistent cycle; >= 8 frames only."""
    reasons: list[str] = []
    if curve.size < MIN_FRAMES_CHECKED:
        return reasons, [f"only {curve.size} frame(s): cardiac cycle not checked"]
    c = cycles.cleaned
    top = float(c.max())
    if top > 0 and (top - float(c.min())) / top < min_motion:
        reasons.append(f"no cardiac motion: area varies by {100 * (top - c.min()) / top:.1f} % over the loop")
    if cycles.reason:
        reasons.append(cycles.reason)
    warnings = list(cycles.notes)
    if frame is not None and int(frame) in cycles.outliers:
        warnings.append(f"frame {int(frame)} is an outlier of the area curve")
    return reasons, warnings


def qc_atria(curve_cm2: np.ndarray, mask_at_frame: np.ndarray, probs: np.ndarray | None, task: str, *,
             frame: int | None = None, cal: TissueCalibration | None = None, fan: np.ndarray | None = None,
             min_confidence: float = 0.7, min_motion: float = 0.05, max_jump: float = 0.3,
             fragment_ratio: float = 0.1, threshold: float = 0.5, cycles: CycleAnalysis | None = None,
             frame_time_ms: float = 33.3, heart_rate_bpm: float | None = None,
             view_reason: str = "") -> QCResult:
    """Rules for one atrial area measurement.

    curve_cm2: area per frame; mask_at_frame: boolean mask of the measured frame (full image grid);
    probs: soft probability of that frame (H, W) (or None); frame: measured frame (default argmax);
    cal/fan: the 2D region and the sector mask, for the border rule.
    Fails on: area outside the plausible range for ``task``; mask touching the region border or
    fan edge (atrium cut off); several large components in ``probs > threshold``; mean probability
    inside the mask below ``min_confidence``; with >= 8 frames, an area curve varying less than
    ``min_motion`` of its maximum (no cardiac motion), or no consistent cardiac cycle
    (:mod:`echoseg.atria.cycles`: every cycle jumps by more than ``max_jump`` of the median area
    between consecutive frames near its maximum, or its maximum is an outlier frame, or no two
    cycles' maxima agree); ``view_reason`` (from :mod:`echoseg.atria.view`), when not empty.
    ``cycles``: the curve's analysis (computed from ``curve_cm2``, ``frame_time_ms`` and
    ``heart_rate_bpm`` when None); outlier frames and cycles set aside become warnings.
    Confidence = mean probability inside the mask.
    """
    if task not in AREA_RANGE_CM2:
        raise ValueError(f"task must be one of {', '.join(AREA_RANGE_CM2)}, not {task!r}")
    curve = np.asarray(curve_cm2, dtype=np.float64).ravel()
    mask = np.asarray(mask_at_frame, dtype=bool)
    if view_reason:
        return make_result([view_reason], 0.0)
    if curve.size == 0 or not mask.any():
        return make_result([f"no {task.split('_')[0].upper()} found"], 0.0)
    if cycles is None:
        cycles = analyse_cycles(curve, frame_time_ms, heart_rate_bpm, max_jump=max_jump)
    reasons: list[str] = []
    area = float(curve[int(np.argmax(curve)) if frame is None else int(frame)])
    lo, hi = AREA_RANGE_CM2[task]
    if not lo <= area <= hi:
        reasons.append(f"implausible area: {area:.1f} cm2 outside {lo:g}-{hi:g} cm2")
    reasons += _cut_off_reasons(mask, cal, fan)
    conf = 1.0
    if probs is not None:
        conf, prob_reasons = _probability_checks(probs, mask, threshold, fragment_ratio, min_confidence)
        reasons += prob_reasons
    curve_reasons, warnings = _curve_checks(curve, cycles, frame, min_motion)
    return make_result(reasons + curve_reasons, conf, warnings)
