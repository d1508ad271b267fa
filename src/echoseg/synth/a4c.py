"""Synthetic apical four-chamber (A4C) B-mode cine loops with exact atrial truth.

``generate_a4c(seed)`` returns a :class:`~echoseg.synth.case.SynthCase` whose frames look like a
scanner's screen (sector fan, speckle, text, ECG) and whose truth is computed analytically from the
chamber polygons (see :mod:`echoseg.synth.anatomy`). Everything random comes from
``numpy.random.default_rng(seed)``, so a seed always gives the same case.

Truth keys: la_area_cm2 / ra_area_cm2 (per frame, shoelace, cm²), la_area / ra_area (max over
frames), la_frame / ra_frame (argmax), la_length_cm / ra_length_cm (annulus midpoint to the farthest
roof point, at that frame), la_annulus_px / ra_annulus_px (hinge points [x, y] at that frame),
cm_per_px, depth_cm, sector_deg, heart_rate_bpm, frame_time_ms, style, seed, n_frames,
es_frames, ed_frames (0-based frame indices).

Appearance: the classic style families (:mod:`echoseg.synth.a4c_render`) or, for ``family="scanner"``
or the share ``scanner`` of random-family cases, B-mode formed as a scanner forms it
(:mod:`echoseg.synth.a4c_scanner`) in its own view geometry; the truth is computed the same way.

Rendering happens on a grid about half the screen resolution and is upsampled, so a 30-frame
600x800 cine takes a fraction of a second and a single frame (``n_frames=1``, always end-systole)
a few tens of milliseconds.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from echoseg.imaging.polygons import shoelace_area
from echoseg.synth import anatomy as an
from echoseg.synth.a4c_render import Renderer
from echoseg.synth.a4c_scanner import (SCANNER_FAMILY, ScannerRenderer, apply_view, atria_visible, sample_view,
                                       scanner_style)
from echoseg.synth.a4c_screen import Screen, sample_screen
from echoseg.synth.case import SynthCase
from echoseg.synth.styles import sample_style


@dataclass(frozen=True)
class Timing:
    """Frame times and cardiac phase of a cine."""

    times: np.ndarray       # (T,) s
    g: np.ndarray           # (T,) systolic activation, 0 at R wave (end-diastole), 1 at end-systole
    opening: np.ndarray     # (T,) AV-valve opening, 0 closed .. 1 open
    rr: float
    frame_time: float       # s
    es_frac: float
    es_frames: tuple[int, ...]
    ed_frames: tuple[int, ...]


def _activation(phi: np.ndarray, s: float, g_d: float) -> tuple[np.ndarray, np.ndarray]:
    """Systolic activation g and valve opening at phase ``phi`` in [0, 1) (R wave at 0, ES at s)."""
    g = np.empty_like(phi)
    sys = phi <= s
    g[sys] = 0.5 - 0.5 * np.cos(np.pi * phi[sys] / s)
    x = (phi[~sys] - s) / (1 - s)
    rapid = g_d + (1 - g_d) * 0.5 * (1 + np.cos(np.pi * np.clip(x / 0.4, 0, 1)))
    dias = g_d * (1 - 0.2 * np.clip((x - 0.4) / 0.35, 0, 1))
    kick = 0.8 * g_d * 0.5 * (1 + np.cos(np.pi * np.clip((x - 0.75) / 0.25, 0, 1)))
    g[~sys] = np.where(x < 0.4, rapid, np.where(x < 0.75, dias, kick))
    xo = np.where(sys, -1.0, (phi - s) / (1 - s))
    knots = [-1, 0, 0.08, 0.2, 0.3, 0.45, 0.7, 0.8, 0.9, 0.97, 1.0]
    vals = [0, 0, 0, 1, 0.9, 0.45, 0.45, 0.85, 0.6, 0, 0]
    return g, np.interp(xo, knots, vals)


def sample_timing(rng: np.random.Generator, n_frames: int | None) -> Timing:
    """Heart rate 50-110 bpm, frame time 15-40 ms; the default cine covers at least one cycle."""
    hr = float(rng.uniform(50, 110))
    rr = 60.0 / hr
    ft = float(rng.uniform(0.015, 0.040))
    es_frac = float(np.clip((0.37 - 0.0015 * (hr - 60)) / rr, 0.28, 0.55))
    if n_frames is None:
        n_cycle = int(np.ceil(1.05 * rr / ft))
        if n_cycle > 60:
            ft = 1.05 * rr / 60
            n_cycle = 60
        n_frames = int(np.clip(n_cycle + rng.integers(0, n_cycle + 1), max(20, n_cycle), 60))
    if n_frames < 1:
        raise ValueError(f"n_frames must be at least 1, not {n_frames}")
    if n_frames * ft < 1.05 * rr:  # short clip: make sure it contains an end-systole
        k_es = int(rng.integers(0, n_frames))
        t0 = es_frac * rr - k_es * ft + float(rng.uniform(-0.45, 0.45)) * ft
    else:
        t0 = float(rng.uniform(0, rr))
    t0 = t0 % rr + rr  # positive, phase unchanged
    times = t0 + ft * np.arange(n_frames)
    phi = (times % rr) / rr
    g, opening = _activation(phi, es_frac, float(rng.uniform(0.12, 0.3)))
    cycle = np.floor(times / rr).astype(int)
    es, ed = [], []
    for c in np.unique(cycle):
        t_es, t_r = (c + es_frac) * rr, c * rr
        idx = np.nonzero(cycle == c)[0]
        if times[0] - ft <= t_es <= times[-1] + ft:
            es.append(int(idx[np.argmax(g[idx])]))
        if times[0] - ft / 2 <= t_r <= times[-1] + ft / 2:
            ed.append(int(np.argmin(np.abs(times - t_r))))
    return Timing(times=times, g=g, opening=opening, rr=rr, frame_time=ft, es_frac=es_frac,
                  es_frames=tuple(sorted(set(es))), ed_frames=tuple(sorted(set(ed))))


def _sample_sizes(rng: np.random.Generator) -> tuple[float, float]:
    """End-systolic atrial areas (cm²): LA 10-40 with ~15 % dilated (> 30), RA 8-32."""
    if rng.random() < 0.15:
        la = rng.uniform(31, 39)
    else:
        la = float(np.clip(rng.lognormal(np.log(18), 0.25), 11, 29.5))
    if rng.random() < 0.12:
        ra = rng.uniform(24, 31)
    else:
        ra = float(np.clip(rng.lognormal(np.log(15), 0.25), 9, 26))
    return float(la), float(ra)


def _extent_points(p: an.HeartParams, pl: an.Placement) -> tuple[np.ndarray, np.ndarray]:
    """Atrial points (must stay well inside the fan) and ventricular points (may be cut at the sides)."""
    atria, vent = [], []
    for g in (0.0, 1.0):
        h = an.heart_at(p, pl, g)
        atria += [h["la"], h["ra"]]
        vent += [h["lv"], h["rv"]]
    return np.concatenate(atria), np.concatenate(vent)


def _fit_in_fan(rng: np.random.Generator, p: an.HeartParams, pl: an.Placement, half: float,
                depth_max: float, *, x_limit: float | None = None, rv_focus: bool = False
                ) -> tuple[an.Placement, float]:
    """Position the heart in the sector: atria (with walls) wholly inside, ventricles at most a little
    outside the sector sides (real A4C views often cut the lateral walls); returns placement and the
    deepest atrial point (cm).

    ``x_limit`` (cm): the atria must also stay within this lateral distance of the apex (a fan wider
    than the image). ``rv_focus``: put the right ventricle on the sector's axis, letting the left
    ventricle leave the sector further (an RV-focused view).
    """
    base = pl
    for attempt in range(30):
        ang = pl.angle * (1 - attempt / 10) if attempt < 10 else 0.0
        scale = pl.scale * (1 - 0.03 * max(0, attempt - 9))
        base = replace(pl, angle=ang, scale=scale, x0=0.0, y0=0.0)
        atria, vent = _extent_points(p, base)
        gap = rng.uniform(1.0, 2.6)
        y0 = gap + p.lv_wall - vent[:, 1].min()
        ok = []
        for x0 in np.linspace(-4, 4, 41) + rng.uniform(-0.1, 0.1):
            qa, qv = atria + np.array([x0, y0]), vent + np.array([x0, y0])
            ra, rv = np.hypot(qa[:, 0], qa[:, 1]), np.hypot(qv[:, 0], qv[:, 1])
            room_a = ra * np.sin(half - np.abs(np.arctan2(qa[:, 0], qa[:, 1])))
            room_v = rv * np.sin(half - np.abs(np.arctan2(qv[:, 0], qv[:, 1])))
            if (room_a.min() > 0.7 and room_v.min() > (-3.0 if rv_focus else -1.2) and ra.max() + 0.8 < depth_max
                    and (x_limit is None or np.abs(qa[:, 0]).max() < x_limit - 0.5)):
                ok.append((x0, ra.max()))
        if ok and rv_focus:  # the RV's centre nearest the sector axis
            rv = np.concatenate([an.heart_at(p, base, g)["rv"] for g in (0.0, 1.0)]).mean(axis=0) + np.array([0.0, y0])
            x0, rmax = min(ok, key=lambda c: abs(float(np.arctan2(rv[0] + c[0], rv[1]))))
            return replace(base, x0=float(x0), y0=float(y0)), float(rmax)
        if ok:
            x0, rmax = ok[int(rng.integers(0, len(ok)))]
            return replace(base, x0=float(x0), y0=float(y0)), float(rmax)
    atria, vent = _extent_points(p, base)
    y0 = 1.5 - vent[:, 1].min()
    return replace(base, x0=0.0, y0=float(y0)), float(np.hypot(atria[:, 0], atria[:, 1] + y0).max())


SCANNER_FRACTION = 0.0  # generate_a4c's default share of the 'scanner' family: cohorts and tests unchanged
TRAINING_SCANNER_SHARE = 0.4  # the atria training mix: 40 % scanner cases, 60 % the classic families
_SCANNER_STREAM = 0x5CA77E  # the scanner path's own random stream: default_rng([seed, _SCANNER_STREAM])


def generate_a4c(seed: int, *, family: str | None = None, heldout: bool = False, n_frames: int | None = None,
                 image_size: tuple[int, int] | None = None, scanner: float = SCANNER_FRACTION) -> SynthCase:
    """One synthetic A4C cine with per-frame label masks (0 bg, 1 LA, 2 RA, 3 LV, 4 RV) and truth.

    ``n_frames=None`` draws 20-60 frames covering at least one cardiac cycle; a small ``n_frames``
    (e.g. 1 or 3) gives a short clip that always contains an end-systolic frame, which is what
    on-the-fly training needs. ``image_size`` is (rows, cols); None draws a vendor-like size.

    ``family="scanner"`` forms the B-mode as a scanner does (:mod:`echoseg.synth.a4c_scanner`), with
    its own view geometry (depth 12-24 cm, narrow, zoomed and RV-focused sectors). With
    ``family=None`` (a random training family) a case is drawn from the scanner family with
    probability ``scanner``; that draw and everything the scanner path draws come from the case's
    own stream ``default_rng([seed, 0x5CA77E])``, so ``scanner=0`` (the default) gives exactly the
    cases this function always gave, and a scanner case has the anatomy, motion and timing of the
    same seed's classic case.
    """
    return _generate(seed, family, heldout, n_frames, image_size, scanner)


def _scanner_geometry(srng: np.random.Generator, rng: np.random.Generator, params: an.HeartParams,
                      place0: an.Placement, screen0: Screen) -> tuple[Screen, an.Placement] | None:
    """The scanner view (depth, sector, zoom, RV focus) with the heart fitted in; None when the heart
    cannot be placed with both atria whole (the caller then keeps the classic geometry)."""
    view = sample_view(srng)
    screen = apply_view(screen0, view)
    atria, vent = _extent_points(params, replace(place0, x0=0.0, y0=0.0))
    need = float(atria[:, 1].max() - vent[:, 1].min()) + params.lv_wall + 1.0 + 0.9
    depth = float(np.clip(max(view.depth_cm, need), 12.0, 24.0))
    cm = depth / screen.radius_px
    x_limit = (min(screen.ax, screen.cols - 1 - screen.ax) - 3) * cm if view.zoom > 1 else None
    bottom = (screen.ecg[1] - 6) if screen.ecg is not None else screen.rows - 3
    placement, _ = _fit_in_fan(rng, params, place0, screen.half_angle, min(depth, (bottom - screen.ay) * cm),
                               x_limit=x_limit, rv_focus=view.rv_focus)
    screen = screen.with_depth(depth)
    if atria_visible(params, placement, screen):
        return screen, placement
    return None


def _generate(seed: int, family: str | None, heldout: bool, n_frames: int | None,
              image_size: tuple[int, int] | None, scanner: float, bmode: bool = True) -> SynthCase:
    """:func:`generate_a4c`; ``bmode=False`` renders a scanner case with the classic appearance (same
    geometry and truth: the tests' check that the appearance never touches the masks)."""
    if not 0.0 <= scanner <= 1.0:
        raise ValueError(f"scanner must be a probability in [0, 1], not {scanner}")
    rng = np.random.default_rng(seed)
    srng = np.random.default_rng([int(seed), _SCANNER_STREAM])
    draw = srng.random()  # always drawn: a seed's scanner case is the same whether forced or drawn
    use_scanner = family == SCANNER_FAMILY or (family is None and not heldout and draw < scanner)
    style = sample_style(rng, None if family == SCANNER_FAMILY else family, heldout)
    timing = sample_timing(rng, n_frames)
    la_t, ra_t = _sample_sizes(rng)
    params = an.sample_params(rng, la_t, ra_t)
    place0 = an.sample_placement(rng, scale=1.0)
    params = an.fit_atria(params, place0, la_t, ra_t)
    screen0 = sample_screen(rng, image_size)
    placement, rmax = _fit_in_fan(rng, params, place0, screen0.half_angle, 20.0)
    depth = float(np.clip(rmax + rng.uniform(0.6, 3.5), 13.0, 20.0))
    screen = screen0.with_depth(depth)
    if use_scanner:  # its own view; the classic fit above still ran, so the main stream is unchanged
        style = scanner_style(srng)
        fitted = _scanner_geometry(srng, np.random.default_rng(srng.integers(0, 2 ** 63)), params, place0, screen0)
        if fitted is not None:
            screen, placement = fitted
            depth = screen.depth_cm
    renderer = Renderer(rng, screen, style, params, placement, timing)
    if use_scanner and bmode:
        frames, masks, polys = renderer.render_all(ScannerRenderer(srng, renderer).frame)
    else:
        frames, masks, polys = renderer.render_all()

    cm2 = screen.cm_per_px ** 2
    la_areas = [shoelace_area(pp["la"]) * cm2 for pp in polys]
    ra_areas = [shoelace_area(pp["ra"]) * cm2 for pp in polys]
    la_f, ra_f = int(np.argmax(la_areas)), int(np.argmax(ra_areas))
    heart_rate_bpm, frame_time_ms = float(60.0 / timing.rr), float(1000 * timing.frame_time)
    truth = {
        "la_area_cm2": [float(a) for a in la_areas], "ra_area_cm2": [float(a) for a in ra_areas],
        "la_area": float(la_areas[la_f]), "ra_area": float(ra_areas[ra_f]),
        "la_frame": la_f, "ra_frame": ra_f,
        "la_length_cm": an.long_axis(polys[la_f]["la"]) * screen.cm_per_px,
        "ra_length_cm": an.long_axis(polys[ra_f]["ra"]) * screen.cm_per_px,
        "la_annulus_px": [polys[la_f]["la"][0].tolist(), polys[la_f]["la"][-1].tolist()],
        "ra_annulus_px": [polys[ra_f]["ra"][0].tolist(), polys[ra_f]["ra"][-1].tolist()],
        "cm_per_px": float(screen.cm_per_px), "depth_cm": depth,
        "sector_deg": float(np.rad2deg(2 * screen.half_angle)),
        "heart_rate_bpm": heart_rate_bpm, "frame_time_ms": frame_time_ms,
        "style": style.family, "seed": int(seed), "n_frames": int(len(timing.times)),
        "es_frames": list(timing.es_frames), "ed_frames": list(timing.ed_frames),
    }
    return SynthCase(kind="a4c", frames=frames, regions=screen.regions(), frame_time_ms=frame_time_ms,
                     heart_rate_bpm=heart_rate_bpm, style=style.family, seed=int(seed), truth=truth,
                     masks=masks, monochrome=style.monochrome)
