"""Write a SynthCase as the DICOM a scanner would store, plus its ground truth (JSON, NPZ masks).

SOP classes: Ultrasound Multi-frame Image Storage for cine loops, Ultrasound Image Storage for
single images. Pixels: RGB (uncompressed), MONOCHROME2 (grey styles) or JPEG Baseline
YBR_FULL_422 (encoded with Pillow, as many archives store ultrasound). Calibration: the case's
regions written as the Sequence of Ultrasound Regions exactly as docs/output-format.md describes.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEGBaseline8Bit, generate_uid

from echoseg.io.atomic import atomic_write
from echoseg.io.calibration import region_to_item
from echoseg.synth.case import SynthCase

US_MULTIFRAME = UID("1.2.840.10008.5.1.4.1.1.3.1")
US_IMAGE = UID("1.2.840.10008.5.1.4.1.1.6.1")
_ROOT = "1.2.826.0.1.3680043.10.1147."  # fixed prefix; UIDs derived deterministically from the seed


def new_uid(*parts: object) -> UID:
    return generate_uid(prefix=_ROOT, entropy_srcs=[str(p) for p in parts])


def _jpeg_frames(frames: np.ndarray, quality: int) -> list[bytes]:
    out = []
    for f in frames:
        buf = io.BytesIO()
        Image.fromarray(f, mode="RGB").save(buf, format="JPEG", quality=quality, subsampling=1)  # 4:2:2
        out.append(buf.getvalue())
    return out


def _file_meta(sop_class: UID, sop_uid: UID, compression: str) -> FileMetaDataset:
    """File meta information: SOP class/instance and the transfer syntax of ``compression``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = JPEGBaseline8Bit if compression == "jpeg" else ExplicitVRLittleEndian
    return meta


def _series_description(case: SynthCase) -> str:
    """``A4C``; for Doppler ``<SITE> <mode>`` on even seeds and ``Doppler <mode>`` on odd ones."""
    if case.kind == "a4c":
        return "A4C"
    # half the Doppler files name their site, as some vendors' protocols do; the rest say only the mode
    site = str(case.truth.get("site", "")).upper() if case.seed % 2 == 0 else "Doppler"
    return f"{site} {case.truth.get('mode', '')}".strip()


def _set_identity(ds: Dataset, case: SynthCase, study_uid: str | None) -> None:
    """Study/series UIDs, modality, equipment and the synthetic (never real) patient and descriptions."""
    ds.StudyInstanceUID = study_uid or new_uid("study", case.seed)
    ds.SeriesInstanceUID = new_uid("series", case.kind, case.seed)
    ds.Modality = "US"
    ds.Manufacturer = f"echoseg synthetic ({case.style})"
    ds.ManufacturerModelName = "echoseg.synth"
    ds.PatientName = "SYNTHETIC^ECHO"
    ds.PatientID = f"SYN{case.seed:08d}"
    ds.StudyDescription = "Synthetic echocardiogram (not a patient)"
    ds.SeriesDescription = _series_description(case)


def _set_image(ds: Dataset, case: SynthCase, n: int, rows: int, cols: int) -> None:
    """Image size, 8-bit sample layout, heart rate and, for cines, the frame timing."""
    ds.InstanceNumber = 1
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.HeartRate = int(round(case.heart_rate_bpm))
    if n > 1:
        ds.NumberOfFrames = n
        ds.FrameTime = f"{case.frame_time_ms:.3f}"
        ds.CineRate = int(round(1000.0 / case.frame_time_ms))
        ds.FrameIncrementPointer = pydicom.tag.Tag(0x0018, 0x1063)


def _regions_sequence(case: SynthCase) -> Sequence:
    """The case's regions as the Sequence of Ultrasound Regions."""
    items = []
    for region in case.regions:
        item = Dataset()
        for key, value in region_to_item(region).items():
            setattr(item, key, value)
        items.append(item)
    return Sequence(items)


def _set_pixels(ds: Dataset, frames: np.ndarray, monochrome: bool, compression: str, jpeg_quality: int) -> None:
    """Pixel data: MONOCHROME2 (grey, uncompressed), JPEG Baseline YBR_FULL_422 or uncompressed RGB."""
    if monochrome and compression == "none":
        grey = frames.mean(axis=-1).round().astype(np.uint8)
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.PixelData = grey.tobytes()
    elif compression == "jpeg":
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "YBR_FULL_422", 0
        ds.PixelData = encapsulate(_jpeg_frames(frames, jpeg_quality))
        ds["PixelData"].is_undefined_length = True
        ds.LossyImageCompression = "01"
    else:
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.PixelData = frames.tobytes()


def to_dataset(case: SynthCase, *, compression: str = "none", study_uid: str | None = None,
               jpeg_quality: int = 92) -> Dataset:
    """Build the DICOM dataset of ``case``. compression: 'none' or 'jpeg' (JPEG Baseline, YBR_FULL_422)."""
    if compression not in ("none", "jpeg"):
        raise ValueError(f"compression must be 'none' or 'jpeg', not {compression!r}")
    frames = np.ascontiguousarray(case.frames, dtype=np.uint8)
    n, rows, cols, _ = frames.shape
    sop_class = US_MULTIFRAME if n > 1 else US_IMAGE
    sop_uid = new_uid("sop", case.kind, case.seed, case.style)
    ds = Dataset()
    ds.file_meta = _file_meta(sop_class, sop_uid, compression)
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
    _set_identity(ds, case, study_uid)
    _set_image(ds, case, n, rows, cols)
    ds.SequenceOfUltrasoundRegions = _regions_sequence(case)
    _set_pixels(ds, frames, case.monochrome, compression, jpeg_quality)
    return ds


def write_case(case: SynthCase, out_dir: str | Path, stem: str, *, compression: str = "none",
               study_uid: str | None = None, save_masks: bool = True) -> dict[str, Path]:
    """Write ``<stem>.dcm``, ``<stem>.truth.json`` and (optionally) ``<stem>.masks.npz``; returns the paths.

    Every file is written under a temporary name and renamed, so a crash leaves nothing half-written.
    """
    out = Path(out_dir)
    ds = to_dataset(case, compression=compression, study_uid=study_uid)
    paths = {"dicom": out / f"{stem}.dcm", "truth": out / f"{stem}.truth.json"}
    atomic_write(paths["dicom"], lambda p: ds.save_as(p, enforce_file_format=True))
    truth = {"file": paths["dicom"].name, "kind": case.kind, "tasks": list(case.tasks), "style": case.style,
             "seed": case.seed, "compression": compression, "study_uid": str(ds.StudyInstanceUID), **case.truth}
    atomic_write(paths["truth"], lambda p: Path(p).write_text(json.dumps(truth, indent=1, default=float)))
    masks = case.masks
    if save_masks and masks is not None:
        paths["masks"] = out / f"{stem}.masks.npz"
        def _save(p: str) -> None:
            with open(p, "wb") as fh:
                np.savez_compressed(fh, masks=masks)
        atomic_write(paths["masks"], _save)
    return paths
