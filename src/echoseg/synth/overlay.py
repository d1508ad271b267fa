"""Screen furniture shared by the synthetic A4C and Doppler generators: text labels and ECG traces."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def text_layer(shape: tuple[int, int], items: list[tuple[int, int, str]], size: int = 12) -> np.ndarray:
    """(H, W) float mask in [0, 1] of rendered text, to be blended onto many frames cheaply."""
    img = Image.new("L", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(img)
    fnt = font(size)
    for x, y, text in items:
        draw.text((x, y), text, fill=255, font=fnt)
    return np.asarray(img, dtype=np.float32) / 255.0


def ecg_trace(t: np.ndarray, beat_starts: np.ndarray) -> np.ndarray:
    """Synthetic ECG amplitude (about -0.3..1) at times ``t`` (s), with an R wave at each beat start."""
    t = np.asarray(t, dtype=np.float64)
    out = np.zeros_like(t)
    for r in np.asarray(beat_starts, dtype=np.float64):
        d = t - r
        out += np.exp(-(d / 0.012) ** 2)                      # R
        out -= 0.25 * np.exp(-((d - 0.03) / 0.015) ** 2)      # S
        out += 0.15 * np.exp(-((d + 0.16) / 0.03) ** 2)       # P
        out += 0.3 * np.exp(-((d - 0.30) / 0.05) ** 2)        # T
    return out


def blend(frame: np.ndarray, layer: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    """Alpha-blend a (H, W) [0, 1] layer of colour ``rgb`` onto (..., H, W, 3) uint8 frames."""
    a = layer[..., None]
    col = np.asarray(rgb, dtype=np.float32)
    return (frame.astype(np.float32) * (1 - a) + col * a).astype(np.uint8)


def draw_polyline(layer: np.ndarray, xs: np.ndarray, ys: np.ndarray, width: int = 1) -> None:
    """Draw a polyline into a (H, W) float layer in place (value 1), clipped to the layer."""
    img = Image.fromarray((layer * 255).astype(np.uint8))
    ImageDraw.Draw(img).line(list(zip(np.asarray(xs, float).tolist(), np.asarray(ys, float).tolist())), fill=255, width=width)
    layer[...] = np.asarray(img, dtype=np.float32) / 255.0

