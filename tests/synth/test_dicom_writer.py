"""The synthetic DICOM writer: what plain pydicom reads back equals what was written."""
from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest

from echoseg.io.calibration import regions_from_sequence, spectral_calibration, tissue_calibration
from echoseg.synth.case import SynthCase
from echoseg.synth.dicom_writer import US_IMAGE, US_MULTIFRAME, write_case
from echoseg.types import Region


def _case(n_frames: int, monochrome: bool = False) -> SynthCase:
    rng = np.random.default_rng(3)
    frames = (rng.random((n_frames, 40, 60, 3)) * 40).astype(np.uint8)
    frames[:, 10:30, 20:40] = 200  # a bright block keeps JPEG honest about geometry
    if monochrome:
        frames[..., 1] = frames[..., 0]
        frames[..., 2] = frames[..., 0]
    tissue = Region(5, 2, 54, 37, 1, 1, 3, 3, 0.031, 0.031, 25, 0)
    spectral = Region(0, 20, 59, 39, 3, 3, 4, 7, 0.005, -2.5, 0, 7)
    return SynthCase(kind="a4c" if n_frames > 1 else "doppler", frames=frames, regions=(tissue, spectral),
                     frame_time_ms=20.0, heart_rate_bpm=72.0, style="grey", seed=11,
                     truth={"site": "lvot", "value": 1.5}, masks=np.zeros((n_frames, 40, 60), np.uint8),
                     monochrome=monochrome)


@pytest.mark.parametrize("n_frames,compression,monochrome", [(3, "none", False), (1, "none", False),
                                                             (3, "jpeg", False), (1, "none", True)])
def test_round_trip_plain_pydicom(tmp_path, n_frames, compression, monochrome):
    case = _case(n_frames, monochrome)
    paths = write_case(case, tmp_path, "x", compression=compression)
    ds = pydicom.dcmread(paths["dicom"])
    assert ds.SOPClassUID == (US_MULTIFRAME if n_frames > 1 else US_IMAGE)
    assert ds.Modality == "US"
    assert regions_from_sequence(ds.SequenceOfUltrasoundRegions) == case.regions
    px = ds.pixel_array
    if monochrome:
        assert ds.PhotometricInterpretation == "MONOCHROME2"
        np.testing.assert_array_equal(px, case.frames[0, ..., 0])
    else:
        px = px if n_frames > 1 else px[None]
        if compression == "jpeg":
            assert ds.PhotometricInterpretation == "YBR_FULL_422"
            # pydicom converts to RGB on decode; lossy, but the bright block must be where it was
            assert abs(px[:, 20, 30].astype(int).mean() - 200) < 12
            assert np.abs(px.astype(int) - case.frames).mean() < 8
        else:
            np.testing.assert_array_equal(px, case.frames)
    if n_frames > 1:
        assert float(ds.FrameTime) == pytest.approx(20.0)
        assert int(ds.NumberOfFrames) == n_frames
    truth = json.loads(paths["truth"].read_text())
    assert truth["value"] == 1.5 and truth["file"] == "x.dcm"
    assert np.load(paths["masks"])["masks"].shape == (n_frames, 40, 60)


def test_calibration_from_written_file(tmp_path):
    case = _case(1)
    ds = pydicom.dcmread(write_case(case, tmp_path, "y")["dicom"])
    regions = regions_from_sequence(ds.SequenceOfUltrasoundRegions)
    tc = tissue_calibration(regions, (ds.Rows, ds.Columns))
    sc = spectral_calibration(regions, (ds.Rows, ds.Columns))
    assert tc.cm_per_px_x == pytest.approx(0.031)
    assert sc.baseline_row == 27  # MinY0 20 + ReferencePixelY0 7
    assert sc.cm_s_per_px == pytest.approx(-2.5) and sc.mode == "PW"


def test_no_partial_files_left(tmp_path):
    write_case(_case(1), tmp_path, "z")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.dcm", "z.masks.npz", "z.truth.json"]


def test_patient_identity_is_synthetic(tmp_path):
    ds = pydicom.dcmread(write_case(_case(1), tmp_path, "w")["dicom"])
    assert str(ds.PatientName) == "SYNTHETIC^ECHO"
