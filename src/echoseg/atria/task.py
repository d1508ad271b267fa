"""Measure one A4C cine: network -> view check -> per-frame atrial areas -> consistent cycles -> measured frame -> QC.

The atria family's entry point is :func:`measure` (the pipeline dispatches here for files whose
regions hold a calibrated 2D tissue region). :func:`measure_frame` measures one atrium on one
frame: the pipeline uses it on the frame it picks, and the web demo's frame edits use it, through
:func:`remeasure_frame`, on the frame the user picks, from the probabilities the pipeline kept
(:class:`~echoseg.types.AtriaEditData`, with ``Options(edit_data=True)``), so the network runs once.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from echoseg.atria.cycles import CycleAnalysis, analyse_cycles
from echoseg.atria.measure import area_length_volume_ml
from echoseg.atria.postprocess import area_curve, clean_mask, long_axis, soft_area_cm2
from echoseg.atria.prepare import atria_input
from echoseg.atria.qc import qc_atria
from echoseg.atria.view import check_view, view_from_labels
from echoseg.imaging.resample import Geometry, to_image
from echoseg.io.calibration import scaled_tissue_calibration, tissue_calibration
from echoseg.models import inference
from echoseg.options import Models, Options
from echoseg.types import AtriaDetails, AtriaEditData, EchoImage, FileResult, Measurement, QCResult, TissueCalibration
from echoseg.vocab import ATRIUM_LABEL, TASKS_ATRIA, unit_of

DEFAULT_FRAME_TIME_MS = 33.3


@dataclass(frozen=True, eq=False)
class AtriumFrame:
    """One atrium measured on one frame.

    ``value``: area before QC (cm²); ``mask``: bool (H, W) in the full image grid; ``check``: QC of
    this frame; ``length_cm``/``volume_ml``: long axis and area-length volume (None for an empty mask).
    """

    task: str
    frame: int
    value: float
    mask: np.ndarray
    check: QCResult
    length_cm: float | None = None
    volume_ml: float | None = None


def measure_frame(prob_small: np.ndarray, geom: Geometry, cal: TissueCalibration, curve: np.ndarray,
                  task: str, frame: int, *, cycles: CycleAnalysis | None = None,
                  view_reason: str = "") -> AtriumFrame:
    """``task``'s atrium on ``frame`` from its probability at model resolution ``prob_small`` (S, S).

    ``geom`` maps the model grid to the image, ``cal`` is the image's calibration and ``curve`` the
    atrium's area per frame (for the QC of motion and consistent cycles; ``cycles`` is its analysis,
    computed when None); ``view_reason``: the view check's refusal ('' for an A4C).
    """
    prob = to_image(prob_small, geom)
    mask = clean_mask(prob)
    value = soft_area_cm2(prob, cal)
    check = qc_atria(curve, mask, prob, task, frame=frame, cal=cal, cycles=cycles, view_reason=view_reason)
    length: float | None = None
    volume: float | None = None
    if mask.any() and value > 0:
        length = long_axis(mask, cal)
        volume = area_length_volume_ml(value, length)
    return AtriumFrame(task, frame, value, mask, check, length, volume)


def measure(img: EchoImage, task: str, models: Models, opts: Options) -> FileResult:
    """The family call: measure ``task`` ("auto": both atria) in the A4C cine ``img``."""
    tasks = list(TASKS_ATRIA) if task == "auto" else [task]
    if task != "auto" and task not in TASKS_ATRIA:
        raise ValueError(f"task must be auto or one of {', '.join(TASKS_ATRIA)} for an A4C cine, not {task!r}")
    cal = tissue_calibration(img.regions, img.shape, img.path)
    probs, geom = _infer(img, cal, models)
    small_cal = scaled_tissue_calibration(cal, geom.scale)
    ft = img.frame_time_ms or DEFAULT_FRAME_TIME_MS
    notes: tuple[str, ...] = ()
    if img.frame_time_ms is None and img.n_frames > 1:
        notes = (f"no frame timing in the file; assumed {DEFAULT_FRAME_TIME_MS} ms",)
    view = check_view(probs, small_cal, img.frames, cal.region)
    view_reason = view.reason or view_from_labels(str(img.extra.get("labels", "")))
    rows, masks, curves, picked = [], {}, {}, {}
    for t in tasks:
        p_small = probs[:, ATRIUM_LABEL[t]]
        curve = area_curve(p_small, small_cal)
        cycles = analyse_cycles(curve, ft, img.heart_rate_bpm, r_wave_ms=img.r_wave_ms)
        frame = cycles.frame
        at = measure_frame(p_small[frame], geom, cal, curve, t, frame, cycles=cycles, view_reason=view_reason)
        by_r = ("cardiac cycles from the file's R waves (R Wave Time Vector)",) if cycles.from_r_waves else ()
        rows.append(_row(img.path, at, cycles, notes + by_r))
        curves[t], masks[t], picked[t] = curve, at.mask, frame
    edit = None
    if opts.edit_data:
        edit = AtriaEditData(probs={t: probs[:, ATRIUM_LABEL[t]].astype(np.float16) for t in tasks}, geom=geom,
                             cal=cal, notes=notes, frames=img.frames)
    return FileResult(file=img.path, kind="a4c", measurements=tuple(rows), route="2D region -> atria",
                      curves=curves, masks=masks, image=img.frames[picked[tasks[0]]] if opts.keep_image else None,
                      frames_for_task=picked, study_uid=img.study_uid, frame_time_ms=img.frame_time_ms,
                      edit_data=edit)


def remeasure_frame(m: Measurement, data: AtriaEditData, curve: np.ndarray, frame: int
                    ) -> tuple[Measurement, np.ndarray]:
    """The row ``m`` measured on ``frame`` instead, from the kept probabilities (the web's frame edits).

    Returns the new row (marked as edited) and its full-size mask; cycle values stay the pipeline's.
    """
    if not isinstance(m.details, AtriaDetails):
        raise TypeError(f"{m.file}: {m.task} is not a measured atrial area; only la_area/ra_area rows "
                         "with details can be re-measured on another frame")
    if m.task not in data.probs:
        raise ValueError(f"task must be one of {sorted(data.probs)} for a frame edit, not {m.task!r}")
    n = data.probs[m.task].shape[0]
    if not 0 <= frame < n:
        raise ValueError(f"frame must be between 0 and {n - 1} for this cine, not {frame}")
    at = measure_frame(data.probs[m.task][frame].astype(np.float32), data.geom, data.cal, curve, m.task, frame)
    details = replace(m.details, raw_value=at.value, warnings=at.check.warnings + data.notes,
                      length_cm=at.length_cm, volume_ml=at.volume_ml)
    row = replace(m, value=at.value if at.check.passed else None, frame=frame, qc=at.check.qc,
                  reason=at.check.reason, confidence=at.check.confidence, details=details,
                  edit=f"frame {frame} chosen by the user (pipeline: frame {m.frame})")
    return row, at.mask


def _infer(img: EchoImage, cal: TissueCalibration, models: Models) -> tuple[np.ndarray, Geometry]:
    """Softmax (T, C, S, S) of the atria network on every frame, and the model grid's geometry."""
    loaded = models.get("atria")
    x, geom = atria_input(img.frames, cal, size=int(loaded.config["input_size"]))
    return inference.infer(loaded.model, x), geom


def _row(path: str, at: AtriumFrame, cycles: CycleAnalysis, notes: tuple[str, ...]) -> Measurement:
    """The measurements.csv row of one atrium measured on frame ``at.frame``: ``n`` the consistent
    cycles used, ``n_total`` the cycles found, ``cycle_values_cm2``/``sd`` the consistent maxima."""
    values = [c.value for c in cycles.kept]
    details = AtriaDetails(raw_value=at.value, n_total=len(cycles.cycles),
                           cycle_values_cm2=tuple(round(float(v), 3) for v in values),
                           warnings=at.check.warnings + notes,
                           sd=float(np.std(values, ddof=1)) if len(values) > 1 else None,
                           length_cm=at.length_cm, volume_ml=at.volume_ml)
    return Measurement(file=path, task=at.task, value=at.value if at.check.passed else None, unit=unit_of(at.task),
                       n=len(values), frame=at.frame, qc=at.check.qc, reason=at.check.reason,
                       confidence=at.check.confidence, details=details)
