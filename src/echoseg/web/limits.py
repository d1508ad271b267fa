"""The web demo's budgets: how much one request may send, unpack and cost, and how many sessions stay.

Every limit is per request, checked while the request streams in (docs/robustness.md): the body is
counted as it arrives and refused (HTTP 413) the moment it passes ``max_request_mb``, before the
rest is read or written; what the request's zips expand to is counted, together with its plain
files, against ``max_expanded_mb`` (declared sizes first, then the bytes actually written). The
measuring of one request stops after ``max_seconds`` (the files not reached get a row saying so),
or as soon as the client leaves.

Example::

    >>> from echoseg.web.limits import WebLimits
    >>> WebLimits().max_sessions
    64
    >>> WebLimits(max_request_mb=1).max_request_bytes
    1048576
"""
from __future__ import annotations

import math
from dataclasses import dataclass

MIB = 1 << 20


@dataclass(frozen=True)
class WebLimits:
    """Budgets of the web demo (``create_app(limits=...)``).

    Attributes:
        max_request_mb: largest upload request body (MiB, as sent: zips compressed).
        max_expanded_mb: everything one request puts on disk: its plain files plus what all its
            zips expand to (MiB).
        max_files: most inputs measured from one request, and held by one session.
        max_zip_members: most entries in the zips of one request.
        max_seconds: longest measuring of one request (seconds, from when it gets the CPU).
        max_sessions: sessions kept in memory; beyond it the least recently used is dropped.
        max_name_chars: longest file name kept (longer ones are shortened, their extension kept).
    """

    max_request_mb: float = 512.0
    max_expanded_mb: float = 768.0
    max_files: int = 32
    max_zip_members: int = 256
    max_seconds: float = 300.0
    max_sessions: int = 64
    max_name_chars: int = 100

    def __post_init__(self) -> None:
        for name in ("max_request_mb", "max_expanded_mb", "max_files", "max_zip_members", "max_seconds",
                     "max_sessions", "max_name_chars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value)
                                                                                     and value > 0):
                raise ValueError(f"WebLimits.{name} must be a finite number > 0, not {value!r}")

    @property
    def max_request_bytes(self) -> int:
        return int(self.max_request_mb * MIB)

    @property
    def max_expanded_bytes(self) -> int:
        return int(self.max_expanded_mb * MIB)


DEFAULT_WEB_LIMITS = WebLimits()
