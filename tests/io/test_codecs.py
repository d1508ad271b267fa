"""echoseg.io.codecs: every archive codec decodes in the default install, in a fixed decoder order.

Synthetic ultrasound DICOMs are compressed in tmp_path (pyjpegls, python-gdcm, pylibjpeg-openjpeg as
encoders) from seeded pixels whose truth is exact; real files come from pydicom / pydicom-data
(tests/reference_files.py), and the table must name every ultrasound file they ship.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import (JPEG2000Lossless, JPEGBaseline8Bit, JPEGLosslessSV1, JPEGLSLossless, JPEGLSNearLossless,
                         RLELossless)

from echoseg import errors
from echoseg.errors import UnsupportedInputError
from echoseg.io import codecs
from echoseg.io.dicom import US_SOP_CLASSES
from echoseg.io.read import read

try:
    from reference_files import REFERENCES, REFUSALS, reference_path
except ImportError:  # tests/ imported as a package
    from tests.reference_files import REFERENCES, REFUSALS, reference_path

from tests.io.test_read import make_ds, save, smooth_rgb


def _us_dataset(frames: np.ndarray, photometric: str = "RGB") -> pydicom.Dataset:
    return make_ds(frames, photometric)


def _gdcm_transcode(src: Path, dst: Path) -> Path:
    """Re-encode ``src`` as JPEG Lossless process 14 SV1 with GDCM (pydicom has no such encoder)."""
    gdcm = pytest.importorskip("gdcm")
    reader = gdcm.ImageReader()
    reader.SetFileName(str(src))
    assert reader.Read()
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLosslessProcess14_1))
    change.SetInput(reader.GetImage())
    assert change.Change()
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(dst))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    assert writer.Write()
    return dst


# ------------------------------------------------------------------------------------ the table
def test_every_compressed_syntax_has_an_installed_decoder() -> None:
    for codec in codecs.CODECS:
        for ts in codec.transfer_syntaxes:
            assert codecs.can_decode(ts), f"{codec.name} ({ts}): no decoder among {codec.plugins}"


def test_decoder_order_is_fixed_and_gpl_free() -> None:
    assert codecs.available_plugins(JPEGBaseline8Bit)[0] == "pillow"  # 6x faster than GDCM on a cine
    assert codecs.available_plugins(JPEGLosslessSV1) == ("gdcm",)
    assert codecs.available_plugins(JPEGLSLossless)[0] == "pyjpegls"
    assert codecs.available_plugins(JPEG2000Lossless)[0] == "pylibjpeg"
    for codec in codecs.CODECS:  # pydicom's pylibjpeg plugin would reach GPL libjpeg for these
        if codec.name in ("JPEG Baseline", "JPEG Lossless", "JPEG-LS"):
            assert "pylibjpeg" not in codec.plugins


def test_uncompressed_and_unknown_syntaxes() -> None:
    assert codecs.codec_for("1.2.840.10008.1.2.1") is None and codecs.can_decode("1.2.840.10008.1.2.1")
    assert codecs.codec_for(None) is None
    assert "python-gdcm" in codecs.missing_decoder_hint(JPEGLosslessSV1)


def test_missing_decoder_is_refused_with_the_package_to_install(tmp_path: Path, monkeypatch) -> None:
    src = save(_us_dataset(smooth_rgb(1, 40, 48, seed=3)), tmp_path / "plain.dcm")
    path = _gdcm_transcode(src, tmp_path / "lossless.dcm")
    monkeypatch.setattr(codecs, "available_plugins", lambda ts: ())
    with pytest.raises(UnsupportedInputError, match="lossless.dcm") as info:
        read(path)
    assert "python-gdcm" in str(info.value)


# ------------------------------------------------------------------- synthetic round trips
def test_jpeg_lossless_process14_rgb_exact(tmp_path: Path) -> None:
    frames = smooth_rgb(3, 40, 48, seed=21)
    path = _gdcm_transcode(save(_us_dataset(frames), tmp_path / "plain.dcm"), tmp_path / "jpll.dcm")
    assert str(pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID) == JPEGLosslessSV1
    img = read(path)
    assert np.array_equal(img.frames, frames) and len(img.regions) == 2


def test_jpeg_lossless_first_frames_only(tmp_path: Path) -> None:
    frames = smooth_rgb(4, 40, 48, seed=22)
    path = _gdcm_transcode(save(_us_dataset(frames), tmp_path / "plain.dcm"), tmp_path / "jpll.dcm")
    assert np.array_equal(read(path, max_frames=2).frames, frames[:2])


@pytest.mark.parametrize("syntax, near", [(JPEGLSLossless, 0), (JPEGLSNearLossless, 2)])
def test_jpeg_ls_rgb_and_grey(tmp_path: Path, syntax: str, near: int) -> None:
    frames = smooth_rgb(2, 40, 48, seed=23)
    ds = _us_dataset(frames)
    kwargs = {"jls_error": near} if near else {}
    ds.compress(syntax, encoding_plugin="pyjpegls", **kwargs)
    img = read(save(ds, tmp_path / "jls.dcm"))
    assert int(np.abs(img.frames.astype(int) - frames).max()) == near
    grey = frames[..., 0]
    ds = _us_dataset(grey, "MONOCHROME2")
    ds.compress(syntax, encoding_plugin="pyjpegls", **kwargs)
    img = read(save(ds, tmp_path / "jls_grey.dcm"))
    assert int(np.abs(img.frames[..., 1].astype(int) - grey).max()) == near


def test_jpeg2000_lossless_grey_exact(tmp_path: Path) -> None:
    grey = smooth_rgb(2, 64, 96, seed=24)[..., 0]
    ds = _us_dataset(grey, "MONOCHROME2")
    ds.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg")
    img = read(save(ds, tmp_path / "j2k.dcm"))
    assert np.array_equal(img.frames[..., 2], grey)


def test_rle_still_decodes(tmp_path: Path) -> None:
    frames = smooth_rgb(2, 40, 48, seed=25)
    ds = _us_dataset(frames)
    ds.compress(RLELossless)
    assert np.array_equal(read(save(ds, tmp_path / "rle.dcm")).frames, frames)


# ------------------------------------------------------------------ every real ultrasound file
def _shipped_ultrasound_files() -> list[Path]:
    from pydicom.data import get_testdata_files

    found = []
    for f in get_testdata_files("**/*"):
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True, force=True)
        except Exception:  # noqa: BLE001 - pydicom ships deliberately broken files too
            continue
        if str(ds.get("SOPClassUID", "")) in US_SOP_CLASSES or str(ds.get("Modality", "")) == "US":
            found.append(Path(f))
    return found


def test_reference_table_names_every_ultrasound_file() -> None:
    if reference_path("OBXXXX1A.dcm") is None:
        pytest.skip("pydicom-data is not installed")
    shipped = {p.name for p in _shipped_ultrasound_files()}
    listed = {r.name for r in REFERENCES} | {r.name for r in REFUSALS}
    assert shipped - listed == set(), "add these to tests/reference_files.py"
    assert len(shipped) >= 20


@pytest.mark.parametrize("ref", [r for r in REFERENCES if not r.error], ids=lambda r: r.name)
def test_reference_file_decodes(ref) -> None:
    path = reference_path(ref.name)
    if path is None:
        pytest.skip("pydicom-data is not installed")
    ts = str(pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)
    assert codecs.can_decode(ts)
    img = read(path)
    assert img.frames.shape == (ref.frames, ref.rows, ref.cols, 3)
    assert float(img.frames.mean()) == pytest.approx(ref.mean, abs=0.0001 if ref.tol == 0 else 0.1)
    for (r, c), rgb in ref.pixels.items():
        assert np.abs(img.frames[0, r, c].astype(int) - rgb).max() <= ref.tol, (r, c, img.frames[0, r, c])


@pytest.mark.parametrize("ref", REFUSALS, ids=lambda r: r.name)
def test_refused_reference_file(ref) -> None:
    path = reference_path(ref.name)
    if path is None:
        pytest.skip(f"{ref.name} is not installed")
    with pytest.raises(getattr(errors, ref.error)) as info:
        read(path)
    assert ref.name in str(info.value) and ref.says in str(info.value)



# ------------------------------------------------------------------ info reads headers, never pixels
def test_info_reads_regions_without_decoding(tmp_path: Path, monkeypatch, capsys) -> None:
    """The Philips JPEG Lossless file: `echoseg info` describes it with every decoder disabled."""
    import json

    import echoseg.io.dicom as dicom
    from echoseg.cli import main

    path = reference_path("JPGLosslessP14SV1_1s_1f_8b.dcm")
    if path is None:
        pytest.skip("pydicom-data is not installed")

    def no_decoding(*args, **kwargs):
        raise AssertionError("info decoded pixels")

    monkeypatch.setattr(dicom, "_decode", no_decoding)
    monkeypatch.setattr(pydicom.pixels, "pixel_array", no_decoding)
    monkeypatch.setattr(pydicom.pixels, "iter_pixels", no_decoding)
    assert main(["info", "--json", str(path)]) == 0
    (desc,) = json.loads(capsys.readouterr().out)
    assert (desc["rows"], desc["cols"], desc["frames"]) == (768, 1024, 1)
    assert len(desc["regions"]) == 1 and desc["regions"][0]["data_type"] == "tissue"
    assert desc["calibration"]["tissue"]["cm_per_px_x"] == pytest.approx(0.0254767, rel=1e-5)
    assert desc["pixels"].startswith("decodable (JPEG Lossless") and "gdcm" in desc["pixels"]


def test_info_without_a_decoder_still_lists_the_regions(tmp_path: Path, monkeypatch, capsys) -> None:
    from echoseg.cli import main

    src = save(_us_dataset(smooth_rgb(2, 40, 48)), tmp_path / "raw.dcm")
    ds = pydicom.dcmread(src)
    ds.compress(JPEGLSLossless, encoding_plugin="pyjpegls")
    p = save(ds, tmp_path / "jls.dcm")
    monkeypatch.setattr(codecs, "available_plugins", lambda ts: ())
    assert main(["info", str(p)]) == 0  # described, not an error
    text = capsys.readouterr().out
    assert "2 ultrasound region(s)" in text and "2 frame(s) of 48x40 px" in text
    assert "not decodable here" in text and "pip install pyjpegls" in text
    with pytest.raises(UnsupportedInputError, match="pyjpegls"):
        read(p)  # measuring it is refused, as before
