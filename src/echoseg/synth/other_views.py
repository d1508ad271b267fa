"""Synthetic 2D echo cines that are NOT apical four-chamber views: what the A4C view check must refuse.

``generate_other_view(seed, view)`` returns a :class:`~echoseg.synth.case.SynthCase` of kind "a4c"
(a B-mode cine, which is how the pipeline routes a 2D file) whose ``truth["view"]`` names the view.
It uses the A4C generator's screen, timing, styles and both appearances (the classic renderer and
the scanner-formed B-mode, :mod:`echoseg.synth.a4c_scanner`, drawn with the same share and stream
rules as :func:`echoseg.synth.a4c.generate_a4c`); only the blood pools differ. Views (:data:`VIEWS`):

* ``plax`` parasternal long axis: RV outflow under the chest wall, the LV across the sector (apex
  left), the aortic root to its right with the LA behind it, the descending aorta deeper; no RA;
* ``a2c`` apical two-chamber: the A4C heart's LV above its LA, centred, nothing else;
* ``psax`` parasternal short axis: a round LV (papillary muscles) with the RV crescent over it;
* ``subcostal`` subcostal four-chamber: the four chambers lying across the sector under the liver
  (apex to the right, RV nearest the transducer), a hepatic vein or two in the liver;
* ``apex_down`` an A4C shown upside down (the sector's apex at the bottom): ``generate_a4c``'s case
  with its 2D region flipped;
* ``mirrored`` an A4C shown left-right mirrored (the LV on the left of the screen, as some labs
  display it): ``generate_a4c``'s case with its 2D region flipped left to right; the masks keep the
  anatomy's labels (the LA is still label 1, now on the left);
* ``zoomed`` a narrow, shallow sector on the LV alone (the atria beyond the depth).

Masks use the A4C labels (0 bg, 1 LA, 2 RA, 3 LV, 4 RV) for the chambers that are there (a PLAX has
no 2); aorta, veins and the RV outflow's neighbours are blood but unlabelled. Truth keys: view,
chambers (labels present in the masks), cm_per_px, depth_cm, sector_deg, heart_rate_bpm,
frame_time_ms, style, seed, n_frames. Everything random comes from ``default_rng(seed)`` (and the
scanner stream ``default_rng([seed, 0x5CA77E])``), so a seed always gives the same case.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw

from echoseg.synth import anatomy as an
from echoseg.synth.a4c import _SCANNER_STREAM, TRAINING_SCANNER_SHARE, Timing, generate_a4c, sample_timing
from echoseg.synth.a4c_render import EXTRA, LA, LV, RA, RV, Renderer, leaflets
from echoseg.synth.a4c_scanner import SCANNER_FAMILY, ScannerRenderer, scanner_style
from echoseg.synth.a4c_screen import Screen, sample_screen
from echoseg.synth.case import SynthCase
from echoseg.synth.styles import Style, sample_style
from echoseg.types import Region

VIEWS = ("plax", "a2c", "psax", "subcostal", "apex_down", "mirrored", "zoomed")
VIEW_NAMES = {"plax": "parasternal long axis", "a2c": "apical two-chamber", "psax": "parasternal short axis",
              "subcostal": "subcostal four-chamber", "apex_down": "A4C, apex down (upside-down display)",
              "mirrored": "A4C, mirrored (LV on the left of the screen)", "zoomed": "zoomed single chamber (LV)"}
_LABELS = (("la", LA), ("ra", RA), ("lv", LV), ("rv", RV))


@dataclass(frozen=True)
class Valve:
    """An AV or semilunar valve (screen cm): hinges and the point its open leaflets aim at."""

    sep: np.ndarray
    lat: np.ndarray
    aim: np.ndarray
    aortic: bool = False  # opens in systole


@dataclass(frozen=True)
class ViewHeart:
    """One frame's blood pools (label, polygon in screen cm), valves and bright muscles (x, y, r cm)."""

    pools: tuple[tuple[int, np.ndarray], ...]
    valves: tuple[Valve, ...] = ()
    spots: tuple[tuple[float, float, float], ...] = ()


@dataclass(frozen=True)
class ViewSpec:
    """Everything a view's geometry needs: the kind, the A4C heart it borrows sizes from, the
    placement (rotation, warp, position) and the parasternal sizes (cm) drawn for it."""

    view: str
    p: an.HeartParams
    pl: an.Placement
    sizes: tuple[float, ...]
    veins: tuple[tuple[float, float, float], ...] = ()  # static extra pools (x, y, r cm): liver veins


def _ellipse(cx: float, cy: float, a: float, b: float, egg: float = 0.0, n: int = 48) -> np.ndarray:
    """(n, 2) ellipse, narrowed toward -x by ``egg`` (an apex)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    c = np.cos(t)
    return np.stack([cx + a * c, cy + b * np.sin(t) * (1 - egg * np.maximum(-c, 0) ** 2)], axis=1)


def _plax(s: ViewSpec, g: float, sh: tuple[float, float]) -> ViewHeart:
    """Parasternal long axis in its local frame (x right, y down, LV centre at 0), then placed."""
    a, b0, fs, rva, rvb, aol, aor, laa, lab, egg = s.sizes
    p, b = s.p, b0 * (1 - fs * g)
    f_la = 0.85 + 0.15 * g
    ao_y = -b0 + aor
    la_c = (0.8 * a + 0.9 * laa, ao_y + aor + 0.45 + lab)
    local = {"rv": _ellipse(-0.2 * a, -(b0 + p.ivs + rvb), rva, rvb * (1 - p.rv_fs * g)),
             "lv": _ellipse(0.0, 0.0, a, b, egg), "ao": _ellipse(0.8 * a + aol, ao_y, aol, aor),
             "la": _ellipse(la_c[0], la_c[1], laa * f_la, lab * f_la),
             "dao": _ellipse(la_c[0] - 0.3, la_c[1] + lab + 1.1, 0.75, 0.75, n=24)}
    q = {k: an.place(s.pl, v, sh) for k, v in local.items()}
    pt = lambda x, y: an.place(s.pl, np.array([[x, y]]), sh)[0]  # noqa: E731
    mv = Valve(pt(0.85 * a, ao_y + aor + 0.25), pt(0.75 * a, la_c[1] + 0.7 * lab), pt(-a, 0.0))
    av = Valve(pt(0.8 * a + 0.2, ao_y - aor), pt(0.8 * a + 0.2, ao_y + aor), pt(0.8 * a + 2 * aol, ao_y), True)
    return ViewHeart(((EXTRA, q["ao"]), (EXTRA, q["dao"]), (RV, q["rv"]), (LV, q["lv"]), (LA, q["la"])), (mv, av))


def _psax(s: ViewSpec, g: float, sh: tuple[float, float]) -> ViewHeart:
    """Parasternal short axis: a round LV and the RV crescent over its upper left."""
    r0, fs, ecc, phi1, phi2, t_max, skew = s.sizes[:7]
    r = r0 * (1 - fs * g)
    lv = _ellipse(0.0, 0.0, r * ecc, r)
    phi = np.deg2rad(np.linspace(phi1, phi2, 40))
    sfrac = ((phi - phi[0]) / (phi[-1] - phi[0])) ** skew
    inner = r0 + s.p.ivs * (1 + 0.25 * g)
    outer = inner + t_max * (1 - s.p.rv_fs * g) * np.sin(np.pi * sfrac) ** 0.6 + 0.05
    d = np.stack([np.cos(phi), -np.sin(phi)], axis=1)
    rv = np.concatenate([d * outer[:, None], (d * inner)[::-1]])
    spots = []
    for ang in (-40.0, -140.0):
        c = an.place(s.pl, 0.72 * r * np.array([[np.cos(np.deg2rad(ang)), -np.sin(np.deg2rad(ang))]]), sh)[0]
        spots.append((float(c[0]), float(c[1]), 0.45 * s.pl.scale))
    return ViewHeart(((RV, an.place(s.pl, rv, sh)), (LV, an.place(s.pl, lv, sh))), (), tuple(spots))


def view_heart(s: ViewSpec, g: float, sh: tuple[float, float] = (0.0, 0.0)) -> ViewHeart:
    """The view's pools at systolic activation ``g`` with probe drift ``sh`` (screen cm)."""
    if s.view == "plax":
        return _plax(s, g, sh)
    if s.view == "psax":
        return _psax(s, g, sh)
    h = an.heart_at(s.p, s.pl, g, sh)
    mv = Valve(h["mv_sep"], h["mv_lat"], h["lv_apex"])
    if s.view == "a2c":
        return ViewHeart(((LV, h["lv"]), (LA, h["la"])), (mv,))
    tv = Valve(h["tv_sep"], h["tv_lat"], h["rv"][an.N_SIDE - 1])
    veins = tuple((EXTRA, _ellipse(x, y, r, 0.8 * r, n=20)) for x, y, r in s.veins)
    return ViewHeart(veins + ((LV, h["lv"]), (RV, h["rv"]), (LA, h["la"]), (RA, h["ra"])), (mv, tv))


class ViewRenderer(Renderer):
    """The A4C :class:`Renderer` (and through it :class:`ScannerRenderer`) drawing a view's pools."""

    def __init__(self, rng: np.random.Generator, screen: Screen, style: Style, spec: ViewSpec, timing: Timing) -> None:
        super().__init__(rng, screen, style, spec.p, spec.pl, timing)
        self.spec = spec

    def geometry(self, k: int) -> tuple[float, float, dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
        t, g = float(self.timing.times[k]), float(self.timing.g[k])
        vh = view_heart(self.spec, g, self.shift(t))
        lab = np.zeros((self.hl, self.wl), np.uint8)
        polys = {name: np.zeros((0, 2)) for name, _ in _LABELS}
        for label, poly in sorted(vh.pools, key=lambda lp: lp[0] != EXTRA):  # extras under the chambers
            an.rasterize(self.to_low(self.to_px(poly)), lab.shape, lab, label)
            for name, val in _LABELS:
                if val == label:
                    polys[name] = self.to_px(poly)
        first = vh.pools[-1][1][0]
        hinge = lambda i: vh.valves[i].lat if len(vh.valves) > i else first  # noqa: E731
        # what the renderers read back: valves, muscles, and the hinges the scanner may calcify
        h = {"valves": np.array([[v.sep, v.lat, v.aim] for v in vh.valves]).reshape(-1, 3, 2),
             "aortic": np.array([v.aortic for v in vh.valves], bool),
             "spots": np.array(vh.spots, float).reshape(-1, 3),
             "mv_sep": vh.valves[0].sep if vh.valves else first, "mv_lat": hinge(0), "tv_lat": hinge(1)}
        return t, g, h, polys, lab

    def _bright(self, h: dict[str, np.ndarray], k: int) -> Image.Image:
        img = Image.new("F", (self.wl, self.hl), 0.0)
        draw = ImageDraw.Draw(img)
        width = max(1, int(round(0.16 / self.cx)))
        o, g = float(self.timing.opening[k]), float(self.timing.g[k])
        o_ao = float(o < 0.01) * float(np.clip((g - 0.02) / 0.1, 0, 1) * np.clip((0.98 - g) / 0.1, 0, 1))
        for (sep, lat, aim), aortic in zip(h["valves"], h["aortic"]):
            for leaf in leaflets(sep, lat, aim, o_ao if aortic else o, 0.3, 0.5):
                draw.line([tuple(q) for q in self.to_low(self.to_px(leaf)).tolist()], fill=1.0, width=width)
        for x, y, r in h["spots"]:
            c, rad = self.to_low(self.to_px(np.array([x, y]))), r / self.cx
            draw.ellipse((c[0] - rad, c[1] - rad, c[0] + rad, c[1] + rad), fill=0.6)
        return img


def _sizes(rng: np.random.Generator, view: str, p: an.HeartParams) -> tuple[float, ...]:
    """Parasternal chamber sizes (cm), see :func:`_plax` / :func:`_psax` for their order."""
    u = rng.uniform
    if view == "plax":
        return (0.5 * p.lv_len * u(0.9, 1.05), 0.5 * p.lv_width, p.lv_fs, u(2.6, 3.6), u(0.8, 1.4), u(1.6, 2.4),
                u(1.0, 1.5), u(1.6, 2.4), u(1.3, 1.9), u(0.2, 0.5))
    return (0.5 * p.lv_width * u(0.9, 1.1), p.lv_fs, u(0.92, 1.1), u(10, 40), u(185, 215), u(1.1, 2.0), u(0.7, 1.0))


def _place(rng: np.random.Generator, spec: ViewSpec, screen: Screen) -> tuple[ViewSpec, float]:
    """Put the view's pools in the sector (centred on its axis, top at the view's depth); returns the
    placed spec and the depth (cm) the screen shows."""
    u = rng.uniform
    pts = np.concatenate([poly for g in (0.0, 1.0) for _, poly in view_heart(spec, g).pools])
    tops = {"plax": u(1.0, 2.2), "psax": u(1.2, 2.5), "subcostal": u(4.0, 7.5)}  # cm under the transducer
    top = tops.get(spec.view, u(1.0, 2.6) + spec.p.lv_wall)
    on = np.concatenate([an.heart_at(spec.p, spec.pl, g)["lv"] for g in (0.0, 1.0)]) if spec.view == "zoomed" else pts
    x0 = -0.5 * (on[:, 0].min() + on[:, 0].max()) + u(-0.8, 0.8)
    y0 = top - pts[:, 1].min()
    spec = replace(spec, pl=replace(spec.pl, x0=spec.pl.x0 + float(x0), y0=spec.pl.y0 + float(y0)))
    bottom = float(pts[:, 1].max() + y0)
    if spec.view == "zoomed":  # the sector ends around the mitral annulus
        h = an.heart_at(spec.p, spec.pl, 0.0)
        return spec, float(np.clip(0.5 * (h["mv_sep"][1] + h["mv_lat"][1]) + u(-1.0, 0.2), 7.0, 14.0))
    if spec.view == "subcostal":
        spec = replace(spec, veins=tuple((float(u(-3, 3)), float(u(1.5, top - 1.0)), float(u(0.4, 0.8)))
                                         for _ in range(int(rng.integers(0, 3)))))
    return spec, float(np.clip(bottom + u(1.0, 3.5), 12.0, 22.0))


def generate_other_view(seed: int, view: str, *, family: str | None = None, heldout: bool = False,
                        n_frames: int | None = None, image_size: tuple[int, int] | None = None,
                        scanner: float = TRAINING_SCANNER_SHARE) -> SynthCase:
    """One synthetic cine of ``view`` (one of :data:`VIEWS`), appearance drawn as ``generate_a4c`` draws it
    (``family``, ``heldout``, ``n_frames``, ``image_size`` and ``scanner`` mean what they mean there)."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, not {view!r}")
    if not 0.0 <= scanner <= 1.0:
        raise ValueError(f"scanner must be a probability in [0, 1], not {scanner}")
    if view in ("apex_down", "mirrored"):
        return _flipped(generate_a4c(seed, family=family, heldout=heldout, n_frames=n_frames,
                                     image_size=image_size, scanner=scanner), view)
    rng = np.random.default_rng(seed)
    srng = np.random.default_rng([int(seed), _SCANNER_STREAM])
    use_scanner = family == SCANNER_FAMILY or (family is None and not heldout and srng.random() < scanner)
    style = scanner_style(srng) if use_scanner else sample_style(rng, family, heldout)
    timing = sample_timing(rng, n_frames)
    la_t, ra_t = float(rng.uniform(12, 30)), float(rng.uniform(10, 24))
    pl = an.sample_placement(rng)
    p = an.fit_atria(an.sample_params(rng, la_t, ra_t), pl, la_t, ra_t)
    angle = {"subcostal": np.deg2rad(rng.uniform(55, 95)), "plax": np.deg2rad(rng.uniform(-12, 12)),
             "psax": np.deg2rad(rng.uniform(-20, 20))}.get(view, pl.angle)
    spec = ViewSpec(view, p, replace(pl, angle=float(angle)), _sizes(rng, view, p))
    screen = sample_screen(rng, image_size)
    if view == "zoomed":
        screen = replace(screen, half_angle=float(np.deg2rad(rng.uniform(12, 22))))
    spec, depth = _place(rng, spec, screen)
    screen = screen.with_depth(depth)
    renderer = ViewRenderer(rng, screen, style, spec, timing)
    frames, masks, _ = renderer.render_all(ScannerRenderer(srng, renderer).frame if use_scanner else None)
    return _case(view, seed, frames, masks, screen.regions(), 1000 * timing.frame_time, 60.0 / timing.rr,
                 style.family, style.monochrome, depth)


def _case(view: str, seed: int, frames: np.ndarray, masks: np.ndarray, regions: tuple[Region, ...],
          frame_time_ms: float, heart_rate_bpm: float, style: str, monochrome: bool, depth_cm: float) -> SynthCase:
    """The SynthCase of a view (kind "a4c": a B-mode cine) with the truth the module docstring lists."""
    tissue = next(r for r in regions if r.spatial_format == 1)
    truth = {"view": view, "chambers": sorted(int(v) for v in np.unique(masks) if v),
             "cm_per_px": float(tissue.delta_x), "depth_cm": float(depth_cm),
             "heart_rate_bpm": float(heart_rate_bpm), "frame_time_ms": float(frame_time_ms),
             "style": style, "seed": int(seed), "n_frames": int(frames.shape[0])}
    return SynthCase(kind="a4c", frames=frames, regions=regions, frame_time_ms=float(frame_time_ms),
                     heart_rate_bpm=float(heart_rate_bpm), style=style, seed=int(seed), truth=truth, masks=masks,
                     monochrome=monochrome)


def _flipped(case: SynthCase, view: str) -> SynthCase:
    """``case`` shown apex down (``view`` "apex_down": its 2D region turned upside down) or mirrored
    ("mirrored": flipped left to right); the reference pixel (the sector's apex) moves with it, the
    rest of the screen (text, ECG) stays."""
    k = next(i for i, r in enumerate(case.regions) if r.spatial_format == 1)
    r = case.regions[k]
    assert case.masks is not None  # generate_a4c always draws them
    frames, masks = case.frames.copy(), case.masks.copy()
    box = (slice(None), slice(r.y0, r.y1 + 1), slice(r.x0, r.x1 + 1))
    if view == "apex_down":
        frames[box], masks[box] = case.frames[box][:, ::-1], case.masks[box][:, ::-1]
        ref = None if r.ref_y0 is None else r.height - 1 - r.ref_y0
        moved = replace(r, ref_y0=ref)
    else:
        frames[box], masks[box] = case.frames[box][:, :, ::-1], case.masks[box][:, :, ::-1]
        moved = replace(r, ref_x0=None if r.ref_x0 is None else r.width - 1 - r.ref_x0)
    regions = case.regions[:k] + (moved,) + case.regions[k + 1:]
    return _case(view, case.seed, frames, masks, regions, case.frame_time_ms, case.heart_rate_bpm, case.style,
                 case.monochrome, float(case.truth["depth_cm"]))
