"""Analytic Doppler velocity profiles (outer-envelope speed versus time) for the synthetic generator.

Each beat is a small frozen dataclass with ``start_s``/``end_s`` (the flow period) and a vectorised
``speed(t)`` that is exactly 0 outside the flow period. Ground truth (VTI, Vmax, Vmean) is the
numerical integral of that analytic function on a fine grid, independent of any image.

Physiological timing (all relative to the R wave of the ECG):
  * ejection (AV, LVOT, RVOT, PV) starts after the pre-ejection period (40-90 ms) and lasts the
    ejection time, shortened at fast heart rates (Weissler: LVET ~ 413 - 1.7 HR ms);
  * mitral inflow starts after systole plus isovolumic relaxation and ends at mitral closure,
    just after the next R wave; the A wave follows the P wave (the ECG draws P at R - 160 ms).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_GRID = 4001  # samples per beat for the truth integrals


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass(frozen=True)
class EjectionBeat:
    """Systolic ejection: rise ``sin(pi/2 u/p)**a`` to the peak at fraction ``p``, fall ``cos(...)**b``."""

    start_s: float
    end_s: float
    peak_cm_s: float
    p: float   # time-to-peak as a fraction of the ejection time
    a: float   # rise exponent (< 1 steeper onset)
    b: float   # fall exponent (< 1 squarer, > 1 more concave deceleration)

    def speed(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        u = (t - self.start_s) / (self.end_s - self.start_s)
        inside = (u > 0) & (u < 1)
        uc = np.clip(u, 0.0, 1.0)
        rise = np.sin(0.5 * np.pi * np.clip(uc / self.p, 0, 1)) ** self.a
        fall = np.cos(0.5 * np.pi * np.clip((uc - self.p) / (1 - self.p), 0, 1)) ** self.b
        return np.where(inside, self.peak_cm_s * np.where(uc < self.p, rise, fall), 0.0)


@dataclass(frozen=True)
class InflowBeat:
    """Mitral inflow: E wave (+ diastasis plateau) (+ A wave), or a stenotic slow linear E decay.

    The beat is multiplied by a closure ramp (``closure_s`` long) ending at ``end_s``, so fused
    or truncated waves still fall to exactly zero at mitral closure.
    """

    start_s: float
    end_s: float
    e_peak: float
    e_accel_s: float
    e_decel_s: float          # normal: time from E peak to zero; stenotic: unused
    a_peak: float             # 0 = no A wave (atrial fibrillation)
    a_start_s: float
    a_dur_s: float
    diastasis: float          # plateau speed between the E and A peaks (cm/s)
    pht_s: float = 0.0        # > 0: stenotic pattern with this pressure half-time
    closure_s: float = 0.025

    def speed(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        d = t - self.start_s
        t_ep = self.e_accel_s
        rise = np.sin(0.5 * np.pi * np.clip(d / t_ep, 0, 1)) ** 1.3
        if self.pht_s > 0:  # stenosis: velocity falls linearly, V/sqrt(2) after one PHT
            slope = self.e_peak * (1 - 2 ** -0.5) / self.pht_s
            fall = np.maximum(self.e_peak - slope * np.maximum(d - t_ep, 0), 0.2 * self.e_peak) / self.e_peak
            e = self.e_peak * np.where(d < t_ep, rise, fall)
        else:
            fall = np.cos(0.5 * np.pi * np.clip((d - t_ep) / self.e_decel_s, 0, 1)) ** 1.15
            e = self.e_peak * np.where(d < t_ep, rise, fall)
        v = e
        if self.a_peak > 0:
            ua = (t - self.a_start_s) / self.a_dur_s
            pa = 0.4
            a = np.where(ua < pa, np.sin(0.5 * np.pi * np.clip(ua / pa, 0, 1)) ** 1.2,
                         np.cos(0.5 * np.pi * np.clip((ua - pa) / (1 - pa), 0, 1)) ** 1.1)
            a = np.where((ua > 0) & (ua < 1), a, 0.0)
            a = self.a_peak * a
            # fused E and A (fast rates) add less than linearly: a smooth maximum (3-norm)
            v = np.cbrt(e ** 3 + a ** 3) if self.pht_s == 0 else e + a
        if self.diastasis > 0 and self.pht_s == 0:
            t0 = self.start_s + t_ep
            t1 = self.a_start_s + 0.4 * self.a_dur_s if self.a_peak > 0 else self.end_s
            w = _smoothstep((t - t0) / 0.06) * _smoothstep((t1 - t) / 0.04)
            v = np.maximum(v, self.diastasis * w)
        closure = _smoothstep((self.end_s - t) / self.closure_s)
        inside = (t > self.start_s) & (t < self.end_s)
        return np.where(inside, v * closure, 0.0)


def traced_speed(speed: np.ndarray, sigmas: float, beta: float, sigma0_cm_s: float) -> np.ndarray:
    """Where a sonographer traces a spectrum broadened by ``sigma = beta |v| + sigma0``: the signed
    ``speed`` moved out by ``sigmas`` such widths wherever it is not 0 (see
    :data:`echoseg.synth.doppler_signal.TRACED_SIGMAS`).

    >>> traced_speed(np.array([0.0, 100.0, -50.0]), 1.5, 0.04, 2.0).tolist()
    [0.0, 109.0, -56.0]
    """
    s = np.asarray(speed, dtype=np.float64)
    mag = np.abs(s)
    return np.where(mag > 0, np.sign(s) * (mag + sigmas * (beta * mag + sigma0_cm_s)), 0.0)


@dataclass(frozen=True)
class TracedBeat:
    """A beat as a sonographer traces it on a broadened spectrum (:func:`traced_speed` of its speed)."""

    beat: FlowBeat
    sigmas: float
    beta: float
    sigma0_cm_s: float

    @property
    def start_s(self) -> float:
        return self.beat.start_s

    @property
    def end_s(self) -> float:
        return self.beat.end_s

    def speed(self, t: np.ndarray) -> np.ndarray:
        return traced_speed(self.beat.speed(t), self.sigmas, self.beta, self.sigma0_cm_s)


FlowBeat = EjectionBeat | InflowBeat | TracedBeat


def beat_stats(beat: FlowBeat) -> tuple[float, float, float]:
    """(VTI cm, Vmax cm/s, Vmean cm/s) of one beat from its analytic speed on a fine grid."""
    t = np.linspace(beat.start_s, beat.end_s, _GRID)
    s = beat.speed(t)
    dur = beat.end_s - beat.start_s
    vti = float(np.sum(s) * (t[1] - t[0]))  # s is 0 at both ends, so the sum equals the trapezoid rule
    return vti, float(s.max()), vti / dur


def envelope(beats: list[FlowBeat], t: np.ndarray) -> np.ndarray:
    """Outer-envelope speed (cm/s, >= 0) at times ``t``: beats never overlap, so their speeds add."""
    t = np.asarray(t, dtype=np.float64)
    out = np.zeros_like(t)
    for b in beats:
        if b.end_s < t[0] or b.start_s > t[-1]:
            continue
        out += b.speed(t)
    return out


def sample_rhythm(rng: np.random.Generator, t_total: float, hr_bpm: float, irregular: bool) -> np.ndarray:
    """R-wave times (s) covering [-2 s, t_total + 2 s] with the strip starting mid-cycle.

    Regular rhythm: RR = 60/HR with 2-4 % beat-to-beat jitter and respiratory sinus arrhythmia.
    Irregular (AF-like): RR drawn independently from 0.4-1.4 s.
    """
    rr0 = 60.0 / hr_bpm
    jitter = rng.uniform(0.01, 0.035)
    rsa, resp_T, phase = rng.uniform(0, 0.05), rng.uniform(3.0, 5.0), rng.uniform(0, 2 * np.pi)
    r = [-rng.uniform(0.0, 1.0) * (1.4 if irregular else rr0) - 1.0]
    while r[-1] < t_total + 2.0:
        if irregular:
            rr = rng.uniform(0.4, 1.4)
        else:
            rr = rr0 * (1 + jitter * rng.standard_normal() + rsa * np.sin(2 * np.pi * r[-1] / resp_T + phase))
        r.append(r[-1] + float(np.clip(rr, 0.38, 1.6)))
    return np.asarray(r)


def _ejection_time(rng: np.random.Generator, rr: float) -> float:
    hr = 60.0 / rr
    return float(np.clip(0.413 - 0.0017 * hr + rng.normal(0, 0.015), 0.19, 0.36))


# site/variant -> (peak range cm/s, time-to-peak fraction range, rise exp range, fall exp range)
_EJECTION = {
    "av": ((100, 170), (0.25, 0.36), (0.8, 1.2), (0.9, 1.3)),
    "av_stenosis": ((250, 500), (0.40, 0.55), (1.0, 1.5), (0.7, 1.0)),
    "lvot": ((70, 130), (0.22, 0.33), (0.7, 1.0), (1.0, 1.5)),
    "rvot": ((50, 100), (0.36, 0.48), (1.0, 1.4), (0.8, 1.2)),
    "pv": ((60, 120), (0.42, 0.52), (1.1, 1.5), (0.9, 1.2)),
}


@dataclass(frozen=True)
class _AmpModel:
    """Beat-to-beat amplitude variation: jitter, respiration and (irregular rhythm) Frank-Starling."""

    jit: float
    resp: float
    resp_T: float
    phase: float
    rr: np.ndarray
    rr_mean: float
    irregular: bool

    def amp(self, rng: np.random.Generator, i: int, r0: float) -> float:
        """Amplitude factor of the beat of cycle ``i`` (R wave at ``r0``); draws one normal."""
        return _amp(rng, self.jit, self.resp, self.resp_T, self.phase, r0, self.rr, i, self.rr_mean, self.irregular)


def _sample_amp_model(rng: np.random.Generator, site: str, rr: np.ndarray, irregular: bool) -> _AmpModel:
    """Draw the amplitude variation (respiration stronger on the right heart and mitral inflow)."""
    jit = rng.uniform(0.02, 0.06)
    resp = rng.uniform(0.0, 0.12 if site in ("rvot", "pv", "mv") else 0.05)
    resp_T, phase = rng.uniform(3.0, 5.0), rng.uniform(0, 2 * np.pi)
    return _AmpModel(jit, resp, resp_T, phase, rr, float(rr.mean()), irregular)


def _mv_peaks(rng: np.random.Generator, stenosis: bool, irregular: bool) -> tuple[float, float]:
    """Nominal (E peak, A peak) in cm/s; A is 0 in irregular rhythm (its draws still happen)."""
    e0 = rng.uniform(150, 250) if stenosis else rng.uniform(50, 120)
    if stenosis:  # mostly atrial fibrillation; in sinus rhythm a small late A bump
        a0 = rng.uniform(0.2, 0.45) * e0 if rng.random() < 0.3 else 0.0
    else:
        a0 = float(np.clip(e0 / np.exp(rng.normal(0.25, 0.35)), 30, 90))
    if irregular:
        a0 = 0.0
    return e0, a0


def _inflow_beats(rng: np.random.Generator, stenosis: bool, r_times: np.ndarray, am: _AmpModel,
                  pep: float) -> list[FlowBeat]:
    """Mitral inflow beats, one per cycle long enough (>= 80 ms of flow)."""
    rr = am.rr
    e0, a0 = _mv_peaks(rng, stenosis, am.irregular)
    ivrt, e_acc = rng.uniform(0.06, 0.10), rng.uniform(0.06, 0.10)
    e_dec, a_dur = rng.uniform(0.14, 0.24), rng.uniform(0.10, 0.15)
    pht = rng.uniform(0.15, 0.33) if stenosis else 0.0
    dias = rng.uniform(0.05, 0.25)
    beats: list[FlowBeat] = []
    for i in range(len(rr)):
        r0, r1 = r_times[i], r_times[i + 1]
        start = r0 + pep + _ejection_time(rng, rr[i]) + ivrt
        a_start = float(r1 - 0.13 + rng.normal(0, 0.01))
        end = r1 + rng.uniform(0.0, 0.025)
        if a0 > 0 and not stenosis:  # mitral closure after the A wave has ended
            end = max(end, a_start + a_dur + 0.005)
        if end - start < 0.08:
            continue
        e_pk = e0 * am.amp(rng, i, r0)
        a_pk = 0.0 if a0 == 0 else a0 * (1 + am.jit * rng.standard_normal())
        beats.append(InflowBeat(
            start_s=float(start), end_s=float(end), e_peak=float(e_pk),
            e_accel_s=float(min(e_acc * (0.6 if stenosis else 1.0), 0.4 * (end - start))),
            e_decel_s=float(e_dec), a_peak=float(a_pk), a_start_s=a_start,
            a_dur_s=float(a_dur), diastasis=float(dias * e_pk), pht_s=float(pht)))
    return beats


def _ejection_beats(rng: np.random.Generator, key: str, r_times: np.ndarray, am: _AmpModel,
                    pep: float) -> list[FlowBeat]:
    """Systolic ejection beats, one per cycle, shaped by the ``_EJECTION[key]`` ranges."""
    rr = am.rr
    (p_lo, p_hi), tp, ra, fb = _EJECTION[key]
    peak0 = rng.uniform(p_lo, p_hi)
    p, a, b = rng.uniform(*tp), rng.uniform(*ra), rng.uniform(*fb)
    extra_et = 0.04 if key == "av_stenosis" else 0.0
    beats: list[FlowBeat] = []
    for i in range(len(rr)):
        r0 = r_times[i]
        start = r0 + pep + rng.normal(0, 0.004)
        et = _ejection_time(rng, rr[i - 1] if (am.irregular and i > 0) else rr[i]) + extra_et
        amp = am.amp(rng, i, r0)
        beats.append(EjectionBeat(start_s=float(start), end_s=float(start + et), peak_cm_s=float(peak0 * amp),
                                  p=float(np.clip(p + rng.normal(0, 0.015), 0.15, 0.6)), a=float(a), b=float(b)))
    return beats


def make_beats(rng: np.random.Generator, site: str, variant: str, r_times: np.ndarray,
               irregular: bool) -> list[FlowBeat]:
    """One flow beat per cardiac cycle of ``r_times`` for ``site`` ("mv", "av", "lvot", "rvot", "pv").

    ``variant``: "normal", "stenosis" (av: late rounded high peak; mv: CW high E with long PHT).
    Per-beat amplitude varies (jitter, respiration, and after long RR in irregular rhythm).
    """
    am = _sample_amp_model(rng, site, np.diff(r_times), irregular)
    pep = rng.uniform(0.04, 0.09)
    if site == "mv":
        return _inflow_beats(rng, variant == "stenosis", r_times, am, pep)
    key = "av_stenosis" if (site == "av" and variant == "stenosis") else site
    return _ejection_beats(rng, key, r_times, am, pep)


def _amp(rng: np.random.Generator, jit: float, resp: float, resp_T: float, phase: float, r0: float,
         rr: np.ndarray, i: int, rr_mean: float, irregular: bool) -> float:
    amp = 1 + jit * rng.standard_normal() + resp * np.sin(2 * np.pi * r0 / resp_T + phase)
    if irregular:  # Frank-Starling: a long preceding cycle fills the ventricle more
        prev = rr[i - 1] if i > 0 else rr_mean
        amp *= 1 + 0.35 * (prev - rr_mean) / rr_mean
    return float(np.clip(amp, 0.6, 1.3))
