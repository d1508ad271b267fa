"""Read echocardiography inputs into :class:`~echoseg.types.EchoImage`.

DICOM (Ultrasound Image / Multi-frame Image Storage, current and retired, and Secondary Capture
that carries ultrasound regions or Modality US), AVI/MP4 movies and PNG/JPEG screenshots.
Frames always come out as (T, H, W, 3) uint8 RGB, whatever the stored encoding.

Tags read: SOPClassUID (0008,0016), Modality (0008,0060), PhotometricInterpretation (0028,0004),
NumberOfFrames (0028,0008), Sequence of Ultrasound Regions (0018,6011, parsed by
:mod:`echoseg.io.calibration`), FrameTime (0018,1063), FrameTimeVector (0018,1065), CineRate (0018,0040),
RecommendedDisplayFrameRate (0008,2144), HeartRate (0018,1088), Manufacturer (0008,0070),
StudyInstanceUID (0020,000D), SeriesInstanceUID (0020,000E). Patient identifiers are never copied.

Example::

    >>> from echoseg.io.read import read, describe
    >>> img = read("a4c.dcm")                      # doctest: +SKIP
    >>> img.frames.shape, img.frame_time_ms         # doctest: +SKIP
    ((48, 600, 800, 3), 20.0)
    >>> describe(img)["calibration"]["tissue"]      # doctest: +SKIP
    {'cm_per_px_x': 0.0262, 'cm_per_px_y': 0.0262}
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from echoseg.errors import CalibrationError, EchosegError, UnsupportedInputError
from echoseg.io import calibration as cal
from echoseg.io.dicom import read_dicom
from echoseg.io.calibration import manual_regions
from echoseg.io.media import read_movie, read_still
from echoseg.types import EchoImage, SpectralCalibration

DICOM_SUFFIXES = (".dcm", ".dicom")


VIDEO_SUFFIXES = (".avi", ".mp4")


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def read(path: str | os.PathLike[str], *, cm_per_px: float | None = None,
         spectral: SpectralCalibration | None = None, max_frames: int | None = None) -> EchoImage:
    """Read one DICOM, AVI/MP4 or PNG/JPEG file.

    Args:
        path: the file.
        cm_per_px: explicit 2D scale (square pixels). Required for movies and still images of
            B-mode; for a DICOM it replaces the file's 2D tissue regions.
        spectral: explicit spectral Doppler calibration (see
            :func:`echoseg.io.calibration.manual_spectral_calibration`). Required for Doppler screenshots;
            for a DICOM it replaces the file's spectral regions.
        max_frames: decode at most this many frames (from the first).

    Raises:
        UnsupportedInputError: missing, unknown, truncated or undecodable file.
        NotUltrasoundError: a DICOM of another modality (CT, MR, ...).
        CalibrationError: a region lies outside the image, or a movie/still image came without calibration.
    """
    p = Path(path)
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1 or None, not {max_frames}")
    if not p.exists():
        raise UnsupportedInputError(f"{p}: file not found; check the path")
    if not p.is_file():
        raise UnsupportedInputError(f"{p}: not a regular file (use find_inputs to expand folders)")
    suffix = p.suffix.lower()
    if suffix in VIDEO_SUFFIXES or suffix in IMAGE_SUFFIXES:
        if cm_per_px is None and spectral is None:
            raise CalibrationError(
                f"{p}: a {suffix} file carries no calibration; pass --cm-per-px (2D, cm per pixel) "
                "or a spectral calibration (Doppler) to measure it")
        frames, frame_time = read_movie(p, max_frames) if suffix in VIDEO_SUFFIXES else read_still(p)
        regions = manual_regions((), frames.shape[1:3], cm_per_px, spectral, p)
        return EchoImage(path=str(p), frames=frames, regions=regions, frame_time_ms=frame_time,
                         extra={"calibration_source": "manual", "format": suffix.lstrip(".")})
    if suffix in DICOM_SUFFIXES or suffix == "" or has_dicm_preamble(p):
        return read_dicom(p, cm_per_px, spectral, max_frames)
    raise UnsupportedInputError(
        f"{p}: unsupported file type {suffix!r}; echoseg reads DICOM (.dcm, .dicom or no extension), "
        f"{', '.join(VIDEO_SUFFIXES)} and {', '.join(IMAGE_SUFFIXES)}")


def has_dicm_preamble(p: Path) -> bool:
    """True when ``p`` starts with the 128-byte DICOM preamble and the "DICM" prefix."""
    try:
        with p.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


# --------------------------------------------------------------------------------- file discovery
def find_inputs(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Expand folders recursively into readable inputs; explicit files are kept as given.

    Inside folders a file is kept when its extension is .dcm, .dicom, .avi, .mp4, .png, .jpg or
    .jpeg, or when it has no extension and starts with the DICOM preamble ("DICM" at byte 128).
    Hidden files and folders are skipped. The result is sorted and free of duplicates.
    """
    found: set[Path] = set()
    wanted = DICOM_SUFFIXES + VIDEO_SUFFIXES + IMAGE_SUFFIXES
    for item in paths:
        p = Path(item)
        if p.is_dir():
            for f in p.rglob("*"):
                if any(part.startswith(".") for part in f.relative_to(p).parts) or not f.is_file():
                    continue
                suffix = f.suffix.lower()
                if suffix in wanted or (suffix == "" and has_dicm_preamble(f)):
                    found.add(f)
        else:
            found.add(p)  # explicit file (read() reports it if missing or unsupported)
    return sorted(found, key=lambda q: str(q))


# ------------------------------------------------------------------------------------ description
def describe(img: EchoImage) -> dict[str, Any]:
    """Plain-JSON summary of an EchoImage for ``echoseg info --json``."""
    calib: dict[str, Any] = {}
    try:
        t = cal.tissue_calibration(img.regions, img.shape)
        calib["tissue"] = {"cm_per_px_x": t.cm_per_px_x, "cm_per_px_y": t.cm_per_px_y,
                           "region": [t.region.x0, t.region.y0, t.region.x1, t.region.y1]}
    except EchosegError as exc:
        calib["tissue"] = {"error": str(exc)}
    try:
        s = cal.spectral_calibration(img.regions, img.shape)
        calib["spectral"] = {"s_per_px": s.s_per_px, "cm_s_per_px": s.cm_s_per_px,
                             "baseline_row": s.baseline_row, "mode": s.mode,
                             "region": [s.region.x0, s.region.y0, s.region.x1, s.region.y1]}
    except EchosegError as exc:
        calib["spectral"] = {"error": str(exc)}
    return {
        "file": img.path,
        "regions": [r.describe() for r in img.regions],
        "frames": img.n_frames, "rows": img.shape[0], "cols": img.shape[1],
        "frame_time_ms": img.frame_time_ms, "heart_rate_bpm": img.heart_rate_bpm,
        "modality": img.modality, "photometric": img.photometric, "transfer_syntax": img.transfer_syntax,
        "sop_class_uid": img.sop_class_uid, "manufacturer": img.manufacturer,
        "calibration_source": img.extra.get("calibration_source"),
        "warnings": list(img.extra.get("warnings", [])),
        "calibration": calib,
    }


def format_text(desc: dict[str, Any]) -> str:
    """Human-readable rendering of :func:`describe`'s dictionary."""
    ft = desc.get("frame_time_ms")
    lines = [
        f"file: {desc['file']}",
        f"  {desc['frames']} frame(s) of {desc['cols']}x{desc['rows']} px"
        + (f", {ft:.2f} ms/frame ({1000.0 / ft:.1f} fps)" if ft else ", frame time unknown")
        + (f", heart rate {desc['heart_rate_bpm']:g} bpm" if desc.get("heart_rate_bpm") else ""),
        f"  {desc.get('manufacturer') or 'unknown manufacturer'}; photometric {desc.get('photometric') or '-'}; "
        f"transfer syntax {desc.get('transfer_syntax') or '-'}",
        f"  {len(desc['regions'])} ultrasound region(s):",
    ]
    for i, r in enumerate(desc["regions"]):
        lines.append(f"    [{i}] {r['spatial_format']} {r['data_type']}: x {r['x0']}..{r['x1']}, y {r['y0']}..{r['y1']}; "
                     f"{r['delta_x']:.6g} {r['units_x']}/px x {r['delta_y']:.6g} {r['units_y']}/px; "
                     f"ref ({r['ref_x0']}, {r['ref_y0']})")
    for w in desc.get("warnings", []):
        lines.append(f"  warning: {w}")
    tissue = desc["calibration"].get("tissue", {})
    spec = desc["calibration"].get("spectral", {})
    lines.append("  2D calibration: " + (tissue["error"] if "error" in tissue else
                 f"{tissue['cm_per_px_x']:.6g} x {tissue['cm_per_px_y']:.6g} cm/px"))
    lines.append("  spectral calibration: " + (spec["error"] if "error" in spec else
                 f"{spec['mode']}, {spec['s_per_px'] * 1000:.4g} ms/px, {spec['cm_s_per_px']:.4g} cm/s per px, "
                 f"baseline row {spec['baseline_row']:g}"))
    return "\n".join(lines)
