"""The 'scanner' appearance of the synthetic A4C: B-mode formed as a scanner forms it.

Where the classic renderer (:mod:`echoseg.synth.a4c_render`) paints an echogenicity map and
multiplies speckle in, this path computes the image from the anatomy the way the machine does, on
the scan lines (:mod:`echoseg.synth.a4c_bmode`): scatterers whose strength comes from the label map
(myocardium, pericardium, chest wall; blood weak but not black, with slowly moving "smoke"), the
point-spread function along and across the beam (widening with depth), attenuation along the lines
(ribs, lung, calcium and bright walls shadow what lies behind them), electronic noise, TGC, envelope
detection, log compression with a random dynamic range, gain and reject, optional speckle
reduction and persistence, then scan conversion into the sector and a vendor-like grey map.
Near-field haze, chest-wall reverberation bands, side-lobe clutter over the cavities and
flickering valve leaflets are added on the lines too.

:func:`sample_view` draws the scanner's view geometry (depth 12-24 cm, narrow or wide sectors,
zoomed sectors cut by the image sides, RV-focused views); the case generator
(:func:`echoseg.synth.a4c.generate_a4c`) fits the heart into it. The truth still comes from the
chamber polygons, so the appearance never changes the masks.

Everything random here comes from the case's *scanner* generator (its own stream), so the rest of a
case (anatomy, motion, timing, screen text) draws exactly what it always drew.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage as ndi

from echoseg.synth import a4c_bmode as bm
from echoseg.synth import anatomy as an
from echoseg.synth.a4c_screen import Screen
from echoseg.synth.styles import Style, _lut

if TYPE_CHECKING:
    from echoseg.synth.a4c_render import Renderer

SCANNER_FAMILY = "scanner"

# vendor-like grey maps: control points intensity 0..1 -> RGB 0..1 (one colour per level)
GREY_MAPS: dict[str, list[tuple[float, tuple[float, float, float]]]] = {
    "linear": [(0, (0, 0, 0)), (1, (1, 1, 1))],
    "s_curve": [(0, (0, 0, 0)), (0.25, (0.12, 0.12, 0.12)), (0.6, (0.62, 0.62, 0.62)), (1, (1, 1, 1))],
    "lifted": [(0, (0, 0, 0)), (0.1, (0.12, 0.12, 0.12)), (0.5, (0.6, 0.6, 0.6)), (1, (1, 1, 1))],
    "dark": [(0, (0, 0, 0)), (0.4, (0.2, 0.2, 0.2)), (0.8, (0.7, 0.7, 0.7)), (1, (1, 1, 1))],
    "warm": [(0, (0, 0, 0)), (0.5, (0.56, 0.5, 0.42)), (1, (1, 0.96, 0.88))],
    "cool": [(0, (0, 0, 0.01)), (0.5, (0.45, 0.5, 0.56)), (1, (0.9, 0.95, 1))],
    "bronze": [(0, (0, 0, 0)), (0.5, (0.55, 0.45, 0.3)), (1, (1, 0.94, 0.8))],
}
_TINTED = ("warm", "cool", "bronze")


def scanner_style(rng: np.random.Generator) -> Style:
    """A vendor-like display: one of :data:`GREY_MAPS` with a little jitter, white-ish text."""
    name = str(rng.choice(list(GREY_MAPS)))
    j = float(rng.uniform(0.92, 1.08))
    pts: list[tuple[float, tuple[float, float, float]]] = []
    for x, (r, g, b) in GREY_MAPS[name]:
        f = j if 0 < x < 1 else 1.0
        pts.append((x, (min(r * f, 1.0), min(g * f, 1.0), min(b * f, 1.0))))
    mono = name not in _TINTED and bool(rng.random() < 0.5)
    texts = [(230, 230, 230), (255, 255, 255), (200, 200, 200), (240, 230, 150), (150, 220, 255)]
    return Style(family=SCANNER_FAMILY, lut=_lut(pts), text_rgb=texts[int(rng.integers(0, len(texts)))], gamma=1.0,
                 gain=1.0, noise=1.0, monochrome=mono)


@dataclass(frozen=True)
class ScannerView:
    """View geometry a sonographer chooses: depth, sector width, zoom and focus on the RV."""

    depth_cm: float           # wanted depth (raised when the heart needs more)
    half_angle: float | None  # radians; None keeps the screen's
    zoom: float               # >= 1: the fan is this much larger than the image allows (sides and bottom cut)
    rv_focus: bool
    r0_frac: float = 0.0      # near-field top of the sector (an arc), as a fraction of the radius


def sample_view(rng: np.random.Generator) -> ScannerView:
    """Depth 12-24 cm, sector 40-90 degrees (a third narrow), a quarter zoomed, 15 % RV-focused, a
    flat or arc-shaped near-field top."""
    u = rng.uniform
    depth = float(u(12.0, 24.0) if rng.random() < 0.6 else u(14.0, 19.0))
    pick = rng.random()
    half = (float(np.deg2rad(u(20.0, 30.0))) if pick < 0.3
            else float(np.deg2rad(u(38.0, 45.0))) if pick < 0.5 else None)
    zoom = float(u(1.1, 1.5)) if rng.random() < 0.25 else 1.0
    return ScannerView(depth_cm=depth, half_angle=half, zoom=zoom, rv_focus=bool(rng.random() < 0.15),
                       r0_frac=float(u(0.0, 0.09)))


def apply_view(screen: Screen, view: ScannerView) -> Screen:
    """The screen with the view's sector width and (zoom) a fan allowed wider than the image."""
    half = screen.half_angle if view.half_angle is None else view.half_angle
    bottom = (screen.ecg[1] - 6) if screen.ecg is not None else screen.rows - 3
    r_v = bottom - screen.ay
    r_h = (min(screen.ax, screen.cols - 1 - screen.ax) - 2) / np.sin(half)
    radius = int(max(min(r_v, r_h) * view.zoom, 48))  # zoom: the fan runs off the image sides and bottom
    y_max = bottom if screen.ay + radius > bottom else None
    return replace(screen, half_angle=float(half), radius_px=radius, r0_px=view.r0_frac * radius, y_max=y_max)


def atria_visible(p: an.HeartParams, pl: an.Placement, screen: Screen, margin_px: float = 3.0) -> bool:
    """True when both atria (at end-diastole and end-systole, with room for the probe drift) lie
    inside the fan and the image, so the truth masks are whole."""
    cm = screen.cm_per_px
    pts = []
    for g in (0.0, 1.0):
        h = an.heart_at(p, pl, g)
        pts += [h["la"], h["ra"]]
    q = np.concatenate(pts)
    x, y = screen.ax + q[:, 0] / cm, screen.ay + q[:, 1] / cm
    m = margin_px + 0.3 / cm  # drift is at most 0.25 cm
    inside = screen.fan_mask(x, y, margin_px=-m)
    return bool(inside.all() and x.min() >= m and x.max() <= screen.cols - 1 - m and y.max() <= screen.rows - 1 - m)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: tuple[float, float]) -> np.ndarray:
    """Zero-mean unit-std smooth random field (float32), made on a 4x coarser grid and zoomed up."""
    small = (max(shape[0] // 4, 4), max(shape[1] // 4, 4))
    f = ndi.gaussian_filter(rng.standard_normal(small).astype(np.float32), (sigma[0] / 4, sigma[1] / 4), mode="wrap")
    f = ndi.zoom(f, (shape[0] / small[0], shape[1] / small[1]), order=1)[: shape[0], : shape[1]]
    f = np.pad(f, ((0, shape[0] - f.shape[0]), (0, shape[1] - f.shape[1])), mode="edge")
    return ((f - f.mean()) / (f.std() + 1e-9)).astype(np.float32)


@dataclass(frozen=True)
class BeamFrame:
    """One frame's stages on the scan lines (each (n_r, n_t)): the scatterers' variance, the envelope
    after the point-spread function alone, the received envelope (attenuation, noise, clutter, TGC)
    and the display level after log compression and post-processing (0..1)."""

    backscatter: np.ndarray
    psf_envelope: np.ndarray
    envelope: np.ndarray
    display: np.ndarray
    polys: dict[str, np.ndarray]


class ScannerRenderer:
    """Per-cine state of the scanner appearance on top of a classic :class:`Renderer`'s geometry.

    The renderer supplies, per frame, the heart polygons, the blood-pool label grid, the tissue
    echogenicity (walls, pericardium, texture) and the bright structures (leaflets, papillary
    muscles); this class turns them into B-mode on the scan lines and scan-converts it to the fan's
    bounding box at full resolution.
    """

    def __init__(self, rng: np.random.Generator, base: Renderer) -> None:
        u = rng.uniform
        self.base, self.rng = base, rng
        sc = base.screen
        depth, half, cm = sc.depth_cm, sc.half_angle, sc.cm_per_px
        self.f_mhz = float(u(1.7, 3.5))
        wavelength = 0.154 / self.f_mhz
        sig_ax = float(u(0.018, 0.04))
        dr = max(sig_ax / u(1.0, 1.4), depth / (1.3 * sc.radius_px))
        n_r = int(np.ceil(depth / dr)) + 8  # a few empty samples past the bottom (circular axial filter)
        aperture = float(u(1.4, 2.2))
        fwhm = 0.99 * wavelength / aperture  # far-field beam width (radians)
        n_t = int(np.clip(round(2 * half / (fwhm * u(0.4, 0.7))), 32, 256))  # lines sample the beam
        self.grid = bm.BeamGrid(depth_cm=n_r * (depth / np.ceil(depth / dr)), half_angle=half, n_r=n_r, n_t=n_t)
        g = self.grid
        r = g.r
        self.h_ax = bm.axial_transfer(n_r, g.dr, max(sig_ax, 0.8 * g.dr), tail=float(u(0.0, 0.6)))
        focus = float(u(0.4, 0.8) * depth)
        sig_lat = bm.lateral_sigma_cm(r, aperture, wavelength, focus, float(u(0.2, 0.35)))
        self.sig_lines = sig_lat / (np.maximum(r, 0.05) * g.dtheta)
        self.focus_cm = focus
        # beam-domain sample positions on the renderer's low-res grid
        x, y = g.cartesian()
        px, py = sc.ax + x / cm, sc.ay + y / cm
        low = base.to_low(np.stack([px, py], axis=-1))
        self.low_coords = np.stack([low[..., 1], low[..., 0]]).astype(np.float32)  # (row, col)
        self.r2d = np.broadcast_to(r[:, None], (n_r, n_t))
        self.th2d = np.broadcast_to(g.theta[None, :], (n_r, n_t))
        bx0, by0, bx1, by1 = base.box
        cols = (np.arange(bx0, bx1 + 1) - sc.ax) * cm
        rows = (np.arange(by0, by1 + 1) - sc.ay) * cm
        self.convert = bm.ScanConverter(g, cols[None, :].repeat(len(rows), 0), rows[:, None].repeat(len(cols), 1))
        self._focus_marker(rng)
        self._sample_tissue(rng)
        self._sample_medium(rng)
        self._sample_display(rng)
        n_f = len(base.timing.times)
        self.flicker = np.clip(rng.lognormal(0.0, 0.45, n_f), 0.15, 1.6).astype(np.float32)
        self.z = [bm.complex_gaussian(rng, (n_r, n_t)) for _ in range(4)]
        self.noise_rng = np.random.default_rng(rng.integers(0, 2 ** 63))
        self._prev: np.ndarray | None = None

    def _focus_marker(self, rng: np.random.Generator) -> None:
        """Sometimes a small focus marker beside the sector edge at the focal depth (screen furniture)."""
        if rng.random() > 0.6:
            return
        b, sc = self.base, self.base.screen
        edge = sc.half_angle + np.deg2rad(float(rng.uniform(3.0, 6.0)))
        sgn = 1.0 if rng.random() < 0.5 else -1.0
        r = self.focus_cm / sc.cm_per_px
        x, y = sc.ax + sgn * r * np.sin(edge), sc.ay + r * np.cos(edge)
        size = 4.0 + 3.0 * float(rng.random())
        y0, y1 = max(int(y - size), 0), min(int(y + size) + 1, sc.rows)
        x0, x1 = max(int(x - size), 0), min(int(x + size) + 1, sc.cols)
        if y1 <= y0 or x1 <= x0:
            return
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        tri = (np.abs(yy - y) <= size - sgn * (xx - x)) & (np.abs(xx - x) <= size)  # a triangle pointing in
        tri &= ~sc.fan_mask(xx, yy, margin_px=2)
        b.prem[y0:y1, x0:x1][tri] = np.asarray(b.style.text_rgb, np.float32)
        b.alpha[y0:y1, x0:x1][tri] = 1.0

    # per-cine parameters --------------------------------------------------------------------
    def _sample_tissue(self, rng: np.random.Generator) -> None:
        """Backscatter levels: tissue range, blood level and smoke, chest wall layers, haze, reverberation."""
        u = rng.uniform
        g = self.grid
        self.tissue_range_db = float(u(45.0, 62.0))
        self.tissue_pow = float(u(0.8, 1.3))
        # echo levels 0..1 of the tissue map (:meth:`_tissue_echo`)
        self.m_level, self.spec, self.kappa = float(u(0.4, 0.65)), float(u(0.1, 0.35)), float(u(0.1, 0.45))
        self.p_level, self.o_level, self.peri_w = float(u(0.75, 1.0)), float(u(0.1, 0.45)), float(u(0.1, 0.3))
        # a typical myocardial level (walls along the beam are weaker than those facing it)
        self.myo_db = float(-self.tissue_range_db * (1 - self.m_level) ** self.tissue_pow)
        out_db = float(-self.tissue_range_db * (1 - self.o_level) ** self.tissue_pow)
        self.blood_db = min(self.myo_db, out_db) - float(u(22.0, 38.0))  # weak scatterers, 22-38 dB under tissue
        self.smoke = _smooth_field(rng, (g.n_r, g.n_t), (u(8, 30), u(3, 10))) * np.float32(u(2.0, 6.0))
        self.w_tissue, self.w_blood = float(u(1.5, 6.0)), float(u(20.0, 60.0))
        r = self.r2d
        chest = np.zeros((g.n_r, g.n_t), np.float32)
        self.layers = []
        for _ in range(int(rng.integers(2, 5))):
            rk, wk, lk = float(u(0.15, 2.2)), float(u(0.04, 0.2)), float(u(-20.0, -6.0))
            self.layers.append((rk, wk, lk))
            chest += np.float32(10 ** (lk / 10)) * np.exp(-((r - rk) / wk) ** 2)
        lat = 1 + 0.6 * _smooth_field(rng, (g.n_r, g.n_t), (40, u(4, 12)))
        haze_db, haze_len = float(u(-34.0, -16.0)), float(u(1.0, 2.5))  # near-field haze, filling the apex
        haze = np.float32(10 ** (haze_db / 10)) * np.exp(-(r / haze_len) ** 2) * np.clip(lat, 0.1, None)
        reverb = np.zeros_like(chest)
        if rng.random() < 0.7:  # multiples of the chest-wall layers, often over part of the sector
            t0, tw = u(-g.half_angle, g.half_angle), u(0.2, 1.0) * g.half_angle
            span = np.exp(-((self.th2d - t0) / tw) ** 4) if rng.random() < 0.6 else 1.0
            for rk, wk, lk in self.layers:
                for m in (2, 3):
                    drop = float(u(12.0, 22.0)) * (m - 1)
                    reverb += np.float32(10 ** ((lk - drop) / 10)) * np.exp(-((r - m * rk) / (wk * m)) ** 2)
            reverb = reverb * span
        self.extra_var = (chest + haze + reverb).astype(np.float32)  # incoherent extra backscatter

    def _sample_medium(self, rng: np.random.Generator) -> None:
        """Attenuation (tissue, blood, bright reflectors, ribs, lung, calcium), noise and TGC."""
        u = rng.uniform
        g = self.grid
        self.alpha_t = float(u(0.3, 0.55)) * self.f_mhz  # dB/cm one way
        self.alpha_b = 0.15 * self.f_mhz
        self.strong_thr, self.strong_alpha = float(u(0.85, 0.95)), float(u(1.0, 4.0))
        r, th = self.r2d, self.th2d
        extra = np.zeros((g.n_r, g.n_t), np.float32)
        if rng.random() < 0.35:  # rib shadow, toward a side of the sector (the window is between ribs)
            t0 = (1.0 if rng.random() < 0.5 else -1.0) * g.half_angle * u(0.45, 1.0)
            w, r0, thick = np.deg2rad(u(2.0, 7.0)), u(0.4, 3.0), u(0.3, 0.8)
            wedge = np.exp(-((th - t0) / w) ** 4) * (np.abs(r - r0 - thick / 2) < thick / 2)
            extra += np.float32(u(5.0, 25.0) / thick) * wedge
        if rng.random() < 0.2:  # lung over one side of the sector
            sgn = 1.0 if rng.random() < 0.5 else -1.0
            edge = sgn * g.half_angle * u(0.65, 0.95)
            r0 = u(1.5, 6.0)
            side = 1 / (1 + np.exp(-(sgn * (th - edge)) / np.deg2rad(1.5)))
            extra += np.float32(u(10.0, 30.0)) * side * (r > r0)
        self.alpha_extra = extra
        self.calcium = None
        if rng.random() < 0.2:  # calcified annulus: a bright attenuating spot at a hinge
            self.calcium = (str(rng.choice(["mv_lat", "mv_sep", "tv_lat"])), float(u(0.25, 0.5)), float(u(20.0, 60.0)))
        self.tgc = bm.tgc_db(g.r, g.depth_cm, self.alpha_t, float(u(0.75, 1.05)),
                             rng.normal(0.0, 3.0, int(rng.integers(6, 9))))
        # electronic noise enters before the TGC, so it grows with depth: at the bottom it reaches
        # 8-32 dB under the myocardium's level
        self.noise_db = float(self.myo_db - u(12.0, 34.0) - self.tgc[-1])
        self.lat_gain = (1 - u(0.1, 0.5) * (np.abs(g.theta) / g.half_angle) ** u(3, 6)).astype(np.float32)
        self.clutter_db = float(u(-50.0, -32.0))
        self.clutter_sig = (float(u(1.0, 4.0)), float(u(4.0, 14.0)))

    def _sample_display(self, rng: np.random.Generator) -> None:
        """Log compression, reject, speckle reduction, edge enhancement and persistence."""
        u = rng.uniform
        self.dr_db = float(u(42.0, 66.0))
        self.gain_db = float(u(-8.0, 3.0))
        self.reject = float(u(0.0, 0.1))
        self.srf = (float(u(0.5, 1.6)), float(u(0.3, 1.0))) if rng.random() < 0.4 else None
        self.sharpen = float(u(0.2, 0.7)) if rng.random() < 0.3 else 0.0
        self.persist = float(u(0.15, 0.5)) if rng.random() < 0.4 else 0.0

    # one frame --------------------------------------------------------------------------------
    def _tissue_echo(self, lab: np.ndarray, blood: np.ndarray, g: float) -> np.ndarray:
        """Tissue echo level (0..1) on the renderer's grid from the distance to the nearest blood pool:
        myocardium a textured band of its pool's wall thickness (a little weaker where it runs along
        the beam), a thin specular layer where the endocardium faces the beam, then the bright
        pericardium and the surrounding tissue."""
        b = self.base
        d, ind = ndi.distance_transform_edt(~blood, sampling=(b.cy, b.cx), return_indices=True)
        p = b.p
        walls = np.array([0.0, p.atrial_wall, p.atrial_wall, p.lv_wall * (1 + 0.4 * g), p.rv_wall * (1 + 0.3 * g),
                          0.12], np.float32)
        wt = walls[lab[ind[0], ind[1]]]
        d = d.astype(np.float32)
        gy, gx = np.gradient(ndi.gaussian_filter(d, 1.5), b.cy, b.cx)
        cosang = np.abs(gx * b.bx + gy * b.by) / (np.hypot(gx, gy) + np.float32(1e-6))
        myo = 1 / (1 + np.exp(np.minimum((d - wt) / np.float32(0.07), 60)))
        level = myo * np.float32(self.m_level) * ((1 - self.kappa) + self.kappa * cosang) * b.myo_tex
        level += np.float32(self.spec) * cosang ** 2 * np.exp(-d / np.float32(0.08)) * myo
        e = d - wt - np.float32(b.eff + 0.1)
        peri = np.exp(-(e / np.float32(self.peri_w)) ** 2) * np.float32(self.p_level) * b.peri_tex
        out = 1 / (1 + np.exp(np.minimum(-e / np.float32(0.15), 60))) * np.float32(self.o_level) * b.tex
        return (np.maximum(np.maximum(level, peri), out) * b.dropout).astype(np.float32)

    def _maps(self, k: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Beam-domain echo level (tissue + bright structures, 0..1) and blood fraction of frame k, with
        the heart (screen cm) and the chamber polygons (px)."""
        b = self.base
        _, g, h, polys, lab = b.geometry(k)
        blood = lab > 0
        tissue = self._tissue_echo(lab, blood, g)
        bright = np.asarray(b._bright(h, k), np.float32) * np.float32(b.leaf_level * self.flicker[k])
        echo = np.maximum(np.where(blood, np.float32(0), tissue), np.minimum(bright, 1.0))
        stack = np.stack([echo, blood.astype(np.float32)])
        polar = [ndi.map_coordinates(m, self.low_coords, order=1, mode="nearest", prefilter=False) for m in stack]
        return polar[0], np.clip(polar[1], 0, 1), h, polys

    def beam_frame(self, k: int) -> BeamFrame:
        """Frame k on the scan lines, through every stage (see :class:`BeamFrame`)."""
        b, gr = self.base, self.grid
        echo, blood, h, polys = self._maps(k)
        t = float(b.timing.times[k])
        # backscatter variance: tissue from the echo level, blood weak with smoke, plus extras
        e = np.clip(echo, 0.0, 1.0)
        var_t = np.power(np.float32(10.0),
                         -np.float32(self.tissue_range_db / 10) * (1 - e) ** np.float32(self.tissue_pow))
        var_t = var_t * (1 - blood)
        var_b = np.power(np.float32(10.0), (np.float32(self.blood_db) + self.smoke) / 10) * blood
        alpha = (self.alpha_t * (1 - blood) + self.alpha_b * blood
                 + self.strong_alpha * np.clip((e - self.strong_thr) / (1 - self.strong_thr), 0, 1) + self.alpha_extra)
        if self.calcium is not None:
            name, rad, a_db = self.calcium
            c = h[name]
            x, y = gr.cartesian()
            spot = np.exp(-((x - c[0]) ** 2 + (y - c[1]) ** 2) / rad ** 2).astype(np.float32)
            var_t = var_t + spot * 0.8
            alpha = alpha + a_db * spot
        c1, s1 = np.float32(np.cos(self.w_tissue * t)), np.float32(np.sin(self.w_tissue * t))
        c2, s2 = np.float32(np.cos(self.w_blood * t)), np.float32(np.sin(self.w_blood * t))
        z_t = c1 * self.z[0] + s1 * self.z[1]
        z_b = c2 * self.z[2] + s2 * self.z[3]
        # the extra (haze, chest wall, reverberation) decorrelates like tissue but from its own field
        z_x = s1 * self.z[2] - c1 * self.z[3]
        backscatter = var_t + var_b + self.extra_var
        field = np.sqrt(var_t) * z_t + np.sqrt(var_b) * z_b + np.sqrt(self.extra_var) * z_x
        iq = bm.beamform(field.astype(np.complex64), self.h_ax, self.sig_lines)
        psf_env = np.abs(iq)
        loss = bm.attenuation_db(alpha.astype(np.float32), gr.dr)
        iq *= np.power(np.float32(10.0), -loss / 20) * self.lat_gain[None, :]
        iq += np.float32(10 ** (self.noise_db / 20)) * bm.complex_gaussian(self.noise_rng, iq.shape)
        inten = iq.real ** 2 + iq.imag ** 2
        if self.clutter_db > -60:  # side lobes and multipath: a wide, weak copy fills the cavities
            inten = inten + np.float32(10 ** (self.clutter_db / 10)) * ndi.gaussian_filter(inten, self.clutter_sig)
        env = np.sqrt(inten) * np.power(np.float32(10.0), self.tgc / 20)[:, None]
        ref = float(np.percentile(20 * np.log10(env[::4, ::2] + 1e-12), 99.5))
        img = bm.log_compress(env, self.dr_db, ref + self.gain_db, self.reject)
        if self.srf is not None:  # vendor speckle reduction
            img = ndi.gaussian_filter(img, self.srf)
        if self.sharpen > 0:
            img = np.clip(img + np.float32(self.sharpen) * (img - ndi.gaussian_filter(img, (2.0, 1.0))), 0, 1)
        if self.persist > 0 and self._prev is not None:
            img = (1 - self.persist) * img + self.persist * self._prev
        self._prev = img
        return BeamFrame(backscatter=backscatter, psf_envelope=psf_env, envelope=env, display=img, polys=polys)

    def frame(self, k: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Frame k scan-converted to the fan's box: (h, w, 3) uint8 and the chamber polygons (px)."""
        bf = self.beam_frame(k)
        screen = self.convert(bf.display)
        rgb = self.base.style.lut[(np.clip(screen, 0, 1) * 255.0 + 0.5).astype(np.uint8)]
        return rgb, bf.polys
