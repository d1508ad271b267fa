"""Create, save, load and run echoseg networks.

A model folder holds ``model.safetensors`` (weights) and ``model.json`` (the model card: ``arch``,
``arch_config``, ``task``, ``input_size``, ``classes``, ``sites``, training command, data and
metrics), so a folder is enough to rebuild the network. Shipped models live in the package under
``echoseg/weights/<name>/`` and are loaded by name (``load("atria")``, ``load("doppler")``).

Example::

    >>> import numpy as np
    >>> net = create("unet", in_ch=1, n_classes=5, base=4, depth=2)
    >>> infer(net, np.zeros((2, 1, 32, 32), np.float32)).shape
    (2, 5, 32, 32)
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ModelError
from .files import CARD_FILE, SHIPPED, WEIGHTS_FILE, LoadedModel, locate, shipped_dir
from .unet import UNet

ARCHS: dict[str, Callable[..., nn.Module]] = {"unet": UNet}
__all__ = ["ARCHS", "CARD_FILE", "SHIPPED", "WEIGHTS_FILE", "LoadedModel", "bf16_supported", "create", "for_inference",
           "infer", "load", "n_parameters", "save", "shipped_dir"]


def create(arch: str, **config: Any) -> nn.Module:
    """Build an untrained network of a registered architecture (see :data:`ARCHS`)."""
    if arch not in ARCHS:
        raise ModelError(f"unknown architecture {arch!r}; registered: {', '.join(sorted(ARCHS))}")
    try:
        return ARCHS[arch](**config)
    except TypeError as exc:
        raise ModelError(f"architecture {arch!r} does not accept config {config}: {exc}") from exc


def n_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}


def save(model: nn.Module, config: dict[str, Any], out_dir: str | Path, card: dict[str, Any] | None = None,
         half: bool = False) -> Path:
    """Write ``out_dir/model.safetensors`` and ``out_dir/model.json`` (config + card); return out_dir.

    ``config`` must hold ``arch`` and ``arch_config`` (the keyword arguments of :func:`create`) and
    the inputs' ``input_size``; ``card`` adds free-form provenance (data, command, metrics).
    ``half=True`` stores floating tensors as float16 (half the size; :func:`load` restores float32).
    """
    from safetensors.torch import save_file

    for key in ("arch", "arch_config", "input_size"):
        if key not in config:
            raise ModelError(f"model config lacks {key!r}; save needs arch, arch_config and input_size")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = _state(model)
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    meta = {**(card or {}), **config, "n_parameters": n_parameters(model), "weights_dtype":
            "float16" if half else "float32", "format": "echoseg-model/1"}
    save_file(state, str(out / WEIGHTS_FILE), metadata={"arch": str(config["arch"])})
    (out / CARD_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    return out


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(path))
    if path.suffix in (".pt", ".pth"):
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - torch's UnpicklingError advises weights_only=False: never
            raise ModelError(f"{path}: not a plain state dict of tensors ({type(exc).__name__}); echoseg loads "
                             "weights only, never pickled code: re-save the state dict with "
                             "safetensors.torch.save_file (or torch.save of tensors only)") from None
        if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
            obj = obj["state_dict"]
        if not isinstance(obj, dict):
            raise ModelError(f"{path}: expected a state dict of tensors, found {type(obj).__name__}")
        return obj
    raise ModelError(f"{path}: weights must be .safetensors, .pt or .pth, not {path.suffix or 'no suffix'}")


def load(path_or_name: str | Path) -> LoadedModel:
    """Load a model folder, a weights file with a ``model.json`` beside it, or a shipped name.

    Raises:
        ModelError: the folder/name is missing, ``model.json`` is absent or invalid, or the weights
            do not fit the architecture the card describes.
    """
    folder, weights, config = locate(path_or_name)
    arch, arch_config = config["arch"], config["arch_config"]
    model = create(arch, **arch_config)
    state = _read_weights(weights)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise ModelError(f"{weights} does not match {arch} {arch_config} from {folder / CARD_FILE}: "
                         f"{' '.join(first)}") from exc
    _channels_last(model)
    return LoadedModel(model=model, config=config, path=str(folder))


def bf16_supported() -> bool:
    """True when this CPU runs bf16 convolutions natively (AVX512-BF16/AMX), so autocast pays off."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def use_bf16(precision: str) -> bool:
    """Whether ``precision`` ("auto" | "bf16" | "fp32") means bf16: "bf16", or "auto" on a CPU with
    native bf16 convolutions (the one place inference and training decide it)."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be 'auto', 'bf16' or 'fp32', not {precision!r}")
    return precision == "bf16" or (precision == "auto" and bf16_supported())


def _channels_last(model: nn.Module) -> nn.Module:
    """``model`` in eval mode with channels_last weights (in place)."""
    return model.eval().to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # stub lacks memory_format


def _activate(name: str, t: torch.Tensor) -> np.ndarray:
    t = t.float()
    if name == "cls":
        return torch.softmax(t, dim=1).numpy()
    return (torch.sigmoid(t) if t.shape[1] == 1 else torch.softmax(t, dim=1)).numpy()


def for_inference(model: nn.Module, precision: str = "auto") -> nn.Module:
    """A copy of ``model`` ready for :func:`infer`: eval mode, channels_last, and with bf16 (as
    :func:`infer` would choose it) its convolution and linear weights cast to bf16 once, which
    autocast would otherwise redo on every call. Outputs are identical to :func:`infer` on the
    original; the copy is for inference only (never train it)."""
    import copy

    bf16 = use_bf16(precision)
    ready = _channels_last(copy.deepcopy(model))
    if bf16:
        for mod in ready.modules():
            if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                mod.to(torch.bfloat16)
    ready.requires_grad_(False)
    setattr(ready, "_echoseg_precision", "bf16" if bf16 else "fp32")  # read back by infer
    return ready


def infer(model: nn.Module, x: np.ndarray, batch: int = 32, precision: str = "auto") -> Any:
    """Probabilities for a batch of model inputs (N, C, H, W) float32.

    Returns an array (N, K, H, W) (softmax over K classes, or sigmoid when K = 1), or, for a model
    with a classification head, a dict {"seg": that array, "cls": (N, n_cls) softmax}. Runs under
    torch.inference_mode in eval mode with channels_last; ``precision`` "auto" uses bf16 autocast
    when the CPU supports it ("bf16"/"fp32" force one), or the precision :func:`for_inference`
    prepared the model for. Deterministic for a given input.
    """
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be 'auto', 'bf16' or 'fp32', not {precision!r}")
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"infer needs (N, C, H, W) inputs, not shape {x.shape}")
    prepared = getattr(model, "_echoseg_precision", None)  # set by for_inference
    if prepared is not None and precision in ("auto", prepared):
        bf16 = prepared == "bf16"
    else:
        if prepared is not None:
            raise ValueError(f"this model was prepared for {prepared} inference; precision {precision!r} needs "
                             "for_inference on the original model")
        bf16 = use_bf16(precision)
    was_training = model.training
    if prepared is None:
        _channels_last(model)
    parts: dict[str, list[np.ndarray]] = {}
    plain = True
    try:
        with torch.inference_mode():
            for i in range(0, x.shape[0], max(1, batch)):
                xb = torch.from_numpy(x[i:i + batch]).contiguous(memory_format=torch.channels_last)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    out = model(xb)
                if isinstance(out, dict):
                    plain = False
                    for k, v in out.items():
                        parts.setdefault(k, []).append(_activate(k, v))
                else:
                    parts.setdefault("seg", []).append(_activate("seg", out))
    finally:
        model.train(was_training)
    if not parts:
        return np.zeros((0,), np.float32)
    result = {k: np.ascontiguousarray(np.concatenate(v)) for k, v in parts.items()}
    return result["seg"] if plain else result
