"""``echoseg measure`` as a batch, driven through its entry point: usage errors before any work,
skip-existing on rerun, re-measuring what changed, unique traceable outputs, run.json."""
from __future__ import annotations

import csv
import json
import os
import shutil

import pytest

from echoseg.batch import journal as jr
from echoseg.batch.settings import sha256_file
from echoseg.cli import main
from echoseg.models.files import locate

from .conftest import needs_weights


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _records(out):
    return list(jr.read_records(out / "journal"))


@pytest.mark.parametrize("argv, why", [
    (["{tmp}/missing"], "input not found"),
    (["{tmp}/empty"], "nothing to measure"),
    (["{study}", "--lvot-diameter", "21"], "looks like millimetres"),
    (["{study}", "--rvot-diameter", "0"], "between 1 and 5 cm"),
    (["{study}", "--jobs", "0"], "jobs must be at least 1"),
    (["{study}", "--resume"], "no journal to resume"),
    (["{study}", "--study-info", "{tmp}/info.csv"], "looks like millimetres"),
    (["{study}", "--cm-per-px", "-1"], "cm_per_px"),
    (["{study}", "--atria-model", "{tmp}/no_model"], "not found"),
    (["{study}", "--address", "auto"], "pass it with --engine ray"),
    (["{study}", "--resume", "--fresh"], "contradict"),
])
def test_usage_errors_exit_2_with_the_reason_before_any_work(tmp_path, study_dir, capsys, argv, why):
    (tmp_path / "empty").mkdir()
    (tmp_path / "info.csv").write_text("study,lvot_diameter_cm\n1.2.3,21\n")
    out = tmp_path / "out"
    args = [a.format(tmp=tmp_path, study=study_dir) for a in argv]
    assert main(["measure", *args, "--out", str(out), "--quiet"]) == 2
    assert why in capsys.readouterr().err
    assert not out.exists()  # refused before anything was written


@needs_weights
def test_rerun_reuses_every_record_and_changes_only_what_changed(tmp_path, study_dir, capsys):
    src = tmp_path / "in"
    shutil.copytree(study_dir, src)
    out = tmp_path / "out"
    assert main(["measure", str(src), "--out", str(out), "--quiet", "--save-masks"]) == 0
    first = (out / "measurements.csv").read_bytes()
    n_files = len(list(src.glob("*.dcm")))
    assert len(_records(out)) == n_files
    assert "(6 measured, 0 already measured)" in capsys.readouterr().out

    assert main(["measure", str(src), "--out", str(out), "--quiet", "--save-masks", "--resume"]) == 0
    assert "(0 measured, 6 already measured)" in capsys.readouterr().out
    assert (out / "measurements.csv").read_bytes() == first and len(_records(out)) == n_files

    # new content under the same name (and a touched but unchanged file): only the changed one is measured
    (src / "mv.dcm").write_bytes((study_dir / "pv.dcm").read_bytes())
    os.utime(src / "av.dcm", ns=(1, 1))
    assert main(["measure", str(src), "--out", str(out), "--quiet", "--save-masks"]) == 0
    assert "(1 measured, 5 already measured)" in capsys.readouterr().out
    rows = {r["file"]: r for r in _rows(out / "measurements.csv")}
    assert rows[str(src / "mv.dcm")]["task"] == rows[str(src / "pv.dcm")]["task"] == "pv_vti"
    assert len(rows) == n_files  # one row per file: the superseded record is not repeated

    # another option makes other records: everything is measured again
    assert main(["measure", str(src), "--out", str(out), "--quiet", "--task", "lvot_vti"]) == 0
    assert "(6 measured, 0 already measured)" in capsys.readouterr().out
    assert {r["task"] for r in _rows(out / "measurements.csv")} == {"lvot_vti"}
    assert not (out / "masks").exists() or not any((out / "masks").iterdir())  # masks of superseded records pruned

    assert main(["measure", str(src), "--out", str(out), "--quiet", "--task", "lvot_vti", "--fresh"]) == 0
    assert "(6 measured, 0 already measured)" in capsys.readouterr().out and len(_records(out)) == n_files


@needs_weights
def test_colliding_stems_get_distinct_overlays_and_rows_say_which_image(tmp_path, study_dir):
    src = tmp_path / "archive"
    for d in ("series1", "series2"):
        (src / d).mkdir(parents=True)
    shutil.copy(study_dir / "lvot.dcm", src / "series1" / "IM0001")
    shutil.copy(study_dir / "av.dcm", src / "series2" / "IM0001")
    shutil.copy(study_dir / "pv.dcm", src / "series2" / "IM0001.dcm")
    shutil.copy(study_dir / "mv.dcm", src / "series2" / "mitral.dcm")
    out = tmp_path / "out"
    assert main(["measure", str(src), "--out", str(out), "--quiet", "--save-masks"]) == 0
    rows = _rows(out / "measurements.csv")
    assert [r["overlay"] for r in rows] == ["overlays/series1__IM0001.png", "overlays/series2__IM0001.png",
                                            "overlays/series2__IM0001.dcm.png", "overlays/mitral.png"]
    assert sorted(p.name for p in (out / "overlays").iterdir()) == sorted(r["overlay"][9:] for r in rows)
    assert len(list((out / "masks").iterdir())) == 4
    import pydicom
    for r in rows:
        ds = pydicom.dcmread(r["file"])
        assert (r["sop_instance_uid"], r["series_uid"]) == (ds.SOPInstanceUID, ds.SeriesInstanceUID)
    assert len({r["sop_instance_uid"] for r in rows}) == 4


@needs_weights
def test_run_json_says_what_made_the_outputs(tmp_path, study_dir, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the user's thread limit is kept, and run.json says so
    out = tmp_path / "out"
    assert main(["measure", str(study_dir / "lvot.dcm"), "--out", str(out), "--quiet", "--lvot-diameter", "2.1"]) == 0
    run = json.loads((out / "run.json").read_text())
    _, weights, _ = locate("doppler")
    assert run["models"]["doppler"]["weights_sha256"] == sha256_file(weights)
    assert run["backend"] in ("onnxruntime", "torch") and run["echoseg_version"]
    assert run["options"]["lvot_diameter_cm"] == 2.1 and run["options"]["jobs"] == 1
    assert run["options"]["threads_per_worker"] == 1
    assert run["command_line"][:2] == ["echoseg", "measure"] and "--lvot-diameter" in run["command_line"]
    assert run["files"] == run["measured"] == 1 and run["finished"] >= run["started"]
    assert json.loads((out / "results.json").read_text())["run"]["run_key"] == run["run_key"]


@needs_weights
def test_log_file_gets_each_file_and_the_plan(tmp_path, study_dir):
    out, log = tmp_path / "out", tmp_path / "logs" / "run.log"
    assert main(["measure", str(study_dir / "mv.dcm"), str(study_dir / "av.dcm"), "--out", str(out), "--quiet",
                 "--log-file", str(log)]) == 0
    text = log.read_text()
    assert "2 to measure" in text and "measured " + str(study_dir / "av.dcm") in text


def test_out_that_is_a_file_and_ray_without_ray_are_usage_errors(tmp_path, study_dir, capsys, monkeypatch):
    out = tmp_path / "out.csv"
    out.write_text("x")
    assert main(["measure", str(study_dir), "--out", str(out), "--quiet"]) == 2
    assert "is a file" in capsys.readouterr().err
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # as if Ray were not installed
    assert main(["measure", str(study_dir), "--out", str(tmp_path / "o"), "--quiet", "--engine", "ray"]) == 2
    assert "pip install 'echoseg[ray]'" in capsys.readouterr().err and not (tmp_path / "o").exists()


@needs_weights
def test_jobs_2_writes_the_outputs_of_jobs_1(tmp_path, study_dir):
    for jobs in ("1", "2"):
        assert main(["measure", str(study_dir), "--out", str(tmp_path / jobs), "--quiet", "--jobs", jobs,
                     "--save-masks"]) == 0
    for name in ("measurements.csv", "beats.csv", "studies.csv"):
        assert (tmp_path / "2" / name).read_bytes() == (tmp_path / "1" / name).read_bytes(), name
    pids = {r["pid"] for r in _records(tmp_path / "2")}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids  # measured in worker processes, not here
    for sub in ("overlays", "masks"):
        one = {p.name: p.read_bytes() for p in (tmp_path / "1" / sub).iterdir()}
        assert {p.name: p.read_bytes() for p in (tmp_path / "2" / sub).iterdir()} == one


@needs_weights
def test_sr_is_written_study_by_study_and_pruned_on_rerun(tmp_path, study_dir):
    """--sr over a batch of two studies: one SR each (built one study at a time); rerun without
    the second study's files and its SR goes, the first one's stays."""
    import pydicom

    from echoseg.report.sr import sr_name

    data = tmp_path / "in"
    shutil.copytree(study_dir, data / "s1")
    shutil.copytree(study_dir, data / "s2")
    for p in (data / "s2").glob("*.dcm"):
        ds = pydicom.dcmread(p)
        ds.StudyInstanceUID = "1.2.4"
        ds.save_as(p, enforce_file_format=True)
    out = tmp_path / "out"
    assert main(["measure", str(data), "--out", str(out), "--sr", "--quiet"]) == 0
    names = sorted(p.name for p in (out / "sr").glob("*.dcm"))
    assert names == sorted([sr_name("1.2.3"), sr_name("1.2.4")])
    studies = {pydicom.dcmread(out / "sr" / n).StudyInstanceUID for n in names}
    assert studies == {"1.2.3", "1.2.4"}
    shutil.rmtree(data / "s2")
    assert main(["measure", str(data), "--out", str(out), "--sr", "--quiet"]) == 0
    assert [p.name for p in (out / "sr").glob("*.dcm")] == [sr_name("1.2.3")]
