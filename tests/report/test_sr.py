"""echoseg.report.sr: one TID 1500 Comprehensive SR per study, read back with highdicom and checked by dciodvfy.

Sources are small ultrasound DICOMs written in tmp_path with distinctive patient tags; the results are
built directly (seeded values, no networks) so every number in the SR has an exact expected value.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from echoseg.report import sr as srmod
from echoseg.types import AtriaDetails, BeatSummary, DopplerDetails, FileResult, Measurement
from echoseg.vocab import TASKS
from tests.io.test_read import make_ds, save, smooth_rgb

hd = pytest.importorskip("highdicom")

PATIENT = {"PatientName": "Quixote^Dulcinea", "PatientID": "PID-8675309", "PatientBirthDate": "19470203",
           "PatientSex": "F", "StudyDate": "20240102", "StudyTime": "101112", "StudyID": "S42",
           "AccessionNumber": "ACC-5551212", "ReferringPhysicianName": "Sancho^Panza"}
ALG = srmod.Algorithm(version="9.9.9", weights={"atria": "a" * 64, "doppler": "d" * 64})


def _source(tmp_path: Path, name: str, study_uid: str, frames: int = 3) -> tuple[Path, pydicom.Dataset]:
    ds = make_ds(smooth_rgb(frames, 24, 32, seed=len(name)), "RGB", StudyInstanceUID=study_uid, **PATIENT)
    path = save(ds, tmp_path / name)
    return path, ds


def _doppler(path: Path, task: str, vti: float, qc: str = "pass") -> Measurement:
    rng = np.random.default_rng(int(vti * 10))
    s = BeatSummary(n=4, n_total=5, irregular=False, min_beats=3, enough_beats=True, value=vti,
                    vmax_cm_s=float(rng.uniform(60, 150)), vmean_cm_s=float(rng.uniform(30, 60)),
                    peak_gradient_mmhg=float(rng.uniform(1, 9)), mean_gradient_mmhg=float(rng.uniform(0.5, 4)),
                    heart_rate_bpm=72.0)
    return Measurement(str(path), task, vti, "cm", 4, 0, qc, "" if qc == "pass" else "too few beats",
                       details=DopplerDetails(summary=s))


@pytest.fixture()
def study(tmp_path: Path):
    uid = generate_uid()
    a4c, a4c_ds = _source(tmp_path, "a4c.dcm", uid)
    lvot, lvot_ds = _source(tmp_path, "lvot.dcm", uid, 1)
    av, av_ds = _source(tmp_path, "av.dcm", uid, 1)
    rv, rv_ds = _source(tmp_path, "rvot.dcm", uid, 1)
    la = Measurement(str(a4c), "la_area", 21.25, "cm2", 3, 2, "pass",
                     details=AtriaDetails(raw_value=21.25, n_total=3, volume_ml=66.5))
    ra = Measurement(str(a4c), "ra_area", 17.5, "cm2", 3, 1, "fail", "mask touches the sector edge",
                     details=AtriaDetails(raw_value=17.5, n_total=3))
    results = [
        FileResult(str(a4c), "a4c", (la, ra), study_uid=uid),
        FileResult(str(lvot), "doppler", (_doppler(lvot, "lvot_vti", 21.0),), study_uid=uid),
        FileResult(str(av), "doppler", (_doppler(av, "av_vti", 42.0),), study_uid=uid),
        FileResult(str(rv), "doppler", (_doppler(rv, "rvot_vti", 18.0, qc="fail"),), study_uid=uid),
    ]
    from echoseg.doppler.study import study_rows

    studies = study_rows(results, lvot_diameter_cm=2.0)
    return {"results": results, "studies": studies, "uid": uid, "a4c": a4c_ds, "lvot": lvot_ds, "av": av_ds,
            "rvot": rv_ds, "tmp": tmp_path}


def _write(study) -> Path:
    (path,) = srmod.write_sr(study["results"], study["tmp"] / "out", studies=study["studies"], algorithm=ALG)
    return path


def _measurements(sr) -> dict[str, list]:
    out: dict[str, list] = {}
    for g in sr.content.get_image_measurement_groups():
        out[g.tracking_identifier] = list(g.get_measurements())
    return out


def _all_text(ds: pydicom.Dataset) -> str:
    """Every element value of ``ds`` and its sequences, untruncated, one per line."""
    lines = []
    for elem in ds.iterall():
        if elem.VR != "SQ" and elem.tag != 0x7FE00010:
            lines.append(str(elem.value))
    return "\n".join(lines)


# --------------------------------------------------------------------------------- the codes
def test_every_task_has_a_concept_and_units_are_ucum() -> None:
    for task in TASKS:
        assert task in srmod.CONCEPTS
    for key, c in srmod.CONCEPTS.items():
        assert c.unit.scheme_designator == "UCUM", key
        assert c.site.scheme_designator == "SCT", key


def _in_pydicom_dictionary(code: Code) -> tuple[set[str], set[int]]:
    """(meanings, CIDs) of every entry of pydicom's PS3.16 concept dictionary with this scheme and value."""
    from pydicom.sr._concepts_dict import concepts

    meanings: set[str] = set()
    cids: set[int] = set()
    for entry in concepts.get(code.scheme_designator, {}).values():
        if code.value in entry:
            meaning, in_cids = entry[code.value]
            meanings.add(meaning.lower())
            cids.update(in_cids)
    return meanings, cids


@pytest.mark.parametrize("key", sorted(srmod.CONCEPTS))
def test_codes_are_those_of_the_cited_context_group(key: str) -> None:
    """Independent check against DICOM PS3.16 as pydicom ships it: the code exists with that meaning, in that CID."""
    c = srmod.CONCEPTS[key]
    meanings, cids = _in_pydicom_dictionary(c.name)
    assert c.name.meaning.lower() in meanings, f"{c.name} is not a DICOM PS3.16 code with that meaning"
    cid = int(c.source.split("CID ")[1].split()[0])
    assert cid in cids, f"{c.name.value} is not in CID {cid} (it is in {sorted(cids)})"
    assert 12305 in _in_pydicom_dictionary(c.site)[1], c.site
    if c.method is not None:
        assert 12227 in _in_pydicom_dictionary(c.method)[1], c.method


def test_generic_concepts_for_sites_without_core_codes() -> None:
    assert srmod.concept("lvot_vmean").name.value == "20352-1"
    assert srmod.concept("rvot_peak_gradient").site == srmod.SITES["rvot"]
    with pytest.raises(KeyError, match="no SR concept"):
        srmod.concept("lvot_volume")


# ------------------------------------------------------------------------------ the document
def test_sr_reads_back_with_values_units_sites_and_sources(study) -> None:
    sr = hd.sr.srread(_write(study))
    assert isinstance(sr, hd.sr.ComprehensiveSR)
    groups = _measurements(sr)
    assert set(groups) == {"echoseg la_area", "echoseg lvot_vti", "echoseg av_vti", "echoseg study indices"}
    la = {m.name.value: m for m in groups["echoseg la_area"]}
    assert la["79974-2"].value == pytest.approx(21.25) and la["79974-2"].unit.value == "cm2"
    assert la["399235004"].value == pytest.approx(66.5) and la["399235004"].unit.value == "mL"
    ref = la["79974-2"].referenced_images[0]
    assert ref.referenced_sop_instance_uid == study["a4c"].SOPInstanceUID
    assert list(ref.referenced_frame_numbers) == [3]  # 0-based frame 2 -> DICOM frame number 3
    assert la["79974-2"].finding_sites[0].value == srmod.SITES["la"]
    lvot = {m.name.value: m for m in groups["echoseg lvot_vti"]}
    summary = study["results"][1].measurements[0].details.summary
    assert lvot["80030-0"].value == pytest.approx(21.0)
    assert lvot["80029-2"].value == pytest.approx(summary.vmax_cm_s) and lvot["80029-2"].unit.value == "cm/s"
    assert lvot["20247-3"].unit.value == "mm[Hg]" and lvot["8867-4"].value == pytest.approx(72.0)
    assert lvot["80030-0"].referenced_images[0].referenced_sop_instance_uid == study["lvot"].SOPInstanceUID
    idx = {m.name.value: m for m in groups["echoseg study indices"]}
    row = study["studies"][0]
    assert idx["90096001"].value == pytest.approx(row["stroke_volume_ml"]) == pytest.approx(np.pi * 21.0)
    assert idx["79958-5"].value == pytest.approx(row["ava_cm2"])
    assert {r.referenced_sop_instance_uid for r in idx["79958-5"].referenced_images} == \
        {study["lvot"].SOPInstanceUID, study["av"].SOPInstanceUID}


def test_qc_failures_are_left_out(study) -> None:
    text = _all_text(pydicom.dcmread(_write(study)))
    assert "80075-5" not in text and "80089-6" not in text  # RA area and RVOT VTI failed QC
    assert study["rvot"].SOPInstanceUID not in text


def test_algorithm_name_version_and_weights_hash(study) -> None:
    text = _all_text(pydicom.dcmread(_write(study)))
    assert "echoseg atria" in text and "echoseg doppler" in text and "9.9.9" in text
    assert f"atria weights sha256 {'a' * 64}" in text and f"doppler weights sha256 {'d' * 64}" in text


def test_patient_and_study_modules_copied_from_the_source(study) -> None:
    ds = pydicom.dcmread(_write(study))
    for k, v in PATIENT.items():
        assert str(ds.get(k)) == v, k
    assert ds.StudyInstanceUID == study["uid"] and ds.Modality == "SR"
    assert ds.SeriesInstanceUID != study["a4c"].SeriesInstanceUID
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR


def test_patient_data_only_in_the_patient_and_study_modules(study) -> None:
    ds = pydicom.dcmread(_write(study))
    for keyword in list(PATIENT):
        delattr(ds, keyword)
    text = _all_text(ds)
    for v in PATIENT.values():
        if len(v) > 2:  # PatientSex "F" is too short to look for
            assert v not in text
    assert "a4c.dcm" not in text and str(study["tmp"]) not in text


def test_one_sr_per_study_and_sources_without_header_skipped(tmp_path: Path) -> None:
    results = []
    for i in range(2):
        uid = generate_uid()
        path, _ = _source(tmp_path, f"s{i}.dcm", uid, 1)
        results.append(FileResult(str(path), "doppler", (_doppler(path, "mv_vti", 15.0 + i),), study_uid=uid))
    movie = FileResult(str(tmp_path / "clip.avi"), "doppler", (_doppler(tmp_path / "clip.avi", "mv_vti", 9.0),),
                       study_uid="1.2.3")  # no DICOM header to copy the patient from: no SR
    paths = srmod.write_sr([*results, movie], tmp_path / "out", algorithm=ALG)
    assert len(paths) == 2 and all(p.parent.name == "sr" for p in paths)
    assert {pydicom.dcmread(p).StudyInstanceUID for p in paths} == {r.study_uid for r in results}


def test_build_sr_refuses_an_empty_study() -> None:
    with pytest.raises(ValueError, match="at least one passing measurement"):
        srmod.build_sr([], {}, ALG)


def test_weights_hash_of_the_shipped_models() -> None:
    alg = srmod.algorithm_for()
    from echoseg.models.files import locate

    assert alg.weights is not None
    for family in ("atria", "doppler"):
        assert alg.weights[family] == srmod.sha256_file(locate(family)[1])
        assert len(alg.weights[family]) == 64


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools (dciodvfy) is not installed")
def test_dciodvfy_finds_no_errors(study) -> None:
    run = subprocess.run(["dciodvfy", str(_write(study))], capture_output=True, text=True, timeout=60)
    report = run.stdout + run.stderr
    assert "ComprehensiveSR" in report
    errors = [line for line in report.splitlines() if line.startswith("Error")]
    assert errors == [], report


def test_names_and_uids_are_stable_and_stale_reports_pruned(study) -> None:
    first = _write(study)
    assert first.name == srmod.sr_name(study["uid"]) and first.name.startswith("study-")
    again = _write(study)
    a, b = pydicom.dcmread(first), pydicom.dcmread(again)
    assert a.SOPInstanceUID == b.SOPInstanceUID and a.SeriesInstanceUID == b.SeriesInstanceUID
    stale = first.parent / srmod.sr_name("1.2.3.4")
    stale.write_bytes(first.read_bytes())
    changed = [r if r.kind != "a4c" else FileResult(r.file, r.kind, r.measurements[1:], study_uid=r.study_uid)
               for r in study["results"]]  # the LA area now fails: a different report
    (path,) = srmod.write_sr(changed, study["tmp"] / "out", studies=study["studies"], algorithm=ALG)
    assert not stale.exists() and path == first
    assert pydicom.dcmread(path).SOPInstanceUID != a.SOPInstanceUID


def test_library_warnings_never_print_header_values(tmp_path: Path, capfd, caplog) -> None:
    """highdicom's person-name check warns with the patient's name (a control character in place of "^"
    leaves one component): write_sr captures it and says what happened in its own words."""
    import logging
    import warnings

    uid = generate_uid()
    path, _ = _source(tmp_path, "odd.dcm", uid, 1)
    raw = path.read_bytes()
    i = raw.index(b"Quixote^Dulcinea")
    path.write_bytes(raw[:i] + b"Quixote\x07Dulcinea" + raw[i + 16:])
    results = [FileResult(str(path), "doppler", (_doppler(path, "mv_vti", 15.0),), study_uid=uid)]
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        (sr_path,) = srmod.write_sr(results, tmp_path / "out", algorithm=ALG)
    assert sr_path.is_file()
    shown = capfd.readouterr()
    assert not [w for w in escaped if "Dulcinea" in str(w.message)]
    assert "Dulcinea" not in shown.out + shown.err + caplog.text
    assert "problem(s)" in caplog.text and sr_path.name in caplog.text  # said, in echoseg's words
