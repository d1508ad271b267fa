"""What a measurement run uses: the networks (:class:`Models`, loaded once on first need) and
the user's choices (:class:`Options`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from echoseg.io.limits import DEFAULT_LIMITS, ReadLimits


@dataclass
class Models:
    """The networks a run uses, loaded once on first need (shipped weights unless paths are given)."""

    atria_path: str = "atria"
    doppler_path: str = "doppler"
    backend: str | None = None  # "auto", "onnxruntime" or "torch"; None: ECHOSEG_BACKEND, else "auto"
    _cache: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        """The loaded network ``name`` ("atria" | "doppler"), loaded on first call."""
        if name not in self._cache:
            from echoseg.models.inference import load_for_inference
            path = self.atria_path if name == "atria" else self.doppler_path
            self._cache[name] = load_for_inference(path, self.backend)
        return self._cache[name]


@dataclass(frozen=True)
class Options:
    """What the user asked for beyond the inputs."""

    task: str = "auto"
    cm_per_px: float | None = None  # calibration for AVI/PNG inputs without DICOM regions
    keep_image: bool = True
    # read the text printed on Doppler screens (needs Tesseract): a site label, used when the waveform's
    # site posterior leaves screen_text_below doubt; non-target labels; a printed VTI that QC checks
    read_screen_text: bool = True
    screen_text_below: float = 0.95
    # keep what re-measuring needs in FileResult.edit_data (the web demo's edits): the atria network's
    # per-frame probabilities at model resolution (float16) and the cine, or the Doppler calibration
    edit_data: bool = False
    # keep the screen outside the imaging regions (header text: patient name, ID, dates) in overlays and
    # report.html; by default it is blanked (echoseg.imaging.screen, docs/dicom.md)
    keep_screen_text: bool = False
    # decode budgets (file size, frames, decoded bytes, seconds) checked before decoding (docs/robustness.md)
    limits: ReadLimits = DEFAULT_LIMITS
