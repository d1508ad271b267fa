"""echoseg.datasets.dataset: labelled datasets (labelme, PNG masks, CAMUS, EchoNet-Dynamic) built in tmp_path.

Every fixture is synthetic and small: DICOMs written with pydicom (with a Sequence of Ultrasound
Regions), labelme JSON with known polygons, MetaImage/NIfTI files written byte by byte, an AVI
written with OpenCV. Masks are checked against the polygons' shoelace areas, label values,
frames and calibrations.
"""
from __future__ import annotations

import gzip
import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from echoseg.datasets.dataset import LabelledSample, LabelledSet, detect_format, flow_mask, open_dataset, split
from echoseg.errors import UnsupportedInputError
from echoseg.imaging.polygons import polygon_mask, shoelace_area
from echoseg.io.calibration import manual_spectral_calibration, region_to_item
from echoseg.types import Region, SpectralCalibration, TissueCalibration

TISSUE = Region(0, 0, 79, 63, 1, 1, 3, 3, 0.05, 0.05)
SPECTRAL = Region(0, 10, 99, 69, 3, 3, 4, 7, 0.01, -2.0, 0, 40)  # baseline row 50
LA_POLY = [(20, 30), (34, 28), (38, 44), (30, 55), (18, 50)]
RA_POLY = [(45.5, 30.2), (60, 31), (62.4, 50), (47, 52.7)]


def frames_rgb(t: int, h: int, w: int) -> np.ndarray:
    """Frames whose value encodes the frame index, so the decoded frame can be identified."""
    out = np.zeros((t, h, w, 3), np.uint8)
    for k in range(t):
        out[k] = 40 * (k + 1)
        out[k, :, :, 1] = np.arange(w, dtype=np.uint8)[None, :]
    return out


def write_dicom(path: Path, frames: np.ndarray, regions: tuple[Region, ...], study: str | None = None) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.StudyInstanceUID = study or generate_uid()
    t, h, w, _ = frames.shape
    ds.Rows, ds.Columns, ds.NumberOfFrames = h, w, t
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.FrameTime = 20.0
    items = []
    for r in regions:
        item = Dataset()
        for key, value in region_to_item(r).items():
            setattr(item, key, value)
        items.append(item)
    ds.SequenceOfUltrasoundRegions = Sequence(items)
    ds.PixelData = frames.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def labelme(path: Path, shapes: list[dict], h: int, w: int, image_path: str | None = None, **extra) -> Path:
    data = {"version": "5.2.1", "flags": {}, "shapes": shapes, "imagePath": image_path,
            "imageData": None, "imageHeight": h, "imageWidth": w, **extra}
    path.write_text(json.dumps(data))
    return path


def poly(label: str, pts, kind: str = "polygon", **extra) -> dict:
    return {"label": label, "points": [list(map(float, p)) for p in pts], "shape_type": kind, **extra}


def assert_area(mask: np.ndarray, pts) -> None:
    area = shoelace_area(pts)
    assert abs(mask.sum() - area) <= 0.02 * area, (mask.sum(), area)


# ----------------------------------------------------------------------------------- rasterisers
def test_polygon_mask_matches_shoelace_and_pixel_centres():
    assert polygon_mask([(0, 0), (10, 0), (10, 10), (0, 10)], (20, 20)).sum() == 100
    rng = np.random.default_rng(3)
    for _ in range(5):
        ang = np.sort(rng.uniform(0, 2 * np.pi, 25))
        rad = rng.uniform(15, 25, 25)
        pts = np.c_[40 + rad * np.cos(ang), 35 + rad * np.sin(ang)]
        assert_area(polygon_mask(pts, (80, 90)), pts)
    clipped = polygon_mask([(-10, -10), (5, -10), (5, 5), (-10, 5)], (20, 20))  # off the image edge
    assert clipped.sum() == 25 and clipped[:5, :5].all()  # centres 0..4, half-open like the square above
    assert not polygon_mask([(1, 1), (5, 5)], (10, 10)).any()


def test_flow_mask_column_counts_equal_distance_to_baseline():
    env = [(10, 40.0), (20, 20.0), (30, 40.0)]  # above baseline 50: 10..30 px
    m = flow_mask(env, 50.0, (70, 40))
    counts = m.sum(axis=0)
    expected = 50 - np.interp(np.arange(40), [10, 20, 30], [40, 20, 40])
    assert np.all(counts[:10] == 0) and np.all(counts[31:] == 0)
    assert np.abs(counts[10:31] - expected[10:31]).max() <= 1
    assert m[49, 20] and not m[50, 20] and m[20, 20] and not m[19, 20]
    below = flow_mask([(0, 60.0), (39, 60.0)], 50.0, (70, 40))  # flow drawn below the baseline
    assert np.all(below.sum(axis=0) == 10) and below[50:60].all()


# ------------------------------------------------------------------------------------- labelme
def test_labelme_dicom_frame_from_name_masks_and_calibration(tmp_path):
    write_dicom(tmp_path / "case01.dcm", frames_rgb(3, 64, 80), (TISSUE,))
    labelme(tmp_path / "case01_frame2.json", [poly("LA", LA_POLY), poly("ra", RA_POLY), poly("other", LA_POLY)],
            64, 80, "case01.dcm")
    ds = open_dataset(tmp_path)
    assert ds.format == "labelme" and len(ds) == 1 and ds.skipped == []
    s = ds[0]
    assert s.frame == 2 and s.source.endswith("case01.dcm") and s.annotation.endswith("case01_frame2.json")
    assert s.image.shape == (64, 80, 3) and s.image.dtype == np.uint8
    assert s.image[0, 0, 0] == 120  # frame 2's encoded value (40 * 3)
    assert set(np.unique(s.labels)) == {0, 1, 2}
    assert_area(s.labels == 1, LA_POLY)
    assert_area(s.labels == 2, RA_POLY)
    assert isinstance(s.calibration, TissueCalibration) and s.calibration.cm_per_px_x == pytest.approx(0.05)


def test_labelme_frame_keys_top_level_and_per_shape(tmp_path):
    write_dicom(tmp_path / "a.dcm", frames_rgb(4, 64, 80), (TISSUE,))
    labelme(tmp_path / "a.json", [poly("LA", LA_POLY, frame=1), poly("LA", RA_POLY, frame=3)], 64, 80)
    write_dicom(tmp_path / "b.dcm", frames_rgb(4, 64, 80), (TISSUE,))
    labelme(tmp_path / "b.json", [poly("RA", RA_POLY)], 64, 80, frame_index=2)
    ds = open_dataset(tmp_path, format="labelme")
    got = {(Path(s.source).name, s.frame): s for s in ds}
    assert set(got) == {("a.dcm", 1), ("a.dcm", 3), ("b.dcm", 2)}
    assert_area(got[("a.dcm", 3)].labels == 1, RA_POLY)
    assert got[("a.dcm", 3)].image[0, 0, 0] == 160
    assert set(np.unique(got[("b.dcm", 2)].labels)) == {0, 2}


def test_labelme_bad_files_are_skipped_with_reasons(tmp_path):
    write_dicom(tmp_path / "good.dcm", frames_rgb(1, 64, 80), (TISSUE,))
    labelme(tmp_path / "good.json", [poly("LA", LA_POLY)], 64, 80)
    (tmp_path / "broken.json").write_text("{ not json")
    labelme(tmp_path / "orphan.json", [poly("LA", LA_POLY)], 64, 80, "nowhere.png")
    write_dicom(tmp_path / "cine.dcm", frames_rgb(3, 64, 80), (TISSUE,))
    labelme(tmp_path / "cine.json", [poly("LA", LA_POLY)], 64, 80)  # multi-frame, no frame index
    labelme(tmp_path / "lv_only.json", [poly("mitral", LA_POLY)], 64, 80, "good.dcm")
    write_dicom(tmp_path / "small.dcm", frames_rgb(1, 32, 40), (Region(0, 0, 39, 31, 1, 1, 3, 3, .1, .1),))
    labelme(tmp_path / "small.json", [poly("LA", LA_POLY)], 64, 80)  # drawn at another size
    ds = open_dataset(tmp_path)
    reasons = dict(ds.skipped)
    assert set(Path(p).name for p in reasons) == {"broken.json", "orphan.json", "cine.json", "lv_only.json"}
    assert "not valid JSON" in reasons[str(tmp_path / "broken.json")]
    assert "no image found" in reasons[str(tmp_path / "orphan.json")]
    assert "3 frames" in reasons[str(tmp_path / "cine.json")] and "_frameN" in reasons[str(tmp_path / "cine.json")]
    assert "mitral" in reasons[str(tmp_path / "lv_only.json")]
    assert len(ds) == 2
    loaded = ds.load_all()
    assert [Path(s.source).name for s in loaded] == ["good.dcm"]
    assert "80x64" in ds.skipped[-1][1] and "small" in ds.skipped[-1][0]


def test_labelme_doppler_envelope_from_dicom_baseline(tmp_path):
    frames = frames_rgb(1, 80, 100)
    write_dicom(tmp_path / "lvot.dcm", frames, (SPECTRAL,))
    env = [(10, 40.0), (20, 25.0), (40, 30.0), (50, 45.0)]
    labelme(tmp_path / "lvot.json", [poly("envelope", env, "linestrip")], 80, 100)
    ds = open_dataset(tmp_path, task="doppler")
    s = ds[0]
    assert isinstance(s.calibration, SpectralCalibration) and s.calibration.baseline_row == 50
    counts = s.labels.sum(axis=0)
    expected = 50 - np.interp(np.arange(100), [10, 20, 40, 50], [40, 25, 30, 45])
    assert np.all(counts[:10] == 0) and np.all(counts[51:] == 0)
    assert np.abs(counts[10:51] - expected[10:51]).max() <= 1
    assert set(np.unique(s.labels)) == {0, 1}
    # the atria task finds nothing usable in the same folder
    assert len(open_dataset(tmp_path, task="atria")) == 0


def test_labelme_doppler_png_with_baseline_shape_or_explicit_calibration(tmp_path):
    Image.fromarray(frames_rgb(1, 80, 100)[0]).save(tmp_path / "shot.png")
    env = [(5, 60.0), (60, 70.0)]
    labelme(tmp_path / "shot.json", [poly("Envelope", env, "linestrip"),
                                     poly("baseline", [(0, 45), (99, 45)], "line")], 80, 100)
    s = open_dataset(tmp_path, task="doppler")[0]
    assert s.calibration is None and "no spectral region" in s.meta["calibration_error"]
    assert s.labels[45:60, 30].all() and s.labels[:, 30].sum() in (19, 20, 21)
    (tmp_path / "shot.json").write_text(json.dumps({**json.loads((tmp_path / "shot.json").read_text()),
                                                    "shapes": [poly("envelope", env, "linestrip")]}))
    with pytest.raises(Exception, match="baseline"):
        open_dataset(tmp_path, task="doppler")[0]
    spec = manual_spectral_calibration(0.01, -2.0, 50, (0, 10, 99, 79), "PW")
    s = open_dataset(tmp_path, task="doppler", spectral=spec)[0]
    assert s.calibration is spec and s.labels[50:60, 5].all() and not s.labels[49, 5]


# ------------------------------------------------------------------------------------ PNG masks
def test_pngmask_label_values_next_to_png(tmp_path):
    labels = np.zeros((40, 50), np.uint8)
    labels[5:15, 5:20], labels[20:30, 25:45], labels[0:3, 0:3] = 1, 2, 3
    Image.fromarray(frames_rgb(1, 40, 50)[0]).save(tmp_path / "img1.png")
    Image.fromarray(labels).save(tmp_path / "img1_mask.png")
    ds = open_dataset(tmp_path, cm_per_px=0.04)
    assert ds.format == "pngmask" and len(ds) == 1
    s = ds[0]
    np.testing.assert_array_equal(s.labels, labels)
    assert s.calibration.cm_per_px_x == pytest.approx(0.04) and s.frame == 0


def test_pngmask_per_class_files_and_measurements_csv_frame(tmp_path):
    (tmp_path / "in").mkdir()
    write_dicom(tmp_path / "in" / "study7.dcm", frames_rgb(3, 64, 80), (TISSUE,))
    out = tmp_path / "out"
    (out / "masks").mkdir(parents=True)
    la = polygon_mask(LA_POLY, (64, 80))
    ra = polygon_mask(RA_POLY, (64, 80))
    Image.fromarray(la.astype(np.uint8) * 255).save(out / "masks" / "study7.la_area.png")
    Image.fromarray(ra.astype(np.uint8) * 255).save(out / "masks" / "study7.ra_area.png")
    (out / "measurements.csv").write_text("file,task,value,unit,n,frame,qc,reason\n"
                                          f"{tmp_path}/in/study7.dcm,la_area,20,cm2,1,1,pass,\n"
                                          f"{tmp_path}/in/study7.dcm,ra_area,18,cm2,1,1,pass,\n")
    ds = open_dataset(tmp_path)
    assert ds.format == "pngmask" and len(ds) == 1, ds.skipped
    s = ds[0]
    assert s.frame == 1 and s.image[0, 0, 0] == 80
    np.testing.assert_array_equal(s.labels == 1, la)
    np.testing.assert_array_equal(s.labels == 2, ra)
    assert isinstance(s.calibration, TissueCalibration)


def test_pngmask_rejects_binary_label_mask(tmp_path):
    Image.fromarray(frames_rgb(1, 20, 20)[0]).save(tmp_path / "x.png")
    Image.fromarray(np.full((20, 20), 255, np.uint8)).save(tmp_path / "x_mask.png")
    ds = open_dataset(tmp_path)
    assert ds.load_all() == [] and "la_area.png" in ds.skipped[0][1]
    flow = open_dataset(tmp_path, task="doppler")[0]  # the same file is a valid flow mask
    assert flow.labels.all()


# --------------------------------------------------------------------------------------- CAMUS
def write_mhd(path: Path, arr: np.ndarray, spacing: tuple[float, float]) -> None:
    raw = path.with_suffix(".raw")
    raw.write_bytes(arr.astype(np.uint8).tobytes())
    path.write_text(f"ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
                    f"ElementSpacing = {spacing[0]} {spacing[1]} 1\nDimSize = {arr.shape[1]} {arr.shape[0]} 1\n"
                    f"ElementType = MET_UCHAR\nElementDataFile = {raw.name}\n")


def write_nifti_gz(path: Path, arr: np.ndarray, spacing: tuple[float, float]) -> None:
    hdr = bytearray(348)
    struct.pack_into("<i", hdr, 0, 348)
    struct.pack_into("<8h", hdr, 40, 2, arr.shape[1], arr.shape[0], 1, 1, 1, 1, 1)
    struct.pack_into("<hh", hdr, 70, 2, 8)  # uint8
    struct.pack_into("<8f", hdr, 76, 1, spacing[0], spacing[1], 1, 1, 1, 1, 1)
    struct.pack_into("<f", hdr, 108, 352.0)
    struct.pack_into("<2f", hdr, 112, 1.0, 0.0)
    hdr[123] = 2  # mm
    hdr[344:348] = b"n+1\0"
    path.write_bytes(gzip.compress(bytes(hdr) + b"\0" * 4 + arr.astype(np.uint8).tobytes()))


def camus_arrays(h: int = 30, w: int = 24) -> tuple[np.ndarray, np.ndarray]:
    img = (np.arange(h * w) % 251).reshape(h, w).astype(np.uint8)
    gt = np.zeros((h, w), np.uint8)
    gt[2:10, 4:12], gt[10:12, 4:12], gt[15:25, 3:20] = 1, 2, 3
    return img, gt


def test_camus_mhd_and_nifti(tmp_path):
    img, gt = camus_arrays()
    p1 = tmp_path / "training" / "patient0001"
    p1.mkdir(parents=True)
    for phase in ("ED", "ES"):
        write_mhd(p1 / f"patient0001_4CH_{phase}.mhd", img, (0.3, 0.15))
        write_mhd(p1 / f"patient0001_4CH_{phase}_gt.mhd", gt, (0.3, 0.15))
    write_mhd(p1 / "patient0001_2CH_ES.mhd", img, (0.3, 0.15))
    write_mhd(p1 / "patient0001_2CH_ES_gt.mhd", gt, (0.3, 0.15))
    p2 = tmp_path / "training" / "patient0002"
    p2.mkdir()
    write_nifti_gz(p2 / "patient0002_4CH_ES.nii.gz", img, (0.2, 0.2))
    write_nifti_gz(p2 / "patient0002_4CH_ES_gt.nii.gz", gt, (0.2, 0.2))
    write_nifti_gz(p2 / "patient0002_4CH_ED.nii.gz", img, (0.2, 0.2))  # no ground truth
    assert detect_format(tmp_path) == "camus"
    ds = open_dataset(tmp_path)
    assert len(ds) == 3 and ds.groups == ("patient0001", "patient0001", "patient0002")
    assert len(ds.skipped) == 1 and "patient0002_4CH_ED" in ds.skipped[0][1]
    for s in ds:
        np.testing.assert_array_equal(s.image[..., 0], img)
        np.testing.assert_array_equal(s.labels, np.choose(gt, [0, 3, 0, 1]))
    cal = ds[0].calibration
    assert (cal.cm_per_px_x, cal.cm_per_px_y) == pytest.approx((0.03, 0.015))
    assert ds[2].calibration.cm_per_px_x == pytest.approx(0.02) and ds[0].meta["phase"] == "ED"
    assert len(open_dataset(tmp_path, views=("4CH", "2CH"))) == 4
    with pytest.raises(ValueError, match="atria"):
        open_dataset(tmp_path, task="doppler")


def test_camus_truncated_raw_names_the_file(tmp_path):
    img, gt = camus_arrays()
    d = tmp_path / "patient0003"
    d.mkdir()
    write_mhd(d / "patient0003_4CH_ES.mhd", img, (0.3, 0.3))
    write_mhd(d / "patient0003_4CH_ES_gt.mhd", gt, (0.3, 0.3))
    (d / "patient0003_4CH_ES.raw").write_bytes(b"\0" * 10)
    ds = open_dataset(tmp_path)
    assert ds.load_all() == [] and "truncated" in ds.skipped[0][1] and "patient0003_4CH_ES.mhd" in ds.skipped[0][1]


# ------------------------------------------------------------------------------------- EchoNet
def test_echonet_tracings_video_frames_and_phase(tmp_path):
    import cv2

    (tmp_path / "Videos").mkdir()
    writer = cv2.VideoWriter(str(tmp_path / "Videos" / "0X1A.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 50, (112, 112))
    for k in range(4):
        writer.write(np.full((112, 112, 3), 40 * (k + 1), np.uint8))
    writer.release()
    ys = np.linspace(30, 80, 12)

    def rows(half_width: float, frame: int, name: str = "0X1A.avi") -> list[str]:
        out = [f"{name},56,20,56,85,{frame}"]  # long axis first
        out += [f"{name},{56 - half_width * np.sin(np.pi * (y - 25) / 60):.3f},{y:.3f},"
                f"{56 + half_width * np.sin(np.pi * (y - 25) / 60):.3f},{y:.3f},{frame}" for y in ys]
        return out

    lines = ["FileName,X1,Y1,X2,Y2,Frame", *rows(25, 3), *rows(15, 1), *rows(20, 0, "0XMISSING.avi")]
    (tmp_path / "VolumeTracings.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "FileList.csv").write_text("FileName,EF,Split\n0X1A,55,TRAIN\n")
    assert detect_format(tmp_path) == "echonet"
    ds = open_dataset(tmp_path)
    assert len(ds) == 2 and "0XMISSING" in ds.skipped[0][1]
    by_frame = {s.frame: s for s in ds}
    assert by_frame[3].meta["phase"] == "ED" and by_frame[1].meta["phase"] == "ES"
    assert by_frame[1].meta["split"] == "TRAIN" and by_frame[1].calibration is None
    assert abs(int(by_frame[1].image.mean()) - 80) <= 3  # frame 1 of the video
    for half, frame in ((25, 3), (15, 1)):
        s = by_frame[frame]
        w = half * np.sin(np.pi * (ys - 25) / 60)
        poly_pts = np.r_[np.c_[56 - w, ys], np.c_[56 + w, ys][::-1]]
        assert set(np.unique(s.labels)) == {0, 3}
        assert_area(s.labels == 3, poly_pts)
    assert open_dataset(tmp_path, cm_per_px=0.07)[0].calibration.cm_per_px_x == pytest.approx(0.07)


# ------------------------------------------------------------------------------- detect, split
def test_detect_format_unknown_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing labelled here")
    with pytest.raises(UnsupportedInputError, match="pass format="):
        detect_format(tmp_path)
    with pytest.raises(ValueError, match="format must be"):
        open_dataset(tmp_path, format="coco")
    with pytest.raises(ValueError, match="task must be"):
        open_dataset(tmp_path, task="la_area")


def _fake(group: str, i: int) -> LabelledSample:
    z = np.zeros((2, 2), np.uint8)
    return LabelledSample(image=z, labels=z, calibration=None, source=f"{group}_{i}", frame=i, group=group)


def test_split_keeps_patients_together_and_is_seeded():
    samples = [_fake(f"p{g}", i) for g in range(10) for i in range(g % 3 + 1)]
    train, val = split(samples, val_fraction=0.3, seed=1)
    assert len(train) + len(val) == len(samples)
    assert not {s.group for s in train} & {s.group for s in val}
    assert len({s.group for s in val}) == 3
    again = split(list(reversed(samples)), val_fraction=0.3, seed=1)[1]
    assert {s.group for s in again} == {s.group for s in val}
    other = {frozenset(s.group for s in split(samples, 0.3, seed=k)[1]) for k in range(6)}
    assert len(other) > 1
    with pytest.raises(ValueError, match="group"):
        split([_fake("only", 0), _fake("only", 1)], 0.5)


def test_split_labelled_set_without_decoding_and_pickles(tmp_path):
    for p in range(4):
        d = tmp_path / f"patient{p}"
        d.mkdir()
        for k in range(2):
            Image.fromarray(frames_rgb(1, 30, 30)[0]).save(d / f"v{k}.png")
            labelme(d / f"v{k}.json", [poly("LA", [(2, 2), (20, 2), (20, 20)])], 30, 30)
    ds = open_dataset(tmp_path)
    assert sorted(set(ds.groups)) == [f"patient{p}" for p in range(4)]
    train, val = split(ds, 0.25, seed=0)
    assert isinstance(val, LabelledSet) and len(val) == 2 and len(train) == 6
    assert not set(train.groups) & set(val.groups)
    clone = pickle.loads(pickle.dumps(val))
    np.testing.assert_array_equal(clone[0].labels, val[0].labels)
    assert isinstance(ds[1:3], LabelledSet) and len(ds[1:3]) == 2


def test_labelme_embedded_image_data(tmp_path):
    import base64
    import io

    buf = io.BytesIO()
    Image.fromarray(frames_rgb(1, 64, 80)[0]).save(buf, format="PNG")
    path = labelme(tmp_path / "emb.json", [poly("la", LA_POLY)], 64, 80, "gone.png")
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "imageData": base64.b64encode(buf.getvalue()).decode()}))
    s = open_dataset(tmp_path)[0]
    assert s.source == str(path) and s.image[0, 5, 1] == 5
    assert_area(s.labels == 1, LA_POLY)
