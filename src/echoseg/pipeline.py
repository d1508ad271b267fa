"""measure(paths, task) -> results: the one call the CLI and the web app use.

read -> route -> preprocess -> model -> postprocess -> measure -> qc, per file. A file that cannot
be read or measured still yields a result with qc=fail and the reason; nothing stops the batch.
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import EchosegError
from .types import SITES, TASKS, TASKS_ATRIA, TASKS_DOPPLER, EchoImage, FileResult, Measurement

ATRIUM_LABEL = {"la_area": 1, "ra_area": 2}
DEFAULT_FRAME_TIME_MS = 33.3


@dataclass
class Models:
    """The networks a run uses, loaded once on first need (shipped weights unless paths are given)."""

    atria_path: str = "atria"
    doppler_path: str = "doppler"
    backend: str | None = None  # "auto", "onnxruntime" or "torch"; None: ECHOSEG_BACKEND, else "auto"
    _cache: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        if name not in self._cache:
            from .models.inference import load_for_inference
            path = self.atria_path if name == "atria" else self.doppler_path
            self._cache[name] = load_for_inference(path, self.backend)
        return self._cache[name]


@dataclass(frozen=True)
class Options:
    """What the user asked for beyond the inputs."""

    task: str = "auto"
    cm_per_px: float | None = None  # calibration for AVI/PNG inputs without DICOM regions
    keep_image: bool = True
    read_screen_text: bool = True  # read a site label printed on Doppler screens (needs Tesseract) ...
    screen_text_below: float = 0.95  # ... when the waveform's site posterior leaves this much doubt


def _fail_rows(file: str, tasks: Sequence[str], reason: str) -> tuple[Measurement, ...]:
    return tuple(Measurement(file=file, task=t, value=None, unit=_unit(t), n=0, frame=None, qc="fail",
                             reason=reason) for t in tasks)


def _unit(task: str) -> str:
    return "cm2" if task in TASKS_ATRIA else "cm" if task in TASKS_DOPPLER else ""


def _measure_a4c(img: EchoImage, tasks: Sequence[str], models: Models, opts: Options) -> FileResult:
    from .calibration import scaled_tissue_calibration, tissue_calibration
    from .measure import area_length_volume_ml
    from .models.inference import infer
    from .postprocess import area_curve, clean_mask, long_axis, pick_frames, soft_area_cm2
    from .preprocess import atria_input, to_image
    from .qc import qc_atria

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


def _measure_doppler(img: EchoImage, task: str, models: Models, opts: Options) -> FileResult:
    from .calibration import spectral_calibration, velocity_to_row
    from .measure import beats_from_spans, summarise_beats
    from .models.inference import infer
    from .postprocess import envelope_from_flow, erase_bar_columns, split_beats
    from .preprocess import doppler_input, to_image
    from .qc import qc_doppler
    from . import screen_text
    from .route import site_from_labels, site_posterior

    cal = spectral_calibration(img.regions, img.shape, img.path)
    loaded = models.get("doppler")
    x, geom = doppler_input(img.frames[0], cal, size=tuple(loaded.config["input_size"]))
    out = infer(loaded.model, x[None])
    seg, wave_p = out["seg"][0, 0], out["cls"][0]
    prob = to_image(seg, geom)
    env = envelope_from_flow(prob, cal)
    named = site_from_labels(img.extra.get("labels", ""))
    printed, notes = None, []
    site_p_wave = site_posterior(wave_p, cal.mode, env.side)
    doubt = float(site_p_wave.max()) < opts.screen_text_below
    if task == "auto" and not named and doubt and opts.read_screen_text and screen_text.available():
        try:
            printed, _words = screen_text.screen_site(img.frames[0], img.regions)
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:  # OCR is a cue, not a need
            notes.append(f"screen text not read: {exc}")
    site_p = site_posterior(wave_p, cal.mode, env.side, printed) if printed else site_p_wave
    if task == "auto" and named:
        site, site_conf, how = named, 1.0, f"site {named} named in the file's labels"
        task = f"{named}_vti"
    elif task == "auto":
        k = int(np.argmax(site_p))
        site, site_conf = SITES[k], float(site_p[k])
        cues = (f"'{printed.upper()}' printed on the screen, " if printed else "") + "waveform"
        how = f"site {site} ({site_conf:.2f}) from {cues}, {cal.mode} and flow direction"
        task = f"{site}_vti"
    else:
        site = task.removesuffix("_vti")
        site_conf, how = None, "site given"
    r = cal.region
    erased = erase_bar_columns(img.frames[0][r.y0:r.y1 + 1, r.x0:r.x1 + 1])
    spans = split_beats(env.t_s, env.speed_cm_s, join=site == "mv", valid=~erased[env.cols - r.x0])
    if erased.any():
        notes.append(f"sweep erase bar: {int(erased.sum())} blank strip columns; beats across it are incomplete")
    beats = beats_from_spans(env.t_s, env.velocity_cm_s, spans)
    summary = summarise_beats(beats)
    flow_cols = env.speed_cm_s > 0.1 * max(float(env.speed_cm_s.max()), 1e-9)
    conf = env.confidence[flow_cols] if flow_cols.any() else env.confidence
    check = qc_doppler(beats, summary, conf, site_conf, cal, site=site, side=env.side)
    value = summary["value"]
    extra = {k: summary.get(k) for k in ("sd", "n_total", "heart_rate_bpm", "vmax_cm_s", "vmean_cm_s",
                                          "peak_gradient_mmhg", "mean_gradient_mmhg")}
    extra |= {"warnings": list(check.warnings) + notes, "raw_value": value, "screen_site": printed,
              "notes": notes, "envelope_confidence": float(np.mean(conf)),
              "site_confidence": 1.0 if site_conf is None else site_conf,
              "side": env.side, "site_probabilities":
              {s: round(float(p), 4) for s, p in zip(SITES, site_p)}, "waveform_site_probabilities":
              {s: round(float(p), 4) for s, p in zip(SITES, site_p_wave)}, "mode": cal.mode,
              "irregular": summary.get("irregular")}
    row = Measurement(file=img.path, task=task, value=value if check.passed else None, unit="cm",
                      n=int(summary["n"]), frame=0, qc=check.qc, reason=check.reason,
                      confidence=check.confidence, extra=extra)
    env_rows = velocity_to_row(cal, env.velocity_cm_s)
    labels = tuple((float(env.cols[(sp.start + sp.end) // 2]) - 4, float(cal.baseline_row) + 3, str(i + 1))
                   for i, sp in enumerate(spans))
    mask = np.zeros(img.shape, dtype=bool)
    mask[r.y0:r.y1 + 1, r.x0:r.x1 + 1] = prob[r.y0:r.y1 + 1, r.x0:r.x1 + 1] > 0.5
    return FileResult(file=img.path, kind="doppler", measurements=(row,), route=how,
                      route_confidence=site_conf, beats={task: tuple(beats)}, masks={task: mask},
                      envelope=(env.cols, env_rows), image=img.frames[0] if opts.keep_image else None,
                      frames_for_task={task: 0}, labels=labels, study_uid=img.study_uid)


def measure_file(path: str | os.PathLike[str], models: Models | None = None, opts: Options = Options()) -> FileResult:
    """Measure one file; every failure becomes a result with qc=fail and a reason."""
    models = models or Models()
    from .io import read
    from .route import route_kind

    file = str(path)
    requested = [opts.task] if opts.task != "auto" else None
    try:
        if opts.task not in ("auto", *TASKS):
            raise ValueError(f"task must be auto or one of {', '.join(TASKS)}, not {opts.task!r}")
        img = read(path, cm_per_px=opts.cm_per_px)
        kind, _how = route_kind(img, opts.task)
        if kind == "a4c":
            return _measure_a4c(img, requested or list(TASKS_ATRIA), models, opts)
        return _measure_doppler(img, opts.task, models, opts)
    except (EchosegError, ValueError) as exc:
        return FileResult(file=file, kind=None, measurements=_fail_rows(file, requested or ["unknown"], str(exc)),
                          error=str(exc))
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop a batch
        msg = f"{file}: internal error {type(exc).__name__}: {exc}"
        return FileResult(file=file, kind=None, measurements=_fail_rows(file, requested or ["unknown"], msg),
                          error=msg)


def measure(paths: Sequence[str | os.PathLike[str]], task: str = "auto", *, cm_per_px: float | None = None,
            models: Models | None = None, progress: bool = False,
            on_result: Callable[[FileResult], None] | None = None) -> list[FileResult]:
    """Measure every input file (folders are walked recursively). Returns one FileResult per file."""
    from .io import find_inputs

    files = find_inputs(paths)
    models = models or Models()
    opts = Options(task=task, cm_per_px=cm_per_px)
    it: Any = files
    if progress and len(files) > 1:
        from tqdm import tqdm
        it = tqdm(files, desc="measure", unit="file")
    results = []
    for f in it:
        r = measure_file(f, models, opts)
        results.append(r)
        if on_result:
            on_result(r)
    return results


def study_rows(results: Sequence[FileResult], lvot_diameter_cm: float | None = None,
               rvot_diameter_cm: float | None = None) -> list[dict[str, object]]:
    """One row per StudyInstanceUID: the study's passing values and the derived indices they allow."""
    from . import measure as m

    studies: dict[str, dict[str, Any]] = {}
    best: dict[tuple[str, str], Measurement] = {}
    for r in results:
        key = r.study_uid or Path(r.file).parent.name
        row = studies.setdefault(key, {"study_uid": key, "files": 0, "conflicts": ""})
        row["files"] += 1
        for meas in r.measurements:
            if meas.qc != "pass" or meas.value is None or meas.task not in TASKS:
                continue
            prev = best.get((key, meas.task))
            if prev is not None:  # two files claim one parameter: keep the more confident, say so
                row["conflicts"] = "; ".join(filter(None, [row["conflicts"], f"{meas.task} from "
                                             f"{Path(prev.file).name} and {Path(meas.file).name}"]))
                def sure(m: Measurement) -> float:
                    return float(m.extra.get("site_confidence", m.confidence or 0.0))
                if sure(prev) >= sure(meas):
                    continue
            best[(key, meas.task)] = meas
            row[meas.task] = meas.value
            hr = meas.extra.get("heart_rate_bpm")
            if meas.task == "lvot_vti" and hr:
                row["heart_rate_bpm"] = hr
    out = []
    for row in studies.values():
        lv, av, rv = row.get("lvot_vti"), row.get("av_vti"), row.get("rvot_vti")
        if lv and av:
            row["dimensionless_index"] = m.dimensionless_index(lv, av)
            row["dimensionless_index_class"] = m.classify("dimensionless_index", row["dimensionless_index"])
        if lv and lvot_diameter_cm:
            sv = m.stroke_volume_ml(lv, lvot_diameter_cm)
            row["stroke_volume_ml"] = sv
            if row.get("heart_rate_bpm"):
                row["cardiac_output_l_min"] = m.cardiac_output_l_min(sv, row["heart_rate_bpm"])
            if av:
                row["ava_cm2"] = m.continuity_ava_cm2(lvot_diameter_cm, lv, av)
                row["ava_class"] = m.classify("ava_cm2", row["ava_cm2"])
            if rv and rvot_diameter_cm:
                row["qp_qs"] = m.qp_qs(rvot_diameter_cm, rv, lvot_diameter_cm, lv)
                row["qp_qs_class"] = m.classify("qp_qs", row["qp_qs"])
        out.append(row)
    cols: list[str] = []
    for row in out:
        cols += [c for c in row if c not in cols]
    return [{c: row.get(c) for c in cols} for row in out]
