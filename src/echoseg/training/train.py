"""Train or fine-tune the atria and Doppler networks -> a model folder ``load`` accepts.

The whole run is described by a :class:`TrainConfig` saved as JSON next to the weights
(``train_config.json``), so ``echoseg train --config that.json`` reproduces it. Data are either
``"synth"`` (cases generated from seeds; training uses seeds ``synth_seed .. synth_seed+synth_cases-1``,
validation the reserved range from :data:`VAL_SEED_BASE`; the held-out style family is never
used) or a folder read by :func:`echoseg.data.open_dataset` and split by patient.

Batches are a pure function of (seed, step): sample order is a seeded permutation per epoch and
each sample's augmentation is seeded by its position, so a run resumed from ``checkpoint.safetensors``
(+ ``checkpoint.json``; no pickle) continues exactly where it stopped, with 0 or 1 loader workers.

Example::

    cfg = TrainConfig(task="atria", out_dir="runs/atria", steps=3000, batch_size=16)
    save_config(cfg, "atria.json")
    model_dir = train(load_config("atria.json"))
"""
from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from echoseg.errors import EchosegError, ModelError
from echoseg.training.data import FolderSource, Sample, StepData, SynthSource, collate
from echoseg.vocab import SITES

TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "atria": {"input_size": 160, "arch_config": {"in_ch": 1, "n_classes": 5, "base": 16, "depth": 4, "n_cls": 0}},
    "doppler": {"input_size": [128, 256],
                "arch_config": {"in_ch": 2, "n_classes": 1, "base": 12, "depth": 4, "n_cls": len(SITES)}},
}
VAL_SEED_BASE = 8_500_000  # validation seeds; benchmark cohorts use >= 9_000_000, training < VAL_SEED_BASE
LOG_COLUMNS = ("step", "epoch", "loss", "lr", "img_per_s", "val_loss", "val_dice_la", "val_dice_ra",
               "val_area_err_la", "val_area_err_ra", "val_dice_flow", "val_site_acc")

# changing these between a checkpoint and its resumption would silently change the run
RESUME_KEYS = ("task", "batch_size", "seed", "input_size", "arch", "arch_config", "data", "data_format",
               "synth_cases", "synth_seed", "init_from", "augment", "lr", "weight_decay", "warmup_steps")

__all__ = ["TrainConfig", "VAL_SEED_BASE", "load_config", "save_config", "train"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (JSON round-trips through :func:`save_config`/:func:`load_config`).

    task: "atria" or "doppler". data: "synth" or a dataset folder (``data_format`` as open_dataset).
    input_size: int (atria, square) or [rows, cols] (doppler); None = task default or init model's.
    arch_config: overrides of the task's default U-Net settings (base, depth, norm ...).
    init_from: model folder or shipped name to fine-tune from (its arch and input size are kept).
    cache_dir: where synthetic samples are cached on disk (None: out_dir/cache; "": memory only).
    precision: "auto" (bf16 autocast when the CPU supports it), "bf16" or "fp32".
    half_weights: store the final weights as float16 (half the size, for shipping).
    """

    task: str = "atria"
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
        if self.task not in TASK_DEFAULTS:
            raise ValueError(f"task must be 'atria' or 'doppler', not {self.task!r}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be >= 1, not {self.steps} and {self.batch_size}")
        if self.num_workers not in (0, 1):
            raise ValueError(f"num_workers must be 0 or 1 (a 2-core machine), not {self.num_workers}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision must be 'auto', 'bf16' or 'fp32', not {self.precision!r}")
        if self.data == "synth" and self.synth_seed + self.synth_cases > VAL_SEED_BASE:
            raise ValueError(f"synthetic training seeds must stay below {VAL_SEED_BASE} (validation and test "
                             f"seeds); synth_seed + synth_cases = {self.synth_seed + self.synth_cases}")
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


# --------------------------------------------------------------------------------------- losses

def compute_loss(out: Any, y: Any, site: Any, task: str, site_weight: float = 0.5) -> Any:
    """Atria: CE + soft Dice on LA/RA. Doppler: BCE + soft Dice on the flow mask + CE of the site head."""
    import torch
    from torch.nn import functional as F

    if task == "atria":
        logits = (out["seg"] if isinstance(out, dict) else out).float()
        prob = torch.softmax(logits, dim=1)[:, 1:3]
        target = torch.stack([(y == 1), (y == 2)], dim=1).float()
        inter = (prob * target).sum(dim=(2, 3))
        dice = 1 - (2 * inter + 1) / (prob.sum(dim=(2, 3)) + target.sum(dim=(2, 3)) + 1)
        return F.cross_entropy(logits, y) + dice.mean()
    seg = out["seg"][:, 0].float()
    prob = torch.sigmoid(seg)
    inter = (prob * y).sum(dim=(1, 2))
    dice = 1 - (2 * inter + 1) / (prob.sum(dim=(1, 2)) + y.sum(dim=(1, 2)) + 1)
    loss = F.binary_cross_entropy_with_logits(seg, y) + dice.mean()
    if "cls" in out and (site >= 0).any():
        loss = loss + site_weight * F.cross_entropy(out["cls"].float(), site, ignore_index=-1)
    return loss


def _area_errors(prob: np.ndarray, truth_px: np.ndarray) -> list[float]:
    """Relative errors of the pipeline's soft area (postprocess.soft_area_cm2 in model pixels) vs label pixels."""
    from echoseg.atria.postprocess import soft_area_cm2
    from echoseg.io.calibration import manual_tissue_calibration

    unit = manual_tissue_calibration(1.0, prob.shape[-2:])
    return [abs(soft_area_cm2(p, unit) - float(t)) / float(t) for p, t in zip(prob, truth_px) if t > 0]


def validate(model: Any, val: list[Sample], task: str, batch: int = 16, precision: str = "auto") -> dict[str, float]:
    """Validation loss and metrics of ``model`` on un-augmented samples (bf16 autocast as in inference)."""
    import torch

    from echoseg.models.registry import bf16_supported

    use_bf16 = precision == "bf16" or (precision == "auto" and bf16_supported())
    model.eval()
    losses, stats = [], {"inter_la": 0.0, "sum_la": 0.0, "inter_ra": 0.0, "sum_ra": 0.0, "inter_f": 0.0,
                         "sum_f": 0.0, "hit": 0, "n_site": 0}
    area_err: dict[int, list[float]] = {1: [], 2: []}
    with torch.inference_mode():
        for i in range(0, len(val), batch):
            x, y, site = collate(val[i:i + batch])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
                out = model(x.contiguous(memory_format=torch.channels_last))
            losses.append(float(compute_loss(out, y, site, task)) * len(x))
            if task == "atria":
                prob = torch.softmax(out.float(), dim=1)
                pred = prob.argmax(dim=1)
                for k, name in ((1, "la"), (2, "ra")):
                    stats[f"inter_{name}"] += float(((pred == k) & (y == k)).sum())
                    stats[f"sum_{name}"] += float((pred == k).sum() + (y == k).sum())
                for k in (1, 2):
                    area_err[k] += _area_errors(prob[:, k].numpy(), (y == k).sum(dim=(1, 2)).numpy())
            else:
                pred = torch.sigmoid(out["seg"][:, 0].float()) > 0.5
                tgt = y > 0.5
                stats["inter_f"] += float((pred & tgt).sum())
                stats["sum_f"] += float(pred.sum() + tgt.sum())
                known = site >= 0
                stats["hit"] += int((out["cls"].argmax(dim=1)[known] == site[known]).sum())
                stats["n_site"] += int(known.sum())
    model.train()
    res = {"val_loss": sum(losses) / max(len(val), 1)}
    if task == "atria":
        res["val_dice_la"] = 2 * stats["inter_la"] / max(stats["sum_la"], 1.0)
        res["val_dice_ra"] = 2 * stats["inter_ra"] / max(stats["sum_ra"], 1.0)
        for k, name in ((1, "la"), (2, "ra")):
            res[f"val_area_err_{name}"] = float(np.mean(area_err[k])) if area_err[k] else float("nan")
    else:
        res["val_dice_flow"] = 2 * stats["inter_f"] / max(stats["sum_f"], 1.0)
        res["val_site_acc"] = stats["hit"] / stats["n_site"] if stats["n_site"] else float("nan")
    return res


# ------------------------------------------------------------------------------------ the loop

def _lr(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def _resolve_model(cfg: TrainConfig) -> tuple[Any, dict[str, Any]]:
    """Network and its model config, fresh or from ``init_from``."""
    import torch

    from echoseg.models.registry import create, load

    defaults = TASK_DEFAULTS[cfg.task]
    if cfg.init_from:
        loaded = load(cfg.init_from)
        card = loaded.config
        if card.get("task", cfg.task) != cfg.task:
            raise ModelError(f"init_from {cfg.init_from!r} is a {card.get('task')!r} model, not {cfg.task!r}")
        size = card["input_size"]
        if cfg.input_size is not None and _size(cfg.input_size) != _size(size):
            raise ModelError(f"input_size {cfg.input_size} differs from the init model's {size}; "
                             "drop input_size from the config to fine-tune at the model's own size")
        model = loaded.model
        mcfg = {"arch": card["arch"], "arch_config": dict(card["arch_config"]), "input_size": size}
    else:
        torch.manual_seed(cfg.seed)
        arch_config = {**defaults["arch_config"], **cfg.arch_config}
        size = cfg.input_size if cfg.input_size is not None else defaults["input_size"]
        model = create(cfg.arch, **arch_config)
        mcfg = {"arch": cfg.arch, "arch_config": arch_config, "input_size": _size(size)}
    mcfg["task"] = cfg.task
    mcfg["classes"] = ["background", "LA", "RA", "LV", "RV"] if cfg.task == "atria" else ["flow"]
    if cfg.task == "doppler":
        mcfg["sites"] = list(SITES)
    return model, mcfg


def _size(size: Any) -> Any:
    return int(size) if isinstance(size, int) else [int(v) for v in size]


def _sources(cfg: TrainConfig, size: Any) -> tuple[Any, list[Sample], dict[str, Any]]:
    if cfg.data == "synth":
        cache = str(Path(cfg.out_dir) / "cache") if cfg.cache_dir is None else cfg.cache_dir
        train_src = SynthSource(cfg.task, range(cfg.synth_seed, cfg.synth_seed + cfg.synth_cases), size, cache)
        val_src = SynthSource(cfg.task, range(VAL_SEED_BASE, VAL_SEED_BASE + cfg.val_cases), size, cache)
        val = [val_src[i] for i in range(len(val_src))]
        desc = {"source": "synth", "train_seeds": [cfg.synth_seed, cfg.synth_seed + cfg.synth_cases - 1],
                "val_seeds": [VAL_SEED_BASE, VAL_SEED_BASE + cfg.val_cases - 1], "style_families": "training only"}
        return train_src, val, desc
    from echoseg.datasets.dataset import open_dataset, split

    ds = open_dataset(cfg.data, format=cfg.data_format, task=cfg.task, cm_per_px=cfg.cm_per_px)
    if len(ds) == 0:
        raise EchosegError(f"{cfg.data}: no labelled samples found for task {cfg.task!r}")
    tr, va = split(ds, val_fraction=cfg.val_fraction, seed=cfg.seed)
    val_src = FolderSource(va, cfg.task, size)
    val = [val_src[i] for i in range(len(val_src))]
    desc = {"source": str(cfg.data), "format": cfg.data_format, "n_train": len(tr), "n_val": len(va)}
    return FolderSource(tr, cfg.task, size), val, desc


def _save_checkpoint(out: Path, model: Any, opt: Any, step: int, cfg: TrainConfig) -> None:
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


def _load_checkpoint(out: Path, model: Any, opt: Any, cfg: TrainConfig) -> int:
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


def _log_rows(path: Path, upto: int) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if int(r["step"]) <= upto]


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True, stop_at: int | None = None) -> Path:
    """Run the training described by ``cfg``; return the model folder (``cfg.out_dir``).

    Writes model.safetensors + model.json (card: config, data, metrics, command), train_config.json,
    train_log.csv and, every ``checkpoint_every`` steps and at the end, checkpoint.safetensors/.json.
    ``resume=True`` continues from the checkpoint in ``out_dir`` (fresh start when there is none).
    ``stop_at`` ends the run early after that many steps (an interruption; resume finishes it).
    """
    import torch
    from tqdm.auto import tqdm

    from echoseg.models.registry import bf16_supported, save

    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "train_config.json")
    model, mcfg = _resolve_model(cfg)
    model = model.to(memory_format=torch.channels_last).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start = 0
    if resume and (out / "checkpoint.json").exists():
        start = _load_checkpoint(out, model, opt, cfg)
    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and bf16_supported())
    train_src, val, data_desc = _sources(cfg, mcfg["input_size"])
    end = min(cfg.steps, stop_at) if stop_at is not None else cfg.steps
    ds = StepData(train_src, cfg.seed, cfg.augment, cfg.task)
    positions = range(start * cfg.batch_size, end * cfg.batch_size)
    batches = torch.utils.data.BatchSampler(positions, cfg.batch_size, drop_last=False)
    loader = torch.utils.data.DataLoader(ds, batch_sampler=batches, num_workers=cfg.num_workers,
                                         collate_fn=collate)
    log_path = out / "train_log.csv"
    rows = _log_rows(log_path, start) if resume else []
    metrics: dict[str, float] = {}
    n_img, t_train = 0, 0.0
    bar = tqdm(total=end - start, initial=0, desc=f"train {cfg.task}", disable=not progress, unit="step")
    step = start
    for x, y, site in loader:
        t0 = time.perf_counter()
        lr = _lr(cfg, step)
        for g in opt.param_groups:
            g["lr"] = lr
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
            out_t = model(x)
        loss = compute_loss(out_t, y, site, cfg.task, cfg.site_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_v = float(loss.detach())
        dt = time.perf_counter() - t0
        n_img, t_train = n_img + len(x), t_train + dt
        step += 1
        row: dict[str, Any] = {"step": step, "epoch": round(step * cfg.batch_size / len(train_src), 3),
                               "loss": round(loss_v, 5), "lr": f"{lr:.3g}", "img_per_s": round(len(x) / dt, 1)}
        if step % cfg.val_every == 0 or step == cfg.steps:
            metrics = validate(model, val, cfg.task, precision=cfg.precision) if val else {}
            row.update({k: round(v, 5) for k, v in metrics.items()})
        rows.append(row)
        bar.update(1)
        bar.set_postfix({"loss": f"{loss_v:.4f}", **{k: f"{v:.3f}" for k, v in metrics.items()}})
        if step % cfg.checkpoint_every == 0 or step == end:
            _save_checkpoint(out, model, opt, step, cfg)
            _write_log(log_path, rows)
    bar.close()
    _write_log(log_path, rows)
    if step >= cfg.steps:
        if not metrics and val:  # resumed after the last step: validate the final weights again
            metrics = validate(model, val, cfg.task, precision=cfg.precision)
        card = {"data": data_desc, "metrics": metrics, "train_config": asdict(cfg),
                "command": f"echoseg train --config {out / 'train_config.json'}", "steps": step,
                "train_img_per_s": round(n_img / t_train, 1) if t_train else None, "bf16": use_bf16,
                "torch": torch.__version__, "created": time.strftime("%Y-%m-%d %H:%M:%S")}
        save(model, mcfg, out, card, half=cfg.half_weights)
    return out


def _write_log(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=LOG_COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)
