"""echoseg.io: DICOM/movie/still reading, errors that name the file, discovery, description.

Small DICOMs are written in tmp_path with pydicom from seeded pixels with exact truth; real vendor
files come from pydicom-data (see reference_files.py) and are skipped when it is absent.
"""
from __future__ import annotations

import io as _io
import json
import time
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import convert_color_space
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, RLELossless, generate_uid

from echoseg.errors import CalibrationError, NotUltrasoundError, UnsupportedInputError
from echoseg.io import calibration as cal
from echoseg.io.dicom import frame_time_ms
from echoseg.io.read import describe, find_inputs, format_text, read
from echoseg.types import Region

try:
    from reference_files import REFERENCES, reference_path
except ImportError:  # tests/ imported as a package
    from tests.reference_files import REFERENCES, reference_path

US_MF = "1.2.840.10008.5.1.4.1.1.3.1"
US_SF = "1.2.840.10008.5.1.4.1.1.6.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
SC = "1.2.840.10008.5.1.4.1.1.7"
TISSUE = Region(4, 3, 27, 20, 1, 1, 3, 3, 0.05, 0.05, 12, 0)
SPECTRAL = Region(2, 22, 29, 37, 3, 3, 4, 7, 0.004, -2.5, 0, 8)


def smooth_rgb(t: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """Seeded, smooth RGB frames (JPEG-friendly) with distinct channels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = np.empty((t, h, w, 3), np.uint8)
    for k in range(t):
        for c in range(3):
            a, b, ph = rng.uniform(1, 3), rng.uniform(1, 3), rng.uniform(0, 6)
            out[k, ..., c] = (128 + 90 * np.sin(a * 3 * xx + b * 2 * yy + ph + k * 0.3)).astype(np.uint8)
    return out


def make_ds(pixels: np.ndarray, photometric: str, *, sop: str = US_MF, modality: str = "US",
            regions: tuple[Region, ...] = (TISSUE, SPECTRAL), **tags: object) -> Dataset:
    """An uncompressed DICOM dataset; ``pixels`` is (T, H, W) or (T, H, W, 3) as stored."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.Manufacturer = modality, "echoseg-test"
    ds.PatientName, ds.PatientID = "Doe^Jane", "SECRET-ID-123"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    t, h, w = pixels.shape[:3]
    ds.Rows, ds.Columns, ds.NumberOfFrames = h, w, t
    ds.SamplesPerPixel = 3 if pixels.ndim == 4 else 1
    if ds.SamplesPerPixel == 3:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = ds.BitsStored = 8 * pixels.dtype.itemsize
    ds.HighBit, ds.PixelRepresentation = ds.BitsStored - 1, 0
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    if regions:
        items = []
        for r in regions:
            item = Dataset()
            for k, v in cal.region_to_item(r).items():
                setattr(item, k, v)
            items.append(item)
        ds.SequenceOfUltrasoundRegions = Sequence(items)
    for k, v in tags.items():
        setattr(ds, k, v)
    return ds


def save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


# ------------------------------------------------------------------------------ photometrics
def test_rgb_multiframe_exact_with_regions_and_timing(tmp_path: Path) -> None:
    px = smooth_rgb(3, 40, 32, seed=1)
    p = save(make_ds(px, "RGB", FrameTime=20.0, HeartRate=72), tmp_path / "rgb.dcm")
    img = read(p)
    assert img.frames.dtype == np.uint8 and img.frames.shape == (3, 40, 32, 3)
    np.testing.assert_array_equal(img.frames, px)
    assert img.regions == (TISSUE, SPECTRAL)
    assert img.frame_time_ms == 20.0 and img.heart_rate_bpm == 72.0
    assert img.modality == "US" and img.sop_class_uid == US_MF and img.photometric == "RGB"
    assert img.transfer_syntax == ExplicitVRLittleEndian and img.manufacturer == "echoseg-test"
    spec = cal.spectral_calibration(img.regions, img.shape, str(p))
    assert spec.baseline_row == 30 and spec.cm_s_per_px == -2.5 and spec.mode == "PW"


def test_no_patient_identifiers_copied(tmp_path: Path) -> None:
    p = save(make_ds(smooth_rgb(1, 40, 32), "RGB"), tmp_path / "anon.dcm")
    img = read(p)
    text = json.dumps(describe(img)) + repr(img.extra) + repr(img)
    assert "Doe" not in text and "SECRET-ID-123" not in text


def test_ybr_full_converted_to_rgb(tmp_path: Path) -> None:
    rgb = smooth_rgb(2, 40, 32, seed=2)
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    img = read(save(make_ds(ybr, "YBR_FULL"), tmp_path / "ybr.dcm"))
    assert np.abs(img.frames.astype(int) - rgb).max() <= 2  # two 8-bit roundings


def test_uncompressed_ybr_full_422_upsampled(tmp_path: Path) -> None:
    rgb = smooth_rgb(2, 40, 32, seed=3)
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL").astype(float)
    t, h, w, _ = ybr.shape
    pairs = ybr.reshape(t, h, w // 2, 2, 3)
    packed = np.concatenate([pairs[..., 0], pairs[..., 1:].mean(axis=3)], axis=-1)  # Y1 Y2 Cb Cr
    ds = make_ds(rgb, "YBR_FULL_422")
    ds.PixelData = np.rint(packed).astype(np.uint8).tobytes()
    img = read(save(ds, tmp_path / "y422.dcm"))
    err = np.abs(img.frames.astype(int) - rgb)
    assert img.frames.shape == rgb.shape and err.mean() < 4 and err.max() < 16


def test_monochrome2_and_monochrome1(tmp_path: Path) -> None:
    grey = smooth_rgb(2, 40, 32, seed=3)[..., 0]
    img2 = read(save(make_ds(grey, "MONOCHROME2"), tmp_path / "m2.dcm"))
    img1 = read(save(make_ds(255 - grey, "MONOCHROME1"), tmp_path / "m1.dcm"))
    for img in (img1, img2):
        assert img.frames.shape == (2, 40, 32, 3)
        for c in range(3):
            np.testing.assert_array_equal(img.frames[..., c], grey)


def test_monochrome2_12bit_scaled_to_8bit(tmp_path: Path) -> None:
    grey = (smooth_rgb(1, 40, 32, seed=4)[..., 0].astype(np.uint16) * 16)  # 0..4080 in 12 bits
    ds = make_ds(grey, "MONOCHROME2")
    ds.BitsStored, ds.HighBit = 12, 11
    img = read(save(ds, tmp_path / "m12.dcm"))
    assert np.abs(img.frames[..., 0].astype(int) - grey / 16).max() <= 1


def _palette_ds(index: np.ndarray, lut16: np.ndarray) -> Dataset:
    ds = make_ds(index, "PALETTE COLOR", sop=US_SF)
    for i, colour in enumerate(("Red", "Green", "Blue")):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"{colour}PaletteColorLookupTableData", lut16[:, i].astype("<u2").tobytes())
    return ds


def test_palette_color_16bit_lut(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    lut8 = rng.integers(0, 256, (256, 3), dtype=np.uint16)
    index = rng.integers(0, 256, (1, 40, 32), dtype=np.uint8)
    img = read(save(_palette_ds(index, lut8 * 257), tmp_path / "pal.dcm"))
    np.testing.assert_array_equal(img.frames[0], lut8[index[0]])


def test_rle_multiframe(tmp_path: Path) -> None:
    px = smooth_rgb(3, 40, 32, seed=6)
    ds = make_ds(px, "RGB")
    ds.compress(RLELossless)
    img = read(save(ds, tmp_path / "rle.dcm"))
    assert img.transfer_syntax == RLELossless
    np.testing.assert_array_equal(img.frames, px)


def _jpeg_ds(px: np.ndarray) -> Dataset:
    from PIL import Image
    from pydicom.encaps import encapsulate

    frames = []
    for f in px:
        buf = _io.BytesIO()
        Image.fromarray(f).save(buf, format="JPEG", quality=95, subsampling=1)  # 4:2:2
        frames.append(buf.getvalue())
    ds = make_ds(px, "YBR_FULL_422", FrameTime=33.3)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate(frames)
    ds["PixelData"].VR = "OB"
    return ds


def test_jpeg_baseline_ybr_422(tmp_path: Path) -> None:
    px = smooth_rgb(4, 48, 64, seed=7)
    img = read(save(_jpeg_ds(px), tmp_path / "jpg.dcm"))
    assert img.frames.shape == px.shape and img.transfer_syntax == JPEGBaseline8Bit
    err = np.abs(img.frames.astype(int) - px)
    assert err.mean() < 3 and err.max() < 40, (err.mean(), err.max())
    # Reading a prefix decodes only those frames and gives the same pixels.
    head = read(tmp_path / "jpg.dcm", max_frames=2)
    np.testing.assert_array_equal(head.frames, img.frames[:2])


def test_max_frames_uncompressed(tmp_path: Path) -> None:
    px = smooth_rgb(5, 40, 32, seed=8)
    img = read(save(make_ds(px, "RGB"), tmp_path / "mf.dcm"), max_frames=3)
    np.testing.assert_array_equal(img.frames, px[:3])


def test_secondary_capture_accepted_with_regions_refused_without(tmp_path: Path) -> None:
    px = smooth_rgb(1, 40, 32)
    ok = read(save(make_ds(px, "RGB", sop=SC, modality="OT"), tmp_path / "sc.dcm"))
    assert ok.regions == (TISSUE, SPECTRAL)
    p = save(make_ds(px, "RGB", sop=SC, modality="OT", regions=()), tmp_path / "sc_plain.dcm")
    with pytest.raises(NotUltrasoundError, match="sc_plain.dcm"):
        read(p)


def test_dicom_without_regions_reads(tmp_path: Path) -> None:
    img = read(save(make_ds(smooth_rgb(1, 40, 32), "RGB", regions=()), tmp_path / "noreg.dcm"))
    assert img.regions == ()
    d = describe(img)
    assert "error" in d["calibration"]["tissue"] and "error" in d["calibration"]["spectral"]


# ------------------------------------------------------------------------------------ timing
@pytest.mark.parametrize("tags, expected", [
    ({"FrameTime": 16.5}, 16.5),
    ({"FrameTimeVector": [0, 20, 22, 24]}, 22.0),
    ({"CineRate": 50}, 20.0),
    ({"RecommendedDisplayFrameRate": 25}, 40.0),
    ({"FrameTime": 0, "CineRate": 40}, 25.0),   # a zero FrameTime is ignored
    ({}, None),
])
def test_frame_time_sources(tags: dict, expected: float | None) -> None:
    ds = Dataset()
    for k, v in tags.items():
        setattr(ds, k, v)
    assert frame_time_ms(ds) == (pytest.approx(expected) if expected is not None else None)


# ------------------------------------------------------------------------------------ errors
def test_missing_file() -> None:
    with pytest.raises(UnsupportedInputError, match="nowhere.dcm"):
        read("/nonexistent/nowhere.dcm")


def test_text_file_with_dcm_extension(tmp_path: Path) -> None:
    p = tmp_path / "notes.dcm"
    p.write_text("this is not a DICOM file\n" * 20)
    with pytest.raises(UnsupportedInputError, match="notes.dcm"):
        read(p)


def test_unknown_extension(tmp_path: Path) -> None:
    p = tmp_path / "table.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(UnsupportedInputError, match="table.csv"):
        read(p)


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns about the missing delimiter
@pytest.mark.parametrize("kind", ["rgb", "jpeg"])
@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.67, 0.95])
def test_truncated_dicom(tmp_path: Path, kind: str, fraction: float) -> None:
    ds = make_ds(smooth_rgb(2, 40, 32), "RGB") if kind == "rgb" else _jpeg_ds(smooth_rgb(2, 48, 64))
    full = save(ds, tmp_path / "full.dcm").read_bytes()
    p = tmp_path / "cut.dcm"
    p.write_bytes(full[: int(len(full) * fraction)])
    with pytest.raises(UnsupportedInputError, match="cut.dcm"):
        read(p)


def test_ct_is_not_ultrasound(tmp_path: Path) -> None:
    ds = make_ds(smooth_rgb(1, 40, 32)[..., 0], "MONOCHROME2", sop=CT, modality="CT", regions=())
    with pytest.raises(NotUltrasoundError, match="ct.dcm"):
        read(save(ds, tmp_path / "ct.dcm"))


def test_region_outside_image(tmp_path: Path) -> None:
    far = Region(4, 3, 40, 20, 1, 1, 3, 3, 0.05, 0.05)  # 32 columns: x1=40 lies 9 px outside
    p = save(make_ds(smooth_rgb(1, 40, 32), "RGB", regions=(far,)), tmp_path / "outside.dcm")
    with pytest.raises(CalibrationError, match="outside.dcm"):
        read(p)


def test_region_one_pixel_overhang_is_clipped(tmp_path: Path) -> None:
    edge = Region(4, 3, 32, 40, 1, 1, 3, 3, 0.05, 0.05)  # MaxX1 == Columns, MaxY1 == Rows (Philips habit)
    img = read(save(make_ds(smooth_rgb(1, 40, 32), "RGB", regions=(edge,)), tmp_path / "edge.dcm"))
    assert (img.regions[0].x1, img.regions[0].y1) == (31, 39)
    assert len(img.extra["warnings"]) == 1


def test_undecodable_pixel_data(tmp_path: Path) -> None:
    ds = _jpeg_ds(smooth_rgb(1, 48, 64))
    from pydicom.encaps import encapsulate
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xe0 not really a jpeg " * 4])
    with pytest.raises(UnsupportedInputError, match="badjpeg.dcm"):
        read(save(ds, tmp_path / "badjpeg.dcm"))


def test_png_without_calibration(tmp_path: Path) -> None:
    from PIL import Image
    p = tmp_path / "shot.png"
    Image.fromarray(smooth_rgb(1, 40, 32)[0]).save(p)
    with pytest.raises(CalibrationError, match="shot.png") as exc:
        read(p)
    assert "--cm-per-px" in str(exc.value)


def test_truncated_png(tmp_path: Path) -> None:
    from PIL import Image
    p = tmp_path / "cut.png"
    buf = _io.BytesIO()
    Image.fromarray(smooth_rgb(1, 40, 32)[0]).save(buf, format="PNG")
    p.write_bytes(buf.getvalue()[:60])
    with pytest.raises(UnsupportedInputError, match="cut.png"):
        read(p, cm_per_px=0.05)


# ------------------------------------------------------------------------- movies and stills
def test_png_with_manual_tissue_calibration(tmp_path: Path) -> None:
    from PIL import Image
    px = smooth_rgb(1, 40, 32)[0]
    p = tmp_path / "still.png"
    Image.fromarray(px).save(p)
    img = read(p, cm_per_px=0.04)
    np.testing.assert_array_equal(img.frames[0], px)
    t = cal.tissue_calibration(img.regions, img.shape, str(p))
    assert t.cm_per_px_x == 0.04 and (t.region.x1, t.region.y1) == (31, 39)


def test_jpeg_still_with_spectral_calibration(tmp_path: Path) -> None:
    from PIL import Image
    p = tmp_path / "doppler.jpg"
    Image.fromarray(smooth_rgb(1, 40, 32)[0]).save(p, quality=95)
    manual = cal.manual_spectral_calibration(0.005, -3.0, 20, (1, 10, 30, 35), mode="CW")
    img = read(p, spectral=manual)
    s = cal.spectral_calibration(img.regions, img.shape, str(p))
    assert (s.baseline_row, s.cm_s_per_px, s.mode) == (20.0, -3.0, "CW")
    with pytest.raises(CalibrationError, match="doppler.jpg"):
        read(p, spectral=cal.manual_spectral_calibration(0.005, -3.0, 20, (1, 10, 60, 35)))


def test_manual_calibration_overrides_dicom_regions(tmp_path: Path) -> None:
    img = read(save(make_ds(smooth_rgb(1, 40, 32), "RGB"), tmp_path / "over.dcm"), cm_per_px=0.1)
    t = cal.tissue_calibration(img.regions, img.shape)
    assert t.cm_per_px_x == 0.1 and img.extra["calibration_source"] == "manual"
    assert SPECTRAL in img.regions and TISSUE not in img.regions


def test_avi_reads_with_calibration(tmp_path: Path) -> None:
    cv2 = pytest.importorskip("cv2")
    p = tmp_path / "loop.avi"
    px = smooth_rgb(6, 48, 64, seed=9)
    writer = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (64, 48))
    for f in px:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    with pytest.raises(CalibrationError, match="loop.avi"):
        read(p)
    img = read(p, cm_per_px=0.05)
    assert img.frames.shape == (6, 48, 64, 3) and img.frame_time_ms == pytest.approx(40.0)
    assert np.abs(img.frames.astype(int) - px).mean() < 4  # MJPG is lossy; channel order must be RGB
    assert read(p, cm_per_px=0.05, max_frames=2).n_frames == 2


# ---------------------------------------------------------------------------------- discovery
def test_find_inputs_recursive_and_sorted(tmp_path: Path) -> None:
    root = tmp_path / "in"
    (root / "sub" / "deep").mkdir(parents=True)
    (root / ".hidden").mkdir()
    save(make_ds(smooth_rgb(1, 8, 8), "RGB"), root / "b.dcm")
    save(make_ds(smooth_rgb(1, 8, 8), "RGB"), root / "sub" / "IM0001")  # no extension, DICM preamble
    (root / "sub" / "README").write_text("not dicom")
    (root / "sub" / "deep" / "a.PNG").write_bytes(b"x")
    (root / "sub" / "clip.avi").write_bytes(b"x")
    (root / "notes.txt").write_text("x")
    (root / ".hidden" / "c.dcm").write_bytes(b"x")
    explicit = tmp_path / "z.weird"
    explicit.write_text("x")
    got = find_inputs([root, explicit, root / "b.dcm"])
    names = [str(p.relative_to(tmp_path)) for p in got]
    assert names == sorted(names)
    assert set(names) == {"in/b.dcm", "in/sub/IM0001", "in/sub/deep/a.PNG", "in/sub/clip.avi", "z.weird"}
    assert find_inputs([root]) == find_inputs([root])


# -------------------------------------------------------------------------------- description
def test_describe_and_format_text(tmp_path: Path) -> None:
    p = save(make_ds(smooth_rgb(2, 40, 32), "RGB", FrameTime=20.0), tmp_path / "desc.dcm")
    d = describe(read(p))
    json.dumps(d)
    assert d["file"] == str(p) and (d["frames"], d["rows"], d["cols"]) == (2, 40, 32)
    assert d["calibration"]["tissue"]["cm_per_px_x"] == 0.05
    assert d["calibration"]["spectral"]["baseline_row"] == 30.0
    assert [r["spatial_format"] for r in d["regions"]] == ["2D", "spectral"]
    text = format_text(d)
    assert "desc.dcm" in text and "0.05 x 0.05 cm/px" in text and "baseline row 30" in text


def test_read_speed_rgb_cine(tmp_path: Path) -> None:
    px = np.random.default_rng(10).integers(0, 256, (30, 600, 800, 3), dtype=np.uint8)
    p = save(make_ds(px, "RGB", regions=()), tmp_path / "big.dcm")
    best = min(_timed(lambda: read(p)) for _ in range(2))
    assert best < 1.0, f"reading a 30-frame 600x800 RGB cine took {best:.2f} s"


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ---------------------------------------------------------------------- real vendor references
@pytest.mark.parametrize("ref", REFERENCES, ids=[r.name for r in REFERENCES])
def test_reference_file(ref) -> None:
    path = reference_path(ref.name)
    if path is None:
        pytest.skip("pydicom-data is not installed")
    if ref.error:
        try:
            img = read(path)
        except UnsupportedInputError as exc:
            assert ref.error == "UnsupportedInputError" and path.name in str(exc)
            return
        pytest.skip(f"a decoder for {ref.name} is installed here; decoded {img.frames.shape}")
    img = read(path)
    assert img.frames.shape == (ref.frames, ref.rows, ref.cols, 3) and img.frames.dtype == np.uint8
    assert img.photometric == ref.photometric and img.manufacturer == ref.manufacturer
    assert len(img.regions) == ref.n_regions
    assert img.frame_time_ms == (pytest.approx(ref.frame_time_ms) if ref.frame_time_ms else None)
    assert float(img.frames.mean()) == pytest.approx(ref.mean, abs=0.0001 if ref.tol == 0 else 0.1)
    for (r, c), rgb in ref.pixels.items():
        assert np.abs(img.frames[0, r, c].astype(int) - rgb).max() <= ref.tol, (r, c, img.frames[0, r, c])
    if ref.cm_per_px is None:
        with pytest.raises(CalibrationError):
            cal.tissue_calibration(img.regions, img.shape, str(path))
    else:
        t = cal.tissue_calibration(img.regions, img.shape, str(path))
        assert t.cm_per_px_x == pytest.approx(ref.cm_per_px) and t.cm_per_px_y == pytest.approx(ref.cm_per_px)


# ------------------------------------------------------------------ the synthetic writer's files
@pytest.mark.parametrize("compression, monochrome", [("none", False), ("jpeg", False), ("none", True)])
def test_reads_synthetic_writer_output(tmp_path: Path, compression: str, monochrome: bool) -> None:
    writer = pytest.importorskip("echoseg.synth.dicom_writer")
    from echoseg.synth.case import SynthCase

    frames = smooth_rgb(3, 48, 64, seed=11)
    if monochrome:
        frames[..., 1] = frames[..., 2] = frames[..., 0]
    case = SynthCase(kind="a4c", frames=frames, regions=(TISSUE, SPECTRAL), frame_time_ms=20.0,
                     heart_rate_bpm=66.0, style="grey", seed=11, truth={}, monochrome=monochrome)
    img = read(writer.write_case(case, tmp_path, "syn", compression=compression)["dicom"])
    assert img.regions == case.regions and img.heart_rate_bpm == 66.0
    assert img.frame_time_ms == pytest.approx(20.0)
    err = np.abs(img.frames.astype(int) - frames)
    assert (err.max() == 0) if compression == "none" else (err.mean() < 3)


def test_misplaced_ecg_region_is_dropped_not_fatal(tmp_path: Path) -> None:
    ecg = Region(0, 30, 80, 39, 4, 10, 4, 0, 0.01, 0.0)  # waveform far past the 32 columns
    img = read(save(make_ds(smooth_rgb(1, 40, 32), "RGB", regions=(TISSUE, ecg)), tmp_path / "ecg.dcm"))
    assert img.regions == (TISSUE,) and "ignored" in img.extra["warnings"][0]


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "SC_rgb.dcm", "rtstruct.dcm"])
def test_real_non_ultrasound_files_refused(name: str) -> None:
    path = reference_path(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    with pytest.raises(NotUltrasoundError, match=name):
        read(path)


def test_r_wave_times_are_read_in_order_and_bad_values_dropped_with_a_note() -> None:
    from echoseg.io.dicom import r_wave_times_ms
    ds = Dataset()
    assert r_wave_times_ms(ds) == ()
    ds.RWaveTimeVector = [1600.0, 0.0, 800.5]
    assert r_wave_times_ms(ds) == (0.0, 800.5, 1600.0)
    ds.RWaveTimeVector = [0.0, -5.0, 900.0]
    notes: list[str] = []
    assert r_wave_times_ms(ds, notes) == (0.0, 900.0)
    assert len(notes) == 1 and "R Wave Time Vector" in notes[0] and "-5" not in notes[0]
