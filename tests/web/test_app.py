"""The web demo's handlers, driven through FastAPI's test client.

Models: the shipped weights may not exist, so most tests use :class:`OracleModels`, networks that
answer each synthetic input with the generator's own truth masks (looked up by the input's bytes).
Every value then flows through the real pipeline (preprocess, postprocess, measure, QC) and the
demo's edits can be checked against the same functions the command line uses.
"""
from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
torch = pytest.importorskip("torch")

from fastapi.testclient import TestClient

from echoseg.atria.task import measure_frame, remeasure_frame
from echoseg.doppler.study import continuity_ava_cm2, dimensionless_index, stroke_volume_ml
from echoseg.doppler.task import remeasure_beats
from echoseg.pipeline import measure_file
from echoseg.types import AtriaDetails, DopplerDetails
from echoseg.vocab import SITES
from echoseg.web import app as web
from echoseg.web import sessions

try:
    from tiny_models import TinyModels
except ImportError:  # run from the repository root
    from tests.tiny_models import TinyModels

from tests.oracle_models import SEED, OracleModels, oracle, study  # noqa: E402, F401 (fixtures)


@pytest.fixture(scope="module")
def measured(oracle):
    """A client with one session holding the synthetic example study (the same DICOMs as ``study``)."""
    app = web.create_app(oracle)
    with TestClient(app) as client:
        sid = client.post("/api/sessions").json()["id"]
        r = client.post(f"/api/sessions/{sid}/example?seed={SEED}")
        assert r.status_code == 200, r.text
        yield client, sid, app


def _files(client, sid) -> dict[str, dict]:
    return {Path(f["name"]).name: f for f in client.get(f"/api/sessions/{sid}").json()["files"]}


def _task(file: dict, task: str) -> dict:
    return next(t for t in file["tasks"] if t["task"] == task)


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# ----------------------------------------------------------------------------- page and sessions
def test_page_and_static_files_are_served_with_the_disclaimer():
    with TestClient(web.create_app(TinyModels())) as client:
        page = client.get("/")
        assert page.status_code == 200 and "Research use only. Not a medical device" in page.text
        assert "script-src" not in page.headers["content-security-policy"]  # default-src 'self' covers it
        assert "default-src 'self'" in page.headers["content-security-policy"]
        for name in ("app.js", "style.css"):
            assert client.get(f"/static/{name}").status_code == 200
        assert "Research use only" in client.get("/api/info").json()["disclaimer"]


def test_unknown_session_is_a_readable_404():
    with TestClient(web.create_app(TinyModels())) as client:
        r = client.get("/api/sessions/nope")
        assert r.status_code == 404 and "reload the page" in r.json()["detail"]


def test_session_store_drops_least_recently_used_and_its_folder():
    store = sessions.SessionStore(max_sessions=2)
    a, b = store.create(), store.create()
    store.get(a.id)  # a is now the most recent
    c = store.create()
    assert len(store) == 2 and not Path(b.tmp.name).exists() and Path(a.tmp.name).exists()
    with pytest.raises(KeyError, match="unknown or expired"):
        store.get(b.id)
    store.close()
    assert not Path(a.tmp.name).exists() and not Path(c.tmp.name).exists()
    with pytest.raises(ValueError, match="max_sessions must be >= 1"):
        sessions.SessionStore(0)


# ----------------------------------------------------------------------------- uploads
def test_bad_uploads_show_the_reason_and_the_server_keeps_running(study):
    from pydicom import dcmread

    ds = dcmread(next(study.glob("*_lvot.dcm")))
    del ds.SequenceOfUltrasoundRegions
    no_cal = io.BytesIO()
    ds.save_as(no_cal)
    with TestClient(web.create_app(TinyModels())) as client:
        sid = client.post("/api/sessions").json()["id"]
        r = client.post(f"/api/sessions/{sid}/upload", files=[
            ("files", ("notes.txt", b"hello", "text/plain")),
            ("files", ("nocal.dcm", no_cal.getvalue(), "application/dicom")),
            ("files", ("broken.dcm", b"DICM" * 10, "application/dicom"))])
        assert r.status_code == 200
        files = {f["name"]: f for f in r.json()["files"]}
        assert "unsupported file type '.txt'" in files["notes.txt"]["error"]
        assert "calibration" in files["nocal.dcm"]["error"] and "nocal.dcm" in files["nocal.dcm"]["error"]
        assert files["broken.dcm"]["error"]
        for f in files.values():  # the temporary path never leaks into messages
            assert "echoseg-web-" not in f["error"] and f["tasks"][0]["qc"] == "fail"
        assert client.get(f"/api/sessions/{sid}").status_code == 200
        bad_zip = io.BytesIO()
        with zipfile.ZipFile(bad_zip, "w") as zf:
            zf.writestr("readme.md", "nothing to measure")
        r = client.post(f"/api/sessions/{sid}/upload",
                        files=[("files", ("empty.zip", bad_zip.getvalue(), "application/zip"))])
        assert r.status_code == 422 and "no DICOM" in r.json()["detail"]


def test_zip_members_cannot_escape_the_folder(tmp_path):
    """A member's path only names it: ``../../escaped.dcm`` is written inside the folder and shown cleaned."""
    from echoseg.web.limits import WebLimits
    from echoseg.web.uploads import Budget, UploadTooLarge, extract_zip

    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escaped.dcm", b"x")
        zf.writestr("/abs/olute.dcm", b"y")
    out = extract_zip(archive, "evil.zip", tmp_path / "out", Budget(WebLimits()))
    assert sorted(out.values()) == ["evil.zip/abs/olute.dcm", "evil.zip/escaped.dcm"]
    assert all((tmp_path / "out") in p.parents for p in out) and not (tmp_path.parent / "escaped.dcm").exists()
    assert not Path("/abs/olute.dcm").exists()
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.dcm", b"\0" * (2 << 20))
    with pytest.raises(UploadTooLarge, match="the zip expands to 2 MiB, over the 1 MiB limit per upload"):
        extract_zip(big, "big.zip", tmp_path / "out2", Budget(WebLimits(max_expanded_mb=1)))
    assert not (tmp_path / "out2").exists()  # refused on the declared sizes, before writing


def test_zipped_study_is_measured_under_its_names_and_deleted(study, oracle):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for site in ("lvot", "av"):
            zf.write(study / f"study{SEED * 1000:06d}_{site}.dcm", f"s1/{site}.dcm")
        zf.writestr("s1/notes.txt", "ignored: not an input")
    with TestClient(web.create_app(oracle)) as client:
        sid = client.post("/api/sessions").json()["id"]
        r = client.post(f"/api/sessions/{sid}/upload",
                        files=[("files", ("study.zip", buf.getvalue(), "application/zip"))])
        assert r.status_code == 200, r.text
        files = {f["name"]: f for f in r.json()["files"]}
        assert sorted(files) == ["study.zip/s1/av.dcm", "study.zip/s1/lvot.dcm"]
        assert _task(files["study.zip/s1/lvot.dcm"], "lvot_vti")["qc"] == "pass"
        session = client.app.state.store.get(sid)
        assert [p for p in Path(session.tmp.name).rglob("*") if p.is_file()] == []
        measurements = _rows(client.get(f"/api/sessions/{sid}/download/measurements.csv").text)
        assert {m["file"] for m in measurements} == set(files)


def test_synthetic_example_is_measured_with_its_truth_and_deleted(measured):
    client, sid, app = measured
    files = client.get(f"/api/sessions/{sid}").json()["files"]
    assert sorted(f["name"] for f in files) == sorted(f"example-{SEED}/study{SEED * 1000:06d}_{k}.dcm"
                                                      for k in ("a4c", *SITES))
    for f in files:
        for t in f["tasks"]:
            assert t["value"] == pytest.approx(t["truth"], rel=0.05)  # stand-in models answer with the truth
    session = app.state.store.get(sid)
    assert [p for p in Path(session.tmp.name).rglob("*") if p.is_file()] == []
    assert client.post(f"/api/sessions/{sid}/example?seed=-1").status_code == 422


# ----------------------------------------------------------------------------- values equal the pipeline's
def test_values_equal_measure_file_on_the_same_file(measured, study, oracle):
    client, sid, _ = measured
    files = _files(client, sid)
    n_pass = 0
    for dcm in sorted(study.glob("*.dcm")):
        expected = measure_file(dcm, oracle)
        shown = files[dcm.name]
        assert shown["kind"] == expected.kind and shown["route"] == expected.route
        for m in expected.measurements:
            t = _task(shown, m.task)
            assert (t["value"], t["qc"], t["frame"], t["n"]) == (m.value, m.qc, m.frame, m.n)
            n_pass += m.qc == "pass"
    assert n_pass >= 5  # the oracle's answers pass QC: the edit tests below edit passing values


# ----------------------------------------------------------------------------- atria: frame edits
def test_frame_edit_recomputes_value_and_qc_like_the_pipeline(measured, study, oracle):
    client, sid, app = measured
    a4c = _files(client, sid)[f"study{SEED * 1000:06d}_a4c.dcm"]
    la = _task(a4c, "la_area")
    auto = la["frame"]
    entry = app.state.store.get(sid).entries[a4c["id"]]
    # the family's frame measurement on the kept (float16) probabilities at the pipeline's own frame
    # reproduces the pipeline's value
    data, curve = entry.context.data, entry.original.curves["la_area"]
    at = measure_frame(data.probs["la_area"][auto].astype(np.float32), data.geom, data.cal, curve, "la_area", auto)
    assert at.value == pytest.approx(la["value"], rel=1e-3) and at.check.qc == "pass"
    assert at.length_cm == pytest.approx(la["details"]["length_cm"], rel=1e-2)
    assert at.mask.sum() == pytest.approx(entry.original.masks["la_area"].sum(), rel=1e-2)
    m = next(x for x in entry.original.measurements if x.task == "la_area")
    again, mask = remeasure_frame(m, data, curve, auto)
    assert again.value == pytest.approx(m.value, rel=1e-3) and (again.qc, again.frame) == (m.qc, m.frame)
    assert again.warnings == m.warnings and isinstance(again.details, AtriaDetails)
    assert again.details.cycle_values_cm2 == m.details.cycle_values_cm2 and again.edited and not m.edited
    assert mask.sum() == pytest.approx(entry.original.masks["la_area"].sum(), rel=1e-2)
    with pytest.raises(ValueError, match=r"frame must be between 0 and \d+ for this cine, not 999"):
        remeasure_frame(m, data, curve, 999)
    curve = np.array(a4c["cine"]["curves"]["la_area"])
    other = int(np.argmin(curve))  # the smallest atrium (LV end-diastole)
    r = client.post(f"/api/sessions/{sid}/files/{a4c['id']}/frame", json={"task": "la_area", "frame": other})
    assert r.status_code == 200
    edited = _task(r.json()["file"], "la_area")
    assert edited["edited"] and edited["frame"] == other and f"frame {other}" in edited["edit"]
    assert edited["raw_value"] == pytest.approx(curve[other], rel=0.05)  # full-size area ~ model-grid curve
    assert edited["raw_value"] < 0.9 * la["value"]
    assert _task(r.json()["file"], "ra_area") == _task(a4c, "ra_area")  # the other atrium is untouched
    png_edit = client.get(f"/api/sessions/{sid}/files/{a4c['id']}/overlay.png").content
    # the download carries the edit and says so
    rows = _rows(client.get(f"/api/sessions/{sid}/download/measurements.csv").text)
    row = next(x for x in rows if x["task"] == "la_area")
    assert row["edited"] == "yes" and int(row["frame"]) == other
    # back to the automatic frame: the pipeline's value, verbatim, and no longer marked edited
    r = client.post(f"/api/sessions/{sid}/files/{a4c['id']}/frame", json={"task": "la_area", "frame": auto})
    back = _task(r.json()["file"], "la_area")
    assert back["value"] == la["value"] and not back["edited"]
    png_auto = client.get(f"/api/sessions/{sid}/files/{a4c['id']}/overlay.png").content
    assert png_auto[:8] == b"\x89PNG\r\n\x1a\n" and png_auto != png_edit


def test_frame_edit_rejects_bad_frames_with_the_valid_range(measured):
    client, sid, _ = measured
    a4c = _files(client, sid)[f"study{SEED * 1000:06d}_a4c.dcm"]
    n = a4c["cine"]["n_frames"]
    r = client.post(f"/api/sessions/{sid}/files/{a4c['id']}/frame", json={"task": "la_area", "frame": n})
    assert r.status_code == 422 and f"from 0 to {n - 1}" in r.json()["detail"]
    r = client.post(f"/api/sessions/{sid}/files/{a4c['id']}/frame", json={"task": "mv_vti", "frame": 0})
    assert r.status_code == 422 and "la_area" in r.json()["detail"]


# ----------------------------------------------------------------------------- Doppler: beat edits
def test_excluding_a_beat_recomputes_the_mean_of_the_others(measured):
    client, sid, _ = measured
    lvot = _files(client, sid)[f"study{SEED * 1000:06d}_lvot.dcm"]
    beats = lvot["beats"]["lvot_vti"]
    complete = [b for b in beats if b["complete"]]
    assert len(complete) >= 4 and _task(lvot, "lvot_vti")["qc"] == "pass"
    keep = [b["index"] for b in complete[1:]]
    r = client.post(f"/api/sessions/{sid}/files/{lvot['id']}/beats", json={"task": "lvot_vti", "included": keep})
    assert r.status_code == 200
    t = _task(r.json()["file"], "lvot_vti")
    assert t["value"] == pytest.approx(np.mean([b["vti_cm"] for b in complete[1:]]))
    assert t["n"] == len(keep) and t["edited"] and "beats 1" in t["edit"]
    flags = [b["included"] for b in r.json()["file"]["beats"]["lvot_vti"] if b["complete"]]
    assert flags == [False] + [True] * len(keep)
    beats_csv = _rows(client.get(f"/api/sessions/{sid}/download/beats.csv").text)
    mine = [b for b in beats_csv if b["file"].endswith("_lvot.dcm")]
    assert [b["included"] for b in mine if b["complete"] == "True"] == ["no"] + ["yes"] * len(keep)
    results = json.loads(client.get(f"/api/sessions/{sid}/download/results.json").text)
    row = next(m for m in results["measurements"] if m["task"] == "lvot_vti")
    assert row["value"] == pytest.approx(t["value"], abs=1e-4) and row["edited"] == "yes"
    assert "Research use only" in results["disclaimer"]
    # excluding every beat refuses the value with the QC reason
    r = client.post(f"/api/sessions/{sid}/files/{lvot['id']}/beats", json={"task": "lvot_vti", "included": []})
    t = _task(r.json()["file"], "lvot_vti")
    assert t["value"] is None and t["qc"] == "fail" and "every complete beat is excluded" in t["reason"]
    r = client.post(f"/api/sessions/{sid}/files/{lvot['id']}/reset")
    assert _task(r.json()["file"], "lvot_vti") == _task(lvot, "lvot_vti")


def test_beat_recomputation_with_every_beat_reproduces_the_pipeline(measured):
    client, sid, app = measured
    for name, f in _files(client, sid).items():
        if f["kind"] != "doppler":
            continue
        entry = app.state.store.get(sid).entries[f["id"]]
        m = entry.original.measurements[0]
        all_complete = {b.index for b in entry.original.beats[m.task] if b.complete}
        again = remeasure_beats(m, entry.original.beats[m.task], all_complete, entry.context.cal)
        assert (again.value, again.qc, again.reason, again.n) == (m.value, m.qc, m.reason, m.n), name
        assert again.warnings == m.warnings and again.confidence == pytest.approx(m.confidence)
        assert isinstance(again.details, DopplerDetails) and again.details.summary == m.details.summary
        assert not again.edited  # nothing excluded: not an edit


def test_beat_edit_names_unknown_beats(measured):
    client, sid, app = measured
    lvot = _files(client, sid)[f"study{SEED * 1000:06d}_lvot.dcm"]
    entry = app.state.store.get(sid).entries[lvot["id"]]
    m = entry.original.measurements[0]
    with pytest.raises(ValueError, match=r"beats \[99\] do not exist"):
        remeasure_beats(m, entry.original.beats[m.task], {99}, entry.context.cal)


# ----------------------------------------------------------------------------- study indices and downloads
def test_diameters_give_the_derived_indices_of_measure_py(measured):
    client, sid, _ = measured
    files = _files(client, sid)
    lv = _task(files[f"study{SEED * 1000:06d}_lvot.dcm"], "lvot_vti")["value"]
    av = _task(files[f"study{SEED * 1000:06d}_av.dcm"], "av_vti")["value"]
    r = client.put(f"/api/sessions/{sid}/diameters", json={"lvot_cm": 2.1, "rvot_cm": "2.4"})
    assert r.status_code == 200
    study_row = r.json()["studies"][0]
    assert study_row["stroke_volume_ml"] == pytest.approx(stroke_volume_ml(lv, 2.1))
    assert study_row["ava_cm2"] == pytest.approx(continuity_ava_cm2(2.1, lv, av))
    assert study_row["dimensionless_index"] == pytest.approx(dimensionless_index(lv, av))
    assert study_row["qp_qs"] > 0 and study_row["qp_qs_class"]
    studies_csv = _rows(client.get(f"/api/sessions/{sid}/download/studies.csv").text)
    assert float(studies_csv[0]["stroke_volume_ml"]) == pytest.approx(stroke_volume_ml(lv, 2.1))
    r = client.put(f"/api/sessions/{sid}/diameters", json={"lvot_cm": "wide"})
    assert r.status_code == 422 and "lvot_cm must be a number in cm" in r.json()["detail"]
    client.put(f"/api/sessions/{sid}/diameters", json={})


def test_report_html_download_is_self_contained(measured):
    client, sid, _ = measured
    r = client.get(f"/api/sessions/{sid}/download/report.html")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert "data:image/png;base64," in r.text and "study007000_a4c.dcm" in r.text
    assert client.get(f"/api/sessions/{sid}/download/secrets.txt").status_code == 404
