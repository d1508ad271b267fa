"""Exceptions users can catch. Every message names the file (when there is one), the bad value and the fix."""
from __future__ import annotations


class EchosegError(Exception):
    """Base class of every error echoseg raises on purpose."""


class CalibrationError(EchosegError):
    """Calibration is missing, contradictory, outside the image or in units echoseg does not know."""


class NotUltrasoundError(EchosegError):
    """The file is readable but is not an ultrasound image (wrong modality or SOP class)."""


class UnsupportedInputError(EchosegError):
    """The file cannot be read: unknown format, truncated, or an encoding echoseg cannot decode."""


class ModelError(EchosegError):
    """A model folder or weights file is missing or does not match its model.json."""
