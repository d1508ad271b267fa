"""End to end with the shipped models: generated DICOMs with exact truth -> echoseg.pipeline.measure.

These are floors the shipped weights must keep (docs/accuracy.md has the full numbers); the cases
are seeded and never used in training (seeds >= 9_000_000).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from echoseg.doppler.study import study_rows
from echoseg.models.registry import shipped_dir
from echoseg.options import Models
from echoseg.pipeline import measure
from echoseg.report.write import write_all
from echoseg.synth.a4c import generate_a4c
from echoseg.synth.dicom_writer import write_case
from echoseg.synth.doppler import generate_doppler
from echoseg.types import AtriaDetails, DopplerDetails
from echoseg.vocab import SITES

pytestmark = pytest.mark.skipif(not (shipped_dir("atria") / "model.safetensors").exists()
                                or not (shipped_dir("doppler") / "model.safetensors").exists(),
                                reason="shipped weights not present (src/echoseg/weights/{atria,doppler})")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    truth = {}
    a4c = generate_a4c(9_100_001, n_frames=16)
    write_case(a4c, out, "a4c", study_uid="1.2.3")
    truth["a4c.dcm"] = a4c.truth
    for i, site in enumerate(SITES):
        for k in range(2):
            case = generate_doppler(9_100_010 + 10 * i + k, site=site)
            write_case(case, out, f"{site}{k}", study_uid="1.2.3", compression="jpeg" if k else "none")
            truth[f"{site}{k}.dcm"] = case.truth
    models = Models()
    return out, truth, measure([out], models=models)


def test_every_file_gets_rows_and_atria_near_truth(study):
    out, truth, results = study
    assert len(results) == 11
    a4c = next(r for r in results if Path(r.file).name == "a4c.dcm")
    got = {m.task: m for m in a4c.measurements}
    t = truth["a4c.dcm"]
    for task, key in (("la_area", "la_area"), ("ra_area", "ra_area")):
        m = got[task]
        assert m.unit == "cm2"
        assert isinstance(m.details, AtriaDetails) and m.details.n_total >= 1
        raw = m.details.raw_value
        assert m.raw_value == raw and len(m.details.cycle_values_cm2) == m.details.n_total
        assert raw == pytest.approx(t[key], rel=0.12), (task, raw, t[key])
        # the measured frame is one of the generator's end-systolic frames (or next to one)
        assert min(abs(m.frame - f) for f in t["es_frames"]) <= 1


def test_doppler_values_and_routing(study):
    out, truth, results = study
    errors, routed = [], 0
    for r in results:
        name = Path(r.file).name
        if name == "a4c.dcm":
            continue
        t = truth[name]
        (m,) = r.measurements
        routed += m.task == f"{t['site']}_vti"
        d = m.details
        assert isinstance(d, DopplerDetails) and d.side in (1, -1) and m.n == d.summary.n
        # the five sites' share of the posterior; a head with non-target classes keeps the rest for them
        assert set(d.site_probabilities) == set(SITES) and 0.0 < sum(d.waveform_site_probabilities.values()) <= 1.0 + 1e-3
        assert m.raw_value == d.summary.value and (m.qc != "pass" or m.value == d.summary.value)
        if m.qc == "pass":
            errors.append(abs(m.value - t["value"]) / t["value"])
            assert m.task == f"{t['site']}_vti", (name, m.task)
    assert routed >= 7, f"only {routed} of 10 Doppler files routed to the right site"
    assert len(errors) >= 5, "QC refused most Doppler files"
    assert max(errors) < 0.2 and float(np.median(errors)) < 0.06


def test_contract_outputs(study, tmp_path):
    out, truth, results = study
    paths = write_all(results, tmp_path, save_masks=True, studies=study_rows(results, 2.0, 2.2))
    with open(paths["measurements"]) as fh:
        rows = list(csv.DictReader(fh))
    assert {"file", "task", "value", "unit", "n", "frame", "qc", "reason"} <= set(rows[0])
    assert {r["task"] for r in rows} >= {"la_area", "ra_area"}
    for r in rows:
        assert (r["qc"] == "pass") == (r["reason"] == "")
    with open(paths["beats"]) as fh:
        beats = list(csv.DictReader(fh))
    assert {"file", "task", "beat", "start_s", "end_s", "vti_cm", "vmax_cm_s"} <= set(beats[0])
    mask = tmp_path / "masks" / "a4c.la_area.png"
    from PIL import Image
    arr = np.asarray(Image.open(mask))
    from echoseg.io.read import read
    assert arr.shape == read(out / "a4c.dcm").shape and set(np.unique(arr)) == {0, 255}
    assert (tmp_path / "report.html").read_text().count("<img") >= 11


def test_study_keeps_the_surer_of_two_files_claiming_one_parameter():
    from echoseg.doppler.measure import summarise_beats
    from echoseg.types import DopplerDetails, FileResult, Measurement

    def res(name: str, value: float, site_conf: float) -> FileResult:
        details = DopplerDetails(summary=summarise_beats([]), site_confidence=site_conf)
        m = Measurement(file=name, task="lvot_vti", value=value, unit="cm", n=3, frame=0, qc="pass",
                        confidence=0.4, details=details)
        return FileResult(file=name, kind="doppler", measurements=(m,), study_uid="s1")

    (row,) = study_rows([res("a.dcm", 20.0, 1.0), res("b.dcm", 15.0, 0.6)], lvot_diameter_cm=2.0)
    assert row["lvot_vti"] == 20.0 and "a.dcm and b.dcm" in row["conflicts"]
    (row,) = study_rows([res("b.dcm", 15.0, 0.6), res("a.dcm", 20.0, 1.0)])
    assert row["lvot_vti"] == 20.0


@pytest.mark.skipif(not __import__("echoseg.doppler.screen_text").doppler.screen_text.available(), reason="Tesseract OCR is not installed")
def test_site_printed_on_the_screen_routes_unlabelled_files(tmp_path):
    from echoseg.options import Options
    from echoseg.pipeline import measure_file

    models, checked = Models(), 0
    always = Options(screen_text_below=1.01, keep_image=False)  # read the screen even when the waveform is sure
    never = Options(read_screen_text=False, keep_image=False)
    for i, site in enumerate(("rvot", "pv", "lvot", "rvot", "pv", "lvot")):
        case = generate_doppler(9_100_201 + 2 * i, site=site)  # odd seeds: no site in the DICOM labels
        path = write_case(case, tmp_path, f"{site}{i}")["dicom"]
        read = measure_file(path, models, always)
        if "printed on the screen" not in read.route:
            continue  # the generator prints no label on about one screen in five
        checked += 1
        assert read.measurements[0].task == f"{site}_vti", read.route
        assert read.measurements[0].details.screen_site == site
        alone = measure_file(path, models, never)
        assert "printed" not in alone.route and alone.measurements[0].details.screen_site is None
    assert checked >= 3


def test_r_wave_time_vector_gives_the_cine_its_cycles(tmp_path):
    """A cine whose file carries the R waves (at the generator's end-diastolic frames) is cut into
    R-R cycles: the row says so and the measured frame is an end-systolic one."""
    import pydicom

    from echoseg.pipeline import measure_file
    from echoseg.options import Options

    case = generate_a4c(9_100_002, n_frames=48)
    path = write_case(case, tmp_path, "a4c")["dicom"]
    ds = pydicom.dcmread(path)
    ds.RWaveTimeVector = [f * case.frame_time_ms for f in case.truth["ed_frames"]]
    ds.save_as(path)
    res = measure_file(path, Models(), Options())
    for m in res.measurements:
        assert isinstance(m.details, AtriaDetails)
        assert any("R waves" in w for w in m.details.warnings), m.details.warnings
        # one cycle per R-R interval or partial cycle whose maximum lies inside the loop (not frame 0 or 47)
        assert m.details.n_total == len([f for f in case.truth["es_frames"] if 0 < f < 47])
        assert min(abs(m.frame - f) for f in case.truth["es_frames"]) <= 1
