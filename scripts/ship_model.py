"""Copy a trained model folder into the package as shipped weights (float16 safetensors + model.json).

Run: .venv/bin/python scripts/ship_model.py runs/atria atria
The card keeps the training config, data, metrics and the command that reproduces the weights.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from echoseg.models.registry import load, save, shipped_dir


def main(run_dir: str, name: str) -> None:
    loaded = load(run_dir)
    card = {k: v for k, v in loaded.config.items() if k not in ("arch", "arch_config", "input_size")}
    config = {k: loaded.config[k] for k in ("arch", "arch_config", "input_size")}
    cfg_file = Path(run_dir) / "train_config.json"
    train_cfg = json.loads(cfg_file.read_text())
    card["command"] = f"echoseg train --config configs/{name}.json  # then: python scripts/ship_model.py {run_dir} {name}"
    card["train_config"] = train_cfg
    card["shipped_as"] = "float16 weights (half the file; loaded as float32)"
    out = save(loaded.model, config, shipped_dir(name), card, half=True)
    print(f"shipped {run_dir} as {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
