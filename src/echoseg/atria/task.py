"""Measure one A4C cine: network -> per-frame atrial areas -> measured frame per cycle -> QC.

The atria family's entry point (:func:`measure_a4c`); the pipeline dispatches here for files whose
regions hold a calibrated 2D tissue region.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from echoseg.options import Models, Options
from echoseg.types import EchoImage, FileResult, Measurement
from echoseg.vocab import ATRIUM_LABEL



DEFAULT_FRAME_TIME_MS = 33.3


def _measure_a4c(img: EchoImage, tasks: Sequence[str], models: Models, opts: Options) -> FileResult:
    from echoseg.atria.measure import area_length_volume_ml
    from echoseg.atria.postprocess import area_curve, clean_mask, long_axis, pick_frames, soft_area_cm2
    from echoseg.atria.prepare import atria_input
    from echoseg.atria.qc import qc_atria
    from echoseg.imaging.resample import to_image
    from echoseg.io.calibration import scaled_tissue_calibration, tissue_calibration
    from echoseg.models.inference import infer

    cal = tissue_calibration(img.regions, img.shape, img.path)
    loaded = models.get("atria")
    x, geom = atria_input(img.frames, cal, size=int(loaded.config["input_size"]))
    probs = infer(loaded.model, x)  # (T, C, S, S) softmax
    small_cal = scaled_tissue_calibration(cal, geom.scale)
    ft = img.frame_time_ms or DEFAULT_FRAME_TIME_MS
    rows, masks, curves, picked = [], {}, {}, {}
    for task in tasks:
        p_small = probs[:, ATRIUM_LABEL[task]]
        curve = area_curve(p_small, small_cal)
        picks = pick_frames(curve, ft, img.heart_rate_bpm) if curve.size > 1 else [0]
        frame = max(picks, key=lambda i: curve[i])
        prob = to_image(p_small[frame], geom)
        mask = clean_mask(prob)
        value = soft_area_cm2(prob, cal)
        curves[task], masks[task], picked[task] = curve, mask, frame
        check = qc_atria(curve, mask, prob, task, frame=frame, cal=cal)
        extra: dict[str, Any] = {"warnings": list(check.warnings), "n_total": len(picks),
                                 "cycle_values_cm2": [round(float(curve[i]), 3) for i in picks]}
        if mask.any() and value > 0:
            length = long_axis(mask, cal)
            extra.update(length_cm=length, volume_ml=area_length_volume_ml(value, length))
        if len(picks) > 1:
            extra["sd"] = float(np.std([curve[i] for i in picks], ddof=1))
        if img.frame_time_ms is None and img.n_frames > 1:
            extra["warnings"].append(f"no frame timing in the file; assumed {DEFAULT_FRAME_TIME_MS} ms")
        rows.append(Measurement(file=img.path, task=task, value=value if check.passed else None,
                                unit="cm2", n=len(picks), frame=frame, qc=check.qc, reason=check.reason,
                                confidence=check.confidence, extra=extra | {"raw_value": value}))
    image = img.frames[picked[tasks[0]]] if opts.keep_image else None
    return FileResult(file=img.path, kind="a4c", measurements=tuple(rows), route="2D region -> atria",
                      curves=curves, masks=masks, image=image, frames_for_task=picked,
                      study_uid=img.study_uid, frame_time_ms=img.frame_time_ms)
