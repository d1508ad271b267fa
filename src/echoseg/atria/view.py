"""Is this an apical four-chamber view? The four-chamber layout the atria network sees, and colour.

The atria network labels LA, RA, LV and RV. On an A4C (apex at the top of the sector) all four
are there, the ventricles lie above the atria (towards the apex), the LA under the LV and the RA
under the RV. The network may draw an A4C layout into an upside-down or rotated image, so the
picture is checked too: a sector whose lit width grows upward (its apex at the bottom) is an
upside-down display, whatever the network drew. Limitation: a rotated heart (a subcostal view) in an
upright sector can still pass (the mask rules of :mod:`echoseg.atria.qc` catch some; docs/views.md).
The network names chambers by where they lie, so a left-right mirrored display (the LV on the left of
the screen, as some labs show it) comes out with LA and RA swapped; the LV is the larger ventricle,
so a "LV" smaller than :data:`MIN_LV_RV` x the "RV" is refused as mirrored (or a strongly dilated RV;
measured in docs/views.md and, on a real cine shown mirrored, docs/real_world.md).
Other views, 3D renderings, zoomed single chambers and Doppler screens break this: chambers are
missing or tiny, or stacked the wrong way round. A colour-flow box or a colour 3D rendering shows as
pixels off the grey (or tinted-grey) display map inside the 2D region.

Everything works on the network's probabilities averaged over the loop (one map per class at
model resolution, so the moving heart does not matter) and on a few frames' pixels: cheap.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from echoseg.types import Region, TissueCalibration

CHAMBERS = {"LA": 1, "RA": 2, "LV": 3, "RV": 4}
MIN_AREA_CM2 = {"LA": 2.0, "RA": 2.0, "LV": 4.0, "RV": 2.0}  # of the loop-averaged label map
MAX_COLOUR_FRACTION = 0.03  # of the 2D region's non-black pixels
MAX_TAPER = 1.5  # lit width of the sector's top quarter over its bottom quarter (upright sectors: < 1)
MIN_LV_RV = 0.8  # area of the ventricle labelled LV (screen right) over the RV's; below: mirrored display


@dataclass(frozen=True)
class Chamber:
    """One chamber of the loop-averaged label map: area (cm²) and centroid (model pixels, y down)."""

    name: str
    area_cm2: float
    cy: float
    cx: float


@dataclass(frozen=True)
class ViewCheck:
    """The four-chamber layout, the colour fraction, the sector's taper and ``reason`` ('' for an A4C)."""

    chambers: tuple[Chamber, ...]
    colour_fraction: float
    reason: str = ""
    taper: float = 0.0

    @property
    def is_a4c(self) -> bool:
        return not self.reason


def chamber_layout(mean_probs: np.ndarray, cal: TissueCalibration) -> tuple[Chamber, ...]:
    """The chambers of the label map ``argmax(mean_probs)`` (C, S, S) in the grid ``cal`` describes."""
    p = np.asarray(mean_probs, dtype=np.float32)
    if p.ndim != 3 or p.shape[0] < 5:
        raise ValueError(f"mean_probs must be a (C >= 5, H, W) array of class probabilities, not shape {p.shape}")
    labels = p.argmax(axis=0)
    out = []
    for name, k in CHAMBERS.items():
        ys, xs = np.nonzero(labels == k)
        area = float(ys.size * cal.cm2_per_px)
        cy, cx = (float(ys.mean()), float(xs.mean())) if ys.size else (float("nan"), float("nan"))
        out.append(Chamber(name, area, cy, cx))
    return tuple(out)


def _sampled_frames(frames_rgb: np.ndarray, n_sample: int) -> np.ndarray:
    """(T, H, W, 3) frames (a single (H, W, 3) frame is one), ``n_sample`` of them spread over the loop."""
    f = np.asarray(frames_rgb)
    if f.ndim == 3:
        f = f[None]
    if f.ndim != 4 or f.shape[-1] != 3:
        raise ValueError(f"frames_rgb must be (T, H, W, 3) RGB, not shape {f.shape}")
    return f[np.unique(np.linspace(0, f.shape[0] - 1, min(n_sample, f.shape[0])).round().astype(int))]


def colour_fraction(frames_rgb: np.ndarray, region: Region, n_sample: int = 6, min_dev: int = 48) -> float:
    """Fraction of the 2D region's non-black pixels whose colour is off the display's grey map.

    The map is each luminance level's median RGB (a grey or tinted-grey display has one colour per
    level); a pixel more than ``min_dev`` levels off it in any channel is colour (flow, 3D
    rendering). ``n_sample`` frames spread over the loop are used.
    """
    f = _sampled_frames(frames_rgb, n_sample)
    crop = f[:, max(region.y0, 0):region.y1 + 1, max(region.x0, 0):region.x1 + 1].reshape(-1, 3).astype(np.int16)
    lum = (0.299 * crop[:, 0] + 0.587 * crop[:, 1] + 0.114 * crop[:, 2]).astype(np.int16)
    lit = lum >= 16
    if lit.sum() < 100:
        return 0.0
    px, lv = crop[lit], lum[lit] // 8
    dev = np.zeros(lv.size, dtype=np.int16)
    for b in np.unique(lv):
        sel = lv == b
        ref = np.median(px[sel], axis=0)
        dev[sel] = np.abs(px[sel] - ref).max(axis=1)
    return float((dev > min_dev).mean())


def sector_taper(frames_rgb: np.ndarray, region: Region, n_sample: int = 6) -> float:
    """How the 2D region's lit width changes with depth: the mean number of lit pixels (luminance >= 16
    in any of ``n_sample`` frames) per row over the top quarter of the lit rows (5-30 % of their extent)
    divided by that over the bottom quarter (70-95 %).

    A sector with its apex at the top widens downward (about 0.2-0.5 on synthetic A4C cines); shown
    upside down it widens upward (2-4.5); a rectangular (linear-probe) image is about 1. 0 when the
    region is nearly black.
    """
    f = _sampled_frames(frames_rgb, n_sample)
    crop = f[:, max(region.y0, 0):region.y1 + 1, max(region.x0, 0):region.x1 + 1].astype(np.float32)
    lit = ((0.299 * crop[..., 0] + 0.587 * crop[..., 1] + 0.114 * crop[..., 2]) >= 16).any(axis=0)
    rows = np.nonzero(lit.any(axis=1))[0]
    if lit.sum() < 100 or rows.size < 8:
        return 0.0
    lo, ext = int(rows[0]), int(rows[-1] - rows[0] + 1)
    width = lit.sum(axis=1).astype(np.float64)
    top = width[lo + int(0.05 * ext):lo + int(0.30 * ext) + 1].mean()
    bottom = width[lo + int(0.70 * ext):lo + int(0.95 * ext) + 1].mean()
    return float(top / max(bottom, 1.0))


def view_reason(chambers: tuple[Chamber, ...], colour: float, taper: float = 0.0) -> str:
    """'' for an A4C, else "not an apical four-chamber view (looks like ...): why"."""
    by = {c.name: c for c in chambers}
    if colour > MAX_COLOUR_FRACTION:
        return (f"not an apical four-chamber view (looks like a colour Doppler or colour-rendered/3D image): "
                f"{100 * colour:.0f} % of the 2D region is in colour (> {100 * MAX_COLOUR_FRACTION:g} %)")
    if taper > MAX_TAPER:
        return ("not an apical four-chamber view (looks like an apex-down or upside-down display): the sector "
                f"widens upward (its top quarter is {taper:.1f} x as wide as its bottom quarter, > {MAX_TAPER:g}); "
                "show the apex at the top")
    missing = [n for n, c in by.items() if c.area_cm2 < MIN_AREA_CM2[n]]
    if missing:
        found = [n for n in CHAMBERS if n not in missing]
        if set(found) == {"LA", "LV"} or set(found) == {"RA", "RV"}:
            looks = "a two-chamber or one-sided view"
        elif len(found) <= 1:
            looks = "a zoomed single chamber, another view or no heart"
        else:
            looks = "another view or an off-axis A4C"
        return (f"not an apical four-chamber view (looks like {looks}): {', '.join(missing)} not found "
                f"(found: {', '.join(found) or 'none'})")
    la, ra, lv, rv = by["LA"], by["RA"], by["LV"], by["RV"]
    if lv.cy > la.cy and rv.cy > ra.cy:
        return ("not an apical four-chamber view (looks like an apex-down or upside-down display): "
                "the ventricles lie below the atria; show the apex at the top")
    if lv.cy >= la.cy or rv.cy >= ra.cy:
        return ("not an apical four-chamber view (looks like another or rotated view): "
                f"{'LV' if lv.cy >= la.cy else 'RV'} not above its atrium")
    if np.sign(lv.cx - rv.cx) != np.sign(la.cx - ra.cx) or abs(la.cx - lv.cx) >= abs(la.cx - rv.cx):
        return ("not an apical four-chamber view (looks like another or rotated view): "
                "the LA does not lie under the LV and the RA under the RV")
    if lv.area_cm2 < MIN_LV_RV * rv.area_cm2:
        return ("not a standard apical four-chamber display (looks like a left-right mirrored display, the LV "
                "on the left of the screen, or a strongly dilated right ventricle): the ventricle on the right "
                f"of the screen is {lv.area_cm2 / rv.area_cm2:.2f} x the area of the one on its left "
                f"(< {MIN_LV_RV:g}); in a mirrored display LA and RA would be swapped, so neither is measured; "
                "show the LV on the right of the screen")
    return ""


# Views a file's free-text labels (SeriesDescription, ProtocolName, ImageComments) may name, as
# vendors' protocols spell them; a subcostal "4 chamber" is subcostal, not apical.
_OTHER_VIEW_WORDS = {
    "a subcostal view": r"\bsub ?(?:costal|xiphoid)\b|\bsubc\b|\bsc ?4 ?c(?:h)?\b",
    "a parasternal long-axis view": r"\bplax\b|\bparasternal long\b|\bpslax\b",
    "a parasternal short-axis view": r"\bpsax\b|\bparasternal short\b|\bsax\b",
    "an apical two-chamber view": r"\ba2c\b|\bap ?2\b|\bapical ?2\b|\b2 ?ch(?:amber)?\b|\ba2ch\b",
    "an apical three-chamber view": r"\ba3c\b|\bap ?3\b|\bapical ?3\b|\baplax\b|\b3 ?ch(?:amber)?\b",
    "an apical five-chamber view": r"\ba5c\b|\bap ?5\b|\bapical ?5\b|\b5 ?ch(?:amber)?\b",
    "a suprasternal view": r"\bsuprasternal\b|\bssn\b",
}
_A4C_WORDS = r"\ba4c\b|\bap ?4\b|\bapical ?4\b|\b4 ?ch(?:amber)?\b|\ba4ch\b"


def view_from_labels(text: str) -> str:
    """The refusal when a file's free-text labels name exactly one view that is not an apical
    four-chamber ("PLAX", "A2C", "Subcostal 4CH") and no apical four-chamber one; "" otherwise
    (labels that name no view, or several, decide nothing).

    >>> print(view_from_labels("PLAX 2D"))
    not an apical four-chamber view (looks like a parasternal long-axis view: named in the file's labels)
    >>> view_from_labels("A4C"), view_from_labels("Echo 2D"), view_from_labels("PLAX | A4C")
    ('', '', '')
    """
    low = text.lower()
    named = [v for v, pattern in _OTHER_VIEW_WORDS.items() if re.search(pattern, low)]
    if len(named) != 1 or (named[0] != "a subcostal view" and re.search(_A4C_WORDS, low)):
        return ""
    return f"not an apical four-chamber view (looks like {named[0]}: named in the file's labels)"


def check_view(probs: np.ndarray, cal_model: TissueCalibration, frames_rgb: np.ndarray,
               region: Region) -> ViewCheck:
    """The view check of one loop: softmax ``probs`` (T, C, S, S) in the model grid ``cal_model``,
    the RGB cine and its 2D region."""
    p = np.asarray(probs)
    if p.ndim != 4:
        raise ValueError(f"probs must be a (T, C, S, S) array, not shape {p.shape}")
    chambers = chamber_layout(p.astype(np.float32).mean(axis=0), cal_model)
    colour = colour_fraction(frames_rgb, region)
    taper = sector_taper(frames_rgb, region)
    return ViewCheck(chambers, colour, view_reason(chambers, colour, taper), taper)
