"""Measure one spectral Doppler file: network -> envelope -> site -> beats -> values -> QC.

The Doppler family's entry point is :func:`measure` (the pipeline dispatches here for files whose
regions hold a spectral region). :func:`assess_beats` turns beats into the strip's summary and QC:
the pipeline uses it on every beat it finds, and the web demo's beat edits use it, through
:func:`remeasure_beats`, on the beats the user keeps.
"""
from __future__ import annotations

import subprocess
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

import numpy as np

from echoseg.doppler import screen_text
from echoseg.doppler.beats import (
    MINOR_BEAT_FRAC,
    MINOR_BEAT_FRAC_IRREGULAR,
    Span,
    erase_bar_columns,
    gate_by_ecg,
    minor_beats,
    split_beats,
    trim_ejection,
)
from echoseg.doppler.ecg import EcgTrace, ecg_r_waves
from echoseg.doppler.envelope import FlowEnvelope, envelope_from_flow
from echoseg.doppler.measure import beats_from_spans, inflow_peaks, rr_irregular, summarise_beats
from echoseg.doppler.prepare import blank_side, brightened, doppler_input, strip_luminance
from echoseg.doppler.qc import qc_doppler
from echoseg.doppler.site import class_posterior, nontarget_from_labels, site_from_labels
from echoseg.imaging.signal import estimate_period
from echoseg.doppler.timing import direction_reason, flow_timing, timing_reason
from echoseg.doppler.tracer import beat_agreement, trace_envelope, tracer_vtis
from echoseg.imaging.resample import to_image
from echoseg.io.calibration import spectral_calibration, velocity_to_row
from echoseg.models import inference
from echoseg.options import Models, Options
from echoseg.types import (
    Beat,
    BeatSummary,
    DopplerDetails,
    DopplerEditData,
    EchoImage,
    FileResult,
    Measurement,
    QCResult,
    Region,
    SpectralCalibration,
    combine,
    make_result,
)
from echoseg.vocab import (NON_TARGET_LABELS, NON_TARGET_NAMES, NON_TARGETS, SITE_CLASSES, SITE_DIRECTION, SITES,
                           TASKS_DOPPLER, site_of, unit_of)


@dataclass(frozen=True, eq=False)
class SiteChoice:
    """The site a strip is measured as, and why.

    ``confidence`` is None when the user gave the task; ``probabilities`` is the posterior over the
    network's classes (:data:`~echoseg.vocab.SITE_CLASSES`: the five sites first; with the screen
    text when read), ``waveform_probabilities`` the one without it; ``notes`` says what went wrong
    reading the screen, if anything; ``nontarget`` is the refusal when the strip looks like a flow
    that is not one of the five sites (tricuspid regurgitation, tissue Doppler, ...).
    """

    task: str
    site: str
    confidence: float | None
    how: str
    screen_site: str | None
    probabilities: np.ndarray
    waveform_probabilities: np.ndarray
    notes: tuple[str, ...] = ()
    nontarget: str = ""  # why this is not one of the five sites ("" when it is one of them)


def measure(img: EchoImage, task: str, models: Models, opts: Options) -> FileResult:
    """The family call: measure ``task`` ("auto": the site the file shows) in the Doppler file ``img``."""
    if task != "auto" and task not in TASKS_DOPPLER:
        raise ValueError(f"task must be auto or one of {', '.join(TASKS_DOPPLER)} for a Doppler strip, not {task!r}")
    cal = spectral_calibration(img.regions, img.shape, img.path)
    lum = strip_luminance(img.frames[0], cal)
    pending = start_screen_read(img, task, opts)  # Tesseract reads the screen text while the network runs
    try:
        prob, wave_p = _infer(img, cal, lum, models)
        env = envelope_from_flow(prob, cal)
        choice = choose_site(img, task, wave_p, cal.mode, env.side, opts, pending)
        printed = _printed(pending)
    finally:
        if pending is not None:
            pending.close()
    screen_ecg = usable_ecg(img.frames[0], cal, img.regions)
    side = trace_side(img, cal, prob, env, choice.site, screen_ecg)
    if direction_reason(choice.site, side.env.side):  # the site's flow may lie beside a brighter jet
        side, prob = trace_site_side_alone(img, cal, lum, models, side, prob, choice.site, screen_ecg)
    env, ecg, spans, beats, timing = side.env, side.ecg, side.spans, side.beats, side.timing
    second = _second_opinion(lum, cal, env.side, beats)
    beats, disputed = drop_disputed(beats, second)
    if ecg is not None:  # the disputed beats are gone: the phase of those left
        timing = timing_reason(choice.site, flow_timing(beats, env.t_s, env.speed_cm_s, ecg.r_times_s))
    timing = "; ".join(why for why in (timing, direction_reason(choice.site, env.side)) if why)
    row = _row(img.path, choice, beats, env, cal, choice.notes + side.notes + disputed, second, timing, printed)
    return _file_result(img, row, choice, spans, beats, env, prob, cal, opts)


@dataclass(frozen=True, eq=False)
class TracedSide:
    """The strip traced on one side of the baseline: its envelope, the ECG used (None: beats from
    the spectrum), flow periods, beats, the flow-timing refusal ("" when it fits or without an ECG)
    and notes."""

    env: FlowEnvelope
    ecg: EcgTrace | None
    spans: list[Span]
    beats: list[Beat]
    timing: str
    notes: tuple[str, ...]


SIDE_MIN_SHARE = 0.15  # the site's side is considered when it holds at least this share of the flow side's flow


def trace_one_side(img: EchoImage, cal: SpectralCalibration, env: FlowEnvelope, site: str,
                   screen_ecg: EcgTrace | None) -> TracedSide:
    """Beats and flow timing of the strip traced as ``env`` (the ECG used when its rhythm fits this
    envelope's)."""
    ecg, ecg_notes = ecg_for_flow(screen_ecg, env, site)
    spans, beats, notes = find_beats(img.frames[0], cal, env, site, img.regions, ecg=ecg)
    timing = "" if ecg is None else timing_reason(site, flow_timing(beats, env.t_s, env.speed_cm_s, ecg.r_times_s))
    return TracedSide(env, ecg, spans, beats, timing, ecg_notes + notes)


def trace_side(img: EchoImage, cal: SpectralCalibration, prob: np.ndarray, env: FlowEnvelope, site: str,
               screen_ecg: EcgTrace | None) -> TracedSide:
    """The strip traced on the side of the baseline that holds ``site``'s flow.

    ``env`` is the side with more flow. A strip can hold flow on both sides: a mitral stenosis jet
    above the baseline with the regurgitant jet below it, outflow under the mitral inflow in an
    apical five-chamber view. When the other side runs in the site's direction
    (:data:`~echoseg.vocab.SITE_DIRECTION`) and holds at least :data:`SIDE_MIN_SHARE` of the flow,
    it is traced too and the side whose flow timing fits the site is kept (with an ECG); without an
    ECG, or when timing does not tell them apart, the site's direction wins. A strip with flow on one
    side only (an inverted display included: the calibrated sign is physical) keeps that side.
    """
    first = trace_one_side(img, cal, env, site, screen_ecg)
    want = SITE_DIRECTION[site]
    if env.side == want or env.other_side_fraction < SIDE_MIN_SHARE:
        return first
    alt = trace_one_side(img, cal, envelope_from_flow(prob, cal, side=want), site, screen_ecg)
    if not any(b.complete for b in alt.beats):
        return first
    if first.ecg is not None and alt.ecg is not None and not first.timing and alt.timing:
        return first  # the stronger side fits the site's phase and the other does not
    where = "toward" if want > 0 else "away from"
    note = (f"traced the flow running {where} the transducer, {site.upper()} flow's direction "
            f"({env.other_side_fraction:.0%} as much flow as the other side of the baseline)")
    if first.timing and not alt.timing and alt.ecg is not None:
        note += "; by the ECG, the other side's flow lies in the wrong phase of the cardiac cycle for it"
    return replace(alt, notes=alt.notes + (note,))


MIRROR_OVERLAP = 0.5  # site-side flow coinciding in time with the other side's jet this much is its mirror


def trace_site_side_alone(img: EchoImage, cal: SpectralCalibration, lum: np.ndarray, models: Models,
                          first: TracedSide, prob: np.ndarray, site: str, screen_ecg: EcgTrace | None
                          ) -> tuple[TracedSide, np.ndarray]:
    """The site's side of the baseline traced with the traced (wrong-way) side blanked, and its flow
    probability; ``first`` and ``prob`` unchanged when that finds no complete beat or finds the
    other jet's mirror.

    A mitral stenosis CW strip shows the inflow above the baseline and, often brighter, the
    regurgitant jet below it; beside the bright jet the network can see too little of a dim, flat
    inflow to reach :data:`SIDE_MIN_SHARE` (the real echonet MV panel: 7 %), and the strip is then
    traced on the regurgitant side and refused by its direction. The network reads the strip again
    with that side painted black (:func:`~echoseg.doppler.prepare.blank_side`) and the site's side
    is traced from this reading. Inflow and regurgitation alternate in the cardiac cycle; a CW
    mirror artefact coincides in time with its jet, so site-side flow that lies for more than
    :data:`MIRROR_OVERLAP` of its duration under the other side's flow is not taken (the direction
    refusal stands).
    """
    want = SITE_DIRECTION[site]
    alone, _ = _infer(img, cal, blank_side(lum, cal, first.env.side), models)
    env = envelope_from_flow(alone, cal, side=want)
    alt = trace_one_side(img, cal, env, site, screen_ecg)
    if not any(b.complete for b in alt.beats):
        return first, prob
    share = coincident_share(env.speed_cm_s, first.env.speed_cm_s)
    if share > MIRROR_OVERLAP:
        note = (f"the flow on {site.upper()}'s side of the baseline coincides in time with the jet across it "
                f"({share:.0%} of its duration): a mirror artefact, not traced")
        return replace(first, notes=first.notes + (note,)), prob
    where = "toward" if want > 0 else "away from"
    note = (f"traced the flow running {where} the transducer, {site.upper()} flow's direction, on the strip "
            "read again with the other side of the baseline blanked (a brighter jet runs the other way there)")
    return replace(alt, notes=alt.notes + (note,)), alone


FLOW_ON_FRAC = 0.15  # a column holds flow when its speed exceeds this share of the strip's high speed


def coincident_share(speed: np.ndarray, other: np.ndarray) -> float:
    """Share of the columns with flow in ``speed`` during which ``other`` holds flow too (0 when
    ``speed`` has none); flow: above :data:`FLOW_ON_FRAC` of the 95th-percentile speed.

    >>> coincident_share(np.array([0, 5, 5, 5, 0, 0.]), np.array([0, 0, 0, 9, 9, 0.]))
    0.3333333333333333
    """
    speed, other = np.abs(np.asarray(speed, float)), np.abs(np.asarray(other, float))
    on = speed > FLOW_ON_FRAC * np.percentile(speed, 95)
    other_on = other > FLOW_ON_FRAC * np.percentile(other, 95)
    return float((on & other_on).sum() / on.sum()) if on.any() else 0.0


def choose_site(img: EchoImage, task: str, wave_p: np.ndarray, mode: str, side: int, opts: Options,
                pending: screen_text.PendingRead | None = None) -> SiteChoice:
    """The site from the task given, else the file's labels, else the waveform (+ screen text when in doubt).

    A strip whose most likely class is a non-target flow (a head trained with them), or whose labels
    or screen name one ("TR CW", "TR Vmax", "E'"), is measured as its likeliest site but refused
    (``nontarget``).
    ``pending``: the screen text already being read (:func:`start_screen_read`); then a non-target
    flow printed on the screen refuses the strip however sure the waveform is, while a printed site
    still weighs in only when the waveform leaves doubt.
    """
    labels = img.extra.get("labels", "")
    named = site_from_labels(labels)
    wave_post = class_posterior(wave_p, mode, side)
    printed: str | None = None
    notes: tuple[str, ...] = ()
    doubt = float(wave_post.max()) < opts.screen_text_below
    labelled = None if named else nontarget_from_labels(labels)
    if task == "auto" and not named and not labelled and (doubt or pending is not None) and opts.read_screen_text \
            and screen_text.available():
        printed, notes = read_screen_site(img, pending)
    weighs = doubt or printed in NON_TARGET_NAMES
    usable = printed if weighs and printed in SITE_CLASSES[:len(wave_post)] else None
    post = class_posterior(wave_p, mode, side, usable) if usable else wave_post
    screen_site = printed if printed in SITES else None
    if task != "auto":
        return SiteChoice(task, site_of(task), None, "site given", screen_site, post, wave_post, notes)
    if named:
        return SiteChoice(f"{named}_vti", named, 1.0, f"site {named} named in the file's labels", screen_site, post,
                          wave_post, notes)
    k = int(np.argmax(post[:len(SITES)]))
    site, conf = SITES[k], float(post[k])
    cues = (f"'{printed.upper()}' printed on the screen, " if printed and usable in SITES else "") + "waveform"
    how = f"site {site} ({conf:.2f}) from {cues}, {mode} and flow direction"
    return SiteChoice(f"{site}_vti", site, conf, how, screen_site, post, wave_post, notes,
                      _nontarget(post, labelled, "named in the file's labels") if labelled else _nontarget(post, printed))


def start_screen_read(img: EchoImage, task: str, opts: Options) -> screen_text.PendingRead | None:
    """Tesseract started on the screen text outside the data regions (OCR enabled and installed; None
    otherwise): the route may use it (``--task auto``, no site in the file's labels) and QC checks the
    traced beats against a VTI printed there (:func:`printed_reason`)."""
    if not opts.read_screen_text or not screen_text.available():
        return None
    try:
        return screen_text.start_reading(screen_text.text_image(img.frames[0], img.regions))
    except OSError:
        return None  # choose_site reads again and notes why it failed


@dataclass(frozen=True)
class Printed:
    """What a result box on the screen prints for the sonographer's beat (None: not read)."""

    vti_cm: float | None = None
    vmax_cm_s: float | None = None


def _printed(pending: screen_text.PendingRead | None) -> Printed:
    """The VTI and Vmax printed on the screen (:func:`~echoseg.doppler.screen_text.printed_value`);
    nothing when no reading ran or it failed (OCR is a cue, not a need)."""
    if pending is None:
        return Printed()
    try:
        words = pending.words()
    except (OSError, RuntimeError, subprocess.TimeoutExpired):
        return Printed()
    return Printed(screen_text.printed_value(words, screen_text.PRINTED_VTI),
                   screen_text.printed_value(words, screen_text.PRINTED_VMAX))


PRINTED_MARGIN = 0.10  # the sonographer's printed VTI must lie this close to one of the traced beats
PRINTED_MEAN_MARGIN = 0.15  # ... and this close to their mean (the value echoseg reports)
PRINTED_VMAX_MARGIN = 0.15  # a printed Vmax this close to one traced beat's peak


def printed_reason(beats: Sequence[Beat], printed: Printed | None) -> str:
    """The refusal when the screen prints the sonographer's result (a measured screen: one beat traced,
    the result box shows it) and the traced beats disagree: no complete beat's VTI within
    :data:`PRINTED_MARGIN` of the printed VTI, or their mean (the reported value) not within
    :data:`PRINTED_MEAN_MARGIN`, or no beat's peak within :data:`PRINTED_VMAX_MARGIN` of the printed
    Vmax; "" when nothing is printed, no beat is complete, or they agree. The printed values
    themselves are not quoted.

    >>> from echoseg.types import Beat
    >>> b = [Beat(0, 0.0, 0.3, 18.8, 85.0, 60.0, 2.9, 1.5), Beat(1, 1.0, 1.3, 20.1, 87.0, 62.0, 3.0, 1.6)]
    >>> printed_reason(b, Printed(22.8))[:60]
    "the screen's own measurement disagrees: a VTI is printed on "
    >>> printed_reason(b, Printed(21.0, 90.0)), printed_reason(b, Printed()), printed_reason(b, None)
    ('', '', '')
    >>> printed_reason(b + [Beat(2, 2.0, 2.3, 12.0, 70.0, 50.0, 2.0, 1.0)], Printed(20.0))[40:]
    'the mean of the 3 traced beats lies -15 % from the VTI printed on the screen (> 15 %)'
    >>> printed_reason(b, Printed(None, 103.0))[40:]
    'a Vmax is printed on the screen and no traced beat peaks within 15 % of it (the closest is -16 %)'
    """
    comp = [b for b in beats if b.complete]
    if printed is None or not comp:
        return ""
    if printed.vti_cm:
        vtis = [b.vti_cm for b in comp]
        closest = min((v / printed.vti_cm - 1.0 for v in vtis), key=abs)
        mean = float(np.mean(vtis)) / printed.vti_cm - 1.0
        if abs(closest) > PRINTED_MARGIN:
            return (f"the screen's own measurement disagrees: a VTI is printed on the screen and none of the "
                    f"{len(vtis)} traced beat(s) lies within {100 * PRINTED_MARGIN:.0f} % of it (the closest is "
                    f"{100 * closest:+.0f} %); this strip is traced unlike the sonographer's beat")
        if abs(mean) > PRINTED_MEAN_MARGIN:
            return (f"the screen's own measurement disagrees: the mean of the {len(vtis)} traced beats lies "
                    f"{100 * mean:+.0f} % from the VTI printed on the screen (> {100 * PRINTED_MEAN_MARGIN:.0f} %)")
    if printed.vmax_cm_s:
        peak = min((b.vmax_cm_s / printed.vmax_cm_s - 1.0 for b in comp), key=abs)
        if abs(peak) > PRINTED_VMAX_MARGIN:
            return (f"the screen's own measurement disagrees: a Vmax is printed on the screen and no traced beat "
                    f"peaks within {100 * PRINTED_VMAX_MARGIN:.0f} % of it (the closest is {100 * peak:+.0f} %)")
    return ""


def _nontarget(post: np.ndarray, printed: str | None, where: str = "printed on the screen") -> str:
    """The refusal of a strip that looks like a non-target flow ("" when its likeliest class is a site);
    ``printed``: the non-target flow the screen (or, ``where`` says, the file's labels) names."""
    if printed in NON_TARGET_NAMES:
        return (f"not one of the five VTI sites (looks like {NON_TARGET_NAMES[printed]}: "
                f"{NON_TARGET_LABELS[printed]} {where})")
    k = int(np.argmax(post))
    if k < len(SITES):
        return ""
    name = SITE_CLASSES[k]
    return f"not one of the five VTI sites (looks like {NON_TARGETS[name]}, {post[k]:.2f} from the waveform)"


def read_screen_site(img: EchoImage, pending: screen_text.PendingRead | None = None
                     ) -> tuple[str | None, tuple[str, ...]]:
    """(site or non-target flow printed on the screen, or None; notes): OCR is a cue, not a need, so
    failures become notes. ``pending``: a reading already started (else one is started now)."""
    try:
        reading = pending or screen_text.start_reading(screen_text.text_image(img.frames[0], img.regions))
        return screen_text.label_from_words(reading.words()), ()
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        return None, (f"screen text not read: {exc}",)


def find_beats(frame: np.ndarray, cal: SpectralCalibration, env: FlowEnvelope, site: str,
               regions: Sequence[Region] = (), *, ecg: EcgTrace | None | bool = True
               ) -> tuple[list[Span], list[Beat], tuple[str, ...]]:
    """(flow periods, their beats, notes) of the strip; beats across a sweep erase bar are incomplete.

    With an ECG on the screen (or an ECG region among ``regions``) whose R waves are clear, beats
    are its cardiac cycles (:func:`~echoseg.doppler.beats.gate_by_ecg`); otherwise they are split
    from the spectrum alone (:func:`~echoseg.doppler.beats.split_beats`). ``ecg``: the screen's ECG
    when the caller already looked for it (None: none usable); True: look for it here.
    """
    r = cal.region
    erased = erase_bar_columns(frame[r.y0:r.y1 + 1, r.x0:r.x1 + 1])
    valid = ~erased[env.cols - r.x0]
    notes: tuple[str, ...] = ()
    if erased.any():
        notes = (f"sweep erase bar: {int(erased.sum())} blank strip columns; beats across it are incomplete",)
    if ecg is True:
        ecg = usable_ecg(frame, cal, regions)
    if isinstance(ecg, EcgTrace):
        gated = gate_by_ecg(env.t_s, env.speed_cm_s, split_beats(env.t_s, env.speed_cm_s, valid=valid),
                            ecg.r_times_s, inflow=site == "mv")
        spans = list(gated.spans)
        notes += (f"beats from the ECG: {ecg.r_times_s.size} R waves, heart rate {ecg.heart_rate_bpm:.0f} bpm"
                  + (f"; {gated.n_left_out} flow period(s) beside the cycles' beats not counted"
                     if gated.n_left_out else ""),)
    else:
        spans = split_beats(env.t_s, env.speed_cm_s, join=site == "mv", valid=valid)
    if site != "mv":  # ejection: the main lobe, without the clicks beside it
        spans = trim_ejection(env.t_s, env.speed_cm_s, spans)
    beats = beats_from_spans(env.t_s, env.velocity_cm_s, spans)
    if site == "mv":
        beats = [_with_inflow_peaks(b, env, sp) for b, sp in zip(beats, spans)]
    frac = MINOR_BEAT_FRAC_IRREGULAR if rr_irregular([b.rr_s for b in beats if b.rr_s]) else MINOR_BEAT_FRAC
    minor = minor_beats([b.vti_cm for b in beats], [b.complete for b in beats], frac)
    if minor:
        beats = [replace(b, complete=False) if b.index in minor else b for b in beats]
        notes += (f"{len(minor)} minor flow period(s) below {100 * frac:.0f} % of the strip's typical beat "
                  "not counted as beats",)
    return spans, beats, notes


def _with_inflow_peaks(b: Beat, env: FlowEnvelope, sp: Span) -> Beat:
    e, a = inflow_peaks(env.t_s, env.velocity_cm_s, sp.start, sp.end)
    return replace(b, e_cm_s=e, a_cm_s=a)


ECG_RHYTHM_TOLERANCE = 0.25  # an ECG whose RR differs more than this from the spectrum's period is not used


def ecg_for_flow(ecg: EcgTrace | None, env: FlowEnvelope, site: str) -> tuple[EcgTrace | None, tuple[str, ...]]:
    """The ECG when its rhythm fits the spectrum's, with a note when it does not (then None).

    An ECG line read off the screen can miss R waves or take T waves for them; its RR interval is
    then not the spectrum's cycle, and gating or timing by it would be wrong. The spectrum's own
    period (autocorrelation of the envelope speed) must lie within :data:`ECG_RHYTHM_TOLERANCE` of
    the ECG's median RR (for mitral inflow also of half of it: E and A alone can set the period).
    Without a clear period in the spectrum (irregular rhythm, one beat) the ECG stands.
    """
    if ecg is None or ecg.r_times_s.size < 2 or env.t_s.size < 4:
        return ecg, ()
    rr = float(np.median(np.diff(ecg.r_times_s)))
    period = estimate_period(env.speed_cm_s, float(np.median(np.diff(env.t_s))), 0.25, 2.0, min_corr=0.3)
    if period is None or rr <= 0:
        return ecg, ()
    ratios = (period / rr, 2 * period / rr) if site == "mv" else (period / rr,)
    if any(abs(q - 1.0) <= ECG_RHYTHM_TOLERANCE for q in ratios):
        return ecg, ()
    return None, (f"ECG not used: its heart rate ({60 / rr:.0f} bpm) does not fit the spectrum's rhythm "
                  f"({60 / period:.0f} bpm); beats split from the spectrum",)


ECG_MIN_QUALITY = 0.5  # R waves clearer than this (EcgTrace.quality) gate the beats
ECG_HEART_RATE_BPM = (30.0, 200.0)  # an ECG whose heart rate lies outside this is not trusted


def usable_ecg(frame: np.ndarray, cal: SpectralCalibration, regions: Sequence[Region] = ()) -> EcgTrace | None:
    """The screen's ECG when its R waves are clear enough to gate beats (None otherwise)."""
    ecg = ecg_r_waves(frame, cal, regions)
    if ecg is None or ecg.quality < ECG_MIN_QUALITY or ecg.r_times_s.size < 2:
        return None
    lo, hi = ECG_HEART_RATE_BPM
    return ecg if lo <= ecg.heart_rate_bpm <= hi else None


def assess_beats(beats: Sequence[Beat], *, site: str, cal: SpectralCalibration, side: int | None,
                 envelope_conf: float, site_conf: float | None, irregular: bool | None = None,
                 tracer_vti: Sequence[float] = (), nontarget: str = "", timing: str = "",
                 printed: Printed | None = None) -> tuple[BeatSummary, QCResult]:
    """Summary and QC of a strip's beats (``irregular`` None: detected from their RR intervals).

    ``tracer_vti``: the model-free tracer's VTI over each beat (empty: no second opinion to check);
    ``nontarget``: the refusal of a strip that is not one of the five sites (first of the reasons);
    ``timing``: the refusal of a trace in the wrong phase of the cycle or running the wrong way (:mod:`echoseg.doppler.timing`);
    ``printed``: the result printed on the screen (:func:`printed_reason`; None: none read).
    """
    summary = summarise_beats(beats, irregular=irregular)
    agreement = beat_agreement(beats, tracer_vti) if len(tracer_vti) == len(beats) and beats else None
    check = qc_doppler(beats, summary, envelope_conf, site_conf, cal, site=site, side=side, agreement=agreement)
    first = [why for why in (nontarget, timing, printed_reason(beats, printed)) if why]
    if first:
        check = combine(make_result(first, check.confidence), check)
    return summary, check


def drop_disputed(beats: Sequence[Beat], tracer_vti: Sequence[float]) -> tuple[list[Beat], tuple[str, ...]]:
    """The beats with those the model-free tracer disputes (VTIs more than the agreement margin apart)
    no longer counted, and a note; unchanged when the tracer did not run or disputes more than half
    of the complete beats (then QC refuses the strip, see :func:`assess_beats`)."""
    if len(tracer_vti) != len(beats):
        return list(beats), ()
    agreement = beat_agreement(beats, tracer_vti)
    if not agreement.agrees or not agreement.n_disagree:
        return list(beats), ()
    comp = [b for b in beats if b.complete]
    disputed = {b.index for b, d in zip(comp, agreement.differences) if abs(d) > agreement.margin}
    kept = [replace(b, complete=False) if b.index in disputed else b for b in beats]
    note = (f"{len(disputed)} beat(s) the model-free tracer disputes (> {100 * agreement.margin:.0f} % apart) "
            "not counted",)
    return kept, note


def _second_opinion(lum: np.ndarray, cal: SpectralCalibration, side: int, beats: Sequence[Beat]) -> tuple[float, ...]:
    """The tracer's VTI over each beat; empty when the strip was clipped by the image edge."""
    if lum.shape != (cal.region.height, cal.region.width):
        return ()
    return tracer_vtis(beats, trace_envelope(lum, cal, side))


def envelope_confidence(env: FlowEnvelope) -> float:
    """Mean envelope confidence over the columns with flow (all columns when none has)."""
    flow_cols = env.speed_cm_s > 0.1 * max(float(env.speed_cm_s.max()), 1e-9)
    return float(np.mean(env.confidence[flow_cols] if flow_cols.any() else env.confidence))


def remeasure_beats(m: Measurement, beats: Sequence[Beat], included: Collection[int],
                    cal: SpectralCalibration) -> Measurement:
    """The row ``m`` recomputed over the ``included`` complete beats (the web's beat edits).

    Incomplete beats never count; the rhythm stays the one found on the whole strip.
    """
    d = m.details
    if not isinstance(d, DopplerDetails):
        raise TypeError(f"{m.file}: {m.task} is not a measured Doppler VTI; only rows with Doppler details "
                         "can be re-measured over chosen beats")
    unknown = set(included) - {b.index for b in beats}
    if unknown:
        raise ValueError(f"beats {sorted(unknown)} do not exist; this strip has beats {[b.index for b in beats]}")
    keep = [not b.complete or b.index in included for b in beats]
    chosen = [b for b, k in zip(beats, keep) if k]
    traced = tuple(v for v, k in zip(d.tracer_vti, keep) if k) if len(d.tracer_vti) == len(beats) else ()
    summary, check = assess_beats(chosen, site=site_of(m.task), cal=cal, side=d.side,
                                  envelope_conf=d.envelope_confidence, site_conf=d.site_confidence,
                                  irregular=d.summary.irregular, tracer_vti=traced, nontarget=d.nontarget,
                                  timing=d.timing)
    excluded = sorted(b.index for b in beats if b.complete and b.index not in included)
    reason = check.reason if summary.n or not excluded else "every complete beat is excluded; include at least one"
    edit = f"beats {', '.join(str(i + 1) for i in excluded)} excluded by the user" if excluded else ""
    return replace(m, value=summary.value if check.passed else None, n=summary.n, qc=check.qc, reason=reason,
                   confidence=check.confidence, details=replace(d, summary=summary, warnings=check.warnings + d.notes),
                   edit=edit)


def _infer(img: EchoImage, cal: SpectralCalibration, lum: np.ndarray,
           models: Models) -> tuple[np.ndarray, np.ndarray]:
    """(flow probability (H, W) in the full image grid, waveform site probabilities) of the first frame.

    The network reads the strip twice, as shown and :func:`~echoseg.doppler.prepare.brightened`;
    see :func:`flow_probability`. The site probabilities are those of the strip as shown.
    """
    loaded = models.get("doppler")
    size = tuple(loaded.config["input_size"])
    x, geom = doppler_input(img.frames[0], cal, size=size, lum=lum)
    xb, _ = doppler_input(img.frames[0], cal, size=size, lum=brightened(lum))
    out = inference.infer(loaded.model, np.stack([x, xb]))
    return to_image(flow_probability(out["seg"][0, 0], out["seg"][1, 0]), geom), out["cls"][0]


def flow_probability(shown: np.ndarray, bright: np.ndarray) -> np.ndarray:
    """Flow probability from the network's two readings of a strip: their mean.

    ``shown``: the strip as displayed; ``bright``: on the brightening curve. Where a spectrum's outer
    band is as bright as its core both readings agree; where it is dimmer, the brightened reading
    reaches further out and the mean moves the envelope part of the way (the real echonet RVOT panel:
    -19 % to -2 % of the sonographer's value, docs/real_world.md). The pixelwise maximum went further
    on real panels but pushed the synthetic cohorts' faint broadened tails into the envelope
    (external-style RVOT R² 0.953 -> 0.940; the mean: 0.951; docs/models.md).

    >>> flow_probability(np.array([0.9, 0.2]), np.array([0.5, 0.8])).tolist()
    [0.7, 0.5]
    """
    return 0.5 * (np.asarray(shown) + np.asarray(bright))


def _by_site(p: np.ndarray) -> dict[str, float]:
    return {s: round(float(v), 4) for s, v in zip(SITES, p)}


def _row(path: str, choice: SiteChoice, beats: Sequence[Beat], env: FlowEnvelope, cal: SpectralCalibration,
         notes: tuple[str, ...], tracer_vti: tuple[float, ...], timing: str = "",
         printed: Printed | None = None) -> Measurement:
    """The measurements.csv row of the strip: value over its complete beats, QC and details."""
    env_conf = envelope_confidence(env)
    summary, check = assess_beats(beats, site=choice.site, cal=cal, side=env.side, envelope_conf=env_conf,
                                  site_conf=choice.confidence, tracer_vti=tracer_vti, nontarget=choice.nontarget,
                                  timing=timing, printed=printed)
    details = DopplerDetails(
        summary=summary, warnings=check.warnings + notes, notes=notes, screen_site=choice.screen_site,
        envelope_confidence=env_conf, site_confidence=1.0 if choice.confidence is None else choice.confidence,
        side=env.side, site_probabilities=_by_site(choice.probabilities),
        waveform_site_probabilities=_by_site(choice.waveform_probabilities), mode=cal.mode,
        tracer_vti=tracer_vti, nontarget=choice.nontarget, timing=timing)
    return Measurement(file=path, task=choice.task, value=summary.value if check.passed else None,
                       unit=unit_of(choice.task), n=summary.n, frame=0, qc=check.qc, reason=check.reason,
                       confidence=check.confidence, details=details)


def _file_result(img: EchoImage, row: Measurement, choice: SiteChoice, spans: Sequence[Span],
                 beats: Sequence[Beat], env: FlowEnvelope, prob: np.ndarray, cal: SpectralCalibration,
                 opts: Options) -> FileResult:
    """The file's result: the row, its beats, the flow mask, the envelope and the beat numbers to draw."""
    r, task = cal.region, choice.task
    labels = tuple((float(env.cols[(sp.start + sp.end) // 2]) - 4, float(cal.baseline_row) + 3, str(i + 1))
                   for i, sp in enumerate(spans))
    mask = np.zeros(img.shape, dtype=bool)
    mask[r.y0:r.y1 + 1, r.x0:r.x1 + 1] = prob[r.y0:r.y1 + 1, r.x0:r.x1 + 1] > 0.5
    return FileResult(file=img.path, kind="doppler", measurements=(row,), route=choice.how,
                      route_confidence=choice.confidence, beats={task: tuple(beats)}, masks={task: mask},
                      envelope=(env.cols, velocity_to_row(cal, env.velocity_cm_s)),
                      image=img.frames[0] if opts.keep_image else None, frames_for_task={task: 0}, labels=labels,
                      study_uid=img.study_uid, edit_data=DopplerEditData(cal) if opts.edit_data else None)
