"""Geometry of the synthetic apical four-chamber heart: chamber polygons in centimetres.

The heart is built in a *canonical* frame: ``u`` lateral (positive = image right = patient left,
the LV/LA side), ``v`` along the long axis (positive = away from the apex, toward the atria);
the crux (where the septa meet the atrioventricular plane) is the origin at end-diastole.
Each chamber is a lobe grown from its annulus segment along the septum, with a width profile and
a rounded tip, so the septa keep their thickness and chambers never overlap.

Motion over the cycle is driven by one number, ``g`` in [0, 1] (0 = end-diastole, 1 = end-systole):
ventricles narrow, atria widen, and a longitudinal displacement field moves the annulus toward the
apex while the apex and the atrial roofs stay put. A static smooth warp (a diffeomorphism), a
rotation, a scale and a translation then place the heart in screen centimetres (x lateral, y depth
from the transducer apex). Because the same maps move the annulus hinge points of the atrium and of
the ventricle, the atrium polygon is always closed by the straight hinge-to-hinge line, as
docs/output-format.md defines the atrial border.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from echoseg.imaging.polygons import polygon_mask, shoelace_area

N_SIDE = 40  # samples along each side of a lobe


@dataclass(frozen=True)
class HeartParams:
    """Random shape and motion parameters of one heart (lengths in cm, canonical frame)."""

    ivs: float          # interventricular septum thickness (end-diastole)
    ias: float          # interatrial septum thickness
    crux: float         # septum thickness at the crux (membranous part)
    lv_wall: float
    rv_wall: float
    atrial_wall: float
    d_mv: float         # mitral annulus diameter at end-diastole
    d_tv: float         # tricuspid annulus diameter
    lv_len: float       # LV cavity length, annulus to apex, end-diastole
    lv_width: float     # LV internal diameter, end-diastole
    lv_k: float         # apex bluntness exponent
    lv_fs: float        # fractional shortening of the width in systole
    lv_tip: float       # apex position across the cavity (0 = on the septum, 1 = centred)
    rv_len: float
    rv_width: float
    rv_k: float
    rv_fs: float
    rv_tip: float
    la_len: float       # LA length at end-systole (canonical, before annulus motion)
    la_width: float
    la_k: float
    la_tip: float       # tip symmetry (1 = symmetric roof)
    la_ed: float        # fraction of the width kept at end-diastole
    ra_len: float
    ra_width: float
    ra_k: float
    ra_tip: float
    ra_ed: float
    sep_bow: float      # ventricular septum bowing (cm, positive = into the RV)
    ias_bow: float      # interatrial septum bowing (cm, positive = into the RA)
    disp_crux: float    # longitudinal annulus displacement at end-systole (cm)
    disp_mv: float
    disp_tv: float


@dataclass(frozen=True)
class Placement:
    """Static map from the canonical frame to screen centimetres."""

    angle: float        # rotation (radians), positive = clockwise on screen
    scale: float
    x0: float           # screen position (cm) of the canonical origin
    y0: float
    warp: tuple[tuple[float, float, float, float, float], ...]  # (axis, amp, kx, ky, phase)


def sample_params(rng: np.random.Generator, la_target: float, ra_target: float) -> HeartParams:
    """Draw a heart; atrial dimensions are first guesses, refined by :func:`fit_atria`."""
    u = rng.uniform
    lv_len = u(6.8, 9.2)
    la_aspect, ra_aspect = u(1.0, 1.6), u(0.9, 1.5)
    la_w = np.sqrt(la_target / (0.8 * la_aspect))
    ra_w = np.sqrt(ra_target / (0.8 * ra_aspect))
    return HeartParams(
        ivs=u(0.8, 1.3), ias=u(0.3, 0.6), crux=u(0.25, 0.4),
        lv_wall=u(0.8, 1.2), rv_wall=u(0.35, 0.6), atrial_wall=u(0.2, 0.4),
        d_mv=u(2.6, 3.6), d_tv=u(2.6, 3.8),
        lv_len=lv_len, lv_width=u(4.0, 5.6), lv_k=u(1.8, 3.2), lv_fs=u(0.22, 0.4), lv_tip=u(0.3, 0.8),
        rv_len=lv_len * u(0.75, 0.92), rv_width=u(3.0, 4.4), rv_k=u(1.5, 2.6), rv_fs=u(0.1, 0.25), rv_tip=u(0.0, 0.25),
        la_len=la_w * la_aspect * 0.9, la_width=la_w, la_k=u(1.8, 3.0), la_tip=u(0.6, 1.1), la_ed=u(0.72, 0.88),
        ra_len=ra_w * ra_aspect * 0.9, ra_width=ra_w, ra_k=u(1.6, 2.8), ra_tip=u(0.6, 1.1), ra_ed=u(0.72, 0.9),
        sep_bow=u(-0.1, 0.4), ias_bow=u(-0.4, 0.6),
        disp_crux=u(0.8, 1.3), disp_mv=u(1.0, 1.8), disp_tv=u(1.5, 2.5),
    )


def sample_placement(rng: np.random.Generator, scale: float = 1.0) -> Placement:
    """Draw a smooth random warp, rotation and scale (the position is set by the caller)."""
    warp = []
    for axis in (0, 0, 1, 1):
        lam = rng.uniform(9.0, 20.0)
        theta = rng.uniform(0, 2 * np.pi)
        k = 2 * np.pi / lam
        amp = rng.uniform(0.0, 0.12 * lam / (2 * np.pi))  # |d warp| <= 0.12 per axis component
        warp.append((float(axis), float(amp), float(k * np.cos(theta)), float(k * np.sin(theta)),
                     float(rng.uniform(0, 2 * np.pi))))
    return Placement(angle=float(np.deg2rad(rng.uniform(-22, 22))), scale=scale, x0=0.0, y0=0.0, warp=tuple(warp))


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _lobe(side: float, direction: float, length: float, base: float, width: float, k: float, tip: float,
          th_crux: float, th_full: float, bow: float, bow_len: float) -> np.ndarray:
    """Polygon (N, 2) of one chamber in the canonical frame, from septal hinge to lateral hinge.

    side: +1 (LV/LA) or -1 (RV/RA); direction: -1 ventricles (toward the apex), +1 atria.
    """
    s = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, N_SIDE))  # dense near the base and the tip
    v = direction * s * length
    w0 = base + (width - base) * (1 - np.exp(-s / 0.12))
    w = w0 * np.sqrt(np.clip(1 - s ** k, 0.0, 1.0))
    rho = tip * 0.5 * (w0 - w)
    th = 0.5 * (th_crux + (th_full - th_crux) * _smoothstep(s / 0.25))
    c = -side * bow * np.sin(np.pi * np.clip(np.abs(v) / bow_len, 0, 1))
    u_sep = c + side * (th + rho)
    u_lat = u_sep + side * w
    sep = np.stack([u_sep, v], axis=1)
    lat = np.stack([u_lat, v], axis=1)[::-1][1:]  # the tip is shared
    return np.concatenate([sep, lat], axis=0)


def canonical(p: HeartParams, g: float) -> dict[str, np.ndarray]:
    """Chamber polygons at systolic activation ``g`` before the longitudinal motion."""
    d_mv = p.d_mv * (1 - 0.06 * g)
    d_tv = p.d_tv * (1 - 0.08 * g)
    ivs = p.ivs * (1 + 0.25 * g)
    la_f = p.la_ed + (1 - p.la_ed) * g
    ra_f = p.ra_ed + (1 - p.ra_ed) * g
    amax = max(p.la_len, p.ra_len)
    return {
        "lv": _lobe(1, -1, p.lv_len, d_mv, p.lv_width * (1 - p.lv_fs * g), p.lv_k, p.lv_tip, p.crux, ivs, p.sep_bow, p.lv_len),
        "rv": _lobe(-1, -1, p.rv_len, d_tv, p.rv_width * (1 - p.rv_fs * g), p.rv_k, p.rv_tip, p.crux, ivs, p.sep_bow, p.lv_len),
        "la": _lobe(1, 1, p.la_len * (0.96 + 0.04 * la_f), d_mv, p.la_width * la_f, p.la_k, p.la_tip, p.crux, p.ias,
                    -p.ias_bow, amax),
        "ra": _lobe(-1, 1, p.ra_len * (0.96 + 0.04 * ra_f), d_tv, p.ra_width * ra_f, p.ra_k, p.ra_tip, p.crux, p.ias,
                    -p.ias_bow, amax),
    }


def longitudinal(p: HeartParams, pts: np.ndarray, g: float) -> np.ndarray:
    """Move points toward the apex by the annulus displacement, fading to zero at apex and roofs."""
    u, v = pts[..., 0], pts[..., 1]
    th = 0.5 * p.crux
    disp = np.interp(u, [-(th + p.d_tv), 0.0, th + p.d_mv], [p.disp_tv, p.disp_crux, p.disp_mv])
    h_up = 1.25 * max(p.la_len, p.ra_len)
    h_dn = 1.05 * p.lv_len
    w = np.where(v >= 0, np.clip(1 - v / h_up, 0, 1) ** 1.5, np.clip(1 - (-v) / h_dn, 0, 1) ** 1.2)
    return np.stack([u, v - g * disp * w], axis=-1)


def place(pl: Placement, pts: np.ndarray, shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Canonical (after motion) -> screen cm: warp, scale, rotate, translate."""
    u, v = pts[..., 0].copy(), pts[..., 1].copy()
    uu, vv = u.copy(), v.copy()
    for axis, amp, kx, ky, ph in pl.warp:
        d = amp * np.sin(kx * uu + ky * vv + ph)
        if axis == 0:
            u = u + d
        else:
            v = v + d
    ca, sa = np.cos(pl.angle), np.sin(pl.angle)
    x = pl.x0 + shift[0] + pl.scale * (ca * u - sa * v)
    y = pl.y0 + shift[1] + pl.scale * (sa * u + ca * v)
    return np.stack([x, y], axis=-1)


def heart_at(p: HeartParams, pl: Placement, g: float, shift: tuple[float, float] = (0.0, 0.0)) -> dict[str, np.ndarray]:
    """Screen-cm polygons of the four chambers, plus hinge points and the LV apex, at activation g.

    Keys: la, ra, lv, rv (N, 2); mv_sep, mv_lat, tv_sep, tv_lat, lv_apex (2,).
    Atrium polygons start at the septal hinge and end at the lateral hinge, so their closing edge is
    the annulus line.
    """
    out = {k: place(pl, longitudinal(p, poly, g), shift) for k, poly in canonical(p, g).items()}
    out["mv_sep"], out["mv_lat"] = out["la"][0], out["la"][-1]
    out["tv_sep"], out["tv_lat"] = out["ra"][0], out["ra"][-1]
    out["lv_apex"] = out["lv"][N_SIDE - 1]
    return out


def canonical_point(p: HeartParams, pl: Placement, u: float, v: float, g: float,
                    shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Screen-cm position of one canonical point (e.g. an extra structure) at activation g."""
    return place(pl, longitudinal(p, np.array([[u, v]], dtype=float), g), shift)[0]


def fit_atria(p: HeartParams, pl: Placement, la_target: float, ra_target: float, iterations: int = 3) -> HeartParams:
    """Rescale the atrial length and width so the end-systolic areas (screen cm²) hit the targets."""
    for _ in range(iterations):
        h = heart_at(p, pl, 1.0)
        fl = np.sqrt(la_target / shoelace_area(h["la"]))
        fr = np.sqrt(ra_target / shoelace_area(h["ra"]))
        p = replace(p, la_len=p.la_len * fl, la_width=max(p.la_width * fl, 0.5 * p.d_mv),
                    ra_len=p.ra_len * fr, ra_width=max(p.ra_width * fr, 0.5 * p.d_tv))
    return p


def long_axis(poly: np.ndarray) -> float:
    """Atrial length: annulus midpoint (first/last vertex midpoint) to the farthest polygon vertex."""
    mid = 0.5 * (poly[0] + poly[-1])
    return float(np.max(np.hypot(poly[:, 0] - mid[0], poly[:, 1] - mid[1])))


def rasterize(poly: np.ndarray, shape: tuple[int, int], out: np.ndarray | None = None, value: int = 1) -> np.ndarray:
    """Write ``value`` into ``out`` (created as uint8 zeros when None) where the polygon (pixel
    coordinates, x = column) covers a pixel centre (:func:`echoseg.imaging.polygons.polygon_mask`);
    return ``out``."""
    if out is None:
        out = np.zeros(shape, dtype=np.uint8)
    out[polygon_mask(poly, shape)] = value
    return out
