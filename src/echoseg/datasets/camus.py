"""CAMUS: ``patientXXXX/patientXXXX_4CH_ES.mhd`` (+ ``.raw``) and ``..._4CH_ES_gt.mhd``, or the
newer release's ``.nii.gz`` files with the same names.

Ground-truth values: 1 LV endocardium, 2 LV myocardium, 3 LA. They become echoseg labels
3 (LV) and 1 (LA); the myocardium is background (echoseg has no myocardium class) and there is
no RA. ElementSpacing (MetaImage) or pixdim (NIfTI), in mm, gives the calibration in cm.

Both readers are written here (a few dozen lines each), so neither SimpleITK nor nibabel is
needed. MetaImage keys read: NDims, DimSize, ElementType, ElementSpacing, ElementDataFile
(a file name or LOCAL), HeaderSize, CompressedData, BinaryDataByteOrderMSB/ElementByteOrderMSB,
ElementNumberOfChannels. NIfTI-1 fields read: sizeof_hdr, dim, datatype, pixdim, vox_offset,
scl_slope/scl_inter, xyzt_units.
"""
from __future__ import annotations

import gzip
import re
import struct
import zlib
from pathlib import Path
from typing import Any, Literal

import numpy as np

from echoseg.datasets.common import DatasetOptions, LabelledSample, SampleRef, as_rgb
from echoseg.errors import EchosegError, UnsupportedInputError
from echoseg.types import Region, TissueCalibration

_MET_TYPES = {
    "MET_UCHAR": "u1", "MET_CHAR": "i1", "MET_USHORT": "u2", "MET_SHORT": "i2", "MET_UINT": "u4",
    "MET_INT": "i4", "MET_ULONG": "u8", "MET_LONG": "i8", "MET_FLOAT": "f4", "MET_DOUBLE": "f8",
}
_NIFTI_TYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4"}
_CAMUS_TO_ECHOSEG = np.array([0, 3, 0, 1] + [0] * 252, dtype=np.uint8)  # 1 LV->3, 2 myo->0, 3 LA->1
PHASES = ("ED", "ES")
_NAME = re.compile(r"^(?P<patient>patient\d+)_(?P<view>\dCH)_(?P<phase>E[DS])(?P<gt>_gt)?\.(mhd|mha|nii|nii\.gz)$",
                   re.IGNORECASE)


def read_mhd(path: Path) -> tuple[np.ndarray, tuple[float, ...]]:
    """Pixels (rows first: [..., y, x]) and ElementSpacing (x, y[, z]) in mm of a MetaImage .mhd/.mha."""
    raw = path.read_bytes()
    header: dict[str, str] = {}
    offset = 0
    for line in raw.split(b"\n"):
        offset += len(line) + 1
        if not line.strip():
            continue
        key, sep, value = line.decode("latin-1").partition("=")
        if not sep:
            raise UnsupportedInputError(f"{path}: MetaImage header line {line[:60]!r} has no '='; not a .mhd file")
        header[key.strip()] = value.strip()
        if key.strip() == "ElementDataFile":
            break
    try:
        dims = [int(v) for v in header["DimSize"].split()]
        dtype = np.dtype(_MET_TYPES[header["ElementType"]])
        data_file = header["ElementDataFile"]
    except KeyError as exc:
        raise UnsupportedInputError(f"{path}: MetaImage header lacks or has an unknown {exc}; "
                                    f"ElementType must be one of {', '.join(_MET_TYPES)}") from None
    spacing = tuple(float(v) for v in header.get("ElementSpacing", " ".join(["1"] * len(dims))).split())
    msb = (header.get("BinaryDataByteOrderMSB") or header.get("ElementByteOrderMSB") or "False").lower() == "true"
    dtype = dtype.newbyteorder(">" if msb else "<")
    channels = int(header.get("ElementNumberOfChannels", "1"))
    if data_file == "LOCAL":
        payload = raw[offset:]
    else:
        target = path.parent / data_file
        if not target.is_file():
            raise UnsupportedInputError(f"{path}: its ElementDataFile {target} is missing; copy it next to the .mhd")
        payload = target.read_bytes()
    if header.get("CompressedData", "False").lower() == "true":
        payload = zlib.decompress(payload)
    else:
        payload = payload[int(header.get("HeaderSize", "0") or 0):]
    count = int(np.prod(dims)) * channels
    if len(payload) < count * dtype.itemsize:
        raise UnsupportedInputError(f"{path}: pixel data holds {len(payload)} bytes, DimSize {dims} needs "
                                    f"{count * dtype.itemsize}; the .raw file is truncated")
    arr = np.frombuffer(payload, dtype=dtype, count=count)
    shape = tuple(reversed(dims)) + ((channels,) if channels > 1 else ())
    return arr.reshape(shape).astype(dtype.newbyteorder("=")), spacing


def read_nifti(path: Path) -> tuple[np.ndarray, tuple[float, ...]]:
    """Pixels (rows first: [..., y, x]) and voxel size (x, y[, z]) in mm of a NIfTI-1 .nii/.nii.gz file."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise UnsupportedInputError(f"{path}: the gzip stream is corrupt ({exc})") from None
    if len(raw) < 352:
        raise UnsupportedInputError(f"{path}: {len(raw)} bytes is too short for a NIfTI-1 header")
    end: Literal["<", ">"] = "<" if struct.unpack("<i", raw[:4])[0] == 348 else ">"
    if struct.unpack(end + "i", raw[:4])[0] != 348:
        raise UnsupportedInputError(f"{path}: sizeof_hdr is not 348; not a NIfTI-1 file")
    dim = struct.unpack(end + "8h", raw[40:56])
    datatype = struct.unpack(end + "h", raw[70:72])[0]
    pixdim = struct.unpack(end + "8f", raw[76:108])
    vox_offset = int(struct.unpack(end + "f", raw[108:112])[0])
    slope, inter = struct.unpack(end + "2f", raw[112:120])
    units = raw[123] & 0x07
    if datatype not in _NIFTI_TYPES:
        raise UnsupportedInputError(f"{path}: NIfTI datatype {datatype} is not supported "
                                    f"(supported: {sorted(_NIFTI_TYPES)})")
    ndim = int(dim[0])
    dims = [int(d) for d in dim[1:1 + ndim]]
    dtype = np.dtype(_NIFTI_TYPES[datatype]).newbyteorder(end)
    count = int(np.prod(dims))
    if len(raw) < vox_offset + count * dtype.itemsize:
        raise UnsupportedInputError(f"{path}: the voxel data is truncated")
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=vox_offset).reshape(tuple(reversed(dims)))
    arr = arr.astype(dtype.newbyteorder("="))
    if slope not in (0.0, 1.0) or inter != 0.0:
        arr = arr * slope + inter
    scale = {1: 1000.0, 2: 1.0, 3: 0.001}.get(units, 1.0)  # metre / mm / micron; unknown read as mm
    return arr, tuple(float(p) * scale for p in pixdim[1:1 + ndim])


def read_volume(path: Path) -> tuple[np.ndarray, tuple[float, ...]]:
    """A 2D CAMUS image (trailing singleton axes dropped) and its spacing in mm."""
    name = path.name.lower()
    arr, spacing = read_nifti(path) if name.endswith((".nii", ".nii.gz")) else read_mhd(path)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise EchosegError(f"{path}: expected one 2D image, found an array of shape {arr.shape}; "
                           "CAMUS sequences (_sequence / _half_sequence) are not labelled per frame")
    return arr, spacing


def is_camus(root: Path) -> bool:
    """True when a file named patientXXXX_<n>CH_E[DS][_gt].mhd/.nii.gz lies within three folders of ``root``."""
    for depth in range(4):
        for path in root.glob("*/" * depth + "patient*"):
            if _NAME.match(path.name):
                return True
    return False


def index(root: Path, task: str, opts: DatasetOptions) -> tuple[list[SampleRef], list[tuple[str, str]]]:
    """One reference per (patient, view, phase) with both image and ground truth."""
    if task != "atria":
        raise ValueError(f"CAMUS holds B-mode images only; task must be 'atria', not {task!r}")
    found: dict[tuple[str, str, str], dict[bool, Path]] = {}
    for path in sorted(root.rglob("patient*")):
        m = _NAME.match(path.name)
        if m and path.is_file() and not any(p.startswith(".") for p in path.relative_to(root).parts):
            key = (m["patient"], m["view"].upper(), m["phase"].upper())
            found.setdefault(key, {}).setdefault(bool(m["gt"]), path)
    refs: list[SampleRef] = []
    skipped: list[tuple[str, str]] = []
    views = {v.upper() for v in opts.views}
    for (patient, view, phase), files in sorted(found.items()):
        if view not in views:
            continue
        if False not in files:
            skipped.append((str(files[True]), f"{files[True]}: ground truth without its image {patient}_{view}_{phase}"))
            continue
        image = files[False]
        if True not in files:
            skipped.append((str(image), f"{image}: no ground truth {patient}_{view}_{phase}_gt.mhd/.nii.gz "
                                        "beside it (CAMUS test patients have none)"))
            continue
        refs.append(SampleRef(source=image, frame=0, group=patient, annotation=files[True],
                              payload={"view": view, "phase": phase}))
    return refs, skipped


def load(ref: SampleRef, task: str, opts: DatasetOptions, reader: Any = None) -> LabelledSample:
    """Read the image and its ground truth, remap labels, calibrate from the spacing."""
    if ref.annotation is None:
        raise EchosegError(f"{ref.source}: this CAMUS sample reference has no ground-truth file (annotation is None)")
    image, spacing = read_volume(ref.source)
    gt, _ = read_volume(ref.annotation)
    if gt.shape != image.shape:
        raise EchosegError(f"{ref.annotation}: ground truth is {gt.shape} but {ref.source} is {image.shape}")
    values = np.unique(gt)
    if values.min() < 0 or values.max() > 3:
        raise EchosegError(f"{ref.annotation}: CAMUS labels must be 0..3 (bg, LV, myocardium, LA), "
                           f"found {values.tolist()}")
    labels = _CAMUS_TO_ECHOSEG[gt.astype(np.int64)]
    rows, cols = image.shape
    if opts.cm_per_px is not None:
        dx = dy = float(opts.cm_per_px)
    else:
        dx, dy = spacing[0] / 10.0, spacing[1] / 10.0
    if not (dx > 0 and dy > 0):
        raise EchosegError(f"{ref.source}: pixel spacing must be positive, not {spacing}; pass cm_per_px")
    region = Region(0, 0, cols - 1, rows - 1, 1, 1, 3, 3, dx, dy)
    calibration = TissueCalibration(region=region, cm_per_px_x=dx, cm_per_px_y=dy)
    grey = image.astype(np.float64)
    if image.dtype != np.uint8:
        lo, hi = float(grey.min()), float(grey.max())
        grey = (grey - lo) / (hi - lo or 1.0) * 255.0
    return LabelledSample(image=as_rgb(np.rint(grey).astype(np.uint8)), labels=labels, calibration=calibration,
                          source=str(ref.source), frame=0, group=ref.group, annotation=str(ref.annotation),
                          meta={"format": "camus", **ref.payload, "spacing_mm": spacing})
