"""The in-memory result of the synthetic generator, before it is written as DICOM."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from echoseg.types import Region


@dataclass(frozen=True, eq=False)
class SynthCase:
    """One synthetic acquisition with exact ground truth.

    kind: "a4c" (B-mode cine) or "doppler" (one spectral image).
    frames: (T, H, W, 3) uint8 RGB screen pixels, as a scanner would store them.
    regions: the Sequence of Ultrasound Regions written to the DICOM (exactly as docs/output-format.md).
    masks: a4c -> (T, H, W) uint8 labels (0 bg, 1 LA, 2 RA, 3 LV, 4 RV);
           doppler -> (1, H, W) uint8, 1 inside the measurable flow region (baseline to envelope).
    truth: JSON-serialisable ground truth (see the generator's docstring for its keys).
    """

    kind: str
    frames: np.ndarray
    regions: tuple[Region, ...]
    frame_time_ms: float
    heart_rate_bpm: float
    style: str
    seed: int
    truth: dict[str, Any]
    masks: np.ndarray | None = None
    monochrome: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tasks(self) -> tuple[str, ...]:
        if self.kind == "a4c":
            return ("la_area", "ra_area")
        return (f"{self.truth['site']}_vti",)
