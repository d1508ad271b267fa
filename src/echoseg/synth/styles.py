"""Vendor-like display styles of the synthetic generator.

A *family* fixes the look (colour map, text colour, layout habits); each case draws its own
fine parameters (image size, gamma, gain, noise, text positions) from the family with its RNG,
so a model never sees the same screen twice. ``HELDOUT_FAMILY`` is never used for training: it is
the project's external-style test split.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

import numpy as np

_RGB = tuple[float, float, float]


class _Family(TypedDict):
    cmap: list[tuple[float, _RGB]]  # colour-map control points: intensity 0..1 -> RGB 0..1
    text: _RGB  # text colour, RGB 0..1


# name -> colour-map control points (intensity 0..1 -> RGB 0..1) and text colour.
_FAMILIES: dict[str, _Family] = {
    "grey": {"cmap": [(0, (0, 0, 0)), (1, (1, 1, 1))], "text": (0.9, 0.9, 0.9)},
    "bronze": {"cmap": [(0, (0, 0, 0)), (0.5, (0.55, 0.42, 0.25)), (1, (1, 0.93, 0.78))], "text": (0.95, 0.85, 0.4)},
    "cool": {"cmap": [(0, (0, 0, 0.02)), (0.6, (0.45, 0.55, 0.65)), (1, (0.88, 0.96, 1))], "text": (0.4, 0.9, 1.0)},
    "sepia": {"cmap": [(0, (0.02, 0.01, 0)), (0.5, (0.5, 0.4, 0.3)), (1, (0.98, 0.9, 0.8))], "text": (1.0, 1.0, 0.6)},
    "green": {"cmap": [(0, (0, 0.01, 0)), (0.5, (0.35, 0.5, 0.35)), (1, (0.85, 1.0, 0.85))], "text": (0.6, 1.0, 0.6)},
    "contrast": {"cmap": [(0, (0, 0, 0)), (0.35, (0.1, 0.1, 0.1)), (1, (1, 1, 1))], "text": (1.0, 1.0, 1.0)},
    # Held-out family: violet tint, gamma-lifted background, never used in training.
    "violet": {"cmap": [(0, (0.04, 0.0, 0.08)), (0.5, (0.5, 0.38, 0.62)), (1, (0.97, 0.9, 1.0))], "text": (1.0, 0.7, 1.0)},
}
HELDOUT_FAMILY = "violet"
TRAIN_FAMILIES = tuple(f for f in _FAMILIES if f != HELDOUT_FAMILY)
FAMILIES = tuple(_FAMILIES)


@dataclass(frozen=True)
class Style:
    """Display parameters of one synthetic case."""

    family: str
    lut: np.ndarray  # (256, 3) uint8 colour lookup table
    text_rgb: tuple[int, int, int]
    gamma: float
    gain: float
    noise: float
    monochrome: bool  # write as MONOCHROME2 (grey family only)

    def colorize(self, intensity: np.ndarray) -> np.ndarray:
        """Map intensities in [0, 1] (any shape) to uint8 RGB with this style's gain, gamma and LUT."""
        x = np.clip(np.asarray(intensity, dtype=np.float32) * self.gain, 0.0, 1.0) ** self.gamma
        return self.lut[(x * 255.0 + 0.5).astype(np.uint8)]


def _lut(points: list[tuple[float, _RGB]]) -> np.ndarray:
    xs = np.array([p[0] for p in points], dtype=np.float64)
    cols = np.array([p[1] for p in points], dtype=np.float64)
    grid = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(grid, xs, cols[:, c]) for c in range(3)], axis=1)
    return (lut * 255.0 + 0.5).astype(np.uint8)


def sample_style(rng: np.random.Generator, family: str | None = None, heldout: bool = False) -> Style:
    """Draw a Style. ``family`` picks one by name; otherwise a training family, or the held-out one."""
    if family is None:
        family = HELDOUT_FAMILY if heldout else str(rng.choice(TRAIN_FAMILIES))
    if family not in _FAMILIES:
        raise ValueError(f"style family must be one of {', '.join(FAMILIES)}, not {family!r}")
    spec = _FAMILIES[family]

    def jitter(c: float) -> float:
        return float(np.clip(c * rng.uniform(0.9, 1.1), 0, 1))

    def text_level(c: float) -> int:
        return int(255 * np.clip(c * rng.uniform(0.85, 1.0), 0, 1))

    # channels in order r, g, b: the RNG draws happen in the same order as ever
    pts = [(x, (jitter(r), jitter(g), jitter(b))) for x, (r, g, b) in spec["cmap"]]
    tr, tg, tb = spec["text"]
    text = (text_level(tr), text_level(tg), text_level(tb))
    return Style(
        family=family,
        lut=_lut(pts),
        text_rgb=text,
        gamma=float(rng.uniform(0.7, 1.4)),
        gain=float(rng.uniform(0.8, 1.25)),
        noise=float(rng.uniform(0.5, 1.5)),
        monochrome=family == "grey" and bool(rng.random() < 0.5),
    )
