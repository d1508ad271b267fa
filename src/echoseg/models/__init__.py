"""echoseg networks: the registry (create/save/load/infer, torch), one file per architecture, and
the inference path the pipeline uses (:mod:`.inference`: ONNX Runtime when installed, else torch).

Names of the registry are imported on first use, so importing a torch-free submodule
(``files``, ``inference``, ``ort``, ``onnx_unet``, ``unet_spec``) does not import torch.
"""
from __future__ import annotations

from typing import Any

__all__ = ["ARCHS", "SHIPPED", "LoadedModel", "bf16_supported", "create", "infer", "load", "n_parameters", "save"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import registry
        return getattr(registry, name)
    raise AttributeError(f"module 'echoseg.models' has no attribute {name!r}")
