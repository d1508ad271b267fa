"""Exceptions users can catch. Every message names the file (when there is one), the bad value and the fix.

Messages are built from echoseg's own words and values it has checked (numbers it parsed, names
from its own vocabulary), never from raw header text, so they cannot carry patient data; every
message is also made printable and capped in length here (:func:`clean_text`), whatever built it.

Example::

    >>> str(UnsupportedInputError("a.dcm: bad\\x00 byte"))
    'a.dcm: bad? byte'
    >>> reason_for(ValueError("x must be > 0, not -1"), "a.dcm")
    'a.dcm: x must be > 0, not -1'
    >>> reason_for(KeyError("Doe^Jane"), "a.dcm")[:37]
    'a.dcm: internal error (KeyError) whil'
"""
from __future__ import annotations

MAX_MESSAGE_CHARS = 500  # longest reason or warning echoseg writes (a CSV cell, a log line)


def clean_text(text: object, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` as one printable line of at most ``limit`` characters.

    Control and other non-printable characters (NUL, escapes, line breaks) become "?", runs of
    whitespace one space, and an over-long text is cut with "...".
    """
    s = "".join(c if c.isprintable() else ("?" if c not in " \t\r\n" else " ") for c in str(text))
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: max(0, limit - 3)] + "..."


class EchosegError(Exception):
    """Base class of every error echoseg raises on purpose; its message is always clean (see :func:`clean_text`)."""

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(clean_text(message), *args)


class CalibrationError(EchosegError):
    """Calibration is missing, contradictory, outside the image or in units echoseg does not know."""


class NotUltrasoundError(EchosegError):
    """The file is readable but is not an ultrasound image (wrong modality or SOP class)."""


class UnsupportedInputError(EchosegError):
    """The file cannot be read: unknown format, truncated, or an encoding echoseg cannot decode."""


class InputTooLargeError(UnsupportedInputError):
    """The file would exceed a decode budget (file size, frames, decoded bytes or time; see ``ReadLimits``)."""


class ModelError(EchosegError):
    """A model folder or weights file is missing or does not match its model.json."""


def reason_for(exc: BaseException, file: str) -> str:
    """The per-file reason for ``exc``: clean, capped, and naming ``file``.

    An :class:`EchosegError` (or a ValueError, which echoseg's own checks raise) keeps its message,
    prefixed with ``file`` when it does not name it. Any other exception is an echoseg bug: its
    text is not shown (it may quote file contents), only its type.
    """
    name = clean_text(file, 200)
    if isinstance(exc, (EchosegError, ValueError)):
        msg = clean_text(exc)
        if file and name not in msg:
            msg = clean_text(f"{name}: {msg}")
        return msg
    return clean_text(f"{name}: internal error ({type(exc).__name__}) while measuring; the file is unusual "
                      "in a way echoseg does not name yet: please report it")
