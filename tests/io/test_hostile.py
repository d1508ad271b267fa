"""Hostile and broken input (issue 17): clean reasons, decode budgets, calibration bounds, `info` that
never crashes, folder walks that skip nothing silently, the Doppler-thumbnail refusal.

Files are written in tmp_path with pydicom from seeded pixels (tests/io/test_read.py's helpers).
"""
from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset

from echoseg.cli import main
from echoseg.errors import (CalibrationError, InputTooLargeError, NotUltrasoundError, UnsupportedInputError,
                            clean_text, reason_for)
from echoseg.io import calibration as cal
from echoseg.io.limits import ReadLimits
from echoseg.io.read import describe_file, find_inputs, json_safe, read
from echoseg.io.walk import walk
from echoseg.types import EchoImage, Region
from tests.io.test_read import SPECTRAL, TISSUE, make_ds, save, smooth_rgb

SECRET = "ZQXSECRET^NAME"


def _ds(**tags: object) -> Dataset:
    ds = make_ds(smooth_rgb(2, 40, 32, seed=1), "RGB", **{"FrameTime": 20.0, **tags})
    ds.PatientName, ds.PatientID, ds.InstitutionName = SECRET, "ZQXSECRETID", "ZQXSECRETINST"
    return ds


# ---------------------------------------------------------------------------------- clean reasons
def test_clean_text_is_printable_and_capped() -> None:
    assert clean_text("a\x00b\x1b[31m\nc") == "a?b?[31m c"
    long = clean_text("x" * 10_000)
    assert len(long) == 500 and long.endswith("...")
    assert str(UnsupportedInputError("f.dcm: \x07" + "y" * 3000)).isprintable()


def test_reason_for_names_the_file_and_hides_foreign_text() -> None:
    assert reason_for(KeyError(SECRET), "a.dcm").startswith("a.dcm: internal error (KeyError)")
    assert SECRET not in reason_for(KeyError(SECRET), "a.dcm")
    assert reason_for(CalibrationError("no region"), "b.dcm") == "b.dcm: no region"
    assert reason_for(CalibrationError("b.dcm: no region"), "b.dcm") == "b.dcm: no region"


def test_run_on_sop_class_never_reaches_the_reason(tmp_path: Path) -> None:
    """A corrupt (0008,0016) length makes its value run on into the patient's name: not quoted."""
    p = save(_ds(), tmp_path / "runon.dcm")
    data = bytearray(p.read_bytes())
    i = data.find(b"\x08\x00\x16\x00UI")
    data[i + 6:i + 8] = (600).to_bytes(2, "little")
    p.write_bytes(bytes(data))
    with pytest.raises((NotUltrasoundError, UnsupportedInputError)) as exc:
        read(p)
    assert "runon.dcm" in str(exc.value) and "ZQX" not in str(exc.value)
    d = describe_file(p)
    assert "ZQX" not in json.dumps(d) and d["error_type"] in ("NotUltrasoundError", "UnsupportedInputError")


def test_non_ultrasound_refusal_names_defined_terms_only(tmp_path: Path) -> None:
    p = save(_ds(Modality="ZQXSECRET", SOPClassUID="1.2.840.10008.5.1.4.1.1.2"), tmp_path / "ct.dcm")
    with pytest.raises(NotUltrasoundError, match="ct.dcm") as exc:
        read(p)
    assert "ZQX" not in str(exc.value) and "CT Image Storage" in str(exc.value)


def test_run_on_free_text_is_dropped_and_pydicom_warnings_are_captured(tmp_path: Path, caplog) -> None:
    ds = _ds(Manufacturer="ok\x01ZQXSECRET")
    p = save(ds, tmp_path / "manu.dcm")
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.DEBUG):
        warnings.simplefilter("always")
        img = read(p)
    assert img.manufacturer is None
    shown = [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records]
    assert not any("ZQX" in s for s in shown)
    assert "ZQX" not in json.dumps(describe_file(p))


# ------------------------------------------------------------------------------------ budgets
def test_frame_budget_refuses_before_decoding(tmp_path: Path) -> None:
    p = save(make_ds(smooth_rgb(5, 40, 32), "RGB"), tmp_path / "many.dcm")
    with pytest.raises(InputTooLargeError, match="many.dcm.*5 frames exceed the limit of 4.*--max-frames"):
        read(p, limits=ReadLimits(max_frames=4))
    assert read(p, limits=ReadLimits(max_frames=5)).n_frames == 5


def test_decoded_size_budget(tmp_path: Path) -> None:
    p = save(make_ds(smooth_rgb(4, 64, 64), "RGB"), tmp_path / "big.dcm")  # 4 x 64 x 64 x 3 = 48 KiB
    with pytest.raises(InputTooLargeError, match="big.dcm.*--max-decoded-mb"):
        read(p, limits=ReadLimits(max_decoded_mb=0.04))
    assert read(p, limits=ReadLimits(max_decoded_mb=0.05)).n_frames == 4


def test_file_size_budget(tmp_path: Path) -> None:
    p = save(make_ds(smooth_rgb(4, 64, 64), "RGB"), tmp_path / "file.dcm")
    with pytest.raises(InputTooLargeError, match="file.dcm.*MiB limit"):
        read(p, limits=ReadLimits(max_file_mb=0.01))


def test_absurd_frame_count_is_named_not_allocated(tmp_path: Path) -> None:
    ds = make_ds(smooth_rgb(2, 40, 32), "RGB")
    ds.NumberOfFrames = 1500  # within the frame budget, far beyond the data
    with pytest.raises(UnsupportedInputError, match="truncated or its NumberOfFrames"):
        read(save(ds, tmp_path / "count.dcm"))
    ds.NumberOfFrames = 10 ** 6
    with pytest.raises(InputTooLargeError, match="1000000 frames exceed"):
        read(save(ds, tmp_path / "count2.dcm"))


def test_time_budget(tmp_path: Path) -> None:
    p = save(make_ds(smooth_rgb(3, 40, 32), "RGB"), tmp_path / "slow.dcm")
    with pytest.raises(InputTooLargeError, match="slow.dcm.*s limit per file"):
        read(p, limits=ReadLimits(max_seconds=1e-9))


def test_zero_filled_file_is_refused_fast(tmp_path: Path) -> None:
    import time
    p = tmp_path / "zeros.dcm"
    p.write_bytes(bytes(20 << 20))
    t0 = time.perf_counter()
    with pytest.raises(UnsupportedInputError, match="zeros.dcm"):
        read(p)
    assert time.perf_counter() - t0 < 1.0


def test_read_limits_validate() -> None:
    with pytest.raises(ValueError, match="max_frames"):
        ReadLimits(max_frames=0)
    with pytest.raises(ValueError, match="max_seconds"):
        ReadLimits(max_seconds=float("nan"))


# ------------------------------------------------------------------------- calibration bounds
@pytest.mark.parametrize("delta", [float("inf"), 1e300, 1e-300, 50.0])
def test_absurd_tissue_delta_refused(delta: float) -> None:
    r = Region(0, 0, 99, 99, 1, 1, 3, 3, delta, delta)
    with pytest.raises(CalibrationError, match="x.dcm: .*(plausible|finite)"):
        cal.tissue_calibration([r], (100, 100), "x.dcm")


def test_non_finite_region_value_named_by_tag() -> None:
    item = dict(cal.region_to_item(TISSUE), PhysicalDeltaX=float("nan"))
    with pytest.raises(CalibrationError, match="PhysicalDeltaX is not finite"):
        cal.region_from_item(item)
    with pytest.raises(CalibrationError, match="RegionLocationMaxX1 must be an integer"):
        cal.region_from_item(dict(cal.region_to_item(TISSUE), RegionLocationMaxX1=1e12))


@pytest.mark.parametrize("dx, dy", [(1e-300, -2.5), (0.004, 1e300), (float("inf"), -2.5), (0.004, 1e-9)])
def test_absurd_spectral_deltas_refused(dx: float, dy: float) -> None:
    r = Region(2, 22, 29, 37, 3, 3, 4, 7, dx, dy, 0, 8)
    with pytest.raises(CalibrationError, match="plausible"):
        cal.spectral_calibration([r], (40, 32), "s.dcm")


@pytest.mark.parametrize("ft", ["1e-300", "1e300", "0.01"])
def test_absurd_frame_time_ignored_with_warning(tmp_path: Path, ft: str) -> None:
    img = read(save(_ds(FrameTime=ft), tmp_path / "ft.dcm"))
    assert img.frame_time_ms is None and any("frame timing ignored" in w for w in img.extra["warnings"])


def test_unknown_transfer_syntax_is_named(tmp_path: Path) -> None:
    p = save(_ds(), tmp_path / "ts.dcm")
    p.write_bytes(p.read_bytes().replace(b"1.2.840.10008.1.2.1\x00", b"1.2.840.10008.1.2.9\x00", 1))
    with pytest.raises(UnsupportedInputError, match="ts.dcm: .*unknown transfer syntax 1.2.840.10008.1.2.9"):
        read(p)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_permission_denied_is_not_called_truncated(tmp_path: Path) -> None:
    p = save(_ds(), tmp_path / "locked.dcm")
    p.chmod(0)
    with pytest.raises(UnsupportedInputError, match="permission denied"):
        read(p)


# ------------------------------------------------------------------------------- info never crashes
def test_info_json_is_valid_and_the_listing_goes_on(tmp_path: Path, capsys) -> None:
    good = save(_ds(), tmp_path / "a_good.dcm")
    (tmp_path / "b_text.dcm").write_text("not a dicom\n")
    nan = _ds()
    nan.SequenceOfUltrasoundRegions[0].PhysicalDeltaX = float("inf")
    save(nan, tmp_path / "c_inf.dcm")
    save(_ds(), tmp_path / "d_good.dcm")
    assert main(["info", str(tmp_path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)  # strict JSON: json.loads accepts NaN, so check the text too
    names = [Path(d["file"]).name for d in out]
    assert names == ["a_good.dcm", "b_text.dcm", "c_inf.dcm", "d_good.dcm"]
    assert "error" in out[1] and "b_text.dcm" in out[1]["error"] and out[1]["error_type"] == "UnsupportedInputError"
    assert "c_inf.dcm" in out[2]["error"] and "PhysicalDeltaX is not finite" in out[2]["error"]
    assert out[0]["frames"] == 2 and good.name in out[0]["file"]
    assert "ZQX" not in json.dumps(out)


def test_info_text_goes_on_after_an_unexpected_error(tmp_path: Path, capsys, monkeypatch) -> None:
    import echoseg.io.read as reader
    save(_ds(), tmp_path / "a.dcm")
    save(_ds(), tmp_path / "b.dcm")
    real = reader.read

    def flaky(path, **kw):
        if Path(path).name == "a.dcm":
            raise KeyError(SECRET)
        return real(path, **kw)
    monkeypatch.setattr(reader, "read", flaky)
    assert main(["info", str(tmp_path)]) == 1
    text = capsys.readouterr().out
    assert "a.dcm: ERROR" in text and "internal error (KeyError)" in text and "b.dcm" in text and SECRET not in text


def test_json_safe() -> None:
    assert json.dumps(json_safe({"a": float("nan"), "b": (1, float("inf")), "c": np.float32(2)}),
                      allow_nan=False) == '{"a": null, "b": [1, null], "c": 2.0}'


# ------------------------------------------------------------------------------------- folder walks
def test_walk_reports_every_entry(tmp_path: Path, caplog) -> None:
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    save(_ds(), root / "ok.dcm")
    (root / "notes.txt").write_text("x")
    (root / "broken.dcm").symlink_to(root / "missing.dcm")
    (root / "dangling").symlink_to(root / "nowhere")
    (root / "loop.dcm").symlink_to(root / "loop.dcm")
    (root / "sub" / "up").symlink_to(root)  # folder loop
    os.mkfifo(root / "pipe.dcm")
    found = walk([root])
    names = {p.name for p in found.files}
    assert names == {"ok.dcm", "broken.dcm", "loop.dcm"}  # inputs by name: their rows say what is wrong
    reasons = {Path(s.path).name: s.reason for s in found.skipped}
    assert "not an input type" in reasons["notes.txt"] and "broken" in reasons["dangling"]
    assert "FIFO" in reasons["pipe.dcm"] and "already walked" in reasons["up"]
    with pytest.raises(UnsupportedInputError, match="broken.dcm: a broken symbolic link"):
        read(root / "broken.dcm")
    with pytest.raises(UnsupportedInputError, match="loop.dcm: a symbolic link loop"):
        read(root / "loop.dcm")
    with pytest.raises(UnsupportedInputError, match="pipe.dcm: not a regular file"):
        read(root / "pipe.dcm")  # never opened: a FIFO would block
    with caplog.at_level(logging.WARNING, logger="echoseg"):
        assert [p.name for p in find_inputs([root])] == sorted(names)
    assert sum("skipped" in r.getMessage() for r in caplog.records) == len(found.skipped)


@pytest.mark.skipif(os.geteuid() == 0, reason="root lists every folder")
def test_walk_reports_unreadable_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        found = walk([tmp_path])
    finally:
        locked.chmod(0o755)
    assert any("cannot be listed" in s.reason for s in found.skipped)


# -------------------------------------------------------------------------------- Doppler thumbnail
def _img(regions: tuple[Region, ...], frames: int, shape: tuple[int, int] = (480, 640)) -> EchoImage:
    return EchoImage(path="thumb.dcm", frames=np.zeros((frames, *shape, 3), np.uint8), regions=regions)


def test_doppler_thumbnail_is_not_an_a4c() -> None:
    from echoseg.pipeline import route_kind

    thumb = Region(402, 9, 587, 186, 1, 1, 3, 3, 0.077, 0.077)  # the 2D thumbnail of a synthetic RVOT screen
    with pytest.raises(CalibrationError, match="thumb.dcm: .*thumbnail"):
        route_kind(_img((thumb,), 1))
    with pytest.raises(CalibrationError, match="thumbnail"):
        route_kind(_img((thumb,), 1), "la_area")
    full = Region(100, 40, 560, 440, 1, 1, 3, 3, 0.03, 0.03)
    assert route_kind(_img((full,), 1))[0] == "a4c"  # a single full-size A4C frame is measured
    assert route_kind(_img((thumb,), 20))[0] == "a4c"  # a cine is not a Doppler screen
    spectral = Region(44, 203, 584, 426, 3, 3, 4, 7, 0.011, -1.28, 0, 100)
    assert route_kind(_img((thumb, spectral), 1))[0] == "doppler"
