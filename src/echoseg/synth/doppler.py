"""Synthetic spectral Doppler screens (MV, AV, LVOT, RVOT, PV) with exact VTI ground truth.

``generate_doppler(seed)`` draws a whole scanner screen: a spectral strip whose position, size,
baseline height, velocity scale and display polarity vary per case; velocity ticks and labels,
time markers, an ECG trace whose R waves mark each cardiac cycle, parameter text and, in some
cases, a small 2D thumbnail with the sample-volume cursor. The flow envelope comes from the
analytic waveforms of :mod:`echoseg.synth.waveforms`; the spectrum is rendered around it (PW:
dense band with a spectral window; CW: filled) with speckle, spectral-broadening haze beyond the
envelope (not part of the truth), wall-filter clutter, CW mirroring, valve clicks and noise.
Velocity <-> row mapping goes through :mod:`echoseg.io.calibration` only.

Truth keys (``SynthCase.truth``): site, mode, variant, beats (start_s, end_s, vti_cm, vmax_cm_s,
vmean_cm_s, complete; times from the strip's left edge), value (= vti_mean_cm: mean VTI over
complete beats, None when there is none), n_complete, envelope_cm_s (signed, per strip column),
strip [x0, y0, x1, y1] (inclusive), baseline_row, cm_s_per_px (signed PhysicalDeltaY), s_per_px,
direction (+1 toward / -1 away), inverted (PhysicalDeltaY > 0), heart_rate_bpm, rr_s, irregular,
style, seed, annotated (a measurement trace or caliper is drawn), erase_gap_cols
([c0, c1) strip columns blanked by a sweep erase bar, or None; beats across it are incomplete).
``masks[0]`` is 1 between the baseline (exclusive) and the truth envelope in the strip: in each
column the rows at 1 .. round(envelope px) from the baseline on the flow's side.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr

from echoseg.io.calibration import manual_spectral_calibration, velocity_to_row
from echoseg.types import Region, SpectralCalibration
from echoseg.vocab import SITE_DIRECTION, SITES
from echoseg.synth.case import SynthCase
from echoseg.synth.doppler_screen import ScreenLayout, draw_screen, sample_layout
from echoseg.synth.styles import sample_style
from echoseg.synth.waveforms import FlowBeat, beat_stats, envelope, make_beats, sample_rhythm


def _mode_variant(rng: np.random.Generator, site: str) -> tuple[str, str]:
    if site == "av":
        return "CW", ("stenosis" if rng.random() < 0.35 else "normal")
    if site == "mv":
        if rng.random() < 0.25:
            return "CW", "stenosis"
        return ("CW" if rng.random() < 0.15 else "PW"), "normal"
    if site == "pv":
        return ("CW" if rng.random() < 0.3 else "PW"), "normal"
    return "PW", "normal"


def _nice_scale(rng: np.random.Generator, v: float) -> float:
    """Round a full-side velocity up to a setting a scanner would offer, most of the time."""
    if rng.random() < 0.35:
        return v
    step = 5.0 if v < 100 else (10.0 if v < 300 else 20.0)
    return float(np.ceil(v / step) * step)


def _companion(rng: np.random.Generator, site: str, r_times: np.ndarray, irregular: bool) -> list[FlowBeat]:
    """A second, fainter flow on the other side of the baseline (not measured): inflow under outflow."""
    other = "lvot" if site == "mv" else "mv"
    return make_beats(rng, other, "normal", r_times, irregular)


def _upsample(a: np.ndarray, n: int, k: int, axis: int) -> np.ndarray:
    """Linear interpolation of ``a`` by factor ``k`` along ``axis`` to length ``n`` (needs n // k + 2 samples)."""
    if k == 1:
        return a[:n] if axis == 0 else a[:, :n]
    xs = np.arange(n, dtype=np.float32) / k
    i0 = xs.astype(np.int64)
    f = xs - i0
    if axis == 0:
        return a[i0] * (1 - f)[:, None] + a[i0 + 1] * f[:, None]
    return a[:, i0] * (1 - f) + a[:, i0 + 1] * f


def _side_intensity(rng: np.random.Generator, a: np.ndarray, e: np.ndarray, mode: str) -> np.ndarray:
    """Spectrum intensity on one side of the baseline for envelope ``e`` (px per column).

    ``a`` is the (rows, 1) distance from the baseline in px. PW: a dense band below the envelope
    with a spectral window near the baseline; CW: filled to the baseline. Spectral-broadening haze
    extends beyond the envelope.
    """
    e = e.astype(np.float32)[None, :]
    dp = a - e
    s_e = rng.uniform(0.5, 1.4)
    edge = ndtr(-dp / s_e)
    u = np.clip(a / np.maximum(e, 1e-3), 0, 1)
    if mode == "PW":
        lw = 10 ** (-rng.uniform(8, 30) / 10)
        bw = np.maximum(rng.uniform(1.5, 3.0), e * (rng.uniform(0.06, 0.18)
                        + rng.uniform(0.05, 0.35) * (1 - e / max(float(e.max()), 1e-3))))
        core = lw + (1 - lw) * ndtr((dp + bw) / rng.uniform(0.8, 2.5))
    else:
        l0, k = 10 ** (-rng.uniform(3, 15) / 10), rng.uniform(0.6, 2.5)
        core = l0 + (1 - l0) * u ** k + rng.uniform(0, 0.3) * ndtr((dp + 3) / 1.2)
    lh = rng.uniform(1.5, 6.0) + rng.uniform(0.0, 0.06) * e
    haze = 10 ** (-rng.uniform(4, 14) / 10) * np.exp(-(np.maximum(dp, 0) / lh) ** 2) * (e > 0.5)
    return np.clip(edge * core + (1 - edge) * haze, 0, 1.2)


def _flow_signal(rng: np.random.Generator, a: np.ndarray, dist: np.ndarray, env_px: np.ndarray,
                 comp_px: np.ndarray, mode: str, dr: float) -> np.ndarray:
    """Measured flow on its side, its (CW always, PW sometimes) mirror image and the optional companion flow."""
    flow = _side_intensity(rng, a, env_px, mode)
    pos = (dist > 0)[:, None]
    if mode == "CW":
        mirror = 10 ** (-rng.uniform(0.6, 1.0) * dr / 10)
    else:
        mirror = 10 ** (-rng.uniform(0.75, 1.05) * dr / 10) if rng.random() < 0.4 else 0.0
    img = np.where(pos, flow, mirror * flow)
    if comp_px.any():
        comp_gain = 10 ** (-rng.uniform(0.1, 0.45) * dr / 10)  # drawn before the companion's own draws
        img = img + np.where(pos, 0.0, comp_gain * _side_intensity(rng, a, comp_px, mode))
    return img


def _speckle_and_gain(rng: np.random.Generator, hs: int, ws: int) -> tuple[np.ndarray, np.ndarray]:
    """Speckle (hs, ws) and per-column line gain (ws,).

    Speckle is gamma-distributed, correlated along time (each FFT line overlaps its neighbours)
    and, on some scanners, along velocity (coarser FFT bins drawn over several rows). The line gain
    adds per-line jitter and a slow signal-strength drift (respiration, probe contact).
    """
    kx, ky = int(rng.integers(2, 6)), (1 if rng.random() < 0.6 else int(rng.integers(2, 4)))
    shape_k = rng.uniform(1.2, 4.0)
    coarse = rng.gamma(shape_k, 1.0 / shape_k, size=(hs // ky + 2, ws // kx + 2)).astype(np.float32)
    speck = _upsample(_upsample(coarse, ws, kx, axis=1), hs, ky, axis=0)
    line_gain = 1 + rng.uniform(0, 0.15) * rng.standard_normal(ws).astype(np.float32)
    slow = np.cumsum(rng.normal(0, 1, ws // 16 + 2))
    slow = 1 + rng.uniform(0, 0.25) * np.tanh((slow - slow.mean()) / max(float(slow.std()), 1e-6))
    line_gain *= _upsample(slow[None, :].astype(np.float32), ws, 16, axis=1)[0]
    return speck, line_gain


def _wall_clutter(rng: np.random.Generator, a: np.ndarray, hs: int, ws: int) -> np.ndarray:
    """Wall-filter clutter: bright low-velocity band on both sides, cut at the filter velocity."""
    wf = rng.uniform(0.5, 4.0)
    lc = rng.uniform(1.5, 8.0)
    c_t = rng.uniform(0.15, 0.8) * (0.6 + 0.4 * np.abs(np.sin(np.cumsum(rng.normal(0, 0.05, ws)))))
    clutter = np.exp(-(np.maximum(a - wf, 0) / lc) ** 2) * ndtr((a - wf) / 0.5)
    return clutter * c_t[None, :].astype(np.float32) * rng.gamma(2.0, 0.5, size=(hs, ws)).astype(np.float32)


def _add_clicks(rng: np.random.Generator, img: np.ndarray, dist: np.ndarray,
                clicks: list[tuple[int, float, float]]) -> None:
    """Valve clicks, in place: short bright vertical spikes, fading away from the baseline."""
    hs, ws = img.shape
    for col, lo, hi in clicks:
        w = int(rng.integers(1, 4))
        if not 0 <= col < ws:
            continue
        reach = np.where(dist >= 0, hi, lo) * rng.uniform(0.5, 1.0)
        prof = np.exp(-(dist / np.maximum(reach, 1.0)) ** 2).astype(np.float32)
        amp = rng.uniform(0.4, 1.5)
        img[:, col:col + w] += (amp * prof * rng.gamma(2.0, 0.5, size=hs))[:, None]


def _to_display(rng: np.random.Generator, img: np.ndarray, dr: float) -> np.ndarray:
    """Power -> [0, 1] display: dB over the dynamic range ``dr``, noise floor near the bottom of the range."""
    hs, ws = img.shape
    floor = 10 ** (-dr * rng.uniform(0.7, 1.05) / 10)
    img = img + floor * rng.exponential(1.0, size=(hs, ws)).astype(np.float32)
    top = rng.uniform(0.0, 3.0)  # dB of headroom: > 0 keeps the brightest band below saturation
    out = (10.0 * np.log10(img + 1e-9) + dr - top) / dr
    return np.clip(out, 0, 1).astype(np.float32)


def _render_spectrum(rng: np.random.Generator, dist: np.ndarray, env_px: np.ndarray, comp_px: np.ndarray,
                     mode: str, clicks: list[tuple[int, float, float]]) -> np.ndarray:
    """Intensity (before compression) of the strip: rows ``dist`` (px from baseline, + on the flow side)."""
    hs, ws = dist.size, env_px.size
    dr = rng.uniform(25.0, 45.0)  # displayed dynamic range (dB)
    a = np.abs(dist).astype(np.float32)[:, None]
    img = _flow_signal(rng, a, dist, env_px, comp_px, mode, dr)
    speck, line_gain = _speckle_and_gain(rng, hs, ws)
    img = img * speck * line_gain[None, :] * rng.uniform(0.6, 1.0)
    img = img + _wall_clutter(rng, a, hs, ws)
    _add_clicks(rng, img, dist, clicks)
    return _to_display(rng, img, dr)


def _measurement_marks(rng: np.random.Generator, strip: tuple[int, int, int, int], font: int,
                       cal: SpectralCalibration, done: list[FlowBeat], env: np.ndarray,
                       direction: int) -> tuple[list, list]:
    """Sometimes a sonographer's VTI trace along one complete beat, or a Vmax caliper, with result text."""
    if not done or rng.random() > 0.15:
        return [], []
    b = done[int(rng.integers(len(done)))]
    x0, y0, x1, y1 = strip
    cols = np.arange(int(np.ceil(b.start_s / cal.s_per_px)), int(b.end_s / cal.s_per_px) + 1)
    rows = velocity_to_row(cal, direction * env[cols]) + rng.normal(0, 0.6, cols.size)
    vti, vmax, vmean = beat_stats(b)
    m_s = rng.random() < 0.5
    fmt = (lambda v: f"{v / 100:.2f} m/s") if m_s else (lambda v: f"{v:.0f} cm/s")
    if rng.random() < 0.6:
        traces = [(cols + x0, rows)]
        lines = [f"VTI {vti:.1f} cm", f"Vmax {fmt(vmax)}", f"Vmean {fmt(vmean)}",
                 f"PGmax {4 * (vmax / 100) ** 2:.1f} mmHg"]
    else:
        i = int(np.argmax(env[cols]))
        cx, cy = int(cols[i] + x0), float(rows[i])
        traces = [(np.array([cx - 4, cx + 4]), np.array([cy, cy])), (np.array([cx, cx]), np.array([cy - 4, cy + 4]))]
        lines = [f"Vel {fmt(vmax)}", f"PG {4 * (vmax / 100) ** 2:.1f} mmHg"]
    # result text on the side of the baseline without the measured flow, when it fits there
    base = cal.baseline_row
    flow_up = velocity_to_row(cal, float(direction)) < base
    room = (y1 - base) if flow_up else (base - y0)
    need = len(lines) * font * 1.3 + 8
    notes = []
    if room > need:
        nx = int(rng.uniform(x0 + 8, max(x0 + 9, x0 + 0.6 * (x1 - x0))))
        ny = int(base + 6 if flow_up else y0 + 4)
        notes = [(nx, ny + int(k * font * 1.3), t) for k, t in enumerate(lines)]
    return traces, notes


@dataclass(frozen=True)
class _Sweep:
    """Rhythm, flow and time axis of one strip (times in s from the strip's left edge)."""

    irregular: bool
    hr: float                   # nominal heart rate drawn for the rhythm (bpm)
    t_total: float              # strip duration
    s_per_px: float
    r_times: np.ndarray         # R waves, covering the strip with margin
    t_cols: np.ndarray          # time of each strip column
    env: np.ndarray             # truth envelope speed per column (cm/s, >= 0; 0 in the erase gap)
    gap: tuple[int, int] | None  # strip columns [c0, c1) blanked by a sweep erase bar
    visible: list[FlowBeat]     # beats overlapping the strip
    vmax_all: float             # fastest visible speed (>= 1 cm/s)

    @property
    def t_last(self) -> float:
        return float(self.t_cols[-1])


@dataclass(frozen=True)
class _Scale:
    """Baseline, velocity scale and display polarity of the strip."""

    direction: int      # +1 toward / -1 away from the probe
    inverted: bool      # PhysicalDeltaY > 0
    side_px: int        # rows from the baseline to the strip edge on the flow's side
    delta_y: float      # signed cm/s per px
    cal: SpectralCalibration


def _pick_site(rng: np.random.Generator, site: str | None) -> str:
    """``site`` validated, or a random one of SITES when None."""
    if site is None:
        site = str(rng.choice(SITES))
    if site not in SITES:
        raise ValueError(f"site must be one of {', '.join(SITES)}, not {site!r}")
    return site


def _erase_gap(rng: np.random.Generator, ws: int) -> tuple[int, int] | None:
    """Sometimes the sweep erase bar of a frozen "sweep" display: a few blank columns [c0, c1)."""
    if rng.random() < 0.15:
        gw = int(rng.integers(3, ws // 40 + 5))
        g0 = int(rng.integers(ws // 10, ws * 9 // 10 - gw))
        return (g0, g0 + gw)
    return None


def _sample_sweep(rng: np.random.Generator, site: str, variant: str, ws: int) -> _Sweep:
    """Rhythm, sweep speed, flow beats and the truth envelope of a strip ``ws`` columns wide."""
    irregular = bool(rng.random() < (0.6 if variant == "stenosis" and site == "mv" else 0.15))
    hr = rng.uniform(50, 120)
    rr_mean = 0.9 if irregular else 60.0 / hr
    t_total = float(np.clip(rng.uniform(3.0, 8.0) * rr_mean, 2.0, 6.0))
    s_per_px = t_total / ws
    r_times = sample_rhythm(rng, t_total, hr, irregular)
    beats = make_beats(rng, site, variant, r_times, irregular)
    t_cols = np.arange(ws) * s_per_px
    env = envelope(beats, t_cols)
    t_last = float(t_cols[-1])
    gap = _erase_gap(rng, ws)  # beats across it are incomplete
    if gap is not None:
        env[gap[0]:gap[1]] = 0.0
    visible = [b for b in beats if b.end_s > 0 and b.start_s < t_last]
    vmax_all = max([beat_stats(b)[1] for b in visible] + [float(env.max()), 1.0])
    return _Sweep(irregular, hr, t_total, s_per_px, r_times, t_cols, env, gap, visible, vmax_all)


def _velocity_scale(rng: np.random.Generator, site: str, mode: str, lay: ScreenLayout, sw: _Sweep) -> _Scale:
    """Baseline height, velocity scale (never clipping the truth) and polarity; the strip's calibration."""
    x0, y0, x1, y1 = lay.strip
    hs = y1 - y0 + 1
    direction = SITE_DIRECTION[site]
    inverted = bool(rng.random() < 0.25)
    flow_up = (direction > 0) != inverted
    frac_side = rng.uniform(0.45, 0.9) if rng.random() < 0.9 else rng.uniform(0.33, 0.45)
    ref_y0 = int(round((1 - frac_side) * (hs - 1))) if not flow_up else int(round(frac_side * (hs - 1)))
    side_px = ref_y0 if flow_up else hs - 1 - ref_y0
    vmax_all = sw.vmax_all
    v_side = _nice_scale(rng, min(vmax_all / rng.uniform(0.4, 0.9), max(700.0, vmax_all / 0.85)))
    if vmax_all > 0.95 * v_side:  # never clip the truth
        v_side = vmax_all / 0.9
    delta_y = v_side / side_px * (1.0 if inverted else -1.0)
    cal: SpectralCalibration = manual_spectral_calibration(sw.s_per_px, delta_y, y0 + ref_y0, (x0, y0, x1, y1), mode)
    return _Scale(direction, inverted, side_px, delta_y, cal)


def _companion_px(rng: np.random.Generator, site: str, mode: str, sw: _Sweep, sc: _Scale, hs: int,
                  env_px: np.ndarray) -> np.ndarray:
    """Envelope (px from the baseline) of the fainter companion flow across the baseline; zeros when absent."""
    comp_px = np.zeros(sw.t_cols.size)
    if rng.random() < (0.45 if mode == "CW" else 0.2):
        base = sc.cal.baseline_row
        comp = envelope(_companion(rng, site, sw.r_times, sw.irregular), sw.t_cols)
        comp_px = np.abs(velocity_to_row(sc.cal, -sc.direction * comp) - base)
        target = min(rng.uniform(0.4, 0.85) * (hs - 1 - sc.side_px), rng.uniform(0.4, 1.0) * float(env_px.max()))
        comp_px *= target / max(float(comp_px.max()), 1.0)
    return comp_px


def _valve_clicks(rng: np.random.Generator, site: str, mode: str, sw: _Sweep, side_px: int,
                  hs: int) -> list[tuple[int, float, float]]:
    """Valve clicks as (strip column, reach below, reach above the baseline in px): closing, sometimes opening."""
    clicks: list[tuple[int, float, float]] = []
    p_click = {"lvot": 0.7, "av": 0.6}.get(site, 0.3)
    if rng.random() < p_click:
        lo, hi = rng.uniform(0.04, 0.2) * (hs - side_px), rng.uniform(0.04, 0.2) * side_px
        for b in sw.visible:
            for t in ((b.start_s, b.end_s) if mode == "CW" or rng.random() < 0.3 else (b.end_s,)):
                clicks.append((int(round(t / sw.s_per_px)), lo, hi))
    return clicks


def _render_strip(rng: np.random.Generator, site: str, mode: str, lay: ScreenLayout, sw: _Sweep,
                  sc: _Scale) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The strip's spectrum image (hs, ws), the truth mask of the whole screen (1, H, W) uint8 and the
    companion flow's signed envelope per strip column in cm/s (None without one)."""
    x0, y0, x1, y1 = lay.strip
    hs = y1 - y0 + 1
    base = sc.cal.baseline_row
    rows = np.arange(y0, y1 + 1, dtype=np.float64)
    flow_sgn = np.sign(velocity_to_row(sc.cal, float(sc.direction)) - base)
    dist = (rows - base) * flow_sgn
    env_px = np.abs(velocity_to_row(sc.cal, sc.direction * sw.env) - base)
    comp_px = _companion_px(rng, site, mode, sw, sc, hs, env_px)
    clicks = _valve_clicks(rng, site, mode, sw, sc.side_px, hs)
    strip_img = _render_spectrum(rng, dist, env_px, comp_px, mode, clicks)
    if sw.gap is not None:
        strip_img[:, sw.gap[0]:sw.gap[1]] = 0.0
    mask_strip = (dist[:, None] >= 1) & (dist[:, None] < env_px[None, :] + 0.5)
    # the companion flow is flow too: the task layer, not the network, picks the side (doppler.task.trace_side)
    mask_strip |= (comp_px[None, :] > 0.5) & (-dist[:, None] >= 1) & (-dist[:, None] < comp_px[None, :] + 0.5)
    masks = np.zeros((1, lay.height, lay.width), dtype=np.uint8)
    masks[0, y0:y1 + 1, x0:x1 + 1] = mask_strip
    comp = -sc.direction * comp_px * abs(sc.cal.cm_s_per_px) if comp_px.any() else None
    return strip_img, masks, comp


def _complete(b: FlowBeat, sw: _Sweep) -> bool:
    """Whether beat ``b`` lies wholly inside the strip and does not cross the erase gap."""
    inside = b.start_s >= 0 and b.end_s <= sw.t_last
    gap = sw.gap
    return inside and (gap is None or not (b.start_s <= (gap[1] - 1) * sw.s_per_px and b.end_s >= gap[0] * sw.s_per_px))


def _truth(site: str, mode: str, variant: str, lay: ScreenLayout, sw: _Sweep, sc: _Scale, *, style: str,
           seed: int, annotated: bool) -> dict[str, Any]:
    """The JSON-serialisable truth dict (keys: see the module docstring)."""
    beat_rows = []
    for b in sw.visible:
        vti, vmax, vmean = beat_stats(b)
        beat_rows.append({"start_s": b.start_s, "end_s": b.end_s, "vti_cm": vti, "vmax_cm_s": vmax,
                          "vmean_cm_s": vmean, "complete": _complete(b, sw)})
    complete_vti = [r["vti_cm"] for r in beat_rows if r["complete"]]
    r_times, gap = sw.r_times, sw.gap
    rr_in = np.diff(r_times[(r_times > -1.6) & (r_times < sw.t_total + 1.6)])
    value = float(np.mean(complete_vti)) if complete_vti else None
    return {
        "site": site, "mode": mode, "variant": variant, "beats": beat_rows, "value": value,
        "vti_mean_cm": value, "n_complete": len(complete_vti),
        "envelope_cm_s": (sc.direction * sw.env).tolist(), "strip": list(lay.strip),
        "baseline_row": int(sc.cal.baseline_row),
        "cm_s_per_px": float(sc.delta_y), "s_per_px": float(sw.s_per_px), "direction": sc.direction,
        "inverted": sc.inverted, "heart_rate_bpm": float(60.0 / rr_in.mean()), "rr_s": rr_in.tolist(),
        "irregular": sw.irregular, "style": style, "seed": int(seed), "annotated": annotated,
        "erase_gap_cols": None if gap is None else [gap[0], gap[1]],
    }


def generate_doppler(seed: int, *, site: str | None = None, family: str | None = None, heldout: bool = False,
                     image_size: tuple[int, int] | None = None) -> SynthCase:
    """One synthetic spectral Doppler screen with exact truth (see the module docstring for the keys).

    ``site``: one of echoseg.types.SITES, random when None. ``family``/``heldout``: display style
    (echoseg.synth.styles). ``image_size``: (rows, cols), random vendor-like size when None.
    Deterministic per seed.
    """
    rng = np.random.default_rng(seed)
    site = _pick_site(rng, site)
    mode, variant = _mode_variant(rng, site)
    style = sample_style(rng, family, heldout)
    lay: ScreenLayout = sample_layout(rng, image_size)
    sw = _sample_sweep(rng, site, variant, ws=lay.strip[2] - lay.strip[0] + 1)
    sc = _velocity_scale(rng, site, mode, lay, sw)
    strip_img, masks, comp = _render_strip(rng, site, mode, lay, sw, sc)
    done = [b for b in sw.visible if _complete(b, sw)]
    traces, notes = _measurement_marks(rng, lay.strip, lay.font, sc.cal, done, sw.env, sc.direction)
    frame, regions_2d = draw_screen(rng, lay, style, strip_img, sc.cal, site=site, mode=mode, r_times=sw.r_times,
                                    hr_bpm=sw.hr, traces=traces, notes=notes, gap=sw.gap)
    truth = _truth(site, mode, variant, lay, sw, sc, style=style.family, seed=seed, annotated=bool(traces))
    if style.monochrome:
        frame = np.repeat(frame.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    regions: tuple[Region, ...] = (*regions_2d, sc.cal.region)
    return SynthCase(kind="doppler", frames=frame[None], regions=regions, frame_time_ms=0.0,
                     heart_rate_bpm=truth["heart_rate_bpm"], style=style.family, seed=int(seed), truth=truth,
                     masks=masks, monochrome=style.monochrome,
                     extra={"companion_envelope_cm_s": None if comp is None else comp.tolist()})


__all__ = ["generate_doppler"]
