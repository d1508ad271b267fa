"""When in the cardiac cycle the traced flow lies, from the ECG's R waves: a check of the site.

Ejection through the aortic and pulmonary valves and their outflow tracts starts 40-90 ms after
the QRS and is over by the T wave's end: systole. Mitral inflow (E and A) fills the ventricle after
isovolumic relaxation until the next QRS: diastole. A trace that lies in the other phase is not the
flow asked for: a mitral trace in systole follows mitral regurgitation or the LV outflow that a CW
beam through the mitral valve also crosses; an ejection trace in diastole follows regurgitation
(aortic, pulmonary) or tricuspid/mitral inflow. Timing is physiology, the same on every vendor's
screen, so it holds where the waveform's look does not.

Direction is physiology too, for one site: mitral inflow is recorded from the apex, where it runs
towards the transducer (above the baseline, by the calibrated sign); a mitral trace of flow running
away from it follows mitral regurgitation or LV outflow (:func:`direction_reason`). The ejection
sites are recorded from windows on either side of their flow (aortic stenosis from the apex and from
the right parasternal window), so their direction says nothing.

The phase of a beat is the time of its VTI-weighted centre after the preceding R wave, as a
fraction of the median RR interval (0 at the R wave, 1 at the next). The strip's phase is the
median over its complete beats; R waves are extended before the first and after the last by the
median RR, as :func:`echoseg.doppler.beats.gate_by_ecg` does.

Example::

    >>> import numpy as np
    >>> from echoseg.types import Beat
    >>> t = np.linspace(0, 3, 301); r = np.array([0.2, 1.0, 1.8, 2.6])
    >>> v = np.where(((t - r[:, None]) % 0.8 < 0.35).any(0) & (t > 0.25), 80.0, 0.0)   # systolic flow
    >>> beats = [Beat(i, a + 0.05, a + 0.35, 20, 80, 60, 2.6, 1.4) for i, a in enumerate(r[:3])]
    >>> timing = flow_timing(beats, t, v, r)
    >>> round(timing.phase, 2), timing_reason("mv", timing)[:34]
    (0.25, 'flow timing: the traced flow lies ')
    >>> timing_reason("lvot", timing)
    ''
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from echoseg.types import Beat

SYSTOLE_BEFORE = 0.40  # a mitral trace whose phase is below this lies in systole: refused
DIASTOLE_FROM = 0.55  # an ejection trace whose phase is from this ...
DIASTOLE_UNTIL = 0.95  # ... to this (later wraps towards the next systole: undecided) lies in diastole: refused

_EJECTION_OTHERS = {"av": "aortic regurgitation or mitral inflow", "lvot": "aortic regurgitation or mitral inflow",
                    "rvot": "pulmonary regurgitation or tricuspid inflow", "pv": "pulmonary regurgitation or tricuspid inflow"}

__all__ = ["FlowTiming", "direction_reason", "flow_timing", "timing_reason"]


@dataclass(frozen=True)
class FlowTiming:
    """Phase in the cardiac cycle (0 = R wave, 1 = next R wave) of a strip's traced flow.

    ``phase``: median over the complete beats; ``phases``: each complete beat's, in beat order.
    """

    phase: float
    phases: tuple[float, ...]


def flow_timing(beats: Sequence[Beat], t: np.ndarray, speed: np.ndarray,
                r_times_s: Sequence[float] | np.ndarray) -> FlowTiming | None:
    """The strip's flow phase from its complete beats and the ECG's R waves (None without a
    complete beat with flow, or with fewer than two R waves)."""
    t = np.asarray(t, dtype=np.float64)
    s = np.abs(np.asarray(speed, dtype=np.float64))
    if t.shape != s.shape or t.ndim != 1:
        raise ValueError(f"t and speed must be 1-D arrays of equal length, not shapes {t.shape} and {s.shape}")
    r = np.sort(np.asarray(r_times_s, dtype=np.float64))
    if r.size < 2:
        return None
    rr = float(np.median(np.diff(r)))
    if not rr > 0:
        return None
    phases = []
    for b in beats:
        m = (t >= b.start_s) & (t <= b.end_s)
        w = s[m]
        if not b.complete or w.sum() <= 0:
            continue
        centre = float(np.sum(t[m] * w) / w.sum())
        k = np.searchsorted(r, centre, side="right") - 1
        before = r[k] if k >= 0 else r[0] - rr * np.ceil((r[0] - centre) / rr)
        phases.append(float((centre - before) / rr) % 1.0)
    if not phases:
        return None
    return FlowTiming(float(np.median(phases)), tuple(phases))


def timing_reason(site: str, timing: FlowTiming | None) -> str:
    """The QC refusal when the traced flow lies in the wrong phase for ``site`` ("" when it fits,
    when the phase is undecided, or without timing)."""
    if timing is None:
        return ""
    p = timing.phase
    if site == "mv" and p < SYSTOLE_BEFORE:
        return (f"flow timing: the traced flow lies in systole ({p:.2f} of the cardiac cycle after the R wave), "
                "mitral inflow in diastole (the trace looks like mitral regurgitation or LV outflow)")
    if site in _EJECTION_OTHERS and DIASTOLE_FROM <= p <= DIASTOLE_UNTIL:
        return (f"flow timing: the traced flow lies in diastole ({p:.2f} of the cardiac cycle after the R wave), "
                f"{site.upper()} ejection in systole (the trace looks like {_EJECTION_OTHERS[site]})")
    return ""


def direction_reason(site: str, side: int) -> str:
    """The QC refusal when the traced flow runs the wrong way for ``site`` ("" when it fits):
    a mitral trace (``side`` -1: away from the transducer) of flow running away from the apex.

    >>> direction_reason("mv", -1)[:46]
    'flow direction: the traced flow runs away from'
    >>> direction_reason("mv", 1), direction_reason("av", 1)
    ('', '')
    """
    if site == "mv" and side < 0:
        return ("flow direction: the traced flow runs away from the transducer, mitral inflow (recorded from the "
                "apex) towards it (the trace looks like mitral regurgitation or LV outflow)")
    return ""
