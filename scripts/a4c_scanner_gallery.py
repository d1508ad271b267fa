"""Pictures of the 'scanner' A4C appearance for docs/synthetic_data.md (docs/images/synthetic_bmode_*.png).

Run: .venv/bin/python scripts/a4c_scanner_gallery.py [--out docs/images]

Writes four scanner frames (end-systole) of chosen seeds, one with its truth outlines, and the
beam-domain stages of one frame (scatterer variance, envelope after the point-spread function,
received envelope after attenuation, noise and TGC, display after log compression and scan
conversion).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from echoseg.synth import a4c
from echoseg.synth.a4c_render import Renderer
from echoseg.synth.a4c_scanner import SCANNER_FAMILY, ScannerRenderer

FRAMES = {"standard": 7, "zoomed": 10, "rv_focused": 0, "deep_narrow": 11}  # name -> seed
HEIGHT = 300  # output height (px)


def _small(rgb: np.ndarray, height: int = HEIGHT) -> Image.Image:
    img = Image.fromarray(rgb)
    return img.resize((int(round(img.width * height / img.height)), height), Image.Resampling.LANCZOS)


def _save(img: Image.Image, path: Path) -> None:
    """A small PNG: a 128-colour palette (speckle compresses badly in RGB)."""
    img.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def _frame(seed: int) -> tuple[np.ndarray, np.ndarray]:
    case = a4c.generate_a4c(seed, family=SCANNER_FAMILY, n_frames=3)
    k = int(case.truth["la_frame"])
    return case.frames[k], case.masks[k]


def _outlined(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = rgb.copy()
    from scipy import ndimage as ndi

    for lab, col in ((1, (255, 80, 80)), (2, (90, 160, 255))):
        m = mask == lab
        edge = m & ~ndi.binary_erosion(m, iterations=2)
        out[edge] = col
    return out


def _stages(seed: int) -> Image.Image:
    """The beam-domain stages of one frame, scan-converted, side by side with captions."""
    captured: dict[str, ScannerRenderer] = {}
    orig = Renderer.render_all

    def grab(self: Renderer, frame=None):  # type: ignore[no-untyped-def]
        if frame is not None:
            captured["r"] = frame.__self__
        return orig(self, frame)

    Renderer.render_all = grab  # type: ignore[method-assign]
    try:
        case = a4c.generate_a4c(seed, family=SCANNER_FAMILY, n_frames=3)
    finally:
        Renderer.render_all = orig  # type: ignore[method-assign]
    sr = captured["r"]
    sr._prev = None
    bf = sr.beam_frame(int(case.truth["la_frame"]))  # the frame of the pictures above (persistence off)

    def db(v: np.ndarray, rng_db: float = 60.0) -> np.ndarray:
        d = 10 * np.log10(np.maximum(v, 1e-12))
        top = float(np.percentile(d, 99.5))
        return np.clip((d - top + rng_db) / rng_db, 0, 1)

    panels = [("scatterer variance", db(bf.backscatter)), ("PSF envelope", db(bf.psf_envelope ** 2)),
              ("attenuation, noise, TGC", db(bf.envelope ** 2)), ("log-compressed display", bf.display)]
    tiles = []
    for title, polar in panels:
        scr = sr.convert(polar)
        tile = _small((np.clip(scr, 0, 1) * 255).astype(np.uint8), 220).convert("RGB")
        ImageDraw.Draw(tile).text((6, 4), title, fill=(255, 255, 0))
        tiles.append(tile)
    out = Image.new("RGB", (sum(t.width for t in tiles) + 6 * (len(tiles) - 1), tiles[0].height))
    x = 0
    for t in tiles:
        out.paste(t, (x, 0))
        x += t.width + 6
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("docs/images"))
    out = ap.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    for name, seed in FRAMES.items():
        rgb, mask = _frame(seed)
        _save(_small(rgb), out / f"synthetic_bmode_{name}.png")
        if name == "standard":
            _save(_small(_outlined(rgb, mask)), out / "synthetic_bmode_standard_masks.png")
    _save(_stages(FRAMES["standard"]), out / "synthetic_bmode_stages.png")
    print("wrote", sorted(p.name for p in out.glob("synthetic_bmode_*.png")))


if __name__ == "__main__":
    main()
