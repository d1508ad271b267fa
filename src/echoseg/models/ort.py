"""Run a shipped-style U-Net with ONNX Runtime, without importing torch.

The graph is built from the model's card and safetensors weights at load time
(:func:`~echoseg.models.onnx_unet.unet_onnx`, tens of milliseconds), so the weights stay in one
file and there is nothing to keep in step. Outputs are the same probabilities as
:func:`echoseg.models.registry.infer` in fp32 (tested to 1e-4).

Threads: ``OMP_NUM_THREADS`` when set, else ONNX Runtime's default (one per physical core).
Telemetry: off. ONNX Runtime queues a usage event in ``~/.cache/Microsoft/DeveloperTools/`` when
it is imported unless ``ORT_DISABLE_TELEMETRY`` is set, so echoseg imports it only through
:func:`import_ort`, which sets that variable first and turns telemetry events off.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .files import LoadedModel, locate
from .unet_spec import UNetConfig, unet_spec


@dataclass(frozen=True, eq=False)
class OrtNet:
    """An ONNX Runtime session of a U-Net; ``head`` is True when it also outputs site probabilities;
    input sides must be multiples of ``multiple`` (2**depth)."""

    session: Any
    head: bool
    multiple: int = 1

    def infer(self, x: np.ndarray, batch: int = 32) -> Any:
        """Probabilities for inputs (N, C, H, W): an array (N, K, H, W), or {"seg", "cls"} with a head."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 4:
            raise ValueError(f"infer needs (N, C, H, W) inputs, not shape {x.shape}")
        if x.shape[2] % self.multiple or x.shape[3] % self.multiple:
            raise ValueError(f"input sides must be divisible by {self.multiple}, not {x.shape[2:]}")
        parts: list[list[np.ndarray]] = []
        for i in range(0, x.shape[0], max(1, batch)):
            parts.append(self.session.run(None, {"x": x[i:i + batch]}))
        if not parts:
            return np.zeros((0,), np.float32)
        outs = [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]
        return {"seg": outs[0], "cls": outs[1]} if self.head else outs[0]


def import_ort() -> Any:
    """The onnxruntime module, imported with its telemetry off (see the module docstring)."""
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # read by onnxruntime when it starts
    import onnxruntime

    disable = getattr(onnxruntime, "disable_telemetry_events", None)
    if disable is not None:
        disable()
    return onnxruntime


def available() -> bool:
    """True when onnxruntime can be imported."""
    try:
        import_ort()
    except ImportError:
        return False
    return True


def unsupported(weights: Path, config: dict[str, Any]) -> str | None:
    """Why this model cannot run here with ONNX Runtime (None when it can)."""
    if not available():
        return "onnxruntime is not installed"
    if config.get("arch") != "unet" or config["arch_config"].get("norm", UNetConfig.norm) != "batch":
        return f"only batch-norm U-Nets are exported to ONNX, not {config.get('arch')} {config['arch_config']}"
    if weights.suffix != ".safetensors":
        return f"{weights.name}: only .safetensors weights are read without torch"
    return None


def _threads() -> int:
    try:
        return max(0, int(os.environ.get("OMP_NUM_THREADS", "0")))
    except ValueError:
        return 0


def from_state(arch_config: dict[str, Any], state: dict[str, np.ndarray], threads: int | None = None) -> OrtNet:
    """An :class:`OrtNet` of a batch-norm UNet from its weights as numpy arrays.

    ``threads``: intra-op threads (None: ``OMP_NUM_THREADS``, else ONNX Runtime's default).

    Raises:
        ValueError: the weights do not fit ``arch_config`` (see :func:`~.onnx_unet.unet_onnx`).
    """
    from .onnx_unet import unet_onnx

    ort = import_ort()

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = _threads() if threads is None else threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    graph = unet_onnx(arch_config, {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in state.items()})
    session = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])
    spec = unet_spec(arch_config)
    return OrtNet(session, head=spec.head is not None, multiple=spec.multiple)


def load(path_or_name: str | Path, threads: int | None = None) -> LoadedModel:
    """A model folder, weights file or shipped name as an :class:`OrtNet` with its card.

    Raises:
        ModelError: the model is missing or unsupported (see :func:`unsupported`), or its weights do
            not fit the architecture its card describes.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    folder, weights, config = locate(path_or_name)
    why = unsupported(weights, config)
    if why:
        raise ModelError(f"{folder}: cannot run with ONNX Runtime: {why}; use the torch backend")
    try:
        state = load_file(str(weights))
        # bf16 has no numpy dtype (load_file fails), or one only once ml_dtypes is imported (by onnx, say):
        # refuse it either way, so what runs does not depend on what else was imported
        odd = sorted({str(v.dtype) for v in state.values()} - {"float16", "float32", "float64", "int64"})
        if odd:
            raise TypeError(f"tensors of dtype {', '.join(odd)}")
    except (SafetensorError, TypeError, ValueError) as exc:
        raise ModelError(f"{weights}: cannot read the weights without torch ({exc}); use the torch backend") from exc
    try:
        net = from_state(config["arch_config"], state, threads)
    except Exception as exc:  # onnxruntime raises its own exception types for bad graphs/shapes
        raise ModelError(f"{weights} does not fit {config['arch']} {config['arch_config']}: {exc}") from exc
    return LoadedModel(model=net, config=config, path=str(folder))
