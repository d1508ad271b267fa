"""Screen layout of a synthetic A4C cine: sector geometry, ultrasound regions, text, scales and ECG.

A :class:`Screen` is the fan (apex, opening angle, radius in pixels, depth in cm) on an image of
given size; the 2D tissue region bounds the fan with the apex as reference pixel, and cm per pixel
is depth / fan radius (square pixels). :func:`overlay_layers` renders the static screen furniture
once per cine as a premultiplied colour layer and an alpha layer, plus the ECG cursor positions.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw

from echoseg.types import Region
from echoseg.synth.overlay import ecg_trace, font
from echoseg.synth.styles import Style

SIZES = ((480, 640), (600, 800), (708, 1016), (768, 1024), (434, 636), (576, 720), (600, 960))
LOGOS = ("SONOVIEW", "EchoLab", "CARDIA-X", "UltraSynth", "VIVOSCAN", "Ardent", "Q-Echo", "HELIX US", "")


@dataclass(frozen=True)
class Screen:
    """Sector geometry on the image (pixels; the apex is at column ``ax``, row ``ay``)."""

    rows: int
    cols: int
    ax: int
    ay: int
    half_angle: float   # radians
    radius_px: int      # fan radius
    r0_px: float        # radius of the flat near-field top (0 = sharp apex)
    depth_cm: float
    ecg: tuple[int, int, int, int] | None  # x0, y0, x1, y1 of the ECG strip
    y_max: int | None = None  # last image row of the fan when the image cuts it (a zoomed sector)

    @property
    def cm_per_px(self) -> float:
        return self.depth_cm / self.radius_px

    def with_depth(self, depth_cm: float) -> "Screen":
        return replace(self, depth_cm=float(depth_cm))

    def tissue_box(self) -> tuple[int, int, int, int]:
        """Inclusive bounds (x0, y0, x1, y1) of the fan."""
        dx = self.radius_px * np.sin(self.half_angle)
        x0 = max(int(np.floor(self.ax - dx)), 0)
        x1 = min(int(np.ceil(self.ax + dx)), self.cols - 1)
        y1 = min(self.ay + self.radius_px, self.rows - 1, self.rows - 1 if self.y_max is None else self.y_max)
        return x0, self.ay, x1, y1

    def regions(self) -> tuple[Region, ...]:
        """Sequence of Ultrasound Regions: the 2D tissue fan, then the ECG strip when present."""
        x0, y0, x1, y1 = self.tissue_box()
        cm = float(self.cm_per_px)
        out = [Region(x0=x0, y0=y0, x1=x1, y1=y1, spatial_format=1, data_type=1, units_x=3, units_y=3,
                      delta_x=cm, delta_y=cm, ref_x0=self.ax - x0, ref_y0=self.ay - y0)]
        if self.ecg is not None:
            ex0, ey0, ex1, ey1 = self.ecg
            out.append(Region(x0=ex0, y0=ey0, x1=ex1, y1=ey1, spatial_format=4, data_type=10,
                              units_x=0, units_y=0, delta_x=0.0, delta_y=0.0))
        return tuple(out)

    def fan_image(self) -> np.ndarray:
        """Boolean (rows, cols) mask of the fan, drawn as a pie slice (fast; used for the screen)."""
        img = Image.new("1", (self.cols, self.rows), 0)
        draw = ImageDraw.Draw(img)
        r, deg = self.radius_px, float(np.rad2deg(self.half_angle))
        draw.pieslice((self.ax - r, self.ay - r, self.ax + r, self.ay + r), 90 - deg, 90 + deg, fill=1)
        if self.r0_px >= 1:
            r0 = self.r0_px
            draw.ellipse((self.ax - r0, self.ay - r0, self.ax + r0, self.ay + r0), fill=0)
        fan = np.asarray(img, dtype=bool)
        if self.y_max is not None:
            fan = fan.copy()
            fan[self.y_max + 1:] = False
        return fan

    def fan_mask(self, x: np.ndarray, y: np.ndarray, margin_px: float = 0.0) -> np.ndarray:
        """True where pixel coordinates (x, y) lie inside the fan (grown by ``margin_px``)."""
        dx, dy = x - self.ax, y - self.ay
        r = np.hypot(dx, dy)
        th = np.arctan2(dx, dy)
        inside = ((r <= self.radius_px + margin_px) & (r >= self.r0_px - margin_px) & (dy >= -margin_px)
                  & (np.abs(th) <= self.half_angle + margin_px / np.maximum(r, 1.0)))
        return inside if self.y_max is None else inside & (y <= self.y_max + margin_px)


def sample_screen(rng: np.random.Generator, image_size: tuple[int, int] | None = None) -> Screen:
    """Image size, fan position, opening (60-90 degrees) and radius; depth is set later."""
    if image_size is None:
        if rng.random() < 0.7:
            rows, cols = SIZES[int(rng.integers(0, len(SIZES)))]
        else:
            rows = int(rng.integers(420, 801))
            cols = int(rows * rng.uniform(1.2, 1.45))
    else:
        rows, cols = int(image_size[0]), int(image_size[1])
        if rows < 64 or cols < 64:
            raise ValueError(f"image_size must be at least 64x64 (rows, cols), not {image_size}")
    half = float(np.deg2rad(rng.uniform(30.0, 45.0)))
    ecg = rng.random() < 0.8
    ecg_h = max(int(rows * rng.uniform(0.07, 0.11)), 12)
    ay = int(rows * rng.uniform(0.03, 0.1))
    ax = int(round(cols / 2 + cols * rng.uniform(-0.06, 0.06)))
    bottom = rows - 3 - (ecg_h + 6 if ecg else 0)
    r_v = bottom - ay
    r_h = (min(ax, cols - 1 - ax) - 2) / np.sin(half)
    radius = int(min(r_v, r_h) * rng.uniform(0.86, 1.0))
    box = None
    if ecg:
        ex0 = int(cols * rng.uniform(0.02, 0.2))
        ex1 = int(cols * rng.uniform(0.8, 0.98))
        box = (ex0, rows - 3 - ecg_h, ex1, rows - 4)
    return Screen(rows=rows, cols=cols, ax=ax, ay=ay, half_angle=half, radius_px=radius,
                  r0_px=float(radius * rng.uniform(0.0, 0.04)), depth_cm=16.0, ecg=box)


class _Layer:
    """Premultiplied RGB + alpha accumulator for static screen furniture."""

    def __init__(self, rows: int, cols: int) -> None:
        self.rgb = np.zeros((rows, cols, 3), np.float32)
        self.alpha = np.zeros((rows, cols), np.float32)

    def over(self, img: Image.Image, rgb: tuple[int, int, int]) -> None:
        """Composite an 'L' coverage image of colour ``rgb`` over the layer (only inside its bbox)."""
        bbox = img.getbbox()
        if bbox is None:
            return
        x0, y0, x1, y1 = bbox
        a = np.asarray(img.crop(bbox), np.float32) / 255.0
        col = np.asarray(rgb, np.float32)
        sl = (slice(y0, y1), slice(x0, x1))
        self.rgb[sl] = col * a[..., None] + self.rgb[sl] * (1 - a[..., None])
        self.alpha[sl] = a + self.alpha[sl] * (1 - a)


def _pick_rgb(rng: np.random.Generator, options: list[list[int]]) -> tuple[int, int, int]:
    """One of ``options`` (RGB triples) drawn with ``rng``."""
    r, g, b = (int(c) for c in rng.choice(options))
    return r, g, b


def _grey(rgb: tuple[int, int, int], mono: bool) -> tuple[int, int, int]:
    if not mono:
        return rgb
    v = int(round(sum(rgb) / 3))
    return (v, v, v)


def _param_lines(rng: np.random.Generator, screen: Screen, times: np.ndarray) -> list[str]:
    """Parameter text (logo, frequency, frame rate, depth, gains, view, date, indices); some left out."""
    fr = 1.0 / max(float(times[1] - times[0]) if len(times) > 1 else 0.03, 1e-3)
    mhz = float(rng.choice([1.5, 1.7, 2.0, 2.5, 3.0, 3.5]))
    lines = [str(rng.choice(LOGOS)), f"{mhz:.1f} MHz" if rng.random() < 0.5 else f"H{2 * mhz:.1f}/{mhz:.1f}MHz",
             f"{fr:.0f} Hz" if rng.random() < 0.5 else f"FR {fr:.0f}",
             f"{screen.depth_cm:.0f} cm" if rng.random() < 0.6 else f"D {screen.depth_cm:.1f} cm",
             f"G {int(rng.integers(30, 70))}", f"DR {int(rng.integers(45, 80))}",
             str(rng.choice(["A4C", "4CH", "AP4", "2D", "Apical 4"])), "ANON" if rng.random() < 0.5 else "",
             f"{int(rng.integers(2019, 2026))}/{int(rng.integers(1, 13)):02d}/{int(rng.integers(1, 29)):02d}",
             f"MI {rng.uniform(0.8, 1.5):.1f}  TIS {rng.uniform(0.2, 1.2):.1f}"]
    return [t for t in lines if t and rng.random() < 0.85]


def _draw_param_text(rng: np.random.Generator, draw: ImageDraw.ImageDraw, screen: Screen, lines: list[str],
                     size: int) -> None:
    """Stack ``lines`` in a left and a right column at the top, skipping any that would touch the fan."""
    rows, cols = screen.rows, screen.cols
    fnt = font(size)
    left_x, right_x = int(cols * rng.uniform(0.01, 0.04)), int(cols * rng.uniform(0.8, 0.88))
    y_l = y_r = int(rows * rng.uniform(0.01, 0.04))
    for text in lines:
        on_left = rng.random() < 0.5
        x, y = (left_x, y_l) if on_left else (right_x, y_r)
        w = int(0.62 * size * len(text)) + 2
        xs = np.array([x, x + w, x, x + w], float)
        ys = np.array([y, y, y + size, y + size], float)
        if y + size >= rows or screen.fan_mask(xs, ys, margin_px=4).any() or x + w >= cols:
            continue
        draw.text((x, y), text, fill=255, font=fnt)
        if on_left:
            y_l += int(size * 1.35)
        else:
            y_r += int(size * 1.35)


def _draw_depth_ticks(rng: np.random.Generator, draw: ImageDraw.ImageDraw, screen: Screen, size: int) -> float:
    """Depth ticks along one sector edge (every cm, bigger and labelled every 5 cm); returns the side (+1/-1)."""
    edge = screen.half_angle + np.deg2rad(2.5)
    sgn = 1.0 if rng.random() < 0.6 else -1.0
    for k in range(1, int(screen.depth_cm) + 1):
        r = k / screen.cm_per_px
        if r < screen.r0_px + 4:
            continue
        x, y = screen.ax + sgn * r * np.sin(edge), screen.ay + r * np.cos(edge)
        big = k % 5 == 0
        rad = 2.0 if big else 1.2
        draw.ellipse((x - rad, y - rad, x + rad, y + rad), fill=255)
        if big and 0 <= x + sgn * 6 < screen.cols - 3 * size:
            tx = x + 6 if sgn > 0 else x - 6 - 0.62 * size * len(str(k))
            draw.text((tx, y - size / 2), str(k), fill=255, font=font(max(size - 2, 8)))
    return sgn


def _draw_grey_bar(rng: np.random.Generator, layer: _Layer, screen: Screen, style: Style) -> None:
    """Sometimes the grey / colour bar at a screen edge, where it clears the fan and the text."""
    rows, cols = screen.rows, screen.cols
    if rng.random() < 0.55:
        bw = int(rng.integers(7, 14))
        by0, by1 = int(rows * rng.uniform(0.12, 0.2)), int(rows * rng.uniform(0.35, 0.5))
        bx0 = int(cols * rng.uniform(0.9, 0.96)) if rng.random() < 0.7 else int(cols * rng.uniform(0.02, 0.06))
        xs = np.array([bx0, bx0 + bw, bx0, bx0 + bw], float)
        ys = np.array([by0, by0, by1, by1], float)
        if (bx0 + bw < cols and not screen.fan_mask(xs, ys, margin_px=3).any()
                and not layer.alpha[by0:by1, max(bx0 - 3, 0):bx0 + bw + 3].any()):
            ramp = style.colorize(np.linspace(1.0, 0.0, by1 - by0)).astype(np.float32)
            if style.monochrome:
                ramp[:] = ramp.mean(axis=1, keepdims=True)
            layer.rgb[by0:by1, bx0:bx0 + bw] = ramp[:, None, :]
            layer.alpha[by0:by1, bx0:bx0 + bw] = 1.0


def _draw_ecg(rng: np.random.Generator, layer: _Layer, screen: Screen, times: np.ndarray, rr: float,
              mono: bool) -> np.ndarray:
    """ECG trace (one R wave per ``rr``) over a window covering the cine; returns the cursor column per frame."""
    assert screen.ecg is not None
    rows, cols = screen.rows, screen.cols
    ex0, ey0, ex1, ey1 = screen.ecg
    span = float(times[-1] - times[0])
    win = max(span + 0.2, float(rng.uniform(1.5, 3.0)))
    t_start = float(times[0] - rng.uniform(0.05, 0.95) * (win - span))
    tt = np.linspace(t_start, t_start + win, ex1 - ex0 + 1)
    beats = rr * np.arange(np.floor(t_start / rr) - 1, np.ceil((t_start + win) / rr) + 2)
    sig = ecg_trace(tt, beats)
    amp = (ey1 - ey0) * rng.uniform(0.35, 0.5)
    yy = ey0 + (ey1 - ey0) * rng.uniform(0.55, 0.7) - amp * sig
    ecg_img = Image.new("L", (cols, rows), 0)
    ImageDraw.Draw(ecg_img).line(list(zip(np.arange(ex0, ex1 + 1).tolist(), yy.tolist())), fill=255,
                                 width=int(rng.integers(1, 3)))
    ecg_rgb = _grey(_pick_rgb(rng, [[0, 220, 0], [80, 255, 120], [230, 230, 230]]), mono)
    layer.over(ecg_img, ecg_rgb)
    return np.clip(np.round(ex0 + (times - t_start) / win * (ex1 - ex0)).astype(int), ex0, ex1)


def overlay_layers(rng: np.random.Generator, screen: Screen, style: Style, times: np.ndarray, rr: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple[int, int, int]]:
    """Static furniture as (alpha (H, W) float32, premultiplied rgb (H, W, 3) float32), the ECG
    cursor column per frame (or None) and the cursor colour."""
    rows, cols = screen.rows, screen.cols
    mono = style.monochrome
    layer = _Layer(rows, cols)
    size = int(np.clip(rows / rng.uniform(38, 55), 9, 22))
    lines = _param_lines(rng, screen, times)
    img = Image.new("L", (cols, rows), 0)
    draw = ImageDraw.Draw(img)
    _draw_param_text(rng, draw, screen, lines, size)
    sgn = _draw_depth_ticks(rng, draw, screen, size)
    mx = screen.ax + sgn * rng.uniform(25, 60)  # orientation marker near the apex
    my = screen.ay + rng.uniform(2, 12)
    draw.polygon([(mx - 5, my), (mx + 5, my), (mx, my + 8)], fill=255)
    layer.over(img, _grey(style.text_rgb, mono))
    _draw_grey_bar(rng, layer, screen, style)
    cur_rgb = _grey(_pick_rgb(rng, [[0, 230, 0], [240, 240, 80], [255, 255, 255], [90, 220, 255]]), mono)
    cursor = _draw_ecg(rng, layer, screen, times, rr, mono) if screen.ecg is not None else None
    return layer.alpha, layer.rgb, cursor, cur_rgb
