"""Typed, frozen data carried between echoseg's stages (io -> route -> model -> measure -> report)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from echoseg.imaging.resample import Geometry

# DICOM PS3.3 C.8.5.5.1 code meanings used by echoseg.
SPATIAL_FORMATS = {0: "none", 1: "2D", 2: "M-mode", 3: "spectral", 4: "waveform", 5: "graphics"}
DATA_TYPES = {
    0: "none", 1: "tissue", 2: "color flow", 3: "PW", 4: "CW", 5: "doppler mean trace",
    6: "doppler mode trace", 7: "doppler max trace", 8: "volume trace", 9: "d(volume)/dt trace",
    10: "ECG trace", 11: "pulse trace", 12: "phonocardiogram trace", 13: "gray bar", 14: "color bar",
    15: "integrated backscatter", 16: "area trace", 17: "d(area)/dt", 18: "other physiological",
}
REGION_UNITS = {0: "none", 1: "percent", 2: "dB", 3: "cm", 4: "s", 5: "Hz", 6: "dB/s", 7: "cm/s",
         8: "cm2", 9: "cm2/s", 10: "cm3", 11: "cm3/s", 12: "deg"}


@dataclass(frozen=True)
class Region:
    """One item of the Sequence of Ultrasound Regions (0018,6011).

    Bounds are inclusive pixel coordinates of the whole image (MinX0..MaxX1, MinY0..MaxY1).
    ``ref_x0``/``ref_y0`` are ReferencePixelX0/Y0, relative to (x0, y0) as DICOM defines them,
    or None when the tag is absent.
    """

    x0: int
    y0: int
    x1: int
    y1: int
    spatial_format: int
    data_type: int
    units_x: int
    units_y: int
    delta_x: float
    delta_y: float
    ref_x0: int | None = None
    ref_y0: int | None = None
    flags: int = 0

    @property
    def width(self) -> int:
        return self.x1 - self.x0 + 1

    @property
    def height(self) -> int:
        return self.y1 - self.y0 + 1

    @property
    def is_2d_tissue(self) -> bool:
        return self.spatial_format == 1 and self.data_type == 1

    @property
    def is_spectral(self) -> bool:
        return self.spatial_format == 3

    def describe(self) -> dict[str, Any]:
        """Plain-JSON description with units as words (used by ``echoseg info --json``)."""
        return {
            "spatial_format": SPATIAL_FORMATS.get(self.spatial_format, str(self.spatial_format)),
            "data_type": DATA_TYPES.get(self.data_type, str(self.data_type)),
            "x0": self.x0, "y0": self.y0, "x1": self.x1, "y1": self.y1,
            "units_x": REGION_UNITS.get(self.units_x, str(self.units_x)),
            "units_y": REGION_UNITS.get(self.units_y, str(self.units_y)),
            "delta_x": self.delta_x, "delta_y": self.delta_y,
            "ref_x0": self.ref_x0, "ref_y0": self.ref_y0, "flags": self.flags,
        }


@dataclass(frozen=True)
class TissueCalibration:
    """Physical scale of a 2D tissue region: centimetres per pixel along x and y."""

    region: Region
    cm_per_px_x: float
    cm_per_px_y: float

    @property
    def cm2_per_px(self) -> float:
        return self.cm_per_px_x * self.cm_per_px_y


@dataclass(frozen=True)
class SpectralCalibration:
    """Physical scale of a spectral Doppler region.

    ``baseline_row`` is the zero-velocity row in whole-image pixel coordinates
    (region y0 + ReferencePixelY0). ``cm_s_per_px`` is the signed PhysicalDeltaY: velocity of
    image row r is ``(r - baseline_row) * cm_s_per_px`` (negative delta: velocity grows upwards).
    """

    region: Region
    s_per_px: float
    cm_s_per_px: float
    baseline_row: float
    mode: str  # "PW" | "CW" | "unknown"

    @property
    def speed_per_px(self) -> float:
        return abs(self.cm_s_per_px)


@dataclass(frozen=True, eq=False)
class EchoImage:
    """Pixels and metadata of one input file.

    ``frames`` is (T, H, W, 3) uint8 RGB whatever the stored photometric interpretation.
    """

    path: str
    frames: np.ndarray
    regions: tuple[Region, ...]
    frame_time_ms: float | None = None
    heart_rate_bpm: float | None = None
    r_wave_ms: tuple[float, ...] = ()  # R-wave times, ms from the first frame (R Wave Time Vector)
    modality: str | None = None
    sop_class_uid: str | None = None
    photometric: str | None = None
    transfer_syntax: str | None = None
    manufacturer: str | None = None
    study_uid: str | None = None
    series_uid: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.frames.shape[1]), int(self.frames.shape[2])


@dataclass(frozen=True)
class Beat:
    """One Doppler beat (flow period), times in seconds from the strip's left edge."""

    index: int
    start_s: float
    end_s: float
    vti_cm: float
    vmax_cm_s: float
    vmean_cm_s: float
    peak_gradient_mmhg: float
    mean_gradient_mmhg: float
    complete: bool = True
    rr_s: float | None = None
    e_cm_s: float | None = None  # mitral inflow: E-wave peak speed (doppler.measure.inflow_peaks)
    a_cm_s: float | None = None  # mitral inflow: A-wave peak speed (None when fused or absent)


# ============================================================================= measurement results
@dataclass(frozen=True)
class BeatSummary:
    """Summary of one Doppler strip (:func:`echoseg.doppler.measure.summarise_beats`).

    ``value`` is the reported VTI: the mean over complete beats (cm; None without complete beats).
    ``sd``/``cv`` are over those beats; ``vmax_cm_s``, ``vmean_cm_s``, ``peak_gradient_mmhg`` and
    ``mean_gradient_mmhg`` are means over them. ``heart_rate_bpm`` is 60 / median RR (None without
    RR intervals). ``irregular`` is None when undecidable; ``min_beats`` is 3, or 5 in irregular
    rhythm, as guidelines advise.
    """

    n: int  # complete beats
    n_total: int
    irregular: bool | None
    min_beats: int
    enough_beats: bool
    value: float | None = None
    sd: float | None = None
    cv: float | None = None
    vmax_cm_s: float | None = None
    vmean_cm_s: float | None = None
    peak_gradient_mmhg: float | None = None
    mean_gradient_mmhg: float | None = None
    heart_rate_bpm: float | None = None
    rr_cv: float | None = None
    e_cm_s: float | None = None  # mitral inflow: mean E peak over complete beats
    a_cm_s: float | None = None  # mean A peak over the complete beats with a separate A wave
    e_a_ratio: float | None = None  # mean E/A over those beats


@dataclass(frozen=True)
class AtriaDetails:
    """What an atrial area row carries beyond the CONTRACT.md columns.

    ``raw_value``: the area before QC (cm²); ``n_total``: cardiac cycles found;
    ``cycle_values_cm2``: the largest area of each cycle; ``sd``: their standard deviation (None
    with one cycle); ``length_cm``/``volume_ml``: long axis and area-length volume of the measured
    mask (None when the mask is empty).
    """

    raw_value: float
    n_total: int
    cycle_values_cm2: tuple[float, ...] = ()
    warnings: tuple[str, ...] = ()
    sd: float | None = None
    length_cm: float | None = None
    volume_ml: float | None = None


@dataclass(frozen=True)
class DopplerDetails:
    """What a Doppler VTI row carries beyond the CONTRACT.md columns.

    ``summary``: the strip's beat summary (its ``value`` is the VTI before QC); ``notes``: remarks
    of the measurement itself (sweep erase bar, unread screen text), also part of ``warnings``;
    ``screen_site``: the site read on the screen (None when not read); ``envelope_confidence``:
    mean envelope confidence over the flow columns; ``site_confidence``: confidence of the site
    (1.0 when the site was given or named); ``side``: sign of the flow velocity (+1/-1);
    ``site_probabilities``/``waveform_site_probabilities``: site posterior with and without the
    screen text; ``mode``: "PW" | "CW" | "unknown"; ``tracer_vti``: the model-free tracer's VTI over
    each beat of the strip (in the order of the file's beats; empty when the tracer did not run).
    """

    summary: BeatSummary
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    screen_site: str | None = None
    envelope_confidence: float = 1.0
    site_confidence: float = 1.0
    side: int | None = None
    site_probabilities: Mapping[str, float] = field(default_factory=dict)
    waveform_site_probabilities: Mapping[str, float] = field(default_factory=dict)
    mode: str = "unknown"
    tracer_vti: tuple[float, ...] = ()  # the model-free tracer's VTI (cm) over each beat's span (doppler.tracer)
    nontarget: str = ""  # the refusal when the strip is not one of the five sites ("" when it is)
    timing: str = ""  # the refusal when the trace lies in the wrong phase of the cycle or runs the wrong way (doppler.timing; "" when not)

    def __post_init__(self) -> None:
        if self.side not in (None, 1, -1):
            raise ValueError(f"side must be +1, -1 or None (the sign of the flow velocity), not {self.side!r}")
        for name in ("envelope_confidence", "site_confidence"):
            v = getattr(self, name)
            if np.isfinite(v) and not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {v!r}")

    @property
    def raw_value(self) -> float | None:
        """The VTI before QC (cm), None without complete beats."""
        return self.summary.value


Details = AtriaDetails | DopplerDetails


@dataclass(frozen=True)
class Measurement:
    """One (file, task) result row as CONTRACT.md defines it, plus the family's typed details.

    ``details`` is None for a row of a file that could not be measured; ``edit`` says how a user
    changed the row in the web demo (empty when the row is the pipeline's).
    """

    file: str
    task: str
    value: float | None
    unit: str
    n: int
    frame: int | None
    qc: str  # "pass" | "fail"
    reason: str = ""
    confidence: float | None = None
    details: Details | None = None
    edit: str = ""

    @property
    def edited(self) -> bool:
        return bool(self.edit)

    @property
    def warnings(self) -> tuple[str, ...]:
        """Notes that do not fail the row (empty without details)."""
        return self.details.warnings if self.details is not None else ()

    @property
    def raw_value(self) -> float | None:
        """The value before QC (the reported value when there are no details)."""
        return self.details.raw_value if self.details is not None else self.value


@dataclass(frozen=True, eq=False)
class AtriaEditData:
    """What re-measuring an atrium on another frame needs, kept when ``Options.edit_data`` asks.

    ``probs``: task -> per-frame atrial probabilities at model resolution, (T, S, S) float16;
    ``geom``: where the model grid sits in the image; ``cal``: the image's calibration;
    ``notes``: file-level warnings every row carries (e.g. assumed frame timing);
    ``frames``: the cine, (T, H, W, 3) uint8, to show the chosen frame.
    """

    probs: Mapping[str, np.ndarray]
    geom: Geometry
    cal: TissueCalibration
    notes: tuple[str, ...] = ()
    frames: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class DopplerEditData:
    """What re-measuring a strip over chosen beats needs, kept when ``Options.edit_data`` asks."""

    cal: SpectralCalibration


@dataclass(frozen=True, eq=False)
class FileResult:
    """Everything measured in one input file: the rows of measurements.csv and beats.csv, plus
    the arrays the overlays and the web demo draw (masks in the full image grid, curves, envelope).
    """

    file: str
    kind: str | None  # "a4c" | "doppler" | None when unreadable or refused before routing
    measurements: tuple[Measurement, ...]
    route: str = ""  # how the kind/site was decided, human-readable
    route_confidence: float | None = None
    beats: dict[str, tuple[Beat, ...]] = field(default_factory=dict)  # task -> beats
    curves: dict[str, np.ndarray] = field(default_factory=dict)  # task -> cm² per frame (atria)
    masks: dict[str, np.ndarray] = field(default_factory=dict)  # task -> bool (H, W) at the measured frame
    envelope: tuple[np.ndarray, np.ndarray] | None = None  # (image columns, envelope image rows)
    image: np.ndarray | None = None  # (H, W, 3) frame the overlay is drawn on (atria: LA frame)
    frames_for_task: dict[str, int] = field(default_factory=dict)
    labels: tuple[tuple[float, float, str], ...] = ()  # (x, y, text) drawn on the overlay, e.g. beat numbers
    study_uid: str | None = None
    frame_time_ms: float | None = None
    error: str | None = None
    edit_data: AtriaEditData | DopplerEditData | None = None  # only with Options.edit_data


# ============================================================================= quality control
@dataclass(frozen=True)
class QCResult:
    """passed: the value may be used; reasons: why not (empty when passed); confidence 0..1;
    warnings: notes that do not fail the result."""

    passed: bool
    reasons: tuple[str, ...] = ()
    confidence: float = 1.0
    warnings: tuple[str, ...] = ()

    @property
    def qc(self) -> str:
        return "pass" if self.passed else "fail"

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def make_result(reasons: Sequence[str], confidence: float, warnings: Sequence[str] = ()) -> QCResult:
    """QCResult that passes exactly when ``reasons`` is empty."""
    return QCResult(passed=not reasons, reasons=tuple(reasons), confidence=float(np.clip(confidence, 0.0, 1.0)),
                    warnings=tuple(warnings))


def combine(*results: QCResult) -> QCResult:
    """All reasons and warnings together; the lowest confidence."""
    reasons = tuple(r for res in results for r in res.reasons)
    warnings = tuple(w for res in results for w in res.warnings)
    conf = min((res.confidence for res in results), default=1.0)
    return make_result(reasons, conf, warnings)
