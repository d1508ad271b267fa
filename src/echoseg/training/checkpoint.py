"""A training run's state on disk: the resumable checkpoint and train_log.csv.

``checkpoint.safetensors`` holds the model and optimiser tensors, ``checkpoint.json`` the step,
the optimiser's scalars and param groups and the run's config (no pickle anywhere).
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from echoseg.errors import EchosegError
from echoseg.training.config import RESUME_KEYS, TrainConfig
from echoseg.training.families import LEARNERS

LOG_COLUMNS = ("step", "epoch", "loss", "lr", "img_per_s", "val_loss",
               *(name for hooks in LEARNERS.values() for name in hooks.metrics))

__all__ = ["LOG_COLUMNS", "load_checkpoint", "read_log", "save_checkpoint", "write_log"]


def save_checkpoint(out: Path, model: Any, opt: Any, step: int, cfg: TrainConfig) -> None:
    """Write the checkpoint of ``step`` into ``out`` (tensors replaced atomically)."""
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    sd = opt.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for pid, st in sd["state"].items():
        for key, val in st.items():
            if hasattr(val, "shape"):
                tensors[f"optim.{pid}.{key}"] = val.detach().contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = val
    save_file(tensors, str(out / "checkpoint.safetensors.tmp"))
    os.replace(out / "checkpoint.safetensors.tmp", out / "checkpoint.safetensors")
    meta = {"step": step, "param_groups": sd["param_groups"], "scalars": scalars, "config": asdict(cfg)}
    (out / "checkpoint.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")


def load_checkpoint(out: Path, model: Any, opt: Any, cfg: TrainConfig) -> int:
    """Restore model and optimiser from the checkpoint in ``out``; return its step.

    EchosegError when ``cfg`` differs from the checkpoint's config in one of :data:`RESUME_KEYS`.
    """
    from safetensors.torch import load_file

    meta = json.loads((out / "checkpoint.json").read_text(encoding="utf-8"))
    saved = meta.get("config", {})
    now = json.loads(json.dumps(asdict(cfg)))
    changed = sorted(k for k in RESUME_KEYS if k in saved and saved[k] != now[k])
    if changed:
        raise EchosegError(f"{out / 'checkpoint.json'}: cannot resume, the config changed in "
                           f"{', '.join(f'{k} ({saved[k]!r} -> {now[k]!r})' for k in changed)}; "
                           "restore those values or train into a new out_dir")
    tensors = load_file(str(out / "checkpoint.safetensors"))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict[str, Any]] = {}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, pid, key = k.split(".", 2)
            state.setdefault(int(pid), {})[key] = v
    for pid, sc in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(sc)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return int(meta["step"])


def read_log(path: Path, upto: int) -> list[dict[str, str]]:
    """The rows of train_log.csv up to step ``upto`` ([] when there is no log)."""
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if int(r["step"]) <= upto]


def write_log(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write the log rows (atomically) with the columns of LOG_COLUMNS."""
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=LOG_COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)
