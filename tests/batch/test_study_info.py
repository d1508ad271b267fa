"""The study sidecar: per-study diameters and body size, checked first, giving indexed values (batch.study_info)."""
from __future__ import annotations

import csv
import math
import shutil

import pytest

from echoseg.batch.inputs import UsageError
from echoseg.batch.study_info import read_study_info
from echoseg.cli import main
from echoseg.reference import classify

from .conftest import needs_weights


def _write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, why", [
    ("uid,lvot_diameter_cm\n1,2\n", "needs a 'study' column"),
    ("study,lvot_mm\n1,2\n", "unknown column(s) lvot_mm"),
    ("study,lvot_diameter_cm\n1,21\n", "looks like millimetres"),
    ("study,height_cm,weight_kg\n1,1.75,70\n", "looks like metres"),
    ("study,weight_kg\n1,heavy\n", "must be a number, not 'heavy'"),
    ("study,bsa_m2\n1,1.9\n1,2.0\n", "appears twice"),
])
def test_bad_sidecars_are_refused_with_line_and_reason(tmp_path, text, why):
    with pytest.raises(UsageError, match="line|column") as exc:
        read_study_info(_write(tmp_path / "info.csv", text))
    assert why in str(exc.value)


def test_bsa_is_given_or_mosteller_from_height_and_weight(tmp_path):
    info = read_study_info(_write(tmp_path / "info.csv", "study,height_cm,weight_kg,bsa_m2\ns1,180,80,\ns2,,,1.7\ns3,180,,\n"))
    assert info["s1"].bsa() == pytest.approx(2.0) and info["s2"].bsa() == 1.7 and info["s3"].bsa() is None


@needs_weights
def test_each_study_gets_its_own_diameters_and_indexed_values(tmp_path, study_dir):
    src = tmp_path / "in"
    for folder in ("A", "B"):  # two studies: the same files, but told apart by folder (no shared UID)
        (src / folder).mkdir(parents=True)
        for f in ("a4c.dcm", "lvot.dcm", "av.dcm"):
            shutil.copy(study_dir / f, src / folder / f)
    import pydicom
    for folder, uid in (("A", "1.2.3.1"), ("B", "1.2.3.2")):
        for f in (src / folder).glob("*.dcm"):
            ds = pydicom.dcmread(f)
            ds.StudyInstanceUID = uid
            ds.save_as(f)
    info = _write(tmp_path / "info.csv", "study,lvot_diameter_cm,height_cm,weight_kg,bsa_m2\n"
                  "1.2.3.1,2.0,180,80,\nB,2.2,,,1.5\n")  # by UID, and by folder name
    out = tmp_path / "out"
    assert main(["measure", str(src), "--out", str(out), "--quiet", "--study-info", str(info)]) == 0
    with open(out / "studies.csv", newline="") as fh:
        rows = {r["study_uid"]: r for r in csv.DictReader(fh)}
    a, b = rows["1.2.3.1"], rows["1.2.3.2"]
    for row, d, bsa in ((a, 2.0, 2.0), (b, 2.2, 1.5)):
        lv = float(row["lvot_vti"])
        sv = math.pi * (d / 2) ** 2 * lv
        assert float(row["stroke_volume_ml"]) == pytest.approx(sv)
        assert float(row["bsa_m2"]) == pytest.approx(bsa)
        assert float(row["stroke_volume_index_ml_m2"]) == pytest.approx(sv / bsa)
        assert row["stroke_volume_index_class"] == classify("stroke_volume_index_ml_m2", sv / bsa)
        assert float(row["ava_index_cm2_m2"]) == pytest.approx(float(row["ava_cm2"]) / bsa)
        if row["la_volume_ml"]:
            assert float(row["la_volume_index_ml_m2"]) == pytest.approx(float(row["la_volume_ml"]) / bsa)
        if row["cardiac_output_l_min"]:
            assert float(row["cardiac_index_l_min_m2"]) == pytest.approx(float(row["cardiac_output_l_min"]) / bsa)
    assert a["la_volume_index_ml_m2"] != ""  # the A4C gives an area-length LA volume

    # the single-value flag is for a batch of one study: with two it is not applied, and the rows say so
    out2 = tmp_path / "out2"
    assert main(["measure", str(src), "--out", str(out2), "--quiet", "--lvot-diameter", "2.0"]) == 0
    with open(out2 / "studies.csv", newline="") as fh:
        rows2 = list(csv.DictReader(fh))
    assert all(r.get("stroke_volume_ml", "") == "" and "--study-info" in r["note"] for r in rows2)
    out3 = tmp_path / "out3"
    assert main(["measure", str(src / "A"), "--out", str(out3), "--quiet", "--lvot-diameter", "2.0"]) == 0
    with open(out3 / "studies.csv", newline="") as fh:
        (one,) = list(csv.DictReader(fh))
    assert float(one["stroke_volume_ml"]) == pytest.approx(float(a["stroke_volume_ml"]))
