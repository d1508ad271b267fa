"""Screen furniture of the synthetic Doppler generator: layout, velocity scale, time marks, ECG,
parameter text and the optional 2D thumbnail with its sample-volume cursor.

Nothing here knows the flow truth; it only places and draws what a scanner shows around the
spectral strip. Velocity labels are placed through :mod:`echoseg.io.calibration`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from echoseg.io.calibration import UNIT_CM, row_to_velocity, velocity_to_row
from echoseg.types import Region, SpectralCalibration
from echoseg.synth import overlay
from echoseg.synth.styles import Style

_SIZES = ((480, 640), (600, 800), (708, 1016), (768, 1024), (720, 960), (576, 768), (600, 1024), (800, 1066))
_SITE_LABELS = {
    "mv": ("MV", "MV Inflow", "Mitral", "MV E/A", "MV VTI"),
    "av": ("AV", "AoV", "Ao", "AV VTI", "AV Vmax"),
    "lvot": ("LVOT", "LVOT VTI", "LVOT PW"),
    "rvot": ("RVOT", "RVOT VTI", "RVOT PW"),
    "pv": ("PV", "Pulm", "PV VTI", "PA"),
}


@dataclass(frozen=True)
class ScreenLayout:
    """Where things go on one screen (pixel coordinates, inclusive boxes)."""

    height: int
    width: int
    strip: tuple[int, int, int, int]          # x0, y0, x1, y1
    scale_right: bool
    font: int
    thumb: tuple[int, int, int, float] | None  # apex x, apex y, radius (px), half-angle (rad)
    ecg: str                                  # "below" | "over" | "none"
    ecg_y: int                                # centre row of the ECG trace
    ecg_amp: float                            # px per ECG unit
    time_marks: str                           # "top" | "bottom" | "none"


def sample_layout(rng: np.random.Generator, image_size: tuple[int, int] | None = None) -> ScreenLayout:
    """Draw a vendor-like screen layout; ``image_size`` = (rows, cols) or a random size."""
    if image_size is None:
        if rng.random() < 0.7:
            h, w = _SIZES[int(rng.integers(len(_SIZES)))]
        else:
            h = int(rng.integers(420, 820))
            w = int(h * rng.uniform(1.2, 1.55))
    else:
        h, w = int(image_size[0]), int(image_size[1])
    if h < 200 or w < 260:
        raise ValueError(f"image_size must be at least (200, 260) rows x cols, not {image_size}")
    font = int(np.clip(round(h / 46 * rng.uniform(0.8, 1.15)), 9, 20))
    label_w = int(font * 3.2) + 10
    scale_right = bool(rng.random() < 0.7)
    if scale_right:
        x0 = int(rng.integers(2, max(3, int(0.08 * w))))
        x1 = w - 1 - label_w - int(rng.integers(2, 30))
    else:
        x0 = label_w + int(rng.integers(4, 30))
        x1 = w - 1 - int(rng.integers(2, max(3, int(0.06 * w))))
    thumb = None
    if rng.random() < 0.5:
        top_h = int(rng.uniform(0.26, 0.4) * h)
        ay = int(rng.uniform(0.01, 0.04) * h)
        rad, half = top_h - ay - 4, rng.uniform(0.45, 0.75)
        lo, hi = rad * np.sin(half) + 4, w - rad * np.sin(half) - 4
        thumb = (int(rng.uniform(max(lo, 0.15 * w), min(hi, 0.85 * w))), ay, rad, float(half))
        y0 = top_h + int(rng.uniform(0.01, 0.04) * h)
    else:
        y0 = int(rng.uniform(0.1, 0.4) * h)
    r = rng.random()
    ecg = "below" if r < 0.55 else ("over" if r < 0.8 else "none")
    eh = rng.uniform(0.05, 0.09) * h
    bottom = int(rng.uniform(0.01, 0.05) * h) + (int(eh + 0.02 * h) if ecg == "below" else 0)
    y1 = h - 1 - bottom
    if y1 - y0 < 0.3 * h:
        y0 = int(y1 - 0.3 * h)
    ecg_y = int(y1 + 0.01 * h + eh * 0.6) if ecg == "below" else int(y1 - eh * rng.uniform(0.6, 1.2))
    marks = ("top", "bottom", "none")[int(rng.choice(3, p=[0.45, 0.35, 0.2]))]
    return ScreenLayout(h, w, (x0, y0, x1, y1), scale_right, font, thumb, ecg, ecg_y, eh * 0.55, marks)


def _thumbnail(rng: np.random.Generator, canvas: np.ndarray, lay: ScreenLayout, ink: np.ndarray,
               mode: str) -> Region:
    """Grey fan-shaped 2D image with chambers, plus the Doppler cursor drawn into ``ink``."""
    assert lay.thumb is not None
    ax, ay, rad, half = lay.thumb
    bx0, bx1 = max(0, int(ax - rad * np.sin(half)) - 1), min(lay.width - 1, int(ax + rad * np.sin(half)) + 1)
    by1 = min(lay.height - 1, ay + rad)
    yy, xx = np.mgrid[ay:by1 + 1, bx0:bx1 + 1].astype(np.float32)
    dx, dy = xx - ax, yy - ay
    r = np.hypot(dx, dy)
    th = np.arctan2(dx, dy)
    inside = (r < rad) & (np.abs(th) < half)
    speck = rng.gamma(1.3, 1 / 1.3, size=r.shape).astype(np.float32)
    speck = 0.5 * (speck + np.roll(speck, 1, axis=0))
    tissue = np.full(r.shape, rng.uniform(0.25, 0.45), dtype=np.float32)
    for _ in range(int(rng.integers(2, 5))):  # dark chambers
        cx, cy = ax + rng.uniform(-0.5, 0.5) * rad * np.sin(half), ay + rng.uniform(0.3, 0.85) * rad
        ex, ey = rng.uniform(0.08, 0.2) * rad, rng.uniform(0.12, 0.3) * rad
        tissue *= np.where(((xx - cx) / ex) ** 2 + ((yy - cy) / ey) ** 2 < 1, 0.12, 1.0).astype(np.float32)
    img = tissue * speck * (1 - 0.5 * r / rad) * inside
    canvas[ay:by1 + 1, bx0:bx1 + 1] = np.maximum(canvas[ay:by1 + 1, bx0:bx1 + 1], np.clip(img, 0, 1))
    ang = rng.uniform(-0.6, 0.6) * half
    depth = rng.uniform(0.45, 0.85) * rad
    ts = np.arange(0, rad * 0.97, 3.0 if rng.random() < 0.6 else 1.0)
    lx, ly = (ax + ts * np.sin(ang)).astype(int), (ay + ts * np.cos(ang)).astype(int)
    ok = (lx >= 0) & (lx < lay.width) & (ly >= 0) & (ly < lay.height)
    ink[ly[ok], lx[ok]] = 0.85
    gx, gy = ax + depth * np.sin(ang), ay + depth * np.cos(ang)
    px, py = np.cos(ang), -np.sin(ang)
    gate = 4 if mode == "PW" else 2
    for off in ((-gate, gate) if mode == "PW" else (0,)):
        cx, cy = gx + off * np.sin(ang), gy + off * np.cos(ang)
        for s in np.arange(-5, 6):
            x, y = int(cx + s * px), int(cy + s * py)
            if 0 <= x < lay.width and 0 <= y < lay.height:
                ink[y, x] = 1.0
    cm_px = rng.uniform(12, 20) / rad
    return Region(bx0, ay, bx1, by1, 1, 1, UNIT_CM, UNIT_CM, float(cm_px), float(cm_px), ax - bx0, 0)


def _scale(rng: np.random.Generator, lay: ScreenLayout, cal: SpectralCalibration) -> tuple[list, list]:
    """Velocity ticks (row, x0, x1) and labels (x, y, text) at nice velocities along the strip edge."""
    x0, y0, x1, y1 = lay.strip
    vr = abs(cal.cm_s_per_px) * (y1 - y0)
    step = next((s for s in (5, 10, 20, 25, 50, 100, 200) if vr / s <= rng.integers(7, 14)), 200)
    m_s = rng.random() < 0.5
    font = overlay.font(lay.font)
    tick = int(rng.integers(3, 8))
    ticks, labels = [], []
    v_top, v_bot = row_to_velocity(cal, float(y0)), row_to_velocity(cal, float(y1))
    for k in range(int(np.floor(min(v_top, v_bot) / step)), int(np.ceil(max(v_top, v_bot) / step)) + 1):
        v = k * step
        row = float(velocity_to_row(cal, float(v)))
        if not y0 <= row <= y1:
            continue
        xa, xb = (x1 + 2, x1 + 2 + tick) if lay.scale_right else (x0 - 2 - tick, x0 - 2)
        ticks.append((int(round(row)), xa, xb))
        if y0 + lay.font * 0.5 <= row <= y1 - lay.font * 0.5 and (v != 0 or rng.random() < 0.7):
            text = f"{v / 100:.1f}" if m_s and step % 10 == 0 else (f"{v / 100:.2f}" if m_s else f"{v:d}")
            tw = font.getlength(text)
            tx = xb + 3 if lay.scale_right else xa - 3 - tw
            labels.append((int(tx), int(row - lay.font * 0.6), text))
    unit = ("m/s" if m_s else "cm/s") if rng.random() < 0.8 else ("[m/s]" if m_s else "[cm/s]")
    ux = x1 + 4 if lay.scale_right else max(0, x0 - int(font.getlength(unit)) - 4)
    labels.append((ux, max(0, y0 - lay.font - 4), unit))
    return ticks, labels


def _texts(rng: np.random.Generator, lay: ScreenLayout, site: str, mode: str, hr_bpm: float,
           sweep_mm_s: int) -> list[tuple[int, int, str]]:
    """Parameter text: site label (sometimes absent), mode, frequency, gain, filter, sweep, HR. No names."""
    items = []
    if rng.random() < 0.8:
        lab = str(rng.choice(_SITE_LABELS[site]))
        items.append(lab if (mode in lab or rng.random() < 0.4) else f"{lab} {mode}")
    pool = [f"{mode}", f"{rng.uniform(1.6, 3.5):.1f} MHz", f"Gain {int(rng.integers(-10, 20))} dB",
            f"WF {int(rng.choice([50, 100, 150, 200, 300]))} Hz", f"{sweep_mm_s} mm/s",
            f"HR {int(round(hr_bpm))} bpm", f"PRF {rng.uniform(1.5, 12):.1f} kHz",
            f"Angle {int(rng.choice([0, 0, 0, 20, 40]))}\u00b0", f"Comp {int(rng.integers(20, 80))}",
            f"Rej {int(rng.integers(0, 40))}%", "Adult Echo", f"MI {rng.uniform(0.2, 1.4):.1f}",
            f"TIS {rng.uniform(0.1, 1.2):.1f}", str(rng.choice(["S5-1", "M5S", "X5-1", "P4-2", "4V1", "S4-2"])),
            f"{int(rng.integers(-40, 0))} dB", f"Dyn {int(rng.integers(30, 55))}", f"{int(rng.integers(2015, 2025))}-"
            f"{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}",
            f"{int(rng.integers(7, 19)):02d}:{int(rng.integers(0, 60)):02d}:{int(rng.integers(0, 60)):02d}"]
    if mode == "PW":
        pool.append(f"SV {rng.uniform(1.5, 5.0):.1f} mm")
    rng.shuffle(pool)
    items += pool[: int(rng.integers(4, len(pool)))]
    x0, y0, x1, y1 = lay.strip
    lh = int(lay.font * rng.uniform(1.15, 1.5))
    n_rows = max(1, (y0 - 2 * lay.font - 10) // lh)
    out = []
    col_x = [int(rng.integers(4, 20)), int(lay.width * rng.uniform(0.35, 0.5)),
             int(lay.width * rng.uniform(0.72, 0.85))]
    if lay.thumb is None and rng.random() < 0.6:
        col_x.pop(1)
    if lay.thumb is not None:  # keep text columns clear of the fan
        ax, _, rad, half = lay.thumb
        fan = (ax - rad * np.sin(half) - 4, ax + rad * np.sin(half) + 4)
        col_w = lay.font * 7
        col_x = [c for c in col_x if c + col_w < fan[0] or c > fan[1]]
        if fan[1] + 8 < lay.width - col_w and all(c < fan[1] for c in col_x):
            col_x.append(int(fan[1] + 8))
    ty = int(rng.integers(3, 12))
    for i, text in enumerate(items):
        c, r = divmod(i, n_rows)
        if c >= len(col_x):
            break
        out.append((col_x[c], ty + r * lh, text))
    return out


def _blend_box(frame: np.ndarray, layer: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    """overlay.blend restricted to the bounding box of the layer's non-zero pixels (much faster)."""
    rows, cols = np.nonzero(layer.any(axis=1))[0], np.nonzero(layer.any(axis=0))[0]
    if rows.size == 0:
        return frame
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    frame[r0:r1, c0:c1] = overlay.blend(frame[r0:r1, c0:c1], layer[r0:r1, c0:c1], rgb)
    return frame


def _colour_images(style: Style, canvas: np.ndarray, boxes: Sequence[tuple[int, int, int, int]]) -> np.ndarray:
    """(H, W, 3) screen in the style's background colour with ``canvas`` colourised inside ``boxes`` (r0, r1, c0, c1)."""
    frame = np.broadcast_to(style.colorize(np.zeros((1, 1), np.float32)), (*canvas.shape, 3)).copy()
    for r0, r1, c0, c1 in boxes:
        frame[r0:r1, c0:c1] = style.colorize(canvas[r0:r1, c0:c1])
    return frame


def _draw_baseline_and_border(rng: np.random.Generator, ink: np.ndarray, lay: ScreenLayout,
                              cal: SpectralCalibration) -> None:
    """Into ``ink``: the baseline (usually; solid or dashed) and sometimes a frame around the strip."""
    x0, y0, x1, y1 = lay.strip
    base = int(round(cal.baseline_row))
    bl = rng.uniform(0.4, 1.0)
    if rng.random() < 0.85:
        xs = np.arange(x0, x1 + 1)
        ink[base, xs[(xs // int(rng.integers(2, 6))) % 2 == 0] if rng.random() < 0.3 else xs] = bl
    if rng.random() < 0.3:
        ink[[y0 - 1, y1 + 1], x0 - 1:x1 + 2] = 0.6
        ink[y0 - 1:y1 + 2, [x0 - 1, x1 + 1]] = 0.6


def _draw_velocity_axis(rng: np.random.Generator, ink: np.ndarray, lay: ScreenLayout,
                        ticks: Sequence[tuple[int, int, int]]) -> None:
    """Into ``ink``: sometimes the scale's axis line along the strip edge, and the velocity ticks."""
    x0, y0, x1, y1 = lay.strip
    if rng.random() < 0.6:
        sx = x1 + 2 if lay.scale_right else x0 - 2
        ink[y0:y1 + 1, sx] = 0.8
    for row, xa, xb in ticks:
        ink[row, xa:xb + 1] = 1.0


def _draw_time_marks(rng: np.random.Generator, ink: np.ndarray, lay: ScreenLayout, cal: SpectralCalibration) -> None:
    """Into ``ink``: time marks along the top or bottom of the strip (small every 0.1/0.2 s, big every second)."""
    if lay.time_marks == "none":
        return
    x0, y0, x1, y1 = lay.strip
    t0, small = rng.uniform(0, 1), float(rng.choice([0.1, 0.2]))
    ty = y0 + 1 if lay.time_marks == "top" else y1 + 3
    n = int(cal.region.width * cal.s_per_px / small) + 2
    for k in range(n):
        t = t0 + k * small - np.floor(t0 / small) * small
        x = x0 + int(round(t / cal.s_per_px))
        if x0 <= x <= x1:
            major = abs(t / 1.0 - round(t)) < 1e-6 or k % int(round(1 / small)) == 0
            ink[ty:ty + (5 if major else 2), x:x + (2 if major else 1)] = 1.0


def _sweep_mm_s(cal: SpectralCalibration) -> int:
    """The scanner sweep-speed setting (mm/s) closest to the strip's time scale."""
    s_total = cal.region.width * cal.s_per_px
    return int(min((25, 50, 75, 100, 150), key=lambda v: abs(v - cal.region.width * 0.26 / s_total)))


def _draw_ecg(rng: np.random.Generator, frame: np.ndarray, lay: ScreenLayout, style: Style,
              cal: SpectralCalibration, r_times: np.ndarray, gap: tuple[int, int] | None) -> np.ndarray:
    """Blend the ECG trace (R waves at ``r_times``) across the strip's width into ``frame``."""
    x0, _, x1, _ = lay.strip
    t = np.arange(x1 - x0 + 1) * cal.s_per_px
    trace = overlay.ecg_trace(t, r_times)
    ecg = np.zeros((lay.height, lay.width), dtype=np.float32)
    overlay.draw_polyline(ecg, np.arange(x0, x1 + 1), lay.ecg_y - lay.ecg_amp * trace,
                          width=int(rng.integers(1, 3)))
    if gap is not None:
        ecg[:, x0 + gap[0]:x0 + gap[1]] = 0.0
    hue = [(60, 230, 80), (80, 255, 120), (230, 230, 80), (90, 220, 230)][int(rng.integers(4))]
    return _blend_box(frame, ecg, style.text_rgb if style.monochrome else hue)


def _draw_marks(rng: np.random.Generator, frame: np.ndarray, lay: ScreenLayout, style: Style,
                traces: Sequence[tuple[np.ndarray, np.ndarray]], notes: Sequence[tuple[int, int, str]]) -> np.ndarray:
    """Blend a sonographer's measurement traces (dotted or solid) and result notes into ``frame``."""
    shape = (lay.height, lay.width)
    marks = overlay.text_layer(shape, list(notes), size=lay.font) if notes else np.zeros(shape, dtype=np.float32)
    dotted = rng.random() < 0.5
    for xs, ys in traces:
        if dotted:
            keep = (np.arange(xs.size) // 2) % 2 == 0
            iy = np.clip(np.round(ys[keep]).astype(int), 0, lay.height - 1)
            marks[iy, xs[keep]] = 1.0
        else:
            overlay.draw_polyline(marks, xs, ys, width=1)
    hue = [(255, 230, 0), (0, 255, 255), (255, 255, 255), (120, 255, 120)][int(rng.integers(4))]
    return _blend_box(frame, marks, style.text_rgb if style.monochrome else hue)


def draw_screen(rng: np.random.Generator, lay: ScreenLayout, style: Style, strip_img: np.ndarray,
                cal: SpectralCalibration, *, site: str, mode: str, r_times: np.ndarray,
                hr_bpm: float, traces: Sequence[tuple[np.ndarray, np.ndarray]] = (),
                notes: Sequence[tuple[int, int, str]] = (),
                gap: tuple[int, int] | None = None) -> tuple[np.ndarray, tuple[Region, ...]]:
    """Compose the (H, W, 3) uint8 screen; returns it and the 2D tissue region(s) drawn.

    ``traces`` (column, row polylines) and ``notes`` (x, y, text) are a sonographer's measurement
    marks drawn in an annotation colour on top of everything.
    """
    x0, y0, x1, y1 = lay.strip
    canvas = np.zeros((lay.height, lay.width), dtype=np.float32)
    canvas[y0:y1 + 1, x0:x1 + 1] = strip_img
    ink = np.zeros_like(canvas)
    regions: tuple[Region, ...] = ()
    if lay.thumb is not None:
        regions = (_thumbnail(rng, canvas, lay, ink, mode),)
    boxes = [(y0, y1 + 1, x0, x1 + 1)]
    if regions:
        boxes.append((regions[0].y0, regions[0].y1 + 1, regions[0].x0, regions[0].x1 + 1))
    frame = _colour_images(style, canvas, boxes)
    _draw_baseline_and_border(rng, ink, lay, cal)
    ticks, labels = _scale(rng, lay, cal)
    _draw_velocity_axis(rng, ink, lay, ticks)
    _draw_time_marks(rng, ink, lay, cal)
    sweep = _sweep_mm_s(cal)
    if gap is not None:  # the erase bar blanks everything drawn in its columns
        ink[y0 - 1:y1 + 2, x0 + gap[0]:x0 + gap[1]] = 0.0
    text = overlay.text_layer(canvas.shape, _texts(rng, lay, site, mode, hr_bpm, sweep) + labels, size=lay.font)
    frame = _blend_box(frame, np.maximum(ink, text), style.text_rgb)
    if lay.ecg != "none":
        frame = _draw_ecg(rng, frame, lay, style, cal, r_times, gap)
    if traces or notes:
        frame = _draw_marks(rng, frame, lay, style, traces, notes)
    return frame, regions
