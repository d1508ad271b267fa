"""The command line, driven through its entry point (as a user would run it)."""
from __future__ import annotations

import csv
import json

import pytest

from echoseg.cli import main

CONTRACT_COLUMNS = ["file", "task", "value", "unit", "n", "frame", "qc", "reason"]


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    assert main(["synth", "--out", str(out), "--n", "2", "--seed", "5", "--task", "lvot", "--quiet"]) == 0
    assert main(["synth", "--out", str(out / "a4c"), "--n", "1", "--seed", "6", "--task", "a4c", "--quiet"]) == 0
    return out


def _rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_synth_writes_dicoms_and_truth(synth_dir):
    truth = _rows(synth_dir / "truth.csv")
    assert [r["task"] for r in truth] == ["lvot_vti", "lvot_vti"]
    for r in truth:
        per_file = json.loads((synth_dir / r["file"].replace(".dcm", ".truth.json")).read_text())
        assert float(r["value"]) == pytest.approx(per_file["value"])
        assert (synth_dir / r["file"]).stat().st_size > 1000


def test_info_json_reports_truth_calibration(synth_dir, capsys):
    a4c = sorted((synth_dir / "a4c").glob("*.dcm"))[0]
    dop = sorted(synth_dir.glob("*.dcm"))[0]
    capsys.readouterr()
    assert main(["info", "--json", str(a4c), str(dop)]) == 0
    desc = json.loads(capsys.readouterr().out)
    assert [d["file"] for d in desc] == [str(a4c), str(dop)]
    t_a4c = json.loads(a4c.with_suffix(".truth.json").read_text())
    t_dop = json.loads(dop.with_suffix(".truth.json").read_text())
    assert desc[0]["calibration"]["tissue"]["cm_per_px_x"] == pytest.approx(t_a4c["cm_per_px"])
    assert desc[0]["frames"] == t_a4c["n_frames"]
    spec = desc[1]["calibration"]["spectral"]
    assert spec["baseline_row"] == pytest.approx(t_dop["baseline_row"])
    assert spec["cm_s_per_px"] == pytest.approx(t_dop["cm_s_per_px"])
    kinds = {(r["spatial_format"], r["units_x"], r["units_y"]) for r in desc[1]["regions"]}
    assert ("spectral", "s", "cm/s") in kinds


def test_info_names_bad_file_and_fails(tmp_path, capsys):
    bad = tmp_path / "notes.dcm"
    bad.write_text("not a dicom")
    assert main(["info", "--json", str(bad)]) == 1
    desc = json.loads(capsys.readouterr().out)
    assert desc[0]["file"] == str(bad) and "notes.dcm" in desc[0]["error"]


def test_measure_unreadable_file_gets_failed_row(tmp_path):
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"\x00" * 50)
    out = tmp_path / "out"
    assert main(["measure", str(bad), "--out", str(out), "--quiet"]) == 0
    rows = _rows(out / "measurements.csv")
    assert list(rows[0])[:len(CONTRACT_COLUMNS)] == CONTRACT_COLUMNS
    assert len(rows) == 1 and rows[0]["qc"] == "fail" and "broken.dcm" in rows[0]["reason"]
    assert rows[0]["file"] == str(bad)
    assert (out / "beats.csv").exists() and (out / "report.html").exists()


def test_usage_error_is_nonzero(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["measure", "x.dcm", "--out", "o", "--task", "lv_mass"])
    assert exc.value.code != 0
