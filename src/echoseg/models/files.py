"""Where a model's files are and what its card says, without importing torch.

A model folder holds ``model.safetensors`` (weights) and ``model.json`` (the card: ``arch``,
``arch_config``, ``task``, ``input_size`` ...). Shipped models live in the package under
``echoseg/weights/<name>/`` and are found by name ("atria", "doppler"): a shipped name is never
looked up in the working directory (pass "./atria" for a folder of that name).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ModelError

SHIPPED = ("atria", "doppler")
WEIGHTS_FILE, CARD_FILE = "model.safetensors", "model.json"


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A network ready to run (a torch module in eval mode, or an ONNX Runtime session wrapper) and
    its model card (``config["input_size"]``, ``config["task"]`` ...)."""

    model: Any
    config: dict[str, Any] = field(default_factory=dict)
    path: str = ""


def shipped_dir(name: str) -> Path:
    """Folder of a shipped model inside the installed package (it may not exist)."""
    return Path(str(resources.files("echoseg").joinpath("weights", name)))


def resolve(path_or_name: str | Path) -> Path:
    """The folder or weights file that ``path_or_name`` names: a shipped model's name, or a path.

    A shipped name ("atria", "doppler", given as a str) always means the weights inside the package,
    never a folder of that name in the working directory; a path (a :class:`~pathlib.Path`, or any
    other string, "./atria" included) is always a path.
    """
    if isinstance(path_or_name, str) and path_or_name in SHIPPED:
        d = shipped_dir(path_or_name)
        if (d / WEIGHTS_FILE).exists():
            return d
        raise ModelError(
            f"shipped model {path_or_name!r} is not installed (looked in {d}); train one with "
            f"`echoseg train` and pass its folder (./{path_or_name} for a folder of that name here), "
            "or reinstall a release that includes the weights")
    p = Path(path_or_name)
    if p.exists():
        return p
    raise ModelError(f"model {str(path_or_name)!r} not found: pass a model folder (with {WEIGHTS_FILE} and "
                     f"{CARD_FILE}), a .safetensors/.pt file next to a {CARD_FILE}, or one of {', '.join(SHIPPED)}")


def locate(path_or_name: str | Path) -> tuple[Path, Path, dict[str, Any]]:
    """(folder, weights file, card) of a model folder, a weights file with a card beside it, or a
    shipped name.

    Raises:
        ModelError: the model is missing, or its card is absent or lacks ``arch``/``arch_config``.
    """
    p = resolve(path_or_name)
    folder, weights = (p, p / WEIGHTS_FILE) if p.is_dir() else (p.parent, p)
    card_path = folder / CARD_FILE
    if not card_path.exists():
        raise ModelError(f"{card_path} is missing; a model needs its card (arch, arch_config, input_size)")
    if not weights.exists():
        raise ModelError(f"{weights} is missing; the model folder has a card but no weights")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
        config = {**card, "arch": card["arch"], "arch_config": dict(card["arch_config"])}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{card_path}: not a valid model card ({exc}); it needs 'arch' and 'arch_config'") from exc
    return folder, weights, config
