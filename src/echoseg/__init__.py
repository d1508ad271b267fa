"""echoseg: atrial areas and Doppler VTI from echocardiography DICOM. Research use only; not a medical device.

The public API, imported on first use (importing ``echoseg`` itself does no work)::

    >>> import echoseg
    >>> echoseg.__version__
    '0.1.0'
    >>> results = echoseg.measure(["study/"])          # doctest: +SKIP
    >>> img = echoseg.read("a4c.dcm")                  # doctest: +SKIP
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "measure": "echoseg.pipeline", "measure_file": "echoseg.pipeline", "read": "echoseg.io.read",
    "Models": "echoseg.options", "Options": "echoseg.options", "EchoImage": "echoseg.types",
    "FileResult": "echoseg.types", "Measurement": "echoseg.types", "Beat": "echoseg.types",
    "EchosegError": "echoseg.errors",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'echoseg' has no attribute {name!r}")
