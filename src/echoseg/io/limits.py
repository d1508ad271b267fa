"""Decode budgets: how big a file echoseg agrees to read, checked before anything is decoded.

A file over a budget is refused with :class:`~echoseg.errors.InputTooLargeError` (the reason names
the file, the size and the option that raises the limit), so a hostile or broken header cannot
make echoseg allocate gigabytes or spin for minutes. The defaults hold a long clinical cine
(300 frames of 1024x768 RGB is 675 MiB) and keep one file's peak memory near 1.5 GB.

Example::

    >>> from echoseg.io.limits import ReadLimits
    >>> ReadLimits().max_frames
    2000
    >>> ReadLimits(max_decoded_mb=2048).max_decoded_bytes
    2147483648
"""
from __future__ import annotations

from dataclasses import dataclass

MIB = 1 << 20


@dataclass(frozen=True)
class ReadLimits:
    """Budgets of one file's read (docs/robustness.md).

    Attributes:
        max_file_mb: largest file read at all (MiB on disk).
        max_frames: most frames decoded (NumberOfFrames (0028,0008), or those of a movie).
        max_decoded_mb: largest decoded cine, Rows x Columns x frames x 3 bytes of RGB (MiB).
        max_seconds: longest decode of one file, checked between frames.
    """

    max_file_mb: float = 1024.0
    max_frames: int = 2000
    max_decoded_mb: float = 768.0
    max_seconds: float = 60.0

    def __post_init__(self) -> None:
        for name in ("max_file_mb", "max_frames", "max_decoded_mb", "max_seconds"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0 and value == value and value != float("inf")):
                raise ValueError(f"ReadLimits.{name} must be a finite number > 0, not {value!r}")

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * MIB)

    @property
    def max_decoded_bytes(self) -> int:
        return int(self.max_decoded_mb * MIB)


DEFAULT_LIMITS = ReadLimits()
