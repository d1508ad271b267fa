"""Measure one spectral Doppler file: network -> envelope -> site -> beats -> values -> QC.

The Doppler family's entry point (:func:`measure_doppler`); the pipeline dispatches here for files
whose regions hold a spectral region.
"""
from __future__ import annotations

import subprocess

import numpy as np

from echoseg.options import Models, Options
from echoseg.types import EchoImage, FileResult, Measurement
from echoseg.vocab import SITES


def _measure_doppler(img: EchoImage, task: str, models: Models, opts: Options) -> FileResult:
    from echoseg.doppler import screen_text as screen_text
    from echoseg.doppler.beats import erase_bar_columns, split_beats
    from echoseg.doppler.envelope import envelope_from_flow
    from echoseg.doppler.measure import beats_from_spans, summarise_beats
    from echoseg.doppler.prepare import doppler_input
    from echoseg.doppler.qc import qc_doppler
    from echoseg.doppler.site import site_from_labels, site_posterior
    from echoseg.imaging.resample import to_image
    from echoseg.io.calibration import spectral_calibration, velocity_to_row
    from echoseg.models.inference import infer

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
