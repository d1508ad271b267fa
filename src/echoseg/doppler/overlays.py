"""Overlays drawn in a colour the spectrum's colour map never takes (an ECG trace, labels), painted out.

A spectral display maps power to colour through one monotonic colour map (grey, bronze, violet...),
so at any luminance the spectrum and its speckle share one chroma. Scanners draw the ECG trace,
scale labels and cursors over the strip in other colours (green, yellow, cyan). A pixel whose chroma
lies far from the map's chroma at its own luminance is such an overlay: :func:`off_map_pixels`
finds them (the map is learned from the strip itself, as chroma against luminance, so no colour
map is assumed), and :func:`paint_out` replaces them by interpolating each column from the pixels above
and below, so that an ECG trace crossing a spectral peak no longer looks like flow to the model.
Overlays in the map's own colour (a white ECG over a grey spectrum) cannot be told apart by
colour and are left as they are. Off-map *areas* are left too: an analysis program's segmentation
painted semi-transparently over the flow (a grey fill over a bronze spectrum, a green fill over the
measured beat) covers the flow itself, and painting it out would erase the flow; only thin marks
(lines, dots, letters: they flag less than :data:`AREA_DENSITY` of any :data:`AREA_PX`-wide square) are painted out.

Example::

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> lum = rng.gamma(2.0, 12.0, (40, 60)); lum[5:30, 10:20] += 150       # speckle, spectrum
    >>> strip = np.repeat(np.clip(lum, 0, 255)[..., None], 3, axis=2).astype(np.uint8)
    >>> strip[32, :] = (0, 220, 0)                                          # green ECG line
    >>> m = off_map_pixels(strip)
    >>> bool(m[32].all()), bool(m[5:30].any())
    (True, False)
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from echoseg.imaging.resample import LUMA

MAX_SAMPLES = 20_000  # pixels (an even subsample) the colour map is fitted on
OFF_MAP = 48.0  # chroma distance (0..255 scale) from the map beyond which a pixel is an overlay
MAX_FRACTION = 0.15  # more flagged pixels than this: the display is not one colour map; flag none
AREA_PX = 15  # off-map pixels filling more than AREA_DENSITY of a square this wide are an area (a fill), not a mark
AREA_DENSITY = 0.45

__all__ = ["off_map_pixels", "paint_out"]


def off_map_pixels(rgb: np.ndarray, threshold: float = OFF_MAP, max_fraction: float = MAX_FRACTION) -> np.ndarray:
    """(H, W) bool: pixels of the (H, W, 3) RGB ``rgb`` whose colour lies off the display's colour map.

    The map's chroma (B - Y, R - Y) is a quadratic in the luminance Y, fitted by least squares
    to the image's pixels that lie within ``threshold`` of a first, stiffer fit (chroma
    proportional to luminance, a tint), then refitted twice without those beyond ``threshold``
    (overlays are a minority of a speckled strip). A pixel is flagged when its chroma differs by
    more than ``threshold`` from the map at its luminance; the flags are then widened by one pixel
    (compressed images blur the edges of thin coloured lines). Nothing is flagged for a grey image, nor when more than
    ``max_fraction`` of the pixels would be (then colour is not one map and the test does not hold).
    """
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f"rgb must be an (H, W, 3) array, not shape {a.shape}")
    f = a.astype(np.float32)
    y = f @ LUMA
    cb, cr = f[..., 2] - y, f[..., 0] - y
    if max(float(np.abs(cb).max(initial=0.0)), float(np.abs(cr).max(initial=0.0))) < threshold / 2:
        return np.zeros(a.shape[:2], dtype=bool)  # grey: nothing can be off the map
    map_cb, map_cr = _map_chroma(y, cb, cr, threshold)
    off = np.hypot(cb - map_cb, cr - map_cr) > threshold
    if off.mean() > max_fraction:
        return np.zeros(a.shape[:2], dtype=bool)
    off &= ~_areas(off)
    grown = off.copy()
    grown[1:] |= off[:-1]
    grown[:-1] |= off[1:]
    grown[:, 1:] |= off[:, :-1]
    grown[:, :-1] |= off[:, 1:]
    return grown


def _areas(off: np.ndarray, width: int = AREA_PX, density: float = AREA_DENSITY) -> np.ndarray:
    """The flagged pixels that belong to areas: where more than ``density`` of a ``width`` x ``width``
    window is flagged (a fill over speckle is flagged only where it is bright enough, so it is not
    solid), with a margin of half that width so a fill's edge and narrow tip stay with it. Lines up
    to 3 px and letters flag far less of such a window."""
    if not off.any():
        return off
    core = ndimage.uniform_filter(off.astype(np.float32), size=width, mode="constant") > density
    if not core.any():
        return core
    return ndimage.binary_dilation(core, iterations=width // 2) & off


def paint_out(grey: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(H, W) float copy of ``grey`` with ``mask`` pixels replaced by linear interpolation along their
    column between the nearest unmasked pixels above and below (the edge value beyond the ends).
    A column masked from top to bottom takes the image's median."""
    g = np.array(grey, dtype=np.float32)
    m = np.asarray(mask, dtype=bool)
    if g.shape != m.shape or g.ndim != 2:
        raise ValueError(f"grey and mask must be the same (H, W) shape, not {g.shape} and {m.shape}")
    if not m.any():
        return g
    h = g.shape[0]
    rows = np.arange(h)[:, None]
    above = np.maximum.accumulate(np.where(m, -1, rows), axis=0)  # nearest unmasked row above (or -1)
    below = np.minimum.accumulate(np.where(m, h, rows)[::-1], axis=0)[::-1]  # ... below (or h)
    cols = np.broadcast_to(np.arange(g.shape[1]), g.shape)
    va = g[np.clip(above, 0, h - 1), cols]
    vb = g[np.clip(below, 0, h - 1), cols]
    frac = (rows - above) / np.maximum(below - above, 1)
    filled = np.where(above < 0, vb, np.where(below >= h, va, va + (vb - va) * frac))
    whole = m.all(axis=0)
    if whole.any():
        filled[:, whole] = float(np.median(g[~m])) if (~m).any() else 0.0
    return np.where(m, filled, g).astype(np.float32)


def _map_chroma(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The colour map's (B - Y, R - Y) at each pixel's luminance: trimmed quadratic fits in Y."""
    step = max(1, y.size // MAX_SAMPLES)
    ys, bs, rs = (v.ravel()[::step].astype(np.float64) for v in (y, cb, cr))
    yn = ys / 255.0
    design = np.stack([np.ones_like(yn), yn, yn * yn], axis=1)
    target = np.stack([bs, rs], axis=1)

    def fit(cols: slice, keep: np.ndarray) -> np.ndarray:  # least squares by the normal equations
        d = design[keep][:, cols]
        coef = np.linalg.lstsq(d.T @ d, d.T @ target[keep], rcond=None)[0]
        full = np.zeros((3, 2))
        full[cols] = coef
        return full

    def near(coef: np.ndarray) -> np.ndarray:
        res = target - design @ coef
        return np.hypot(res[:, 0], res[:, 1]) <= threshold

    # first a tint (chroma proportional to luminance): too stiff to bend towards an overlay
    keep = near(fit(slice(1, 2), np.ones(yn.size, dtype=bool)))
    coef = np.zeros((3, 2))
    for _ in range(3):
        if keep.sum() < 3:
            break
        coef = fit(slice(0, 3), keep)
        keep = near(coef)
    yf = (y / 255.0).astype(np.float32)
    c = coef.astype(np.float32)
    return c[0, 0] + yf * (c[1, 0] + yf * c[2, 0]), c[0, 1] + yf * (c[1, 1] + yf * c[2, 1])
