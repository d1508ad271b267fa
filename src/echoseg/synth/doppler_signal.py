"""Signal-level synthetic spectral Doppler screens: the strip is a spectrogram of a simulated IQ signal.

``generate_doppler_signal(seed)`` keeps the screen of :func:`echoseg.synth.doppler.generate_doppler`
(layout, calibration, scale, ECG, text: :mod:`echoseg.synth.doppler_screen`; rhythm and analytic
envelopes: :mod:`echoseg.synth.waveforms`) but renders the spectral strip with
:mod:`echoseg.synth.spectral` (velocity distribution -> random-phase Doppler signal -> wall filter,
clutter, clicks, noise, aliasing, CW mirror -> vendor STFT -> log compression), then adds what real
exported screens carry: a result box (sometimes over the strip), a dotted sonographer trace with
calipers along one beat, cursor lines, an ECG running into the strip, rescaling and JPEG
re-compression (the image keeps its size, so the calibration is unchanged).

**Truth definition.** The sonographer traces the *edge of the dense signal*. Here that edge is the
analytic envelope of :mod:`echoseg.synth.waveforms` *before* spectral broadening: the broadened
density keeps its half-power point at the envelope and only a faint tail (2-3 sigma, sigma =
beta v + sigma0) reaches beyond it. Each beat's ``vti_cm`` is the integral of that analytic speed
over the beat (:func:`echoseg.synth.waveforms.beat_stats`), never anything measured on the image.

Truth keys are those of :func:`echoseg.synth.doppler.generate_doppler` (site, mode, variant, beats,
value, vti_mean_cm, n_complete, envelope_cm_s, strip, baseline_row, cm_s_per_px, s_per_px,
direction, inverted, heart_rate_bpm, rr_s, irregular, style, seed, annotated, erase_gap_cols).
Non-target flows (:mod:`echoseg.synth.nontarget`): site ``"other"``, variant = the flow's name
(e.g. ``"tr"``), value and vti_mean_cm None, beats [], n_complete 0, direction = the documented
direction of the flow's main wave; envelope_cm_s is the flow's signed envelope (it may exceed the
scale when the case is aliased). ``masks[0]`` as there: 1 between the baseline (exclusive) and the
signed envelope in each strip column, on the side of that column's velocity, and likewise for the
companion flow across the baseline when there is one (``extra["companion_envelope_cm_s"]``, signed,
else None): the mask holds all the flow, the task layer picks the side. ``extra`` holds
``generator`` ("signal"), ``flow`` (site or flow name), ``aliased``, ``filled`` (a segmentation fill
painted over the flow), the :class:`Scanner` fields and ``companion_envelope_cm_s``.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from PIL import Image

from echoseg.io.calibration import manual_spectral_calibration, row_to_velocity, velocity_to_row
from echoseg.synth import doppler_screen, overlay
from echoseg.synth.case import SynthCase
from echoseg.synth.doppler import _companion, _mode_variant, _nice_scale
from echoseg.synth.doppler_screen import ScreenLayout, draw_screen, sample_layout
from echoseg.synth.nontarget import DIRECTION as NT_DIRECTION
from echoseg.synth.nontarget import MODE as NT_MODE
from echoseg.synth.nontarget import NONTARGETS, sample_nontarget
from echoseg.synth.spectral import Flow, Scanner, render_strip, sample_scanner
from echoseg.synth.styles import sample_style
from echoseg.synth.waveforms import (FlowBeat, TracedBeat, beat_stats, envelope, make_beats, sample_rhythm,
                                     traced_speed)
from echoseg.types import Region, SpectralCalibration
from echoseg.vocab import SITE_DIRECTION, SITES

_NT_LABELS = {"tr": ("TR", "TR Vmax", "TR CW", "TV CW"), "mr": ("MR", "MR Vmax", "MR CW"),
              "ar": ("AR", "AR PHT", "AI CW"), "pr": ("PR", "PR CW", "PI"), "tdi": ("TDI", "TVI", "DTI Lat", "e'"),
              "tv_inflow": ("TV", "TV Inflow", "TV E/A"), "pulm_vein": ("PV", "PulmV", "Pulm Vein"),
              "hepatic_vein": ("HV", "Hepatic", "HV Flow")}
_MARK_RGB = ((255, 40, 40), (255, 230, 0), (255, 255, 255), (0, 255, 255), (120, 255, 120), (255, 140, 0))


EDGE_FADE_SHARE = 0.5  # share of flows whose outer band is dimmer than their core (3-15 dB, the outer 10-40 %)


def _flow(rng: np.random.Generator, kind: str, velocity: Callable[[np.ndarray], np.ndarray], v_ref: float,
          gain_db: float = 0.0) -> Flow:
    """A flow component with its spectral shape drawn for ``kind`` (see :class:`spectral.Flow`)."""
    if kind == "plug":
        shape = {"band": rng.uniform(0.08, 0.25), "fill": rng.uniform(0.1, 0.5), "floor_db": rng.uniform(-28, -8)}
    elif kind == "inflow":
        shape = {"band": rng.uniform(0.15, 0.45), "fill": rng.uniform(0.1, 0.4), "floor_db": rng.uniform(-20, -6)}
    elif kind == "tissue":
        shape = {"band": rng.uniform(0.15, 0.45), "fill": rng.uniform(0.0, 0.3), "floor_db": rng.uniform(-12, -3)}
    else:
        shape = {"floor_db": rng.uniform(-12, -2), "shape_k": rng.uniform(0.2, 1.8), "low_boost": rng.uniform(0, 0.8)}
    if kind != "tissue":  # its own generator (from the flow's drawn peak): the rest of the case stays the same
        fade = np.random.default_rng([int(1000 * v_ref) & 0x7FFFFFFF, 6007])
        if fade.random() < EDGE_FADE_SHARE:
            shape |= {"edge_fade_db": fade.uniform(3.0, 15.0), "edge_fade_w": fade.uniform(0.1, 0.4)}
    return Flow(velocity=velocity, kind=kind, gain_db=gain_db, v_ref=max(v_ref, 1.0),
                onset_cm_s=float(rng.uniform(0.02, 0.06) * max(v_ref, 1.0) + 1.0),
                **{k: float(v) for k, v in shape.items()})


def _target_kind(site: str, mode: str) -> str:
    return "filled" if mode == "CW" else ("inflow" if site == "mv" else "plug")


def _scale(rng: np.random.Generator, env: np.ndarray, hs: int, direction: int, fit_both: bool,
           alias: bool, fill: tuple[float, float] = (0.4, 0.9)) -> tuple[bool, int, float]:
    """(inverted, baseline offset in the strip, signed cm/s per px) so that the flow fits (unless aliased)."""
    v_main = float(np.max(direction * env, initial=1.0))
    v_other = float(np.max(-direction * env, initial=0.0)) if fit_both else 0.0
    inverted = bool(rng.random() < 0.25)
    flow_up = (direction > 0) != inverted
    frac = rng.uniform(0.45, 0.9) if rng.random() < 0.9 else rng.uniform(0.33, 0.45)
    if alias:  # the peak exceeds the Nyquist limit on its side but wraps only once
        v_side, frac = v_main * rng.uniform(0.65, 0.92), rng.uniform(0.5, 0.8)
    else:
        v_side = _nice_scale(rng, min(v_main / rng.uniform(*fill), max(700.0, v_main / 0.85)))
        v_side = max(v_side, v_main / 0.9)
    if v_other > 0 and not alias:
        frac = min(frac, v_side / (v_side + v_other / 0.85))
    ref_y0 = round(frac * (hs - 1)) if flow_up else round((1 - frac) * (hs - 1))
    ref_y0 = int(np.clip(ref_y0, 2, hs - 3))
    side_px = ref_y0 if flow_up else hs - 1 - ref_y0
    return inverted, ref_y0, v_side / side_px * (1.0 if inverted else -1.0)


@contextmanager
def _labels(key: str, labels: tuple[str, ...]) -> Iterator[None]:
    """Let draw_screen print a non-target site label: it only knows the five sites' labels, so the
    key is added to its table for the duration of the call (and removed after)."""
    table: dict[str, tuple[str, ...]] = doppler_screen._SITE_LABELS
    added = key not in table
    if added:
        table[key] = labels
    try:
        yield
    finally:
        if added:
            table.pop(key, None)


def _draw_dots(frame: np.ndarray, xs: np.ndarray, ys: np.ndarray, rgb: tuple[int, int, int], size: int) -> None:
    h, w = frame.shape[:2]
    for d in range(size):
        for e in range(size):
            yy, xx = np.round(ys).astype(int) + d - size // 2, xs + e - size // 2
            ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            frame[yy[ok], xx[ok]] = rgb


def _trace(rng: np.random.Generator, frame: np.ndarray, cal: SpectralCalibration, x0: int, b: FlowBeat,
           direction: int) -> None:
    """A sonographer's dotted trace along the edge of one beat, with '+' calipers at its ends."""
    c0, c1 = int(np.ceil(b.start_s / cal.s_per_px)), int(b.end_s / cal.s_per_px)
    cols = np.arange(c0, c1 + 1)
    v = direction * b.speed(cols * cal.s_per_px) * (1 + rng.normal(0, 0.01))
    rows = velocity_to_row(cal, v) + rng.normal(0, 0.7, cols.size)
    step = int(rng.integers(2, 6))
    rgb = _MARK_RGB[int(rng.integers(len(_MARK_RGB)))]
    _draw_dots(frame, cols[::step] + x0, rows[::step], rgb, int(rng.integers(1, 3)))
    if rng.random() < 0.7:
        base = cal.baseline_row
        for c in (c0, c1):
            arm = np.arange(-4, 5)
            _draw_dots(frame, np.full(9, c + x0), base + arm, (255, 255, 255), 1)
            _draw_dots(frame, c + x0 + arm, np.full(9, base), (255, 255, 255), 1)


def _result_box(rng: np.random.Generator, frame: np.ndarray, lay: ScreenLayout, lines: list[str]) -> None:
    """Measurement results in a (semi-opaque) box, often over the strip like exported screens."""
    x0, y0, x1, y1 = lay.strip
    fs = lay.font
    bw, bh = int(max(len(t) for t in lines) * fs * 0.62) + 14, int(len(lines) * fs * 1.3) + 10
    if rng.random() < 0.55:
        bx = int(rng.uniform(x0, max(x0 + 1, x1 - bw)))
        by = int(rng.uniform(y0, max(y0 + 1, y0 + 0.4 * (y1 - y0) - bh)))
    else:
        bx, by = int(rng.uniform(0, max(1, lay.width - bw))), int(rng.uniform(0, max(1, y0 - bh)))
    bx1, by1 = min(bx + bw, lay.width), min(by + bh, lay.height)
    if rng.random() < 0.7:
        fill = np.array([(40, 40, 110), (0, 0, 0), (30, 30, 30), (20, 60, 90)][int(rng.integers(4))], np.float32)
        a = rng.uniform(0.6, 1.0)
        frame[by:by1, bx:bx1] = (frame[by:by1, bx:bx1] * (1 - a) + fill * a).astype(np.uint8)
    items = [(bx + 6, by + 5 + int(k * fs * 1.3), t) for k, t in enumerate(lines)]
    layer = overlay.text_layer(frame.shape[:2], items, size=fs)
    rgb = ((255, 255, 255), (255, 255, 150), (200, 230, 255))[int(rng.integers(3))]
    frame[...] = overlay.blend(frame, layer, rgb)


def _cursors(rng: np.random.Generator, frame: np.ndarray, lay: ScreenLayout) -> None:
    """Time cursor line(s) through the strip and, sometimes, a dashed velocity caliper."""
    x0, y0, x1, y1 = lay.strip
    grey = int(rng.uniform(150, 255))
    for _ in range(int(rng.integers(1, 3))):
        x = int(rng.integers(x0, x1 + 1))
        frame[int(rng.uniform(0.0, 0.3) * lay.height) if rng.random() < 0.5 else y0:y1 + 1, x] = grey
    if rng.random() < 0.3:
        y = int(rng.integers(y0, y1 + 1))
        xs = np.arange(x0, x1 + 1)
        frame[y, xs[(xs // 4) % 2 == 0]] = grey


def _degrade(rng: np.random.Generator, frame: np.ndarray) -> np.ndarray:
    """Export damage: down/up rescaling (same size) and JPEG re-compression."""
    img = Image.fromarray(frame)
    if rng.random() < 0.5:
        h, w = frame.shape[:2]
        k = rng.uniform(0.55, 0.95)
        method = (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC, Image.Resampling.LANCZOS)[int(rng.integers(3))]
        img = img.resize((max(int(w * k), 1), max(int(h * k), 1)), method).resize((w, h), method)
    if rng.random() < 0.75:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=int(rng.integers(25, 93)), subsampling=int(rng.choice([0, 1, 2])))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return np.asarray(img, dtype=np.uint8).copy()


def _flow_mask(cal: SpectralCalibration, lay: ScreenLayout, env: np.ndarray,
               companion: np.ndarray | None = None) -> np.ndarray:
    """masks[0]: rows between the baseline (exclusive) and the signed envelope, per strip column.

    ``companion``: the signed envelope of the flow on the other side of the baseline (or None); it
    is flow too, so it joins the mask (the task layer picks the side, :func:`echoseg.doppler.task.trace_side`).
    """
    x0, y0, x1, y1 = lay.strip
    base = cal.baseline_row
    rows = np.arange(y0, y1 + 1, dtype=np.float64)[:, None]
    up = np.sign(velocity_to_row(cal, 1.0) - base)  # row direction of positive velocities
    masks = np.zeros((1, lay.height, lay.width), dtype=np.uint8)
    for e in (env,) if companion is None else (env, companion):
        dist = (rows - base) * up * np.where(e < 0, -1.0, 1.0)[None, :]
        e_px = np.abs(e / cal.cm_s_per_px)[None, :]
        masks[0, y0:y1 + 1, x0:x1 + 1] |= ((dist >= 1) & (dist < e_px + 0.5)).astype(np.uint8)
    return masks


FILL_SHARE = 0.3  # share of signal-level screens with an analysis program's fill over the flow
FILL_SHORT_SHARE = 0.3  # share of filled flow periods whose fill stops before the flow does


def _segmentation_fill(rng: np.random.Generator, frame: np.ndarray, cal: SpectralCalibration, lay: ScreenLayout,
                       env: np.ndarray, t_cols: np.ndarray, p: float = FILL_SHARE) -> bool:
    """Sometimes an analysis program's segmentation painted over the flow (in place): a grey or
    tinted fill between the baseline and an envelope of its own, over every flow period or only
    some, as exported AI and measurement screens show it: half within a few per cent of the flow's,
    half 6-25 % inside it (the program under-traced: the spectrum's outer band stays visible beyond
    the fill), and some stopping before the flow period ends (a vertical edge on the deceleration).
    Half of the fills are near-opaque (the spectrum beneath all but gone: a flat lobe, as a colour
    fill looks after a channel is taken), the others semi-transparent; some carry the program's contour line. Its own ``rng`` keeps the
    rest of the case unchanged; the flow mask (the truth) stays the true envelope. True when drawn."""
    if rng.random() >= p or not np.any(env):
        return False
    on = np.abs(env) > 0
    edges = np.flatnonzero(np.diff(np.r_[0, on.astype(np.int8), 0]))
    spans = list(zip(edges[::2], edges[1::2]))
    keep = [sp for sp in spans if rng.random() < (0.85 if rng.random() < 0.7 else 0.4)] or spans[:1]
    scaled = np.zeros_like(env)
    for a, b in keep:
        if rng.random() < FILL_SHORT_SHARE:  # a fill stopped early: a vertical edge before the flow ends
            b = a + max(1, int(round((b - a) * rng.uniform(0.75, 0.95))))
        scaled[a:b] = env[a:b] * (rng.uniform(0.94, 1.04) if rng.random() < 0.5 else rng.uniform(0.75, 0.94))
    mask = _flow_mask(cal, lay, scaled)[0].astype(bool)
    g = rng.uniform(80, 200)
    tint = [(1.0, 1.0, 1.0), (0.55, 1.0, 0.25), (1.0, 0.95, 0.3), (0.5, 0.8, 1.0)][int(rng.choice(4, p=[0.6, 0.2, 0.1, 0.1]))]
    colour = np.array(tint) * g
    alpha = rng.uniform(0.85, 1.0) if rng.random() < 0.5 else rng.uniform(0.35, 0.85)
    frame[mask] = np.clip((1 - alpha) * frame[mask] + alpha * colour, 0, 255).astype(np.uint8)
    if rng.random() < 0.4:  # the program's contour: a 1-pixel line just inside the fill's edge
        inner = mask.copy()
        inner[1:-1, 1:-1] = mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
        frame[mask & ~inner] = np.clip(colour * rng.uniform(0.6, 1.5), 0, 255).astype(np.uint8)
    return True


def _beat_rows(beats: list[FlowBeat], t_last: float, gap: tuple[int, int] | None, s_per_px: float) -> list[dict]:
    rows = []
    for b in beats:
        vti, vmax, vmean = beat_stats(b)
        ok = b.start_s >= 0 and b.end_s <= t_last
        if gap is not None and b.start_s <= (gap[1] - 1) * s_per_px and b.end_s >= gap[0] * s_per_px:
            ok = False
        rows.append({"start_s": b.start_s, "end_s": b.end_s, "vti_cm": vti, "vmax_cm_s": vmax,
                     "vmean_cm_s": vmean, "complete": ok})
    return rows


# The truth envelope: where a sonographer traces the spectrum, the analytic envelope E moved out by this
# many broadening widths (sigma = beta E + sigma0 of the case's Scanner). CW: the outer edge of the dense
# jet (guidelines: not the faint feathering beyond it); PW: the modal velocity's edge, closer to E. Why:
# on the five real echonet panels the sonographer's trace lies at the half-grey crossing, while the
# analytic E of these screens lies 16.5 % (median) inside it (docs/sonographer_edge.md at commit c6ca771); a
# network trained to E stopped 1.6-14.2 % inside the sonographer (AV -8 %, PV -16 %). Trial fine-tunes (docs/models.md):
# PW 1.5 put the PW panels at +10..+15 %, PW 0.5 LVOT at +10 %; 0.3 is shipped.
TRACED_SIGMAS = {"CW": 1.5, "PW": 0.3}

MR_COMPANION_SHARE = 0.6  # share of mitral stenosis CW strips with companions whose companion is the regurgitant jet


def _components(rng: np.random.Generator, site: str, mode: str, kind: str, env_fn: Callable[[np.ndarray], np.ndarray],
                v_ref: float, r_times: np.ndarray, irregular: bool, nontarget: str | None, variant: str = ""
                ) -> tuple[list[Flow], Callable[[np.ndarray], np.ndarray] | None]:
    """The flows of the strip and the companion's signed envelope (None without one).

    The companion runs on the other side of the baseline: inflow under outflow or vice versa, and in
    a mitral stenosis CW strip usually the mitral regurgitant jet, as bright as the inflow or brighter.
    """
    flows = [_flow(rng, kind, env_fn, v_ref)]
    if nontarget is not None or rng.random() >= (0.5 if mode == "CW" else 0.3):
        return flows, None
    if site == "mv" and mode == "CW" and variant == "stenosis" and rng.random() < MR_COMPANION_SHARE:
        mr = sample_nontarget(rng, "mr", r_times)
        v_mr = float(np.abs(mr.velocity(np.linspace(float(r_times[0]), float(r_times[-1]), 2000))).max(initial=1.0))
        flows.append(_flow(rng, mr.kind, mr.velocity, v_mr, rng.uniform(-4, 6)))
        return flows, mr.velocity
    comp = _companion(rng, site, r_times, irregular)
    d = -SITE_DIRECTION[site]
    gain = rng.uniform(-15, -3) if mode == "CW" else rng.uniform(-22, -8)

    def comp_fn(t: np.ndarray) -> np.ndarray:
        return d * envelope(comp, t)
    flows.append(_flow(rng, "filled" if mode == "CW" else "inflow", comp_fn, max(beat_stats(b)[1] for b in comp), gain))
    return flows, comp_fn


def _result_lines(rng: np.random.Generator, label: str, vmax: float, vti: float | None, vmean: float = 0.0
                  ) -> list[str]:
    """Text of a result box: Vmax and PG, plus VTI and Vmean for a traced target beat."""
    m_s = rng.random() < 0.5
    v = (lambda x: f"{x / 100:.2f} m/s") if m_s else (lambda x: f"{x:.0f} cm/s")
    out = [f"{label} Vmax {v(vmax)}" if rng.random() < 0.5 else f"Vmax {v(vmax)}",
           f"PG {4 * (vmax / 100) ** 2:.1f} mmHg"]
    if vti is not None:
        out = [f"{label} VTI"] + out[-2:] + [f"Vmean {v(vmean)}", f"VTI {vti:.1f} cm"][: int(rng.integers(1, 3))]
    return out


def _resolve(rng: np.random.Generator, site: str | None, nontarget: str | None
             ) -> tuple[str, str, str, str | None]:
    """(site, mode, variant, nontarget) from the arguments; "other" draws a random non-target flow."""
    if site == "other" and nontarget is None:
        nontarget = str(rng.choice(NONTARGETS))
    if nontarget is not None:
        if nontarget not in NONTARGETS:
            raise ValueError(f"nontarget must be one of {', '.join(NONTARGETS)}, not {nontarget!r}")
        return "other", NT_MODE[nontarget], nontarget, nontarget
    site = str(rng.choice(SITES)) if site is None else site
    if site not in SITES:
        raise ValueError(f"site must be one of {', '.join(SITES)} or 'other', not {site!r}")
    mode, variant = _mode_variant(rng, site)
    return site, mode, variant, None


def _sweep_gap(rng: np.random.Generator, ws: int) -> tuple[int, int] | None:
    """Sweep erase bar of a frozen sweep display: a few blank columns; beats across it are incomplete."""
    if rng.random() >= 0.1:
        return None
    gw = int(rng.integers(3, ws // 40 + 5))
    g0 = int(rng.integers(ws // 10, ws * 9 // 10 - gw))
    return g0, g0 + gw


def generate_doppler_signal(seed: int, *, site: str | None = None, family: str | None = None, heldout: bool = False,
                            nontarget: str | None = None, image_size: tuple[int, int] | None = None) -> SynthCase:
    """One signal-level synthetic spectral Doppler screen with exact truth (module docstring: keys).

    ``site``: one of SITES (random when None), or "other" for a random non-target flow;
    ``nontarget``: a flow of :data:`echoseg.synth.nontarget.NONTARGETS` (overrides ``site``).
    ``family``/``heldout``: display style; ``image_size``: (rows, cols). Deterministic per seed.
    """
    rng = np.random.default_rng(seed)
    site, mode, variant, nontarget = _resolve(rng, site, nontarget)
    style = sample_style(rng, family, heldout)
    lay = sample_layout(rng, image_size)
    if rng.random() < 0.3:  # the ECG runs through the strip (top part or across the baseline)
        lay = replace(lay, ecg="over", ecg_y=int(lay.strip[1] + rng.uniform(0.04, 0.5) * (lay.strip[3] - lay.strip[1])))
    x0, y0, x1, y1 = lay.strip
    hs, ws = y1 - y0 + 1, x1 - x0 + 1
    irregular = bool(rng.random() < (0.6 if variant == "stenosis" and site == "mv" else 0.12))
    hr = rng.uniform(48, 130)
    t_total = float(np.clip(rng.uniform(3.0, 8.0) * (0.9 if irregular else 60.0 / hr), 2.0, 6.0))
    r_times = sample_rhythm(rng, t_total, hr, irregular)
    src = _source(rng, site, variant, nontarget, r_times, irregular)
    t_cols = np.arange(ws) * (t_total / ws)
    env = src.velocity(t_cols)
    gap = _sweep_gap(rng, ws)
    if gap is not None:
        env[gap[0]:gap[1]] = 0.0
    aliased = bool(nontarget is not None and mode == "PW" and nontarget != "tdi" and rng.random() < 0.15)
    inverted, ref_y0, delta_y = _scale(rng, src.velocity(np.linspace(0, t_cols[-1], 4 * ws)), hs, src.direction,
                                       nontarget is not None, aliased, (0.3, 0.6) if nontarget == "tdi" else (0.4, 0.9))
    cal = manual_spectral_calibration(t_total / ws, delta_y, y0 + ref_y0, (x0, y0, x1, y1), mode)
    strip, sc, comp_env = _strip(rng, cal, src, site, mode, t_cols, r_times, irregular, nontarget, variant)
    if gap is not None:
        strip[:, gap[0]:gap[1]] = 0.0
        if comp_env is not None:
            comp_env[gap[0]:gap[1]] = 0.0
    k = TRACED_SIGMAS[mode]  # the truth: where a sonographer traces the broadened spectrum
    env = traced_speed(env, k, sc.beta, sc.sigma0_cm_s)
    if comp_env is not None:
        comp_env = traced_speed(comp_env, k, sc.beta, sc.sigma0_cm_s)
    visible: list[FlowBeat] = [TracedBeat(b, k, sc.beta, sc.sigma0_cm_s) for b in src.beats
                               if b.end_s > 0 and b.start_s < t_cols[-1]]
    rows = _beat_rows(visible, float(t_cols[-1]), gap, cal.s_per_px)
    key = site if nontarget is None else f"other_{nontarget}"
    with _labels(key, _NT_LABELS.get(nontarget or "", ())):
        frame, regions_2d = draw_screen(rng, lay, style, strip, cal, site=key, mode=mode, r_times=r_times,
                                        hr_bpm=hr, gap=gap)
    done = [b for b, r in zip(visible, rows) if r["complete"]]
    filled = _segmentation_fill(np.random.default_rng([int(seed), 7331]), frame, cal, lay, env, t_cols)
    annotated = _annotate(rng, frame, lay, cal, done, src.direction, site, nontarget, float(np.abs(env).max()))
    frame = _degrade(rng, frame)
    if style.monochrome:
        frame = np.repeat(frame.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    truth = _truth(site, mode, variant, rows, env, cal, src.direction, inverted, r_times, t_total, irregular,
                   style.family, seed, annotated, gap, nontarget)
    extra = {"generator": "signal", "flow": nontarget or site, "aliased": aliased, "filled": filled,
             "scanner": asdict(sc), "companion_envelope_cm_s": None if comp_env is None else comp_env.tolist()}
    regions: tuple[Region, ...] = (*regions_2d, cal.region)
    return SynthCase(kind="doppler", frames=frame[None], regions=regions, frame_time_ms=0.0,
                     heart_rate_bpm=truth["heart_rate_bpm"], style=style.family, seed=int(seed), truth=truth,
                     masks=_flow_mask(cal, lay, env, comp_env), monochrome=style.monochrome, extra=extra)


@dataclass(frozen=True)
class _Source:
    """The measured (or non-target) flow: signed envelope, direction, spectral kind, beats, click times."""

    velocity: Callable[[np.ndarray], np.ndarray]
    direction: int
    kind: str
    beats: list[FlowBeat]          # target beats ([] for non-target flows)
    events: list[tuple[float, float]]  # (start_s, end_s) of each wave/beat: valve clicks


def _source(rng: np.random.Generator, site: str, variant: str, nontarget: str | None, r_times: np.ndarray,
            irregular: bool) -> _Source:
    if nontarget is not None:
        flow = sample_nontarget(rng, nontarget, r_times)
        return _Source(flow.velocity, NT_DIRECTION[nontarget], flow.kind, [],
                       [(w.start_s, w.end_s) for w in flow.waves])
    beats = make_beats(rng, site, variant, r_times, irregular)
    d = SITE_DIRECTION[site]
    return _Source(lambda t: d * envelope(beats, t), d, "", beats, [(b.start_s, b.end_s) for b in beats])


def _strip(rng: np.random.Generator, cal: SpectralCalibration, src: _Source, site: str, mode: str, t_cols: np.ndarray,
           r_times: np.ndarray, irregular: bool, nontarget: str | None, variant: str
           ) -> tuple[np.ndarray, Scanner, np.ndarray | None]:
    """Render the strip with :mod:`echoseg.synth.spectral` (scanner, flows, clicks drawn here); also the
    companion flow's signed envelope per strip column (None without one)."""
    y0, y1 = cal.region.y0, cal.region.y1
    v_rows = row_to_velocity(cal, np.arange(y0, y1 + 1))
    dv = abs(cal.cm_s_per_px)
    sc = sample_scanner(rng, mode, (y1 - y0 + 1) * dv, float(v_rows.min()) - 0.5 * dv, 1.0 / cal.s_per_px)
    if nontarget == "tdi":  # tissue Doppler: the tissue is the signal; low wall filter, no separate clutter
        sc = replace(sc, clutter_db=-30.0, wall_hz=sc.wall_hz * 0.2)
    v_ref = float(np.abs(src.velocity(np.linspace(0, t_cols[-1], 2000))).max(initial=1.0))
    kind = src.kind or _target_kind(site, mode)
    flows, comp_fn = _components(rng, site, mode, kind, src.velocity, v_ref, r_times, irregular, nontarget, variant)
    clicks: list[float] = []
    p_click = 0.0 if nontarget == "tdi" else {"lvot": 0.7, "av": 0.6}.get(site, 0.35)
    if rng.random() < p_click:  # valve clicks: both in CW, mostly the closing click in PW
        both = mode == "CW" or rng.random() < 0.3
        clicks = [float(t) for s, e in src.events for t in ((s, e) if both else (e,))]
    comp_env = None if comp_fn is None else comp_fn(t_cols)
    return render_strip(rng, sc, flows, v_rows, t_cols, clicks), sc, comp_env


def _truth(site: str, mode: str, variant: str, rows: list[dict], env: np.ndarray, cal: SpectralCalibration,
           direction: int, inverted: bool, r_times: np.ndarray, t_total: float, irregular: bool, family: str,
           seed: int, annotated: bool, gap: tuple[int, int] | None, nontarget: str | None) -> dict[str, Any]:
    complete = [r["vti_cm"] for r in rows if r["complete"]]
    value = float(np.mean(complete)) if complete and nontarget is None else None
    rr_in = np.diff(r_times[(r_times > -1.6) & (r_times < t_total + 1.6)])
    r = cal.region
    return {
        "site": site, "mode": mode, "variant": variant, "beats": rows, "value": value,
        "vti_mean_cm": value, "n_complete": len(complete),
        "envelope_cm_s": env.tolist(), "strip": [r.x0, r.y0, r.x1, r.y1], "baseline_row": int(cal.baseline_row),
        "cm_s_per_px": float(cal.cm_s_per_px), "s_per_px": float(cal.s_per_px), "direction": direction,
        "inverted": inverted, "heart_rate_bpm": float(60.0 / rr_in.mean()), "rr_s": rr_in.tolist(),
        "irregular": irregular, "style": family, "seed": int(seed), "annotated": annotated,
        "erase_gap_cols": None if gap is None else [gap[0], gap[1]],
    }


def _annotate(rng: np.random.Generator, frame: np.ndarray, lay: ScreenLayout, cal: SpectralCalibration,
              done: list[FlowBeat], direction: int, site: str, nontarget: str | None, vmax: float) -> bool:
    """Measurement marks (trace + result box) and cursor lines; True when a measurement is shown."""
    marked = False
    if nontarget is None and done and rng.random() < 0.45:
        b = done[int(rng.integers(len(done)))]
        _trace(rng, frame, cal, lay.strip[0], b, direction)
        vti, bmax, vmean = beat_stats(b)
        err = rng.uniform(0.96, 1.05)
        _result_box(rng, frame, lay, _result_lines(rng, site.upper(), bmax * err, vti * err, vmean * err))
        marked = True
    elif nontarget is not None and rng.random() < 0.35:
        _result_box(rng, frame, lay, _result_lines(rng, _NT_LABELS[nontarget][0], vmax * rng.uniform(0.97, 1.06), None))
        marked = True
    if rng.random() < 0.35:
        _cursors(rng, frame, lay)
    return marked


__all__ = ["generate_doppler_signal"]
