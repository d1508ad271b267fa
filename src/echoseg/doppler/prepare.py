"""Doppler network input: the spectral strip cropped and stretched to a fixed (rows, cols) grid,
overlays off the colour map painted out, plus a second channel: the signed distance to the baseline,
positive on the side of positive velocity (towards the transducer), in units of the strip height.
"""
from __future__ import annotations

import numpy as np

from echoseg.doppler.overlays import off_map_pixels, paint_out
from echoseg.imaging.resample import Geometry, clip_box, grey, normalise, one_blas_thread, resample_crop
from echoseg.types import SpectralCalibration


def doppler_geometry(image_shape: tuple[int, int], box: tuple[int, int, int, int],
                     size: tuple[int, int]) -> Geometry:
    """Stretching geometry of the strip ``box`` onto a (rows, cols) grid (no padding)."""
    x0, y0, x1, y1 = clip_box(box, image_shape)
    rows, cols = int(size[0]), int(size[1])
    return Geometry(image_shape=(int(image_shape[0]), int(image_shape[1])), box=(x0, y0, x1, y1),
                    out_shape=(rows, cols), scale_y=(y1 - y0 + 1) / rows, scale_x=(x1 - x0 + 1) / cols)


def strip_luminance(frame_rgb: np.ndarray, cal: SpectralCalibration, paint_overlays: bool = True) -> np.ndarray:
    """Luminance (float32, 0..255) of the spectral region of one (H, W, 3) screen, clipped to the image,
    with overlays drawn off the spectrum's colour map (a green ECG trace, yellow labels) painted out
    (``paint_overlays``; see :mod:`echoseg.doppler.overlays`). The network and the tracer both read it."""
    frame = _one_frame(frame_rgb)
    r = cal.region
    x0, y0, x1, y1 = clip_box((r.x0, r.y0, r.x1, r.y1), frame.shape[:2])
    strip = frame[y0:y1 + 1, x0:x1 + 1]
    lum = grey(strip)
    if paint_overlays:
        off = off_map_pixels(strip)
        if off.any():
            lum = paint_out(lum, off)
    return lum


BRIGHTENED_GAMMA = 0.5  # the second network pass reads the strip's luminance on this power curve


def brightened(lum: np.ndarray, gamma: float = BRIGHTENED_GAMMA) -> np.ndarray:
    """Strip luminance (0..255) on a power curve ``255 (lum / 255) ** gamma``: dim greys lifted most.

    Real spectra often show the dense signal's outer band at half the core's grey or less (the
    fastest scatterers are fewer; vendors' compression and reject differ), where a network trained
    on brighter bands stops short of the envelope. The Doppler network also reads the strip on this
    curve, and the flow probability is the mean of the two readings (see
    :func:`echoseg.doppler.task.flow_probability`).

    >>> brightened(np.array([0.0, 63.75, 255.0], dtype=np.float32)).round(1).tolist()
    [0.0, 127.5, 255.0]
    """
    if not 0.0 < gamma <= 1.0:
        raise ValueError(f"gamma must lie in (0, 1] (below 1 brightens), not {gamma}")
    x = np.clip(np.asarray(lum, dtype=np.float32), 0.0, 255.0) / np.float32(255.0)
    return (np.float32(255.0) * x ** np.float32(gamma)).astype(np.float32)


BLANK_MARGIN_PX = 2  # rows next to the baseline kept when one side is blanked (the baseline's own band)


def blank_side(lum: np.ndarray, cal: SpectralCalibration, side: int, margin_px: int = BLANK_MARGIN_PX) -> np.ndarray:
    """Strip luminance (as :func:`strip_luminance` returns it) with the flow of velocity sign ``side``
    (+1/-1) painted black beyond ``margin_px`` rows from the baseline: the strip the network reads
    when the flow on the other side is wanted alone (a mitral stenosis jet beside a brighter
    regurgitant jet, see :func:`echoseg.doppler.task.trace_site_side_alone`).

    >>> from echoseg.io.calibration import manual_spectral_calibration
    >>> cal = manual_spectral_calibration(0.01, -2.0, 4, (0, 0, 2, 9), "CW")  # velocity grows upwards
    >>> blank_side(np.full((10, 3), 9.0, np.float32), cal, -1)[:, 0].tolist()
    [9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 0.0, 0.0, 0.0]
    """
    if side not in (1, -1):
        raise ValueError(f"side must be +1 or -1 (the velocity sign of the flow to blank), not {side!r}")
    out = np.array(lum, dtype=np.float32, copy=True)
    base = cal.baseline_row - cal.region.y0  # baseline row within the strip
    rows = np.arange(out.shape[0], dtype=np.float64)
    down = (side > 0) == (cal.cm_s_per_px > 0)  # the flow to blank lies below the baseline
    out[(rows > base + margin_px) if down else (rows < base - margin_px)] = 0.0
    return out


def _one_frame(frame_rgb: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame_rgb)
    if frame.ndim == 4 and frame.shape[0] == 1:
        frame = frame[0]
    if frame.ndim != 3 or frame.shape[-1] != 3:
        raise ValueError(f"a Doppler screen must be one (H, W, 3) RGB frame, not shape {frame.shape}")
    return frame


def doppler_input(frame_rgb: np.ndarray, cal: SpectralCalibration, size: tuple[int, int] = (128, 256),
                  paint_overlays: bool = True, lum: np.ndarray | None = None) -> tuple[np.ndarray, Geometry]:
    """(H, W, 3) uint8 spectral screen and its calibration -> ((2, rows, cols) float32, Geometry).

    Channel 0: normalised :func:`strip_luminance` (pass ``lum`` when it is already computed).
    Channel 1: ``(v - v_baseline) / rows`` times the sign of PhysicalDeltaY, i.e. positive where
    velocity is positive, whichever way the screen is drawn. A (1, H, W, 3) array is accepted.
    """
    frame = _one_frame(frame_rgb)
    r = cal.region
    geom = doppler_geometry(frame.shape[:2], (r.x0, r.y0, r.x1, r.y1), size)
    if lum is None:
        lum = strip_luminance(frame, cal, paint_overlays)
    with one_blas_thread():
        img = normalise(resample_crop(lum, geom)[None])[0]
    _, vb = geom.image_to_model(0.0, cal.baseline_row)
    rows = geom.out_shape[0]
    sign = 1.0 if cal.cm_s_per_px > 0 else -1.0
    dist = sign * (np.arange(rows, dtype=np.float32) - np.float32(vb)) / rows
    chan = np.broadcast_to(dist[:, None], geom.out_shape).astype(np.float32)
    return np.stack([img, chan]), geom
