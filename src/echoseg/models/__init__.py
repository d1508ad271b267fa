"""echoseg networks: the registry (create/save/load/infer) and one file per architecture.

Importing this package imports torch; the rest of echoseg imports it lazily.
"""
from __future__ import annotations

from .registry import ARCHS, SHIPPED, LoadedModel, bf16_supported, create, infer, load, n_parameters, save

__all__ = ["ARCHS", "SHIPPED", "LoadedModel", "bf16_supported", "create", "infer", "load", "n_parameters", "save"]
