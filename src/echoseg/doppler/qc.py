"""Quality-control rules for Doppler VTI: accept or refuse, with short human-readable reasons.

``fail`` is reserved for results that are likely wrong; notes that do not invalidate the value go
to ``warnings``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from echoseg.doppler.tracer import Agreement
from echoseg.types import Beat, BeatSummary, QCResult, SpectralCalibration, make_result

VTI_RANGE_CM = {"mv": (5.0, 120.0), "av": (5.0, 150.0), "lvot": (4.0, 60.0), "rvot": (3.0, 50.0), "pv": (3.0, 60.0)}


VMAX_LIMIT_CM_S = 700.0
# Fastest flow a site's VTI is taken from (cm/s, mean Vmax of the complete beats): faster is a jet
# through a narrowed or leaking valve. LVOT and RVOT flow and pulmonary ejection stay under 2 m/s
# (1.75 for RVOT), mitral stenosis inflow under 3.5 m/s; tricuspid and mitral regurgitation
# (2.5-6 m/s) lie beyond. The aortic valve keeps VMAX_LIMIT_CM_S (aortic stenosis is its VTI).
SITE_VMAX_CM_S = {"mv": 350.0, "av": VMAX_LIMIT_CM_S, "lvot": 200.0, "rvot": 175.0, "pv": 200.0}
# Slowest flow a site's VTI is taken from (cm/s, mean Vmax of the complete beats): slower is venous
# flow (hepatic, pulmonary veins: 20-60 cm/s, mostly under 40), tissue motion or a trace that stayed in
# the clutter band at the baseline. Ejection at the valves and outflow tracts keeps peaks above
# 40-50 cm/s even in low-output states, aortic ejection above 60, mitral inflow's larger wave above
# 30; the floors sit below that. On the synthetic cohorts of docs/accuracy.md no strip comes within
# 10 cm/s of them; one held-out hepatic vein strip routed to PV passed at 26 cm/s before (docs/nontarget.md).
SITE_VMIN_CM_S = {"mv": 25.0, "av": 40.0, "lvot": 30.0, "rvot": 30.0, "pv": 30.0}
JET_LOOKS_LIKE = {"mv": "mitral regurgitation",  # the aortic valve's bound is VMAX_LIMIT_CM_S, checked first
                  "lvot": "aortic stenosis, mitral regurgitation or outflow obstruction",
                  "rvot": "tricuspid regurgitation or pulmonary stenosis",
                  "pv": "tricuspid regurgitation or pulmonary stenosis"}
# A routed site less likely than this is refused: from the waveform alone the network cannot tell
# RVOT from PV flow, or PV from AV stenosis on CW, any better than a coin flip between two sites.
# It does not catch every wrong route (some come at 0.69-0.89 on the synthetic cohorts, among right
# ones: docs/measurements.md).
MIN_SITE_CONF = 0.6


# ============================================================================= Doppler
def scale_limit_cm_s(cal: SpectralCalibration, side: int) -> float:
    """Largest speed the strip can show on the side whose velocities have sign ``side``."""
    r = cal.region
    down = (r.y1 + 0.5 - cal.baseline_row) * cal.speed_per_px
    up = (cal.baseline_row - r.y0 + 0.5) * cal.speed_per_px
    sign_down = 1 if cal.cm_s_per_px > 0 else -1
    return float(down if side == sign_down else up)


def qc_doppler(beats: Sequence[Beat], summary: BeatSummary, envelope_conf: float | np.ndarray | None,
               site_confidence: float | None, cal: SpectralCalibration | None, *, site: str,
               side: int | None = None, clip_px: float = 2.0, max_cv: float = 0.25,
               min_envelope_conf: float = 0.2, min_site_conf: float = MIN_SITE_CONF,
               agreement: Agreement | None = None) -> QCResult:
    """Rules for one Doppler VTI measurement.

    Fails on: no complete beat; beat-to-beat VTI CV above ``max_cv`` in regular rhythm (a warning
    in irregular rhythm, where VTI varies with RR); complete beats whose Vmax is within
    ``clip_px`` pixels of the scale limit on the flow side ``side`` (clipped envelope or
    aliasing; with side None the larger limit is used); mean envelope confidence below
    ``min_envelope_conf``; site confidence below ``min_site_conf``; mean VTI outside the plausible
    range for ``site``; Vmax above 700 cm/s, or a mean Vmax above the site's
    :data:`SITE_VMAX_CM_S` (a regurgitant or stenotic jet, not the site's flow) or below its
    :data:`SITE_VMIN_CM_S` (venous flow, tissue motion, clutter); the model-free
    tracer disagreeing with the network on more than half of the complete beats (``agreement``,
    :mod:`echoseg.doppler.tracer`). Warns on fewer complete beats than ``summary``'s min_beats (3, 5
    in irregular rhythm; :func:`echoseg.doppler.measure.summarise_beats`), beats not counted (strip
    edge, erase bar, set aside), and irregular rhythm.
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
    min_beats = summary.min_beats
    irregular = bool(summary.irregular)
    if comp and len(comp) < min_beats:
        warnings.append(f"only {len(comp)} complete beat(s); {min_beats} advised"
                        + (" in irregular rhythm" if irregular else ""))
    if n_inc:
        warnings.append(f"{n_inc} beat(s) not counted (cut by the strip edge or an erase bar, or set aside: "
                        "see the notes)")
    if irregular:
        warnings.append("irregular rhythm")
    cv = summary.cv
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
    value = summary.value
    lo, hi = VTI_RANGE_CM[site]
    if value is not None and not lo <= value <= hi:
        reasons.append(f"implausible VTI for {site.upper()}: {value:.1f} cm outside {lo:g}-{hi:g} cm")
    vmax = max((b.vmax_cm_s for b in comp), default=0.0)
    if vmax > VMAX_LIMIT_CM_S:
        reasons.append(f"implausible Vmax: {vmax:.0f} cm/s (> {VMAX_LIMIT_CM_S:.0f})")
    elif site in JET_LOOKS_LIKE and summary.vmax_cm_s is not None and summary.vmax_cm_s > SITE_VMAX_CM_S[site]:
        reasons.append(f"Vmax {summary.vmax_cm_s:.0f} cm/s is too fast for {site.upper()} flow "
                       f"(> {SITE_VMAX_CM_S[site]:.0f}): looks like {JET_LOOKS_LIKE[site]}")
    if summary.vmax_cm_s is not None and comp and summary.vmax_cm_s < SITE_VMIN_CM_S[site]:
        reasons.append(f"Vmax {summary.vmax_cm_s:.0f} cm/s is too slow for {site.upper()} flow "
                       f"(< {SITE_VMIN_CM_S[site]:.0f}): looks like venous flow, tissue motion or a trace of "
                       "the clutter at the baseline")
    if agreement is not None and not agreement.agrees:
        reasons.append(agreement.reason())
    return make_result(reasons, conf, warnings)
