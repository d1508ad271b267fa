"""Inputs checked before any work, DICOMDIR set aside, output names unique (batch.inputs)."""
from __future__ import annotations

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from echoseg.batch.inputs import DICOMDIR_SOP_CLASS, UsageError, is_dicomdir, plan, unique_names


def test_names_keep_the_stem_when_unique_and_disambiguate_only_collisions(tmp_path):
    files = [tmp_path / "series1" / "IM0001", tmp_path / "series2" / "IM0001", tmp_path / "series2" / "IM0001.dcm",
             tmp_path / "series2" / "a4c.dcm"]
    names = unique_names(files, [tmp_path])
    assert names == ["series1__IM0001", "series2__IM0001", "series2__IM0001.dcm", "a4c"]
    assert len(set(names)) == len(names)
    # the same relative path under two roots: the whole path decides
    two = unique_names([tmp_path / "a" / "x" / "f.dcm", tmp_path / "b" / "x" / "f.dcm"],
                       [tmp_path / "a", tmp_path / "b"])
    assert len(set(two)) == 2 and all(n.endswith("x__f.dcm") for n in two)


def test_missing_path_and_nothing_to_measure_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        plan([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(UsageError, match="nothing to measure"):
        plan([tmp_path / "empty"])


def _dicomdir(path):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(DICOMDIR_SOP_CLASS)
    ds.file_meta.MediaStorageSOPInstanceUID = UID("1.2.3.4")
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.FileSetID = "ARCHIVE"
    ds.save_as(path, enforce_file_format=True)


def test_dicomdir_is_skipped_with_a_note_by_name_or_by_its_meta(tmp_path, study_dir):
    folder = tmp_path / "media"
    folder.mkdir()
    _dicomdir(folder / "DICOMDIR")
    _dicomdir(folder / "INDEX")  # a DICOMDIR under another name, recognised by (0002,0002)
    assert is_dicomdir(folder / "DICOMDIR") and is_dicomdir(folder / "INDEX")
    assert not is_dicomdir(study_dir / "lvot.dcm")
    with pytest.raises(UsageError, match="only DICOMDIR"):
        plan([folder])
    (folder / "lvot.dcm").write_bytes((study_dir / "lvot.dcm").read_bytes())
    p = plan([folder])
    assert [f.name for f in p.files] == ["lvot.dcm"]
    assert sorted(f.name for f, _ in p.skipped) == ["DICOMDIR", "INDEX"]
    assert all("DICOMDIR" in why for _, why in p.skipped)
