"""B-mode rendering of the synthetic A4C heart: echogenicity, speckle, gain, artefacts, screen.

The image is computed on a low-resolution grid over the fan's bounding box (about half the screen
resolution), coloured with the case's style and upsampled, then cut to the fan and overlaid with
the screen furniture. Echogenicity follows the distance to the nearest blood pool (myocardium,
effusion, pericardium, surrounding tissue), with walls brighter where they face the beam.
Speckle is Rayleigh-like noise correlated along the beam (short) and across it (long, in angle, so
the grain widens with depth), generated once per cine in polar coordinates and slowly decorrelated
over time. Truth masks are rasterised from the same polygons at full resolution.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage as ndi

from echoseg.synth import anatomy as an
from echoseg.synth.a4c_screen import Screen, overlay_layers
from echoseg.synth.styles import Style

if TYPE_CHECKING:
    from echoseg.synth.a4c import Timing

LA, RA, LV, RV, EXTRA = 1, 2, 3, 4, 5


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.hypot(v[0], v[1])), 1e-9)


def _circle(c: np.ndarray, r: float, n: int = 28) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([c[0] + r * np.cos(t), c[1] + r * np.sin(t)], axis=1)


def leaflets(hinge_sep: np.ndarray, hinge_lat: np.ndarray, apex: np.ndarray, opening: float, tent: float,
             coapt: float) -> list[np.ndarray]:
    """Two AV-valve leaflets as 3-point polylines (same units as the inputs).

    Closed (opening 0): both meet at a coaptation point ``tent`` toward the apex from the annulus
    line, on the ventricular side, so they never enter the atrium. Open (1): both point to the apex.
    """
    m = 0.5 * (hinge_sep + hinge_lat)
    a = _unit(apex - m)
    ab = hinge_lat - hinge_sep
    c = m + coapt * ab + tent * a
    out = []
    for hinge, sgn in ((hinge_sep, -1.0), (hinge_lat, 1.0)):
        closed = _unit(c - hinge)
        length = 1.06 * float(np.hypot(*(c - hinge)))
        open_dir = _unit(a + sgn * 0.18 * _unit(ab))
        d = _unit((1 - opening) * closed + opening * open_dir)
        tip = hinge + length * d
        perp = np.array([-d[1], d[0]])
        mid = hinge + 0.5 * length * d + perp * 0.08 * length * sgn * (1 - opening)
        out.append(np.stack([hinge, mid, tip]))
    return out


def _speckle_fields(rng: np.random.Generator, r: np.ndarray, th: np.ndarray, depth: float, half: float,
                    px_cm: float) -> list[np.ndarray]:
    """Four unit-power speckle fields made in polar coordinates (axial x angular), sampled at (r, th).

    ``px_cm`` is the low-res grid spacing in cm, which sets the polar grid's resolution.
    """
    u = rng.uniform
    n_r = int(np.ceil(depth / px_cm)) + 2
    n_t = int(np.ceil(n_r * 2 * half)) + 2
    sig = (u(0.5, 1.0), u(1.2, 3.0))
    z = [ndi.gaussian_filter(rng.standard_normal((n_r, n_t)).astype(np.float32), sig) for _ in range(4)]
    norm = np.sqrt(np.mean(z[0] ** 2 + z[1] ** 2)) * np.sqrt(np.pi / 4)
    z = [zz / norm for zz in z]
    ri = np.clip(np.round(r / depth * (n_r - 1)), 0, n_r - 1).astype(np.intp)
    ti = np.clip(np.round((th + half) / (2 * half) * (n_t - 1)), 0, n_t - 1).astype(np.intp)
    return [zz[ri, ti] for zz in z]


def _static_gain(rng: np.random.Generator, r: np.ndarray, th: np.ndarray, depth: float, half: float) -> np.ndarray:
    """Static gain over the grid: TGC with attenuation, lateral fall-off and, sometimes, a rib / lung shadow."""
    u = rng.uniform
    knots = np.linspace(0, depth, 6)
    tgc = np.exp(np.interp(r, knots, rng.normal(0, 0.18, 6))) * np.exp(-u(0.02, 0.1) * r)
    lat = 1 - u(0.1, 0.5) * (np.abs(th) / half) ** u(3, 6)
    gain = tgc * lat
    if rng.random() < 0.35:  # rib / lung shadow wedge
        t0, w = u(-half, half), np.deg2rad(u(3, 9))
        r0 = u(0.5, 6.0)
        wedge = np.exp(-((th - t0) / w) ** 4) * (1 / (1 + np.exp(-(r - r0) / 0.3)))
        gain = gain * (1 - u(0.4, 0.8) * wedge)
    return gain.astype(np.float32)


def _near_field_clutter(rng: np.random.Generator, r: np.ndarray) -> np.ndarray:
    """Near-field clutter decaying with range plus up to three reverberation arcs."""
    u = rng.uniform
    r_cw = u(1.2, 2.5)
    clutter = u(0.02, 0.2) * np.exp(-r / u(0.8, 2.0))
    for k in range(1, 4):
        clutter += u(0.0, 0.12) / k * np.exp(-((r - k * r_cw) / u(0.1, 0.25)) ** 2)
    return clutter.astype(np.float32)


def _dropout(rng: np.random.Generator, X: np.ndarray, Y: np.ndarray, p: an.HeartParams,
             placement: an.Placement) -> np.ndarray:
    """Multiplicative dropout (1 = none) from a few Gaussian spots on the atrial septum, walls and apex."""
    u = rng.uniform
    h = an.heart_at(p, placement, 0.5)
    spots = []
    if rng.random() < 0.45:
        spots.append((an.canonical_point(p, placement, 0.0, 0.5 * p.la_len, 0.5), u(0.6, 1.5), u(0.5, 0.9)))
    if rng.random() < 0.35:
        spots.append((h["lv"][int(1.6 * an.N_SIDE)], u(1.0, 2.5), u(0.4, 0.85)))
    if rng.random() < 0.3:
        spots.append((h["ra"][int(1.4 * an.N_SIDE)], u(1.0, 2.5), u(0.4, 0.85)))
    if rng.random() < 0.2:
        spots.append((h["lv_apex"], u(1.0, 2.0), u(0.3, 0.7)))
    drop = np.ones_like(X)
    for c, rad, amt in spots:
        drop *= 1 - amt * np.exp(-((X - c[0]) ** 2 + (Y - c[1]) ** 2) / rad ** 2)
    return drop.astype(np.float32)


class Renderer:
    """Per-cine rendering state (grids, speckle, gains, extras), drawn from ``rng`` at construction."""

    def __init__(self, rng: np.random.Generator, screen: Screen, style: Style, params: an.HeartParams,
                 placement: an.Placement, timing: Timing) -> None:
        u = rng.uniform
        self.screen, self.style, self.p, self.pl, self.timing = screen, style, params, placement, timing
        self._set_grid(u(1.8, 2.5))
        depth, half = screen.depth_cm, screen.half_angle
        self.z = _speckle_fields(rng, self.r, self.th, depth, half, screen.cm_per_px * 0.5 * (self.sx + self.sy))
        self.w_tissue, self.w_blood = u(2.0, 8.0), u(15.0, 40.0)
        self.speck_pow = u(0.7, 1.1)
        self.gain = _static_gain(rng, self.r, self.th, depth, half)
        self.clutter = _near_field_clutter(rng, self.r)
        self.floor = u(0.0, 0.04)
        self.tex = self._texture(rng, u(0.8, 2.0), u(0.3, 0.8), 0.05, 2.2)
        self.myo_tex = self._texture(rng, u(0.3, 0.8), u(0.1, 0.35), 0.3, 2.0)
        self.peri_tex = self._texture(rng, u(1.0, 3.0), u(0.1, 0.4), 0.3, 1.5)
        self._sample_echogenicity(rng)
        self._sample_extras(rng)
        self.dropout = _dropout(rng, self.X, self.Y, params, placement)
        self.alpha, self.prem, self.cursor, self.cursor_rgb = overlay_layers(rng, screen, style, timing.times, timing.rr)

    def _set_grid(self, f_draw: float) -> None:
        """The low-res grid over the fan's box, about ``f_draw`` x coarser (at most ~250 rows), in cm and polar form."""
        screen = self.screen
        cm = screen.cm_per_px
        self.box = bx0, by0, bx1, by1 = screen.tissue_box()
        hr, wr = by1 - by0 + 1, bx1 - bx0 + 1
        f = max(f_draw, hr / 250.0)
        self.hl, self.wl = int(np.ceil(hr / f)), int(np.ceil(wr / f))
        self.sx, self.sy = wr / self.wl, hr / self.hl
        cols = bx0 + (np.arange(self.wl) + 0.5) * self.sx - 0.5
        rows = by0 + (np.arange(self.hl) + 0.5) * self.sy - 0.5
        self.X = ((cols - screen.ax) * cm)[None, :].repeat(self.hl, 0)
        self.Y = ((rows - screen.ay) * cm)[:, None].repeat(self.wl, 1)
        self.r = np.hypot(self.X, self.Y)
        self.th = np.arctan2(self.X, self.Y)
        self.bx = (self.X / np.maximum(self.r, 1e-6)).astype(np.float32)
        self.by = (self.Y / np.maximum(self.r, 1e-6)).astype(np.float32)
        self.fan_full = screen.fan_image()[by0:by1 + 1, bx0:bx1 + 1]
        self.cy, self.cx = cm * self.sy, cm * self.sx

    def _sample_echogenicity(self, rng: np.random.Generator) -> None:
        """Tissue and blood levels, wall-angle dependence, effusion, compression, blur and edge enhancement."""
        u = rng.uniform
        self.lv_blood = u(0.0, 0.03)
        self.m_level, self.p_level, self.o_level = u(0.4, 0.75), u(0.65, 1.0), u(0.03, 0.16)
        self.kappa = u(0.3, 0.75)
        self.eff = u(0.3, 1.2) if rng.random() < 0.08 else 0.0
        self.peri_w = u(0.08, 0.2)
        self.compress = u(2.0, 15.0)
        self.blur = u(0.4, 1.5)
        self.lat_blur = u(0.8, 2.5) if rng.random() < 0.6 else 0.0
        self.lat_w = np.clip(self.r / self.screen.depth_cm, 0, 1).astype(np.float32)
        self.sharpen = u(0.2, 0.8) if rng.random() < 0.35 else 0.0
        self.leaf_level = u(0.45, 0.8)
        self.resample = Image.Resampling.BILINEAR if rng.random() < 0.6 else Image.Resampling.BICUBIC

    def _sample_extras(self, rng: np.random.Generator) -> None:
        """Anatomy extras in the canonical frame: valves, aorta, pulmonary veins, papillary muscle,
        moderator band, and the slow probe drift."""
        u = rng.uniform
        p = self.p
        self.mv_valve = (u(0.3, 0.7), u(0.0, 0.15))
        self.tv_valve = (u(0.3, 0.7), u(-0.1, 0.1))
        self.aorta = None
        if rng.random() < 0.6:
            self.aorta = (0.5 * p.crux + p.d_mv * u(0.6, 1.4), p.la_len + u(1.5, 2.6), u(0.7, 1.1))
        self.veins = [(u(0.55, 0.72) if k == 0 else u(0.25, 0.4), u(0.6, 1.0), u(1.0, 2.2))
                      for k in range(int(rng.choice([0, 0, 1, 2])))]
        self.papillary = rng.random() < 0.7
        self.moderator = rng.random() < 0.45
        self.drift = (u(0.0, 0.25), u(3.0, 5.0), u(0, 2 * np.pi), u(0, 2 * np.pi))

    def _texture(self, rng: np.random.Generator, sigma_cm: float, contrast: float, lo: float, hi: float) -> np.ndarray:
        """Smooth multiplicative texture (mean 1) on the low-res grid, made on a 4x coarser grid."""
        h, w = self.hl // 4 + 2, self.wl // 4 + 2
        t = ndi.gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), sigma_cm / (4 * self.cx), mode="wrap")
        t = np.asarray(Image.fromarray(t).resize((self.wl, self.hl), Image.Resampling.BILINEAR))
        return np.clip(1 + t / (t.std() + 1e-9) * contrast, lo, hi).astype(np.float32)

    # coordinates -----------------------------------------------------------------------------
    def to_px(self, pts_cm: np.ndarray) -> np.ndarray:
        cm = self.screen.cm_per_px
        return np.stack([self.screen.ax + pts_cm[..., 0] / cm, self.screen.ay + pts_cm[..., 1] / cm], axis=-1)

    def to_low(self, pts_px: np.ndarray) -> np.ndarray:
        bx0, by0 = self.box[0], self.box[1]
        return np.stack([(pts_px[..., 0] - bx0 + 0.5) / self.sx - 0.5, (pts_px[..., 1] - by0 + 0.5) / self.sy - 0.5],
                        axis=-1)

    def shift(self, t: float) -> tuple[float, float]:
        a, period, p1, p2 = self.drift
        return (a * np.sin(2 * np.pi * t / period + p1), 0.5 * a * np.sin(2 * np.pi * t / period + p2))

    # one frame ---------------------------------------------------------------------------------
    def _extras(self, h: dict[str, np.ndarray], g: float, sh: tuple[float, float]) -> list[np.ndarray]:
        out = []
        if self.aorta is not None:
            ua, va, ra = self.aorta
            out.append(_circle(an.canonical_point(self.p, self.pl, ua, va, g, sh), ra * self.pl.scale))
        la = h["la"]
        cen = la.mean(axis=0)
        n = len(la)
        for frac, width, length in self.veins:
            v = la[int(frac * (n - 1))]
            out_d = _unit(v - cen)
            perp = np.array([-out_d[1], out_d[0]])
            base = v - 0.4 * out_d
            end = v + length * _unit(out_d + 0.3 * perp)
            out.append(np.stack([base - perp * width / 2, end - perp * width * 0.4, end + perp * width * 0.4,
                                 base + perp * width / 2]))
        return out

    def _bright(self, h: dict[str, np.ndarray], k: int) -> Image.Image:
        """Leaflets, annulus hinges, papillary muscles and moderator band on the low-res grid."""
        img = Image.new("F", (self.wl, self.hl), 0.0)
        draw = ImageDraw.Draw(img)
        low = lambda pts: self.to_low(self.to_px(pts))  # noqa: E731
        width = max(1, int(round(0.16 / self.cx)))
        o = float(self.timing.opening[k])
        n = an.N_SIDE
        for sep, lat, apex, (tent, co) in ((h["mv_sep"], h["mv_lat"], h["lv_apex"], self.mv_valve),
                                           (h["tv_sep"], h["tv_lat"], h["rv"][n - 1], self.tv_valve)):
            for leaf in leaflets(sep, lat, apex, o, tent, co):
                draw.line([tuple(q) for q in low(leaf).tolist()], fill=1.0, width=width)
            for hinge in (sep, lat):
                c = low(hinge)
                rad = 0.22 / self.cx
                draw.ellipse((c[0] - rad, c[1] - rad, c[0] + rad, c[1] + rad), fill=0.9)
        lv = h["lv"]
        if self.papillary:
            i = n // 2
            lat_pt, sep_pt = lv[2 * n - 2 - i], lv[i]
            c = low(lat_pt + 0.16 * (sep_pt - lat_pt))
            rx, ry = 0.45 / self.cx, 0.3 / self.cx
            draw.ellipse((c[0] - rx, c[1] - ry, c[0] + rx, c[1] + ry), fill=0.6)
        if self.moderator:
            rv = h["rv"]
            i = int(0.7 * n)
            draw.line([tuple(q) for q in low(np.stack([rv[i], rv[2 * n - 2 - i]])).tolist()], fill=0.6, width=width)
        return img

    def _label_grid(self, h: dict[str, np.ndarray], g: float, sh: tuple[float, float],
                    polys: dict[str, np.ndarray]) -> np.ndarray:
        """Low-res blood-pool labels: extras (EXTRA) under the chambers (LV, RV, LA, RA); 0 elsewhere."""
        lab = np.zeros((self.hl, self.wl), np.uint8)
        for poly in self._extras(h, g, sh):
            an.rasterize(self.to_low(self.to_px(poly)), lab.shape, lab, EXTRA)
        for name, val in (("lv", LV), ("rv", RV), ("la", LA), ("ra", RA)):
            an.rasterize(self.to_low(polys[name]), lab.shape, lab, val)
        return lab

    def _tissue(self, lab: np.ndarray, blood: np.ndarray, g: float) -> np.ndarray:
        """Tissue echogenicity from the distance to the nearest blood pool: myocardium (wall thickness of
        that pool, brighter facing the beam), effusion gap, pericardium and surrounding tissue."""
        d, ind = ndi.distance_transform_edt(~blood, sampling=(self.cy, self.cx), return_indices=True)
        near = lab[ind[0], ind[1]]
        p = self.p
        walls = np.array([0.0, p.atrial_wall, p.atrial_wall, p.lv_wall * (1 + 0.4 * g), p.rv_wall * (1 + 0.3 * g), 0.12],
                         np.float32)
        wt = walls[near]
        d = d.astype(np.float32)
        gy, gx = np.gradient(ndi.gaussian_filter(d, 1.5), self.cy, self.cx)
        cosang = np.abs(gx * self.bx + gy * self.by) / (np.hypot(gx, gy) + np.float32(1e-6))
        angf = (1 - self.kappa) + self.kappa * cosang * np.sqrt(cosang)
        e = d - wt
        myo = 1 / (1 + np.exp(np.minimum(e / np.float32(0.07), 60)))
        e -= np.float32(self.eff + 0.12)
        peri = np.exp(-(e / np.float32(self.peri_w)) ** 2)
        outw = 1 / (1 + np.exp(np.minimum(-(e + np.float32(0.02)) / np.float32(0.12), 60)))
        tissue = np.maximum(myo * np.float32(self.m_level) * angf * self.myo_tex,
                            peri * np.float32(self.p_level) * (0.5 + 0.5 * angf) * self.peri_tex) * self.dropout
        return np.maximum(tissue, outw * np.float32(self.o_level) * self.tex)

    def _beam_blur(self, inten: np.ndarray) -> np.ndarray:
        """Point-spread blur, plus lateral smear growing with range (beam widening with depth)."""
        inten = ndi.gaussian_filter(inten.astype(np.float32), self.blur)
        if self.lat_blur > 0:
            wide = ndi.gaussian_filter1d(inten, self.lat_blur, axis=1)
            inten += self.lat_w * (wide - inten)
        return inten

    def _speckled_display(self, inten: np.ndarray, t: float) -> np.ndarray:
        """Speckle at time ``t`` (tissue and blood fields decorrelating at their own rates), gains, clutter,
        log compression and optional vendor edge enhancement."""
        ph, phb = self.w_tissue * t, self.w_blood * t
        z = self.z
        c, sn, cb, sb = (np.float32(v) for v in (np.cos(ph), np.sin(ph), np.cos(phb), np.sin(phb)))
        s_t = np.hypot(c * z[0] + sn * z[1], c * z[2] + sn * z[3])
        s_b = np.hypot(cb * z[1] - sb * z[0], cb * z[3] - sb * z[2])
        img = inten * s_t ** self.speck_pow
        img = img * self.gain + (self.clutter + self.floor) * s_b
        img = np.log1p(np.float32(self.compress) * np.maximum(img, 0)) * np.float32(1 / np.log1p(self.compress))
        if self.sharpen > 0:  # vendor edge enhancement
            img = img + np.float32(self.sharpen) * (img - ndi.gaussian_filter(img, 1.2))
        return img

    def geometry(self, k: int) -> tuple[float, float, dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
        """Frame k's time (s), contraction g, heart (screen cm), chamber polygons (full-res px) and
        label grid (low-res; > 0 in blood): what every appearance of the frame starts from."""
        t, g = float(self.timing.times[k]), float(self.timing.g[k])
        sh = self.shift(t)
        h = an.heart_at(self.p, self.pl, g, sh)
        polys = {name: self.to_px(h[name]) for name in ("la", "ra", "lv", "rv")}
        return t, g, h, polys, self._label_grid(h, g, sh, polys)

    def frame(self, k: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Low-res coloured frame k (h, w, 3) uint8 and its chamber polygons in full-res pixels."""
        t, g, h, polys, lab = self.geometry(k)
        blood = lab > 0
        tissue = self._tissue(lab, blood, g)
        bright = np.asarray(self._bright(h, k), np.float32) * self.leaf_level
        inten = np.where(blood, np.float32(self.lv_blood), tissue)
        inten = self._beam_blur(np.maximum(inten, bright))
        rgb = self.style.colorize(self._speckled_display(inten, t))
        if self.style.monochrome:  # equal channels here stay equal through resizing and overlays
            rgb[:] = rgb.mean(axis=-1, dtype=np.float32, keepdims=True).round().astype(np.uint8)
        return rgb, polys

    def render_all(self, frame: Callable[[int], tuple[np.ndarray, dict[str, np.ndarray]]] | None = None
                   ) -> tuple[np.ndarray, np.ndarray, list[dict[str, np.ndarray]]]:
        """All frames (T, H, W, 3) uint8, label masks (T, H, W) uint8 and per-frame pixel polygons.

        ``frame(k)`` gives frame k's picture of the fan's box (low-res, upsampled here, or already at
        the box size) and its polygons; default :meth:`frame` (the classic appearance).
        """
        frame = self.frame if frame is None else frame
        sc = self.screen
        n = len(self.timing.times)
        frames = np.zeros((n, sc.rows, sc.cols, 3), np.uint8)
        masks = np.zeros((n, sc.rows, sc.cols), np.uint8)
        bx0, by0, bx1, by1 = self.box
        fan3 = np.repeat(self.fan_full[..., None].astype(np.uint8), 3, axis=-1)
        all_polys = []
        for k in range(n):
            low, polys = frame(k)
            size = (bx1 - bx0 + 1, by1 - by0 + 1)
            up = low if low.shape[1::-1] == size else np.asarray(Image.fromarray(low).resize(size, self.resample))
            np.multiply(up, fan3, out=frames[k, by0:by1 + 1, bx0:bx1 + 1])
            for name, val in (("lv", LV), ("rv", RV), ("la", LA), ("ra", RA)):
                an.rasterize(polys[name], masks.shape[1:], masks[k], val)
            all_polys.append(polys)
        masks[:, by0:by1 + 1, bx0:bx1 + 1] *= self.fan_full
        masks[:, :by0] = 0
        masks[:, by1 + 1:] = 0
        masks[:, :, :bx0] = 0
        masks[:, :, bx1 + 1:] = 0
        ys, xs = np.nonzero(self.alpha > 0.004)
        if ys.size:
            a = self.alpha[ys, xs][None, :, None]
            frames[:, ys, xs] = (self.prem[ys, xs][None] + frames[:, ys, xs] * (1 - a)).astype(np.uint8)
        if self.cursor is not None and sc.ecg is not None:
            ey0, ey1 = sc.ecg[1], sc.ecg[3]
            for k, cx in enumerate(self.cursor):
                frames[k, ey0:ey1 + 1, cx:cx + 2] = self.cursor_rgb
        return frames, masks, all_polys
