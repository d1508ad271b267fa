"""Read AVI/MP4 movies and PNG/JPEG stills (no calibration of their own), within the decode budgets."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from echoseg.errors import InputTooLargeError, UnsupportedInputError
from echoseg.io.limits import DEFAULT_LIMITS, MIB, ReadLimits


def _check_size(p: Path, rows: int, cols: int, frames: int, limits: ReadLimits) -> None:
    """Raise InputTooLargeError when ``frames`` RGB frames of rows x cols exceed ``limits``."""
    if frames > limits.max_frames:
        raise InputTooLargeError(f"{p}: more than {limits.max_frames} frames, the limit per file; raise it "
                                 "(--max-frames, ReadLimits.max_frames) if the file is genuine")
    size = rows * cols * 3 * frames
    if size > limits.max_decoded_bytes:
        raise InputTooLargeError(f"{p}: {cols}x{rows} px x {frames} frame(s) decode to {size / MIB:.0f} MiB of RGB, "
                                 f"over the {limits.max_decoded_mb:g} MiB limit; raise it (--max-decoded-mb, "
                                 "ReadLimits.max_decoded_mb) if the file is genuine")


# ------------------------------------------------------------------------------ movies and stills
def read_movie(p: Path, max_frames: int | None,
               limits: ReadLimits = DEFAULT_LIMITS) -> tuple[np.ndarray, float | None]:
    """(T, H, W, 3) uint8 RGB frames of an AVI/MP4 (OpenCV) and the frame time in ms; no calibration."""
    try:
        import cv2
    except ImportError:
        raise UnsupportedInputError(
            f"{p}: reading movies needs OpenCV; install echoseg[video] (opencv-python-headless)") from None
    if p.stat().st_size > limits.max_file_bytes:
        raise InputTooLargeError(f"{p}: the file is over the {limits.max_file_mb:g} MiB limit; raise it "
                                 "(--max-file-mb, ReadLimits.max_file_mb) if the file is genuine")
    cap = cv2.VideoCapture(str(p))
    frames: list[np.ndarray] = []
    deadline = time.monotonic() + limits.max_seconds
    try:
        if not cap.isOpened():
            raise UnsupportedInputError(f"{p}: OpenCV cannot open this movie; re-encode it (e.g. MJPG AVI or H.264 MP4)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        while max_frames is None or len(frames) < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            _check_size(p, bgr.shape[0], bgr.shape[1], len(frames), limits)
            if time.monotonic() > deadline:
                raise InputTooLargeError(f"{p}: decoding passed the {limits.max_seconds:g} s limit per file; raise it "
                                         "(--max-seconds, ReadLimits.max_seconds) if the file is genuine")
    finally:
        cap.release()
    if not frames:
        raise UnsupportedInputError(f"{p}: the movie has no decodable frames; the file may be truncated")
    return np.stack(frames), (1000.0 / fps if 0 < fps < 1e4 else None)


def read_still(p: Path, limits: ReadLimits = DEFAULT_LIMITS) -> tuple[np.ndarray, None]:
    """(1, H, W, 3) uint8 RGB of a PNG/JPEG (Pillow); no calibration."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: the budget below decides
            with Image.open(p) as im:
                _check_size(p, im.size[1], im.size[0], 1, limits)
                rgb = np.asarray(im.convert("RGB"))
    except InputTooLargeError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UnsupportedInputError(f"{p}: the image cannot be decoded ({type(exc).__name__}); "
                                    "the file may be truncated") from None
    return rgb[None].copy(), None
