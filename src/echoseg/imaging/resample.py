"""Model grids from calibrated screens, and the exact way back to the image grid (pure numpy).

One anti-aliased linear resampler serves both families (:mod:`echoseg.atria.prepare` pads the 2D
region to a square, :mod:`echoseg.doppler.prepare` stretches the strip). A :class:`Geometry` says
how a model grid sits in the image; :func:`to_image` maps any per-pixel map at model resolution
(probabilities, soft masks) back to the full image grid with bilinear interpolation, so areas and
envelopes are measured in original pixels with the DICOM calibration. :func:`labels_input` and
:func:`mask_input` resample ground truth with the same geometry (training uses them).

Example::

    >>> import numpy as np
    >>> g = Geometry(image_shape=(300, 400), box=(0, 0, 399, 299), out_shape=(150, 200), scale_y=2.0, scale_x=2.0)
    >>> to_model(np.ones((300, 400)), g).shape, to_image(np.ones((150, 200)), g).shape
    ((150, 200), (300, 400))
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


PERCENTILES = (1.0, 99.0)


CLIP = (0.0, 1.5)


@dataclass(frozen=True)
class Geometry:
    """How a model grid sits in the full image.

    ``box`` = (x0, y0, x1, y1) is the inclusive crop in image pixels; model pixel (row v, col u)
    has its centre at image coordinates ``y = y0 + off_y + (v + 0.5) * scale_y - 0.5`` and
    ``x = x0 + off_x + (u + 0.5) * scale_x - 0.5`` (pixel centres on integers). A negative
    offset is padding: model pixels whose centre falls outside the box are zero.
    """

    image_shape: tuple[int, int]
    box: tuple[int, int, int, int]
    out_shape: tuple[int, int]
    scale_y: float
    scale_x: float
    off_y: float = 0.0
    off_x: float = 0.0

    @property
    def scale(self) -> float:
        """Image pixels per model pixel when both axes share one scale (atria); else ValueError."""
        if not np.isclose(self.scale_x, self.scale_y, rtol=1e-9):
            raise ValueError(f"geometry has unequal scales {self.scale_y:.4g} (rows) and {self.scale_x:.4g} "
                             "(columns); use scale_y/scale_x")
        return float(self.scale_x)

    def image_to_model(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Model (col, row) coordinates of image (x, y) coordinates."""
        u = (np.asarray(x, np.float64) - self.box[0] - self.off_x + 0.5) / self.scale_x - 0.5
        v = (np.asarray(y, np.float64) - self.box[1] - self.off_y + 0.5) / self.scale_y - 0.5
        return u, v

    def model_to_image(self, u: np.ndarray | float, v: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Image (x, y) coordinates of model (col, row) coordinates."""
        x = self.box[0] + self.off_x + (np.asarray(u, np.float64) + 0.5) * self.scale_x - 0.5
        y = self.box[1] + self.off_y + (np.asarray(v, np.float64) + 0.5) * self.scale_y - 0.5
        return x, y


def _down_matrix(n_out: int, n_in: int, off: float, scale: float) -> np.ndarray:
    """(n_out, n_in) anti-aliased linear resampling weights; rows whose centre is outside are zero."""
    centres = off + (np.arange(n_out) + 0.5) * scale - 0.5
    width = max(1.0, scale)
    d = (np.arange(n_in)[None, :] - centres[:, None]) / width
    w = np.clip(1.0 - np.abs(d), 0.0, None)
    total = w.sum(axis=1, keepdims=True)
    w = np.divide(w, total, out=np.zeros_like(w), where=total > 0)
    inside = (centres >= -0.5) & (centres <= n_in - 0.5)
    w[~inside] = 0.0
    return w.astype(np.float32)


def _up_matrix(n_img: int, n_model: int, off: float, scale: float) -> np.ndarray:
    """(n_img, n_model) bilinear weights from model samples to image pixels (clamped at the edges)."""
    pos = (np.arange(n_img) - off + 0.5) / scale - 0.5
    pos = np.clip(pos, 0.0, n_model - 1.0)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_model - 1)
    frac = pos - lo
    m = np.zeros((n_img, n_model), dtype=np.float32)
    rows = np.arange(n_img)
    np.add.at(m, (rows, lo), 1.0 - frac)
    np.add.at(m, (rows, hi), frac)
    return m


def one_blas_thread() -> Any:
    """Run numpy's BLAS on one thread: these small products gain nothing from threads, threads
    spin-wait under load (32 ms vs 2.3 ms for a 160x400 @ 400x550 product on a busy 2-core CPU), and
    one thread makes the results bit-identical whatever the machine's thread settings."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def grey(rgb: np.ndarray) -> np.ndarray:
    """Luminance (ITU-R 601 weights) of (..., 3) uint8 RGB, as float32 in 0..255."""
    rgb = np.asarray(rgb)
    if rgb.shape[-1] != 3:
        raise ValueError(f"expected RGB pixels with a last axis of 3, not shape {rgb.shape}")
    return rgb.astype(np.float32) @ LUMA


def normalise(img: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Map each image of (..., H, W) so that its 1st/99th percentiles (over ``valid``) go to 0/1, clipped."""
    img = np.asarray(img, dtype=np.float32)
    flat = img.reshape(-1, img.shape[-2] * img.shape[-1])
    sel = flat if valid is None else flat[:, np.asarray(valid, bool).ravel()]
    if sel.shape[1] == 0:
        sel = flat
    lo, hi = np.percentile(sel, PERCENTILES, axis=1)
    span = np.maximum(hi - lo, 1e-3)
    out = (flat - lo[:, None]) / span[:, None]
    if valid is not None:
        out[:, ~np.asarray(valid, bool).ravel()] = 0.0
    return np.clip(out, *CLIP).reshape(img.shape).astype(np.float32)


def to_model(img: np.ndarray, geom: Geometry) -> np.ndarray:
    """Resample image-grid data (..., H, W) (float) into the model grid (..., rows, cols)."""
    x0, y0, x1, y1 = geom.box
    with one_blas_thread():
        return resample_crop(np.asarray(img)[..., y0:y1 + 1, x0:x1 + 1], geom)


def resample_crop(crop: np.ndarray, geom: Geometry) -> np.ndarray:
    x0, y0, x1, y1 = geom.box
    r = _down_matrix(geom.out_shape[0], y1 - y0 + 1, geom.off_y, geom.scale_y)
    c = _down_matrix(geom.out_shape[1], x1 - x0 + 1, geom.off_x, geom.scale_x)
    return (r @ crop.astype(np.float32, copy=False) @ c.T).astype(np.float32)


def grey_model(frames_rgb: np.ndarray, geom: Geometry) -> np.ndarray:
    """Luminance of (T, H, W, 3) frames resampled into the model grid, one frame at a time (bounded memory)."""
    x0, y0, x1, y1 = geom.box
    out = np.empty((frames_rgb.shape[0],) + tuple(geom.out_shape), dtype=np.float32)
    with one_blas_thread():
        for t in range(frames_rgb.shape[0]):
            out[t] = resample_crop(grey(frames_rgb[t, y0:y1 + 1, x0:x1 + 1]), geom)
    return out


def valid_pixels(geom: Geometry) -> np.ndarray:
    """(rows, cols) bool: model pixels whose centre lies inside the crop box."""
    x0, y0, x1, y1 = geom.box
    u = np.arange(geom.out_shape[1])
    v = np.arange(geom.out_shape[0])
    xs, ys = geom.model_to_image(u, v)
    return ((ys >= y0 - 0.5) & (ys <= y1 + 0.5))[:, None] & ((xs >= x0 - 0.5) & (xs <= x1 + 0.5))[None, :]


def to_image(prob: np.ndarray, geom: Geometry) -> np.ndarray:
    """Bilinear map of model-grid values (..., rows, cols) onto the full image grid (..., H, W).

    Pixels outside the crop box are 0. The inverse of :func:`to_model` up to resampling blur:
    a mask resized in and mapped back overlaps the original with IoU > 0.95 for smooth shapes.
    """
    prob = np.asarray(prob, dtype=np.float32)
    if prob.shape[-2:] != tuple(geom.out_shape):
        raise ValueError(f"model map has shape {prob.shape[-2:]}, but the geometry expects {geom.out_shape}")
    x0, y0, x1, y1 = geom.box
    r = _up_matrix(y1 - y0 + 1, geom.out_shape[0], geom.off_y, geom.scale_y)
    c = _up_matrix(x1 - x0 + 1, geom.out_shape[1], geom.off_x, geom.scale_x)
    out = np.zeros(prob.shape[:-2] + tuple(geom.image_shape), dtype=np.float32)
    with one_blas_thread():
        out[..., y0:y1 + 1, x0:x1 + 1] = r @ prob @ c.T
    return out


def clip_box(region_box: tuple[int, int, int, int], shape: tuple[int, int]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (int(v) for v in region_box)
    rows, cols = shape
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(cols - 1, x1), min(rows - 1, y1)
    if x1 < x0 or y1 < y0:
        raise ValueError(f"crop box {region_box} does not overlap the {cols}x{rows} image")
    return x0, y0, x1, y1


def labels_input(labels: np.ndarray, geom: Geometry, n_classes: int = 5) -> np.ndarray:
    """Resample an image-grid label map (..., H, W) to the model grid by area-weighted majority (int64)."""
    labels = np.asarray(labels)
    onehot = np.stack([to_model((labels == k).astype(np.float32), geom) for k in range(n_classes)], axis=-3)
    valid = valid_pixels(geom)
    out = onehot.argmax(axis=-3).astype(np.int64)
    out[..., ~valid] = 0
    return out


def mask_input(mask: np.ndarray, geom: Geometry) -> np.ndarray:
    """Resample an image-grid binary/soft mask (..., H, W) to a soft (0..1) model-grid mask (float32)."""
    return np.clip(to_model(np.asarray(mask, dtype=np.float32), geom), 0.0, 1.0)
