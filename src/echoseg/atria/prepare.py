"""Atria network input: the A4C cine's 2D region cropped, padded to a square (keeping the pixel
aspect, so one model pixel spans ``geom.scale`` image pixels along both axes), resized with the
shared anti-aliased resampler, converted to luminance and normalised per frame.

Example::

    >>> import numpy as np
    >>> from echoseg.imaging.resample import to_image
    >>> from echoseg.io.calibration import manual_tissue_calibration
    >>> frames = np.zeros((2, 300, 400, 3), np.uint8)
    >>> x, geom = atria_input(frames, manual_tissue_calibration(0.05, (300, 400)), size=160)
    >>> x.shape, round(geom.scale, 3), to_image(np.ones((160, 160)), geom).shape
    ((2, 1, 160, 160), 2.5, (300, 400))
"""
from __future__ import annotations

import numpy as np

from echoseg.imaging.resample import Geometry, clip_box, grey_model, normalise, valid_pixels
from echoseg.types import TissueCalibration


def atria_geometry(image_shape: tuple[int, int], box: tuple[int, int, int, int], size: int) -> Geometry:
    """Square, aspect-keeping geometry of ``box`` (x0, y0, x1, y1) in a ``size`` x ``size`` grid (centred padding)."""
    x0, y0, x1, y1 = clip_box(box, image_shape)
    h, w = y1 - y0 + 1, x1 - x0 + 1
    side = max(h, w)
    s = side / size
    return Geometry(image_shape=(int(image_shape[0]), int(image_shape[1])), box=(x0, y0, x1, y1),
                    out_shape=(size, size), scale_y=s, scale_x=s, off_y=(h - side) / 2, off_x=(w - side) / 2)


def atria_input(frames_rgb: np.ndarray, cal: TissueCalibration, size: int = 160) -> tuple[np.ndarray, Geometry]:
    """(T, H, W, 3) uint8 cine and its 2D calibration -> ((T, 1, size, size) float32, Geometry).

    A single (H, W, 3) frame is accepted as T = 1.
    """
    frames = np.asarray(frames_rgb)
    if frames.ndim == 3 and frames.shape[-1] == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"atria_input needs (T, H, W, 3) RGB frames, not shape {frames.shape}")
    r = cal.region
    geom = atria_geometry(frames.shape[1:3], (r.x0, r.y0, r.x1, r.y1), int(size))
    x = normalise(grey_model(frames, geom), valid_pixels(geom))
    return x[:, None], geom
