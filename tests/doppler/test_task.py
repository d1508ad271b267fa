"""echoseg.doppler.task: site choice with non-target flows, and their refusal."""
from __future__ import annotations

import numpy as np
import pytest

from echoseg.doppler import task as dtask
from echoseg.options import Options
from echoseg.types import EchoImage
from echoseg.vocab import SITE_CLASSES, SITES


def _img() -> EchoImage:
    return EchoImage(path="strip.dcm", frames=np.zeros((1, 8, 8, 3), np.uint8), regions=())


def _head(**p: float) -> np.ndarray:
    out = np.full(len(SITE_CLASSES), 0.01)
    for k, v in p.items():
        out[SITE_CLASSES.index(k)] = v
    return out / out.sum()


def test_a_head_sure_of_a_non_target_flow_refuses_it_as_its_likeliest_site():
    choice = dtask.choose_site(_img(), "auto", _head(tr=0.9, av=0.05), "CW", -1, Options(read_screen_text=False))
    assert choice.site == "av" and choice.confidence is not None and choice.confidence < 0.2
    assert choice.nontarget.startswith("not one of the five VTI sites (looks like tricuspid regurgitation")
    assert choice.probabilities.shape == (len(SITE_CLASSES),)


def test_a_site_stays_a_site_and_a_given_task_is_never_refused_as_non_target():
    sure = dtask.choose_site(_img(), "auto", _head(lvot=0.9, tr=0.05), "PW", -1, Options(read_screen_text=False))
    assert sure.site == "lvot" and sure.nontarget == "" and sure.confidence > 0.8
    given = dtask.choose_site(_img(), "av_vti", _head(tr=0.9), "CW", -1, Options(read_screen_text=False))
    assert given.site == "av" and given.nontarget == "" and given.confidence is None


def test_a_non_target_printed_on_the_screen_refuses_even_with_a_five_site_head(monkeypatch):
    monkeypatch.setattr(dtask.screen_text, "available", lambda: True)
    monkeypatch.setattr(dtask, "read_screen_site", lambda img, pending=None: ("pr", ()))
    five = np.full(len(SITES), 1.0 / len(SITES))
    choice = dtask.choose_site(_img(), "auto", five, "CW", 1, Options())
    assert "pulmonary regurgitation: PR printed on the screen" in choice.nontarget
    assert choice.probabilities.shape == (len(SITES),)


def test_a_flow_the_network_has_no_class_for_is_refused_by_its_printed_label(monkeypatch):
    monkeypatch.setattr(dtask.screen_text, "available", lambda: True)
    monkeypatch.setattr(dtask, "read_screen_site", lambda img, pending=None: ("laa", ()))
    choice = dtask.choose_site(_img(), "auto", _head(mv=0.95), "PW", 1, Options(), pending=object())  # type: ignore[arg-type]
    assert choice.nontarget == ("not one of the five VTI sites (looks like left atrial appendage flow: "
                                "LAA printed on the screen)")
    assert choice.probabilities.shape == (len(SITE_CLASSES),)  # the waveform posterior, not re-weighted


def test_labels_naming_a_non_target_flow_refuse_it_without_reading_the_screen(monkeypatch):
    import dataclasses

    monkeypatch.setattr(dtask.screen_text, "available", lambda: True)
    monkeypatch.setattr(dtask, "read_screen_site", lambda img, pending=None: pytest.fail("screen read"))
    img = dataclasses.replace(_img(), extra={"labels": "Mitral regurgitation | CW"})
    choice = dtask.choose_site(img, "auto", _head(mv=0.9), "CW", -1, Options())
    assert choice.site == "mv"  # measured as its likeliest site (beats and overlay), but refused
    assert choice.nontarget == ("not one of the five VTI sites (looks like mitral regurgitation: MR named in the "
                                "file's labels)")
    named = dtask.choose_site(dataclasses.replace(_img(), extra={"labels": "MV inflow PW"}), "auto", _head(mv=0.9),
                              "PW", 1, Options())
    assert named.site == "mv" and named.nontarget == "" and named.confidence == 1.0


def test_the_non_target_refusal_leads_the_reasons():
    from echoseg.io.calibration import manual_spectral_calibration
    from echoseg.types import Beat

    cal = manual_spectral_calibration(0.01, -4.0, 50.0, (0, 0, 99, 99), "CW")  # +-200 cm/s
    beats = [Beat(i, i * 1.0, i * 1.0 + 0.3, 20.0, 100.0, 60.0, 4.0, 2.0, True, 1.0) for i in range(3)]
    _, check = dtask.assess_beats(beats, site="av", cal=cal, side=-1, envelope_conf=0.9, site_conf=0.9,
                                  nontarget="not one of the five VTI sites (looks like tissue Doppler)")
    assert not check.passed and check.reasons[0].startswith("not one of the five VTI sites")
    _, ok = dtask.assess_beats(beats, site="av", cal=cal, side=-1, envelope_conf=0.9, site_conf=0.9)
    assert ok.passed, ok.reasons
    with pytest.raises(ValueError):
        dtask.measure(_img(), "la_area", None, Options())  # type: ignore[arg-type]


def _b(i: int, vti: float, complete: bool = True):
    from echoseg.types import Beat

    return Beat(i, i * 1.0, i * 1.0 + 0.3, vti, 100.0, 60.0, 4.0, 2.0, complete, 1.0)


def test_beats_the_tracer_disputes_are_not_counted_unless_most_are_disputed():
    beats = [_b(0, 7.0), _b(1, 16.0), _b(2, 15.0), _b(3, 1.0, complete=False)]
    kept, note = dtask.drop_disputed(beats, (2.0, 17.0, 14.0, 2.0))
    assert [b.complete for b in kept] == [False, True, True, False]
    assert note and "1 beat(s) the model-free tracer disputes" in note[0]
    most, none = dtask.drop_disputed(beats, (2.0, 5.0, 14.0, 2.0))  # 2 of 3 disputed: QC refuses instead
    assert [b.complete for b in most] == [b.complete for b in beats] and none == ()
    assert dtask.drop_disputed(beats, ()) == (beats, ())  # no second opinion: nothing changes


def test_minor_flow_periods_between_beats_are_not_counted():
    from echoseg.doppler.beats import minor_beats

    assert minor_beats([1.9, 16.7, 4.9, 14.4, 5.5, 17.3], [True] * 6) == [0, 2, 4]
    assert minor_beats([15.0, 12.0, 16.0, 9.0], [True, True, True, True]) == []  # AF-like spread stays
    assert minor_beats([15.0, 1.0, 16.0], [True, False, True]) == []  # fewer than 3 complete


def test_a_printed_non_target_refuses_a_confident_strip_but_a_printed_site_does_not_reroute_it(monkeypatch):
    monkeypatch.setattr(dtask.screen_text, "available", lambda: True)
    calls = []

    def printed(label):
        def read(img, pending=None):
            calls.append(pending)
            return label, ()
        return read

    sure = _head(av=0.97, lvot=0.01)
    monkeypatch.setattr(dtask, "read_screen_site", printed("tr"))
    choice = dtask.choose_site(_img(), "auto", sure, "CW", -1, Options(), pending=object())  # type: ignore[arg-type]
    assert "tricuspid regurgitation: TR printed on the screen" in choice.nontarget
    monkeypatch.setattr(dtask, "read_screen_site", printed("lvot"))
    kept = dtask.choose_site(_img(), "auto", sure, "CW", -1, Options(), pending=object())  # type: ignore[arg-type]
    assert kept.site == "av" and kept.nontarget == "" and kept.screen_site == "lvot" and "printed" not in kept.how
    calls.clear()
    dtask.choose_site(_img(), "auto", sure, "CW", -1, Options())  # nothing pending, no doubt: the screen is not read
    assert calls == []


def test_an_ecg_whose_rhythm_does_not_fit_the_spectrum_is_not_used():
    from echoseg.doppler.ecg import EcgTrace
    from echoseg.doppler.envelope import FlowEnvelope
    from echoseg.doppler.task import ecg_for_flow
    from echoseg.synth.waveforms import envelope, make_beats, sample_rhythm

    rng = np.random.default_rng(5)
    r = sample_rhythm(rng, 4.0, 110.0, False)
    t = np.arange(0, 4.0, 0.005)
    v = -envelope(make_beats(rng, "lvot", "normal", r, False), t)
    ones = np.ones(t.size)
    env = FlowEnvelope(np.arange(t.size), t, v, ones, 10 * ones, -1, 0.0)

    def trace(r_times):
        r_times = np.asarray(r_times)
        return EcgTrace(np.arange(t.size), ones, (r_times / 0.005).astype(int), r_times,
                        60 / float(np.median(np.diff(r_times))), 0.9)

    right = trace(r[(r > 0) & (r < 4)])
    assert ecg_for_flow(right, env, "lvot") == (right, ())
    missed = trace(r[(r > 0) & (r < 4)][::2])  # every other R wave missed: half the heart rate
    used, notes = ecg_for_flow(missed, env, "lvot")
    assert used is None and "does not fit the spectrum's rhythm" in notes[0]
    assert ecg_for_flow(None, env, "lvot") == (None, ())


def _two_sided(below: float, above: float, site: str, with_ecg: bool = True, swap: bool = False):
    """A strip with systolic flow below the baseline (away: LV outflow or mitral regurgitation, peak
    ``below`` cm/s) and diastolic flow above it (toward: mitral inflow, peak ``above``; 0: none),
    as network probabilities, measured as ``site``: the traced side. ``swap``: the phases swapped
    (diastolic below, systolic above)."""
    from echoseg.doppler.ecg import EcgTrace
    from echoseg.io.calibration import manual_spectral_calibration

    s_per_px, cm_s, base = 0.005, 2.0, 100
    cal = manual_spectral_calibration(s_per_px, -cm_s, base, (0, 0, 599, 199), "CW")  # velocity grows upwards
    t = np.arange(600) * s_per_px
    r_times = np.arange(0.1, 3.0, 0.8)
    phase = ((t - 0.1) % 0.8) / 0.8
    sys_v = np.where((phase > 0.08) & (phase < 0.4), np.sin(np.pi * (phase - 0.08) / 0.32), 0.0) * below
    dia_v = np.where((phase > 0.55) & (phase < 0.95), np.sin(np.pi * (phase - 0.55) / 0.4), 0.0) * above
    if swap:
        sys_v, dia_v = dia_v * below / max(above, 1e-9), sys_v * above / max(below, 1e-9)
    rows = np.arange(200)[:, None]
    prob = (((rows > base) & (rows <= base + sys_v / cm_s)) | ((rows < base) & (rows >= base - dia_v / cm_s)))
    frame = np.random.default_rng(0).integers(0, 60, (200, 600, 3)).astype(np.uint8)
    img = EchoImage(path="strip.dcm", frames=frame[None], regions=(cal.region,))
    ecg = None
    if with_ecg:
        ecg = EcgTrace(np.arange(600), np.ones(600), (r_times / s_per_px).astype(int), r_times, 75.0, 0.9)
    env = dtask.envelope_from_flow(prob.astype(np.float64), cal)
    return dtask.trace_side(img, cal, prob.astype(np.float64), env, site, ecg)


def test_the_side_with_the_sites_flow_is_traced_when_both_sides_hold_flow():
    """Mitral stenosis with regurgitation: the stronger jet below the baseline lies in systole, the
    inflow above in diastole; measured as MV, the inflow is traced (with and without an ECG)."""
    for with_ecg in (True, False):
        side = _two_sided(400, 200, "mv", with_ecg)
        assert side.env.side == 1 and any("toward the transducer" in n for n in side.notes)
        assert side.timing == ""
    outflow = _two_sided(400, 200, "lvot")  # measured as LVOT the outflow below stays traced
    assert outflow.env.side == -1 and not any("toward the transducer" in n for n in outflow.notes)


def test_flow_on_one_side_only_is_traced_whatever_the_site():
    """An inverted display or a strip with no flow on the site's side: the flow there is kept (and
    the timing check then refuses a mitral trace in systole)."""
    side = _two_sided(400, 0, "mv")
    assert side.env.side == -1 and "systole" in side.timing


def test_the_stronger_side_is_kept_when_its_timing_fits_the_site_and_the_others_does_not():
    """An LVOT strip displayed inverted (its systolic ejection above the baseline, the stronger) with
    diastolic flow below: the other side runs in LVOT's direction but in diastole, so by the ECG the
    stronger, systolic side stays; without an ECG the site's direction wins."""
    kept = _two_sided(200, 400, "lvot", swap=True)
    assert kept.env.side == 1 and kept.timing == "" and not any("away from the transducer" in n for n in kept.notes)
    blind = _two_sided(200, 400, "lvot", with_ecg=False, swap=True)
    assert blind.env.side == -1 and any("away from the transducer" in n for n in blind.notes)


def test_a_weak_flow_on_the_sites_side_is_not_traced_instead():
    """Below :data:`SIDE_MIN_SHARE` of the flow the other side is not considered (a CW mirror)."""
    from echoseg.doppler.task import SIDE_MIN_SHARE

    weak = _two_sided(400, 400 * SIDE_MIN_SHARE * 0.5, "mv", with_ecg=False)
    assert weak.env.side == -1


def test_a_mitral_strip_whose_only_flow_runs_away_from_the_transducer_is_refused(monkeypatch):
    """The whole Doppler path (network stubbed): systolic flow below the baseline only, measured as MV,
    is refused by its direction (mitral regurgitation), whatever its beats look like; as LVOT it is not."""
    from echoseg.io.calibration import manual_spectral_calibration
    from echoseg.options import Models

    s_per_px, cm_s, base = 0.005, 2.0, 100
    cal = manual_spectral_calibration(s_per_px, -cm_s, base, (0, 0, 599, 199), "PW")  # velocity grows upwards
    phase = ((np.arange(600) * s_per_px - 0.1) % 0.8) / 0.8
    v = np.where((phase > 0.08) & (phase < 0.4), np.sin(np.pi * (phase - 0.08) / 0.32), 0.0) * 80.0
    rows = np.arange(200)[:, None]
    prob = ((rows > base) & (rows <= base + v / cm_s)).astype(np.float64)
    frame = np.random.default_rng(0).integers(0, 40, (200, 600, 3)).astype(np.uint8)
    frame[prob > 0.5] = 180  # the flow, bright on the strip
    img = EchoImage(path="strip.dcm", frames=frame[None], regions=(cal.region,))
    head = np.zeros(len(SITE_CLASSES), dtype=np.float32)
    monkeypatch.setattr(dtask, "_infer", lambda *a: (prob, head))
    opts = Options(read_screen_text=False)
    mv = dtask.measure(img, "mv_vti", Models(), opts).measurements[0]
    assert mv.qc == "fail" and "flow direction: the traced flow runs away from the transducer" in mv.reason
    lvot = dtask.measure(img, "lvot_vti", Models(), opts).measurements[0]
    assert "flow direction" not in lvot.reason


def _stenosis_with_jet(mirror: bool) -> tuple[EchoImage, object]:
    """A CW strip (velocity grows upwards): a bright systolic jet below the baseline and above it a
    dim diastolic inflow (``mirror``: the jet's faint mirror, at the same times, instead), and a
    network stub that, like the real one on the echonet MV panel, sees the dim side only when the
    bright side is painted black."""
    from echoseg.io.calibration import manual_spectral_calibration

    s_per_px, cm_s, base = 0.005, 4.0, 100
    cal = manual_spectral_calibration(s_per_px, -cm_s, base, (0, 0, 599, 199), "CW")
    phase = ((np.arange(600) * s_per_px - 0.1) % 0.8) / 0.8
    jet = np.where((phase > 0.05) & (phase < 0.45), np.sin(np.pi * (phase - 0.05) / 0.4), 0.0) * 300.0
    inflow = (jet * 0.6 if mirror else
              np.where((phase > 0.55) & (phase < 0.95), np.clip(np.sin(np.pi * (phase - 0.55) / 0.4), 0, 1) ** 0.5, 0.0) * 180.0)
    rows = np.arange(200)[:, None]
    below = (rows > base) & (rows <= base + jet / cm_s)
    above = (rows < base) & (rows >= base - inflow / cm_s)
    frame = np.random.default_rng(1).integers(0, 30, (200, 600, 3)).astype(np.uint8)
    frame[below] = 220
    frame[above] = 110

    def infer(img, cal_, lum, models):
        jet_shown = lum[base + 5:].max() > 150
        prob = (lum > 60) & (below if jet_shown else above)
        return prob.astype(np.float64), np.zeros(len(SITE_CLASSES), dtype=np.float32)
    return EchoImage(path="strip.dcm", frames=frame[None], regions=(cal.region,)), infer


def test_a_dim_mitral_inflow_beside_a_brighter_jet_is_traced_on_the_strip_read_again(monkeypatch):
    """Mitral stenosis CW with regurgitation (network stubbed): the network sees only the jet below the
    baseline, so the strip is read again with that side blanked and the inflow above is measured."""
    from echoseg.options import Models

    img, infer = _stenosis_with_jet(mirror=False)
    monkeypatch.setattr(dtask, "_infer", infer)
    result = dtask.measure(img, "mv_vti", Models(), Options(read_screen_text=False))
    m = result.measurements[0]
    assert "flow direction" not in m.reason, m.reason
    assert m.details.side == 1 and any("other side of the baseline blanked" in n for n in m.details.notes)
    beats = [b for b in result.beats["mv_vti"] if b.complete]
    assert beats and all(b.vmax_cm_s > 0 for b in beats) and 150 < np.median([b.vmax_cm_s for b in beats]) < 200


def test_a_mirror_of_the_jet_is_not_traced_as_mitral_inflow(monkeypatch):
    """The regurgitant jet's CW mirror lies at the jet's own times: it is not taken for inflow and the
    direction refusal stands."""
    from echoseg.options import Models

    img, infer = _stenosis_with_jet(mirror=True)
    monkeypatch.setattr(dtask, "_infer", infer)
    m = dtask.measure(img, "mv_vti", Models(), Options(read_screen_text=False)).measurements[0]
    assert m.qc == "fail" and "flow direction: the traced flow runs away from the transducer" in m.reason


def test_coincident_share_counts_the_site_sides_flow_under_the_other_sides():
    on = np.r_[np.zeros(10), np.ones(10), np.zeros(10)]
    assert dtask.coincident_share(on, on) == 1.0
    assert dtask.coincident_share(on, np.roll(on, 10)) == 0.0
    assert dtask.coincident_share(np.zeros(30), on) == 0.0


def test_a_vti_printed_on_the_screen_refuses_beats_that_all_miss_it():
    from echoseg.io.calibration import manual_spectral_calibration
    from echoseg.types import Beat

    cal = manual_spectral_calibration(0.005, -1.0, baseline_row=50.0, box=(0, 0, 299, 199), mode="PW")
    beats = [Beat(i, 0.8 * i, 0.8 * i + 0.3, v, 90.0, 60.0, 3.2, 1.6, rr_s=0.8) for i, v in enumerate((18.8, 20.1, 18.7))]
    kw = dict(site="pv", cal=cal, side=-1, envelope_conf=0.9, site_conf=1.0)
    _, ok = dtask.assess_beats(beats, **kw)
    _, far = dtask.assess_beats(beats, printed=dtask.Printed(22.8), **kw)
    _, near = dtask.assess_beats(beats, printed=dtask.Printed(21.5, 95.0), **kw)
    _, peak = dtask.assess_beats(beats, printed=dtask.Printed(21.5, 120.0), **kw)
    assert ok.passed and near.passed, (ok.reason, near.reason)
    assert not far.passed and far.reason.startswith("the screen's own measurement disagrees")
    assert "closest is -12 %" in far.reason and "22.8" not in far.reason  # the printed value is not quoted
    assert not peak.passed and "a Vmax is printed on the screen" in peak.reason and "-25 %" in peak.reason


def test_measure_holds_a_given_site_to_the_vti_printed_on_the_screen(monkeypatch, tmp_path):
    pytest.importorskip("onnxruntime")
    from echoseg.io.read import read
    from echoseg.options import Models
    from echoseg.synth.dicom_writer import write_case
    from echoseg.synth.doppler_signal import generate_doppler_signal

    case = generate_doppler_signal(9_900_000, heldout=True)
    site, truth = str(case.truth["site"]), float(case.truth["value"])
    img = read(write_case(case, tmp_path, "strip", save_masks=False)["dicom"])

    class Reading:  # a screen reading that has finished, with no words of its own
        def words(self, timeout_s: float = 10.0) -> list:
            return []

        def close(self) -> None:
            pass

    monkeypatch.setattr(dtask, "start_screen_read", lambda img, task, opts: Reading())
    reasons = {}
    for factor in (1.0, 1.5):
        monkeypatch.setattr(dtask.screen_text, "printed_value",
                            lambda words, q, f=factor: f * truth if q is dtask.screen_text.PRINTED_VTI else None)
        m = dtask.measure(img, f"{site}_vti", Models(), Options()).measurements[0]
        reasons[factor] = (m.qc, m.reason)
    assert "screen's own measurement" not in reasons[1.0][1]
    assert reasons[1.5][0] == "fail" and "screen's own measurement disagrees" in reasons[1.5][1]
