"""Read AVI/MP4 movies and PNG/JPEG stills (no calibration of their own)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from echoseg.errors import UnsupportedInputError


# ------------------------------------------------------------------------------ movies and stills
def read_movie(p: Path, max_frames: int | None) -> tuple[np.ndarray, float | None]:
    """(T, H, W, 3) uint8 RGB frames of an AVI/MP4 (OpenCV) and the frame time in ms; no calibration."""
    try:
        import cv2
    except ImportError:
        raise UnsupportedInputError(
            f"{p}: reading movies needs OpenCV; install echoseg[video] (opencv-python-headless)") from None
    cap = cv2.VideoCapture(str(p))
    frames: list[np.ndarray] = []
    try:
        if not cap.isOpened():
            raise UnsupportedInputError(f"{p}: OpenCV cannot open this movie; re-encode it (e.g. MJPG AVI or H.264 MP4)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        while max_frames is None or len(frames) < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    if not frames:
        raise UnsupportedInputError(f"{p}: the movie has no decodable frames; the file may be truncated")
    return np.stack(frames), (1000.0 / fps if fps > 0 else None)


def read_still(p: Path) -> tuple[np.ndarray, None]:
    """(1, H, W, 3) uint8 RGB of a PNG/JPEG (Pillow); no calibration."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as im:
            rgb = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UnsupportedInputError(f"{p}: the image cannot be decoded ({exc}); the file may be truncated") from None
    return rgb[None].copy(), None
