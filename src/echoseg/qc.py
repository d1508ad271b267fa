"""Quality-control rules: accept or refuse a measurement, with short human-readable reasons.

``fail`` is reserved for results that are likely wrong (the value should not be used); things a
reader should know but that do not invalidate the value go to ``warnings``. CONTRACT.md's
``reason`` column is ``"; ".join(result.reasons)`` and is empty when the result passes.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from .postprocess import components
from .types import Beat, SpectralCalibration, TissueCalibration

# plausible physical ranges (adult and paediatric echo, generous on purpose)
AREA_RANGE_CM2 = {"la_area": (3.0, 70.0), "ra_area": (3.0, 60.0)}
VTI_RANGE_CM = {"mv": (5.0, 120.0), "av": (5.0, 150.0), "lvot": (4.0, 60.0), "rvot": (3.0, 50.0), "pv": (3.0, 60.0)}
VMAX_LIMIT_CM_S = 700.0


@dataclass(frozen=True)
class QCResult:
    """passed: the value may be used; reasons: why not (empty when passed); confidence 0..1;
    warnings: notes that do not fail the result."""

    passed: bool
    reasons: tuple[str, ...] = ()
    confidence: float = 1.0
    warnings: tuple[str, ...] = ()

    @property
    def qc(self) -> str:
        return "pass" if self.passed else "fail"

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def make_result(reasons: Sequence[str], confidence: float, warnings: Sequence[str] = ()) -> QCResult:
    """QCResult that passes exactly when ``reasons`` is empty."""
    return QCResult(passed=not reasons, reasons=tuple(reasons), confidence=float(np.clip(confidence, 0.0, 1.0)),
                    warnings=tuple(warnings))


def combine(*results: QCResult) -> QCResult:
    """All reasons and warnings together; the lowest confidence."""
    reasons = tuple(r for res in results for r in res.reasons)
    warnings = tuple(w for res in results for w in res.warnings)
    conf = min((res.confidence for res in results), default=1.0)
    return make_result(reasons, conf, warnings)


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


def qc_atria(curve_cm2: np.ndarray, mask_at_frame: np.ndarray, probs: np.ndarray | None, task: str, *,
             frame: int | None = None, cal: TissueCalibration | None = None, fan: np.ndarray | None = None,
             min_confidence: float = 0.7, min_motion: float = 0.05, max_jump: float = 0.3,
             fragment_ratio: float = 0.1, threshold: float = 0.5) -> QCResult:
    """Rules for one atrial area measurement.

    curve_cm2: area per frame; mask_at_frame: boolean mask of the measured frame (full image grid);
    probs: soft probability of that frame (H, W) (or None); frame: measured frame (default argmax);
    cal/fan: the 2D region and the sector mask, for the border rule.
    Fails on: area outside the plausible range for ``task``; mask touching the region border or
    fan edge (atrium cut off); several large components in ``probs > threshold``; mean probability
    inside the mask below ``min_confidence``; with >= 8 frames, an area curve varying less than
    ``min_motion`` of its maximum (no cardiac motion) or jumping more than ``max_jump`` of its
    median between consecutive frames. Confidence = mean probability inside the mask.
    """
    if task not in AREA_RANGE_CM2:
        raise ValueError(f"task must be one of {', '.join(AREA_RANGE_CM2)}, not {task!r}")
    curve = np.asarray(curve_cm2, dtype=np.float64).ravel()
    mask = np.asarray(mask_at_frame, dtype=bool)
    reasons: list[str] = []
    warnings: list[str] = []
    if curve.size == 0 or not mask.any():
        return make_result([f"no {task.split('_')[0].upper()} found"], 0.0)
    k = int(np.argmax(curve)) if frame is None else int(frame)
    area = float(curve[k])
    lo, hi = AREA_RANGE_CM2[task]
    if not lo <= area <= hi:
        reasons.append(f"implausible area: {area:.1f} cm2 outside {lo:g}-{hi:g} cm2")
    band = _border_band(mask.shape, cal, fan)
    touching = int((mask & band).sum())
    perimeter = int((mask & ~ndimage.binary_erosion(mask)).sum())
    if touching >= max(3, 0.02 * perimeter):
        reasons.append(f"atrium cut off: mask touches the image border or sector edge ({touching} px)")
    conf = 1.0
    if probs is not None:
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
    if curve.size >= 8:
        top = float(curve.max())
        if top > 0 and (top - float(curve.min())) / top < min_motion:
            reasons.append(f"no cardiac motion: area varies by {100 * (top - curve.min()) / top:.1f} % over the loop")
        med = float(np.median(curve))
        jump = float(np.abs(np.diff(curve)).max()) / med if med > 0 else np.inf
        if jump > max_jump:
            reasons.append(f"area curve jumpy: {100 * jump:.0f} % change between consecutive frames")
    else:
        warnings.append(f"only {curve.size} frame(s): cardiac cycle not checked")
    return make_result(reasons, conf, warnings)


# ============================================================================= Doppler
def scale_limit_cm_s(cal: SpectralCalibration, side: int) -> float:
    """Largest speed the strip can show on the side whose velocities have sign ``side``."""
    r = cal.region
    down = (r.y1 + 0.5 - cal.baseline_row) * cal.speed_per_px
    up = (cal.baseline_row - r.y0 + 0.5) * cal.speed_per_px
    sign_down = 1 if cal.cm_s_per_px > 0 else -1
    return float(down if side == sign_down else up)


def qc_doppler(beats: Sequence[Beat], summary: Mapping[str, Any], envelope_conf: float | np.ndarray | None,
               site_confidence: float | None, cal: SpectralCalibration | None, *, site: str,
               side: int | None = None, clip_px: float = 2.0, max_cv: float = 0.25,
               min_envelope_conf: float = 0.2, min_site_conf: float = 0.5) -> QCResult:
    """Rules for one Doppler VTI measurement.

    Fails on: no complete beat; beat-to-beat VTI CV above ``max_cv`` in regular rhythm (a warning
    in irregular rhythm, where VTI varies with RR); complete beats whose Vmax is within
    ``clip_px`` pixels of the scale limit on the flow side ``side`` (clipped envelope or
    aliasing; with side None the larger limit is used); mean envelope confidence below
    ``min_envelope_conf``; site confidence below ``min_site_conf``; mean VTI outside the plausible
    range for ``site``; Vmax above 700 cm/s. Warns on fewer complete beats than ``summary``'s
    min_beats (3, 5 in irregular rhythm), incomplete edge beats, and irregular rhythm.
    Confidence = min(envelope confidence, site confidence).
    """
    if site not in VTI_RANGE_CM:
        raise ValueError(f"site must be one of {', '.join(VTI_RANGE_CM)}, not {site!r}")
    reasons: list[str] = []
    warnings: list[str] = []
    comp = [b for b in beats if b.complete]
    n_inc = len(beats) - len(comp)
    if not comp:
        reasons.append(f"no complete beat in the strip ({len(beats)} partial)" if beats else "no beat found")
    min_beats = int(summary.get("min_beats", 3))
    irregular = bool(summary.get("irregular"))
    if comp and len(comp) < min_beats:
        warnings.append(f"only {len(comp)} complete beat(s); {min_beats} advised"
                        + (" in irregular rhythm" if irregular else ""))
    if n_inc:
        warnings.append(f"{n_inc} beat(s) cut by the strip edge excluded")
    if irregular:
        warnings.append("irregular rhythm")
    cv = summary.get("cv")
    if cv is not None and len(comp) >= 2 and cv > max_cv:
        msg = f"beats inconsistent: VTI varies {100 * cv:.0f} % between beats (> {100 * max_cv:.0f} %)"
        (warnings if irregular else reasons).append(msg)
    if cal is not None and comp:
        limit = scale_limit_cm_s(cal, side) if side in (1, -1) else max(scale_limit_cm_s(cal, 1),
                                                                         scale_limit_cm_s(cal, -1))
        margin = clip_px * cal.speed_per_px
        n_clip = sum(1 for b in comp if b.vmax_cm_s >= limit - margin)
        if n_clip:
            reasons.append(f"strip clipped: envelope reaches the scale limit in {n_clip} of {len(comp)} beats")
    conf = 1.0
    if envelope_conf is not None:
        ec = float(np.mean(envelope_conf))
        conf = min(conf, ec)
        if ec < min_envelope_conf:
            reasons.append(f"envelope uncertain: confidence {ec:.2f} (< {min_envelope_conf:g})")
    if site_confidence is not None:
        conf = min(conf, float(site_confidence))
        if site_confidence < min_site_conf:
            reasons.append(f"site uncertain: confidence {site_confidence:.2f} that this is {site.upper()}")
    value = summary.get("value")
    lo, hi = VTI_RANGE_CM[site]
    if value is not None and not lo <= value <= hi:
        reasons.append(f"implausible VTI for {site.upper()}: {value:.1f} cm outside {lo:g}-{hi:g} cm")
    vmax = max((b.vmax_cm_s for b in comp), default=0.0)
    if vmax > VMAX_LIMIT_CM_S:
        reasons.append(f"implausible Vmax: {vmax:.0f} cm/s (> {VMAX_LIMIT_CM_S:.0f})")
    return make_result(reasons, conf, warnings)
