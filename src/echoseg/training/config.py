"""The training run's configuration: :class:`TrainConfig` and its JSON form (torch-free).

Example::

    >>> cfg = TrainConfig(task="doppler", input_size=[64, 128])
    >>> cfg.input_size, cfg.precision
    ((64, 128), 'auto')
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from echoseg.errors import EchosegError
from echoseg.training.families import learner
from echoseg.vocab import FAMILIES

VAL_SEED_BASE = 8_500_000  # validation seeds; benchmark cohorts use >= 9_000_000, training < VAL_SEED_BASE

# changing these between a checkpoint and its resumption would silently change the run
RESUME_KEYS = ("task", "batch_size", "seed", "input_size", "arch", "arch_config", "data", "data_format",
               "synth_cases", "synth_seed", "synth_scanner", "init_from", "augment", "lr", "weight_decay",
               "warmup_steps")

__all__ = ["RESUME_KEYS", "VAL_SEED_BASE", "TrainConfig", "load_config", "save_config"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (JSON round-trips through :func:`save_config`/:func:`load_config`).

    task: a family of echoseg.vocab.FAMILIES ("atria" or "doppler").
    data: "synth" or a dataset folder (``data_format`` as open_dataset).
    input_size: int (atria, square) or [rows, cols] (doppler); None = the family's default or init model's.
    arch_config: overrides of the family's default U-Net settings (base, depth, norm ...).
    init_from: model folder or shipped name to fine-tune from (its arch and input size are kept).
    synth_scanner: atria: share of synthetic A4C cases formed as a scanner forms B-mode
        (echoseg.synth.a4c_scanner); 0 gives the classic cases. Validation cases use the same share, so
        the validation metrics measure the mix the run trains on. Doppler's hook ignores it, and so
        does training from a dataset folder.
    cache_dir: where synthetic samples are cached on disk (None: out_dir/cache; "": memory only).
    precision: "auto" (bf16 autocast when the CPU supports it), "bf16" or "fp32" (see :func:`echoseg.models.registry.use_bf16`).
    half_weights: store the final weights as float16 (half the size, for shipping).
    """

    task: str = FAMILIES[0]  # atria
    out_dir: str = "runs/model"
    steps: int = 2000
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    seed: int = 0
    input_size: int | tuple[int, int] | None = None
    arch: str = "unet"
    arch_config: dict[str, Any] = field(default_factory=dict)
    data: str = "synth"
    data_format: str = "auto"
    cm_per_px: float | None = None
    synth_cases: int = 2000
    synth_seed: int = 0
    synth_scanner: float = 0.0
    val_cases: int = 48
    val_fraction: float = 0.2
    val_every: int = 250
    checkpoint_every: int = 250
    init_from: str | None = None
    num_workers: int = 0
    cache_dir: str | None = None
    augment: bool = True
    precision: str = "auto"
    site_weight: float = 0.5
    half_weights: bool = False

    def __post_init__(self) -> None:
        learner(self.task)  # ValueError for a task that is no family
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be >= 1, not {self.steps} and {self.batch_size}")
        if self.num_workers not in (0, 1):
            raise ValueError(f"num_workers must be 0 or 1 (a 2-core machine), not {self.num_workers}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision must be 'auto', 'bf16' or 'fp32', not {self.precision!r}")
        if self.data == "synth" and self.synth_seed + self.synth_cases > VAL_SEED_BASE:
            raise ValueError(f"synthetic training seeds must stay below {VAL_SEED_BASE} (validation and test "
                             f"seeds); synth_seed + synth_cases = {self.synth_seed + self.synth_cases}")
        if not 0.0 <= self.synth_scanner <= 1.0:
            raise ValueError(f"synth_scanner is a share of the synthetic cases and must lie in 0..1, not "
                             f"{self.synth_scanner}; use 0 for classic cases only, 1 for scanner-formed only")
        if isinstance(self.input_size, list):
            object.__setattr__(self, "input_size", tuple(self.input_size))


def save_config(cfg: TrainConfig, path: str | Path) -> Path:
    """Write ``cfg`` as JSON."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(asdict(cfg), indent=2) + "\n", encoding="utf-8")
    return p


def load_config(path: str | Path) -> TrainConfig:
    """Read a JSON training config (unknown keys are an error naming them)."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise EchosegError(f"{p}: cannot read the training config ({exc})") from exc
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise EchosegError(f"{p}: unknown training config keys {unknown}; valid keys: {', '.join(sorted(known))}")
    return TrainConfig(**raw)
