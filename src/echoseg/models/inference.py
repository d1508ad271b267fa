"""Load a model for inference and run it, on the fastest backend available.

"auto" (the default, or the ``ECHOSEG_BACKEND`` environment variable): ONNX Runtime when it is
installed and the model is a batch-norm U-Net with safetensors weights, which also spares the
pipeline torch's import (about 2 s of a study's start-up); otherwise torch. "onnxruntime" or
"torch" force one. Both give the same fp32 probabilities (tested), except that torch uses bf16 on
CPUs with native bf16 convolutions.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .files import LoadedModel

BACKENDS = ("auto", "onnxruntime", "torch")


def backend_choice(backend: str | None = None) -> str:
    """The backend asked for: ``backend``, else ``ECHOSEG_BACKEND``, else "auto"."""
    choice = backend or os.environ.get("ECHOSEG_BACKEND", "") or "auto"
    if choice not in BACKENDS:
        raise ModelError(f"backend must be one of {', '.join(BACKENDS)}, not {choice!r} "
                         "(check the ECHOSEG_BACKEND environment variable)")
    return choice


def load_for_inference(path_or_name: str | Path, backend: str | None = None) -> LoadedModel:
    """A model ready for :func:`infer` on the chosen backend (see the module docstring)."""
    from . import ort

    choice = backend_choice(backend)
    if choice != "torch":
        try:
            return ort.load(path_or_name)
        except ModelError:
            if choice == "onnxruntime":
                raise
            # "auto": torch runs what ONNX Runtime cannot (no onnxruntime, group norm, .pt or bf16
            # weights), or names the problem itself (a missing model, weights that do not fit)
    from .registry import for_inference, load
    loaded = load(path_or_name)
    return replace(loaded, model=for_inference(loaded.model))


def infer(model: Any, x: np.ndarray, batch: int = 32) -> Any:
    """Probabilities for inputs (N, C, H, W) from either backend's model (see registry.infer)."""
    from .ort import OrtNet

    if isinstance(model, OrtNet):
        return model.infer(x, batch)
    from .registry import infer as torch_infer
    return torch_infer(model, x, batch)
