"""Keep only the imaging regions of a scanner screen: everything else (the header with the patient's
name, ID and birth date, the institution, the clock) is blanked before a picture leaves echoseg.

The imaging regions are those of the Sequence of Ultrasound Regions (0018,6011) whose
RegionSpatialFormat (0018,6012) is 1 (2D: the sector, a Doppler screen's 2D thumbnail), 2 (M-mode)
or 3 (spectral strip); waveform (ECG), graphics and colour-bar regions are blanked with the rest.

Example::

    >>> import numpy as np
    >>> from echoseg.types import Region
    >>> frame = np.full((4, 6, 3), 200, np.uint8)
    >>> sector = Region(1, 1, 3, 2, 1, 1, 3, 3, 0.1, 0.1)
    >>> blank_outside_regions(frame, (sector,))[..., 0]
    array([[  0,   0,   0,   0,   0,   0],
           [  0, 200, 200, 200,   0,   0],
           [  0, 200, 200, 200,   0,   0],
           [  0,   0,   0,   0,   0,   0]], dtype=uint8)
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from echoseg.types import FileResult, Region

IMAGING_FORMATS = (1, 2, 3)  # RegionSpatialFormat: 2D, M-mode, spectral


def imaging_mask(shape: tuple[int, int], regions: Sequence[Region]) -> np.ndarray:
    """(H, W) bool: True inside any imaging region (bounds inclusive, clipped to the image)."""
    rows, cols = shape
    keep = np.zeros((rows, cols), bool)
    for r in regions:
        if r.spatial_format not in IMAGING_FORMATS:
            continue
        y0, y1 = max(0, int(r.y0)), min(rows - 1, int(r.y1))
        x0, x1 = max(0, int(r.x0)), min(cols - 1, int(r.x1))
        if y0 <= y1 and x0 <= x1:
            keep[y0:y1 + 1, x0:x1 + 1] = True
    return keep


def blank_outside_regions(frame: np.ndarray, regions: Sequence[Region], fill: int = 0) -> np.ndarray:
    """A copy of ``frame`` ((H, W) or (H, W, C)) with every pixel outside the imaging regions set to ``fill``.

    With no imaging region at all the whole frame is blanked: a picture whose regions are unknown
    may show anything, so nothing of it is kept.
    """
    if frame.ndim not in (2, 3):
        raise ValueError(f"frame must be (H, W) or (H, W, C), not shape {frame.shape}")
    keep = imaging_mask((int(frame.shape[0]), int(frame.shape[1])), regions)
    out = np.full_like(frame, fill)
    out[keep] = frame[keep]
    return out


def without_screen_text(result: FileResult, regions: Sequence[Region], keep: bool = False) -> FileResult:
    """``result`` with its overlay frame (:attr:`FileResult.image`) blanked outside the imaging regions,
    unless ``keep`` (the user's ``--keep-screen-text``). Overlays, report.html and the web demo draw on
    that frame, so none of them shows the screen's header text."""
    if keep or result.image is None:
        return result
    return dataclasses.replace(result, image=blank_outside_regions(result.image, regions))
