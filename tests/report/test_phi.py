"""No patient data in any output: a synthetic study with a name burned into the screen header and
distinctive patient tags goes through ``echoseg measure --save-masks --sr``; no CSV, JSON, HTML, PNG or SR
(outside its patient/study modules) may hold them, and the burned-in pixels must be blank.
"""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageDraw

from echoseg.batch.journal import shards
from echoseg.batch.record import result_from_json
from echoseg.cli import main
from echoseg.imaging.screen import blank_outside_regions, imaging_mask, without_screen_text
from echoseg.io import calibration as cal
from echoseg.types import FileResult, Region

PHI = {"PatientName": "Quixote^Dulcinea", "PatientID": "PID-8675309", "PatientBirthDate": "19470203",
       "AccessionNumber": "ACC-5551212", "InstitutionName": "Hospital of La Mancha",
       "ReferringPhysicianName": "Sancho^Panza", "OtherPatientIDs": "OPID-314159"}
BURNED = "QUIXOTE DULCINEA 1947"
_PATIENT_MODULE = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
                   "ReferringPhysicianName", "StudyID", "StudyDate", "StudyTime", "OtherPatientIDs",
                   "InstitutionName")


def _burn(path: Path) -> tuple[int, int, int, int]:
    """Put PHI tags into ``path`` and burn BURNED into its top-right corner, outside every region."""
    ds = pydicom.dcmread(path)
    for k, v in PHI.items():
        setattr(ds, k, v)
    frames = ds.pixel_array.copy()
    frames = frames[None] if int(ds.get("NumberOfFrames", 1) or 1) == 1 else frames
    h, w = frames.shape[1:3]
    regions = cal.regions_from_sequence(ds.SequenceOfUltrasoundRegions)
    box = (w - 150, 0, w - 1, 13)  # x0, y0, x1, y1
    assert not imaging_mask((h, w), regions)[box[1]:box[3] + 1, box[0]:box[2] + 1].any()
    for k in range(frames.shape[0]):
        img = Image.fromarray(frames[k])
        ImageDraw.Draw(img).text((box[0] + 2, box[1] + 1), BURNED, fill=(255, 255, 255))
        frames[k] = np.asarray(img)
    assert frames[0, box[1]:box[3] + 1, box[0]:box[2] + 1].max() > 200  # the text is there
    if frames.ndim == 4:  # pydicom gave RGB whatever was stored: store it as RGB
        ds.PhotometricInterpretation, ds.PlanarConfiguration = "RGB", 0
    ds.PixelData = np.ascontiguousarray(frames).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return box


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data = tmp_path_factory.mktemp("study")
    assert main(["synth", "--out", str(data), "--n", "1", "--seed", "5", "--task", "lvot",
                 "--jpeg-fraction", "0", "--quiet"]) == 0
    assert main(["synth", "--out", str(data / "a4c"), "--n", "1", "--seed", "6", "--task", "a4c",
                 "--jpeg-fraction", "0", "--quiet"]) == 0
    dicoms = sorted(data.rglob("*.dcm"))
    boxes = {p.stem: _burn(p) for p in dicoms}
    study = pydicom.dcmread(dicoms[0]).StudyInstanceUID
    for p in dicoms[1:]:  # one study, so one SR holds both
        ds = pydicom.dcmread(p)
        ds.StudyInstanceUID = study
        ds.save_as(p, enforce_file_format=True)
    for p in data.rglob("*.json"):
        p.unlink()  # truth files sit beside the inputs; keep the folder to what a scanner writes
    out = tmp_path_factory.mktemp("out")
    assert main(["measure", str(data), "--out", str(out), "--save-masks", "--sr", "--lvot-diameter", "2.0",
                 "--quiet"]) == 0
    results = [result_from_json(json.loads(line)["result"]) for shard in shards(out / "journal")
               for line in shard.read_text().splitlines() if line.strip()]
    srs = sorted((out / "sr").glob("*.dcm"))
    return {"out": out, "boxes": boxes, "results": results, "srs": srs, "data": data}


def _forbidden() -> list[str]:
    words = [v for v in PHI.values()] + [BURNED, "Quixote", "Dulcinea", "8675309", "5551212"]
    return [w.lower() for w in words]


def _png_has_burned_text(data: bytes, box: tuple[int, int, int, int]) -> bool:
    import io

    img = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    x0, y0, x1, y1 = box
    return bool(img[y0:y1 + 1, x0:x1 + 1].max() > 0)


def test_measured_both_files(run) -> None:
    assert {r.kind for r in run["results"]} == {"a4c", "doppler"}, [r.error for r in run["results"]]
    assert len(list((run["out"] / "overlays").glob("*.png"))) == 2
    assert len(run["srs"]) == 1  # one study: one SR, holding both files' measurements
    sr = pydicom.dcmread(run["srs"][0])
    assert sr.Modality == "SR" and sr.PatientID == PHI["PatientID"]  # filed with the study by its patient module
    refs = {str(i.ReferencedSOPInstanceUID) for e in sr.CurrentRequestedProcedureEvidenceSequence
            for s in e.ReferencedSeriesSequence for i in s.ReferencedSOPSequence}
    assert len(refs) == 2


def test_no_output_file_holds_patient_data(run) -> None:
    checked = 0
    for f in run["out"].rglob("*"):
        if not f.is_file():
            continue
        raw = f.read_bytes()
        if f.suffix == ".dcm":
            ds = pydicom.dcmread(f)
            for k in _PATIENT_MODULE:  # copied on purpose so that an archive files the SR with its study
                if k in ds:
                    delattr(ds, k)
            text = "\n".join(str(e.value) for e in ds.iterall() if e.VR != "SQ").lower()
        else:
            text = raw.decode("latin-1").lower()
        for w in _forbidden():
            assert w not in text, f"{f.name} holds {w!r}"
        checked += 1
    assert checked >= 6  # measurements.csv, beats.csv, studies.csv, results.json, report.html, overlays, masks, sr


def test_overlays_blank_the_burned_header(run) -> None:
    overlays = sorted((run["out"] / "overlays").glob("*.png"))
    assert len(overlays) == 2
    for png in overlays:
        assert not _png_has_burned_text(png.read_bytes(), run["boxes"][png.stem]), png.name


def test_report_html_pictures_blank_the_burned_header(run) -> None:
    html = (run["out"] / "report.html").read_text()
    pictures = [base64.b64decode(m) for m in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)]
    assert len(pictures) >= 2
    import io

    boxes = {b[2] + 1: b for b in run["boxes"].values()}  # image width -> the box burned into that image
    for pic in pictures:
        box = boxes.get(Image.open(io.BytesIO(pic)).width)
        if box is not None:  # the overlays (other pictures, e.g. plots, have other sizes)
            assert not _png_has_burned_text(pic, box)
    assert sum(Image.open(io.BytesIO(p)).width in boxes for p in pictures) >= 2


# ----------------------------------------------------------------------------- the blanking itself
def test_blank_keeps_imaging_regions_only() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(1, 255, (40, 60, 3), dtype=np.uint8)
    tissue = Region(5, 10, 24, 30, 1, 1, 3, 3, 0.1, 0.1)
    spectral = Region(30, 20, 55, 39, 3, 3, 4, 7, 0.01, -2.0, 0, 5)
    ecg = Region(0, 0, 59, 4, 4, 10, 4, 0, 0.01, 0.0)  # waveform: not an imaging region
    out = blank_outside_regions(frame, (tissue, spectral, ecg))
    assert np.array_equal(out[10:31, 5:25], frame[10:31, 5:25])
    assert np.array_equal(out[20:40, 30:56], frame[20:40, 30:56])
    keep = imaging_mask((40, 60), (tissue, spectral))
    assert not out[~keep].any() and out[keep].all()
    assert frame.min() > 0  # the input is untouched
    assert not blank_outside_regions(frame, ()).any()  # unknown regions: nothing is shown


def test_keep_screen_text_leaves_the_frame() -> None:
    frame = np.full((8, 8, 3), 9, np.uint8)
    r = FileResult("x.dcm", "a4c", (), image=frame)
    region = Region(2, 2, 5, 5, 1, 1, 3, 3, 0.1, 0.1)
    assert without_screen_text(r, (region,), keep=True).image is frame
    blanked = without_screen_text(r, (region,))
    assert blanked.image is not None and int(blanked.image.sum()) == 16 * 3 * 9


def test_blank_refuses_a_bad_shape() -> None:
    with pytest.raises(ValueError, match="not shape"):
        blank_outside_regions(np.zeros((2, 2, 2, 3), np.uint8), ())


def test_keep_screen_text_keeps_the_header_in_overlays(run, tmp_path) -> None:
    (doppler,) = [p for p in run["data"].glob("*.dcm")]  # the Doppler file (the A4C one is in a4c/)
    out = tmp_path / "kept"
    assert main(["measure", str(doppler), "--out", str(out), "--keep-screen-text", "--quiet"]) == 0
    (png,) = (out / "overlays").glob("*.png")
    assert _png_has_burned_text(png.read_bytes(), run["boxes"][doppler.stem])
    opts = json.loads((out / "run.json").read_text())["options"]
    assert opts["keep_screen_text"] is True
