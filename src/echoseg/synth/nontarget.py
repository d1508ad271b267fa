"""Velocity envelopes of Doppler flows that are NOT one of the five VTI sites (the "other" class).

Each flow is a train of smooth waves timed on the R waves of the rhythm (see
:func:`echoseg.synth.waveforms.sample_rhythm`); a wave rises like ``sin(pi/2 u/p)**a`` to its
signed peak at fraction ``p`` of its duration, then falls like ``1 - (1 - level) x**b`` (``x`` from
0 at the peak to 1 after ``q`` of the remaining time: ``b`` = 2 rounded, 1 linear decrescendo,
0.5 early drop then plateau) and is tapered to exactly 0 at its end. Velocities are signed
(+ toward the transducer, shown above an uninverted baseline), in cm/s.

Flows (name: mode, direction, peak range):
  * ``tr`` tricuspid regurgitation: CW, away, 250-450, holosystolic, rounded;
  * ``mr`` mitral regurgitation: CW, away, 400-600, holosystolic, rounded;
  * ``ar`` aortic regurgitation: CW, toward, diastolic decrescendo from 300-450;
  * ``pr`` pulmonary regurgitation: CW, toward, diastolic, early peak 100-250 then plateau;
  * ``tdi`` tissue Doppler of the annulus: PW, s' toward 5-15, e' away 8-20 (>= s'), a' away 5-20;
  * ``tv_inflow`` tricuspid inflow: PW, toward, E and A 30-70 (E and A fused at fast rates: up to 26 %
    more, the smooth maximum of :class:`echoseg.synth.waveforms.InflowBeat`);
  * ``pulm_vein`` pulmonary vein: PW, S and D toward 30-70, Ar away 15-35;
  * ``hepatic_vein`` hepatic vein: PW, S and D away 20-60, A (and V) reversal toward 8-25.

Example::

    >>> rng = np.random.default_rng(0)
    >>> t = np.linspace(0, 3, 600)
    >>> v, name = nontarget_envelope(rng, "tr", t, np.arange(-1.0, 5.0, 0.8))
    >>> name, bool(v.max() <= 0), bool(250 <= -v.min() <= 450)
    ('tr', True, True)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from echoseg.synth.waveforms import InflowBeat
from echoseg.vocab import NON_TARGETS

NONTARGETS = tuple(NON_TARGETS)  # the vocabulary is echoseg.vocab.NON_TARGETS
MODE = {"tr": "CW", "mr": "CW", "ar": "CW", "pr": "CW", "tdi": "PW", "tv_inflow": "PW", "pulm_vein": "PW",
        "hepatic_vein": "PW"}
KIND = {"tr": "filled", "mr": "filled", "ar": "filled", "pr": "filled", "tdi": "tissue", "tv_inflow": "inflow",
        "pulm_vein": "inflow", "hepatic_vein": "inflow"}
DIRECTION = {"tr": -1, "mr": -1, "ar": 1, "pr": 1, "tdi": -1, "tv_inflow": 1, "pulm_vein": 1, "hepatic_vein": -1}
# documented peak-speed range (cm/s) of the dominant wave of each flow
PEAK_RANGE = {"tr": (250, 450), "mr": (400, 600), "ar": (300, 450), "pr": (100, 250), "tdi": (5, 20),
              "tv_inflow": (30, 70), "pulm_vein": (30, 70), "hepatic_vein": (20, 60)}


@dataclass(frozen=True)
class Wave:
    """One smooth signed wave (see the module docstring for its shape)."""

    start_s: float
    end_s: float
    peak_cm_s: float   # signed
    p: float = 0.4
    a: float = 1.0
    b: float = 2.0
    q: float = 1.0
    level: float = 0.0
    taper_s: float = 0.02

    def speed(self, t: np.ndarray) -> np.ndarray:
        """Signed velocity at times ``t`` (0 outside the wave)."""
        t = np.asarray(t, dtype=np.float64)
        u = np.clip((t - self.start_s) / (self.end_s - self.start_s), 0.0, 1.0)
        rise = np.sin(0.5 * np.pi * np.clip(u / self.p, 0, 1)) ** self.a
        x = np.clip((u - self.p) / max(self.q * (1 - self.p), 1e-6), 0.0, 1.0)
        fall = 1 - (1 - self.level) * x ** self.b
        taper = np.clip((self.end_s - t) / self.taper_s, 0.0, 1.0)
        taper = taper * taper * (3 - 2 * taper)
        inside = (t > self.start_s) & (t < self.end_s)
        return np.where(inside, self.peak_cm_s * np.where(u < self.p, rise, fall) * taper, 0.0)


@dataclass(frozen=True)
class NonTargetFlow:
    """A sampled non-target flow: its waves (or inflow beats) and how it is acquired."""

    name: str
    mode: str
    kind: str
    waves: tuple[Wave | InflowBeat, ...]  # Waves are signed; InflowBeats (tricuspid inflow) are toward

    def velocity(self, t: np.ndarray) -> np.ndarray:
        """Signed envelope (cm/s) at times ``t``; waves never overlap, so they add."""
        t = np.asarray(t, dtype=np.float64)
        out = np.zeros_like(t)
        for w in self.waves:
            if w.end_s >= t[0] and w.start_s <= t[-1]:
                out += w.speed(t)
        return out


def _cycles(r_times: np.ndarray) -> list[tuple[float, float, float]]:
    """(R, next R, ejection time) per cardiac cycle (Weissler-like ejection time)."""
    rr = np.diff(r_times)
    et = np.clip(0.413 - 0.0017 * 60.0 / rr, 0.19, 0.36)
    return [(float(r_times[i]), float(r_times[i + 1]), float(et[i])) for i in range(rr.size)]


def _regurgitation(rng: np.random.Generator, name: str, r_times: np.ndarray) -> list[Wave]:
    lo, hi = PEAK_RANGE[name]
    peak0, sgn = rng.uniform(lo, hi), DIRECTION[name]
    waves = []
    for r0, r1, et in _cycles(r_times):
        amp = float(np.clip(1 + rng.normal(0, 0.03), lo / peak0, hi / peak0))
        pep = rng.uniform(0.04, 0.07)
        if name in ("tr", "mr"):  # holosystolic: from mitral/tricuspid closure to after relaxation
            s0 = r0 + rng.uniform(0.01, 0.03)
            waves.append(Wave(s0, r0 + pep + et + rng.uniform(0.05, 0.09), sgn * peak0 * amp,
                              p=rng.uniform(0.35, 0.5), a=rng.uniform(0.5, 0.9), b=rng.uniform(1.6, 3.0)))
        elif name == "ar":  # from aortic closure to the next ejection, decrescendo
            waves.append(Wave(r0 + pep + et + 0.01, r1 + pep - 0.005, sgn * peak0 * amp, p=rng.uniform(0.03, 0.08),
                              a=0.7, b=rng.uniform(0.9, 1.3), level=rng.uniform(0.4, 0.7), taper_s=0.03))
        else:  # pr: early peak, then a plateau until the next ejection
            waves.append(Wave(r0 + pep + et + 0.02, r1 + pep - 0.005, sgn * peak0 * amp, p=rng.uniform(0.05, 0.12),
                              a=0.8, b=rng.uniform(0.4, 0.7), q=rng.uniform(0.2, 0.45),
                              level=rng.uniform(0.3, 0.6), taper_s=0.04))
    return waves


def _tissue(rng: np.random.Generator, r_times: np.ndarray) -> list[Wave]:
    e_pk = rng.uniform(8, 20)
    s_pk = rng.uniform(5, min(15.0, e_pk))
    a_pk = rng.uniform(0.5, 1.2) * e_pk
    waves = []
    for r0, r1, et in _cycles(r_times):
        pep = rng.uniform(0.05, 0.08)
        s0 = r0 + pep
        e0 = s0 + et + rng.uniform(0.05, 0.09)
        a0 = r1 - 0.12
        waves.append(Wave(s0, s0 + et, s_pk, p=rng.uniform(0.25, 0.4), a=0.8, b=1.5))
        e_end = min(e0 + rng.uniform(0.1, 0.16), a0 - 0.01)
        if e_end - e0 > 0.04:
            waves.append(Wave(e0, e_end, -e_pk, p=0.4, a=1.0, b=1.3))
        waves.append(Wave(max(a0, e_end + 0.005), r1 + 0.02, -float(np.clip(a_pk, 5, 20)), p=0.45, a=1.0, b=1.3))
    return waves


def _tv_inflow(rng: np.random.Generator, r_times: np.ndarray) -> list[InflowBeat]:
    e0 = rng.uniform(35, 70)
    a0 = float(np.clip(e0 * rng.uniform(0.55, 1.1), 30, 70))
    beats = []
    for r0, r1, et in _cycles(r_times):
        start = r0 + 0.05 + et + rng.uniform(0.05, 0.09)
        a_start = r1 - 0.13 + rng.normal(0, 0.01)
        end = max(r1 + rng.uniform(0, 0.02), a_start + 0.13)
        if end - start < 0.1:
            continue
        beats.append(InflowBeat(start, end, float(np.clip(e0 * (1 + rng.normal(0, 0.04)), 30, 70)), min(0.08, 0.4 * (end - start)),
                                rng.uniform(0.15, 0.25), a0, a_start, 0.12, rng.uniform(0.05, 0.25) * e0))
    return beats


def _venous(rng: np.random.Generator, name: str, r_times: np.ndarray) -> list[Wave]:
    """Pulmonary vein (S, D toward; Ar away) or hepatic vein (S, D away; V, A reversal toward)."""
    fwd = 1 if name == "pulm_vein" else -1
    lo, hi = PEAK_RANGE[name]
    s_pk, d_pk = rng.uniform(lo, hi), rng.uniform(lo, hi) * rng.uniform(0.6, 1.0)
    rev = min(rng.uniform(15, 35) if name == "pulm_vein" else rng.uniform(8, 25), 0.6 * s_pk)
    waves = []
    for r0, r1, et in _cycles(r_times):
        s0, s1 = r0 + rng.uniform(0.03, 0.07), r0 + 0.05 + et + rng.uniform(0.0, 0.03)
        waves.append(Wave(s0, s1, fwd * s_pk, p=rng.uniform(0.4, 0.6), a=1.0, b=rng.uniform(1.3, 2.2)))
        a0 = r1 - 0.14
        if name == "hepatic_vein" and rng.random() < 0.6:  # small V reversal at end systole
            waves.append(Wave(s1 + 0.002, s1 + 0.06, -fwd * rev * rng.uniform(0.3, 0.5), p=0.5, b=1.5))
            s1 += 0.062
        d0 = s1 + rng.uniform(0.03, 0.06)
        d1 = min(d0 + rng.uniform(0.16, 0.3), a0 - 0.01)
        if d1 - d0 > 0.05:
            waves.append(Wave(d0, d1, fwd * d_pk, p=rng.uniform(0.3, 0.45), a=1.0, b=rng.uniform(1.2, 2.0)))
        waves.append(Wave(max(a0, d1 + 0.005), max(a0, d1 + 0.005) + rng.uniform(0.08, 0.13), -fwd * rev,
                          p=0.45, a=1.0, b=1.5))
    return waves


def sample_nontarget(rng: np.random.Generator, name: str, r_times: np.ndarray) -> NonTargetFlow:
    """Draw the waves of flow ``name`` (one of :data:`NONTARGETS`) for every cycle of ``r_times``."""
    if name not in NONTARGETS:
        raise ValueError(f"non-target flow must be one of {', '.join(NONTARGETS)}, not {name!r}")
    waves: list[Wave | InflowBeat]
    if name in ("tr", "mr", "ar", "pr"):
        waves = list(_regurgitation(rng, name, r_times))
    elif name == "tdi":
        waves = list(_tissue(rng, r_times))
    elif name == "tv_inflow":
        waves = list(_tv_inflow(rng, r_times))
    else:
        waves = list(_venous(rng, name, r_times))
    return NonTargetFlow(name, MODE[name], KIND[name], tuple(waves))


def nontarget_envelope(rng: np.random.Generator, name: str, t: np.ndarray, r_times: np.ndarray
                       ) -> tuple[np.ndarray, str]:
    """Per-column signed envelope velocity (cm/s) at times ``t`` of flow ``name``, and the name."""
    return sample_nontarget(rng, name, r_times).velocity(t), name


__all__ = ["DIRECTION", "KIND", "MODE", "NONTARGETS", "PEAK_RANGE", "NonTargetFlow", "Wave", "nontarget_envelope",
           "sample_nontarget"]
