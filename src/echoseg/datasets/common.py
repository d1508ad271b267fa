"""Pieces every dataset format shares: the sample types, the flow rasteriser, frame reading.

Label values of atrial samples: 0 background, 1 LA, 2 RA, 3 LV, 4 RV (:data:`echoseg.vocab.LABEL_VALUES`).
Doppler samples carry a flow mask: 1 between the baseline and the traced envelope, else 0.
Polygons are drawn by :func:`echoseg.imaging.polygons.polygon_mask` (pixel centres inside).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from echoseg.errors import CalibrationError, EchosegError, UnsupportedInputError
from echoseg.io.calibration import manual_tissue_calibration, spectral_calibration, tissue_calibration
from echoseg.io.media import read_movie, read_still
from echoseg.io.read import has_dicm_preamble, read
from echoseg.types import Region, SpectralCalibration, TissueCalibration
from echoseg.vocab import FAMILIES

LABEL_ALIASES = {
    "LA": "LA", "LEFT ATRIUM": "LA", "LEFT_ATRIUM": "LA", "LA_AREA": "LA",
    "RA": "RA", "RIGHT ATRIUM": "RA", "RIGHT_ATRIUM": "RA", "RA_AREA": "RA",
    "LV": "LV", "LEFT VENTRICLE": "LV", "LEFT_VENTRICLE": "LV",
    "RV": "RV", "RIGHT VENTRICLE": "RV", "RIGHT_VENTRICLE": "RV",
}
DICOM_SUFFIXES = (".dcm", ".dicom")
VIDEO_SUFFIXES = (".avi", ".mp4")
STILL_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_SUFFIXES = DICOM_SUFFIXES + VIDEO_SUFFIXES + STILL_SUFFIXES
_FRAME_IN_NAME = re.compile(r"^(?P<stem>.+?)[_.\-]frame[_\-]?(?P<frame>\d+)$", re.IGNORECASE)

Calibration = TissueCalibration | SpectralCalibration | None


@dataclass(frozen=True, eq=False)
class LabelledSample:
    """One labelled image.

    image: (H, W, 3) uint8 RGB (grey sources are replicated into three channels).
    labels: (H, W) uint8; atria: 0 bg, 1 LA, 2 RA, 3 LV, 4 RV; doppler: 1 inside the flow region.
    calibration: the image's TissueCalibration (atria) or SpectralCalibration (doppler), None when unknown.
    source: the image file; frame: 0-based frame of that file; group: patient/study key used by split.
    annotation: the annotation file (JSON, PNG mask, CSV ...); meta: format-specific extras.
    """

    image: np.ndarray
    labels: np.ndarray
    calibration: Calibration
    source: str
    frame: int
    group: str
    annotation: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class SampleRef:
    """What an index step found for one sample, before any pixels are decoded (picklable)."""

    source: Path
    frame: int
    group: str
    annotation: Path | None = None
    payload: Any = None


@dataclass(frozen=True)
class DatasetOptions:
    """User-supplied settings the formats need.

    cm_per_px: square-pixel scale for sources without calibration (PNG, AVI, EchoNet); for DICOM
    it replaces the file's regions. spectral: explicit Doppler calibration for screenshots.
    views: CAMUS views to include ("4CH", "2CH").
    """

    cm_per_px: float | None = None
    spectral: SpectralCalibration | None = None
    views: tuple[str, ...] = ("4CH",)


def check_task(task: str) -> str:
    if task not in FAMILIES:
        raise ValueError(f"task must be one of {', '.join(FAMILIES)}, not {task!r}")
    return task


def canonical_label(label: Any) -> str | None:
    """Map a free-text label ('la', 'Left atrium', ...) to LA/RA/LV/RV, or None when it is none of them."""
    return LABEL_ALIASES.get(str(label).strip().upper())


# ------------------------------------------------------------------------------------ rasterisers
def flow_mask(envelope: Any, baseline_row: float, shape: tuple[int, int]) -> np.ndarray:
    """Bool (H, W) flow region between the baseline row and a traced envelope.

    ``envelope`` is an (N, 2) sequence of (x, y) points along the envelope (any order along x);
    it is linearly interpolated at every column centre between its first and last x. In each such
    column the pixels with centres in [min(y, baseline), max(y, baseline)) are set, so a column's
    count equals the envelope's distance from the baseline in pixels, up to rounding.
    """
    rows_n, cols_n = int(shape[0]), int(shape[1])
    mask = np.zeros((rows_n, cols_n), dtype=bool)
    pts = np.asarray(envelope, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 2 or not np.isfinite(pts).all():
        return mask
    order = np.argsort(pts[:, 0], kind="stable")
    xs, ys = pts[order, 0], pts[order, 1]
    c_lo, c_hi = max(0, int(np.ceil(xs[0]))), min(cols_n - 1, int(np.floor(xs[-1])))
    if c_hi < c_lo:
        return mask
    cols = np.arange(c_lo, c_hi + 1)
    y = np.interp(cols, xs, ys)
    lo, hi = np.minimum(y, baseline_row), np.maximum(y, baseline_row)
    r = np.arange(rows_n, dtype=np.float64)[:, None]
    mask[:, c_lo:c_hi + 1] = (r >= lo) & (r < hi)
    return mask


# ----------------------------------------------------------------------------------- file helpers
def split_frame_from_stem(stem: str) -> tuple[str, int | None]:
    """'case01_frame12' -> ('case01', 12); 'case01' -> ('case01', None)."""
    m = _FRAME_IN_NAME.match(stem)
    return (m["stem"], int(m["frame"])) if m else (stem, None)


def find_image(folder: Path, stem: str) -> Path | None:
    """The image file called ``stem`` + a known suffix (or no suffix, a DICOM) in ``folder``."""
    for suffix in IMAGE_SUFFIXES + tuple(s.upper() for s in IMAGE_SUFFIXES):
        cand = folder / f"{stem}{suffix}"
        if cand.is_file():
            return cand
    bare = folder / stem
    return bare if bare.is_file() and is_dicom(bare) else None


def is_dicom(path: Path) -> bool:
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    if path.suffix:
        return False

    return has_dicm_preamble(path)


def probe(path: Path) -> tuple[int, str | None]:
    """(number of frames, StudyInstanceUID or None) without decoding pixels.

    Tags read: NumberOfFrames (0028,0008), StudyInstanceUID (0020,000D).
    """
    if is_dicom(path):
        import pydicom

        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        except Exception as exc:  # noqa: BLE001 - any header failure means unreadable
            raise UnsupportedInputError(f"{path}: unreadable DICOM header ({type(exc).__name__}: {exc})") from None
        return int(ds.get("NumberOfFrames", 1) or 1), (str(ds.get("StudyInstanceUID", "") or "") or None)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        cv2 = _cv2(path)
        cap = cv2.VideoCapture(str(path))
        try:
            if not cap.isOpened():
                raise UnsupportedInputError(f"{path}: OpenCV cannot open this movie; re-encode it as MJPG AVI")
            return max(1, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 1)), None
        finally:
            cap.release()
    return 1, None


def group_key(path: Path, root: Path, study_uid: str | None = None) -> str:
    """Patient/study key: the top folder under ``root`` when nested, else the StudyInstanceUID, else the stem."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        parts = ()
    if len(parts) > 1:
        return parts[0]
    if study_uid:
        return study_uid
    return split_frame_from_stem(path.stem)[0]


def _cv2(path: Path) -> Any:
    try:
        import cv2
    except ImportError:
        raise UnsupportedInputError(
            f"{path}: reading movies needs OpenCV; install echoseg[video] (opencv-python-headless)") from None
    return cv2


def as_rgb(arr: np.ndarray, where: str = "") -> np.ndarray:
    """(H, W) or (H, W, 1|3|4) uint8-convertible pixels -> (H, W, 3) uint8."""
    a = np.asarray(arr)
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim == 3 and a.shape[2] in (1, 3, 4):
        return np.ascontiguousarray(np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a[:, :, :3])
    raise UnsupportedInputError(f"{where}: image of shape {a.shape} is neither grey nor RGB")


class FrameReader:
    """Decodes one frame of a DICOM, movie or still image, keeping the last file decoded.

    DICOMs go through :func:`echoseg.io.read` (so every photometric interpretation and the region
    clean-up are the same as at measurement time). Movies and stills are read here because
    ``io.read`` refuses them without calibration, which training does not need.
    """

    def __init__(self) -> None:
        self._path: Path | None = None
        self._frames: np.ndarray | None = None
        self._regions: tuple[Region, ...] = ()

    def read(self, path: Path, frame: int, opts: DatasetOptions) -> tuple[np.ndarray, tuple[Region, ...]]:
        """(H, W, 3) uint8 frame ``frame`` of ``path`` and the file's ultrasound regions."""
        if self._path != path or self._frames is None or frame >= len(self._frames):
            self._frames, self._regions = self._decode(path, frame, opts)
            self._path = path
        if not 0 <= frame < len(self._frames):
            raise EchosegError(f"{path}: frame {frame} requested but the file has {len(self._frames)} frame(s); "
                               "fix the annotation's frame index")
        return self._frames[frame].copy(), self._regions

    @staticmethod
    def _decode(path: Path, frame: int, opts: DatasetOptions) -> tuple[np.ndarray, tuple[Region, ...]]:
        if not path.is_file():
            raise UnsupportedInputError(f"{path}: image file not found; check the annotation's image path")
        if is_dicom(path):

            img = read(path, cm_per_px=opts.cm_per_px, spectral=opts.spectral, max_frames=frame + 1)
            return img.frames, img.regions

        if path.suffix.lower() in VIDEO_SUFFIXES:
            return read_movie(path, frame + 1)[0], ()
        return read_still(path)[0], ()


def calibrate(regions: tuple[Region, ...], shape: tuple[int, int], task: str, opts: DatasetOptions,
              where: str) -> tuple[Calibration, str]:
    """The sample's calibration and, when there is none, the reason (empty string otherwise)."""
    try:
        if task == "doppler":
            if opts.spectral is not None:
                return opts.spectral, ""
            return spectral_calibration(regions, shape, where), ""
        if regions:
            return tissue_calibration(regions, shape, where), ""
        if opts.cm_per_px is not None:
            return manual_tissue_calibration(float(opts.cm_per_px), shape), ""
        return None, f"{where}: no calibration (no ultrasound regions and no cm_per_px given)"
    except CalibrationError as exc:
        return None, str(exc)


def load_mask_png(path: Path) -> np.ndarray:
    """(H, W) uint8 values of a mask PNG (the first channel of a colour PNG)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UnsupportedInputError(f"{path}: the mask PNG cannot be decoded ({exc})") from None
    return (arr[..., 0] if arr.ndim == 3 else arr).astype(np.uint8)
