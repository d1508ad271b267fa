"""Overlays (masks' outlines, the Doppler envelope, beat numbers) drawn on the measured frame, and mask PNGs."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from echoseg.io.atomic import atomic_write
from echoseg.types import FileResult

COLOURS = {"la_area": (255, 80, 80), "ra_area": (80, 170, 255), "doppler": (255, 220, 0)}


def mask_png(path: Path, mask: np.ndarray) -> Path:
    """0/255 PNG at the full input image size (docs/output-format.md --save-masks)."""
    img = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), mode="L")
    return atomic_write(path, lambda tmp: img.save(tmp, format="PNG"))


def _contour(mask: np.ndarray) -> np.ndarray:
    from scipy.ndimage import binary_erosion
    return mask & ~binary_erosion(mask, iterations=2)


def overlay_image(result: FileResult) -> Image.Image | None:
    """The measured frame with masks / envelope, beat numbers and values drawn on it."""
    if result.image is None:
        return None
    frame = result.image.copy()
    for task, mask in result.masks.items():
        if task in COLOURS and mask.shape == frame.shape[:2]:
            frame[_contour(mask)] = COLOURS[task]
    img = Image.fromarray(frame)
    draw = ImageDraw.Draw(img)
    if result.envelope is not None:
        cols, rows = result.envelope
        pts = [(float(c), float(r)) for c, r in zip(cols, rows) if np.isfinite(r)]
        if len(pts) > 1:
            draw.line(pts, fill=COLOURS["doppler"], width=2)
    for x, y, text in result.labels:
        draw.text((x, y), text, fill=COLOURS["doppler"])
    lines = []
    for m in result.measurements:
        val = "refused" if m.value is None or m.qc != "pass" else f"{m.value:.2f} {m.unit}"
        lines.append(f"{m.task}: {val}" + (f" ({m.reason})" if m.qc != "pass" and m.reason else ""))
    y = 4
    for line in lines:
        draw.text((6, y), line, fill=(255, 255, 255))
        y += 14
    draw.text((6, img.height - 14), "echoseg - research use only", fill=(200, 200, 200))
    return img


def overlay_png(result: FileResult) -> bytes | None:
    """The overlay as PNG bytes (fast compression: overlays are many and large), or None."""
    img = overlay_image(result)
    if img is None:
        return None
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
