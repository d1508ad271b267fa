"""Train or fine-tune the atria and Doppler networks -> a model folder ``load`` accepts.

The whole run is described by a :class:`TrainConfig` saved as JSON next to the weights
(``train_config.json``), so ``echoseg train --config that.json`` reproduces it. Data are either
``"synth"`` (cases generated from seeds; training uses seeds ``synth_seed .. synth_seed+synth_cases-1``,
validation the reserved range from :data:`VAL_SEED_BASE`, both with the config's ``synth_scanner``
share of scanner-formed cases; the held-out style family is never used) or a folder read by
:func:`echoseg.datasets.dataset.open_dataset` and split by patient.

Everything that differs between families (defaults, samples, augmentation, loss, validation
metrics, model-card entries) is the family's :class:`~echoseg.learner.Learner`
(``echoseg.<family>.learn``), looked up by ``cfg.task`` in :data:`echoseg.training.families.LEARNERS`;
this module holds no per-family code. The config lives in :mod:`echoseg.training.config`, the
checkpoint and log files in :mod:`echoseg.training.checkpoint` (both re-exported here).

Batches are a pure function of (seed, step): sample order is a seeded permutation per epoch and
each sample's augmentation is seeded by its position, so a run resumed from ``checkpoint.safetensors``
(+ ``checkpoint.json``; no pickle) continues exactly where it stopped, with 0 or 1 loader workers.

Example::

    cfg = TrainConfig(task="atria", out_dir="runs/atria", steps=3000, batch_size=16)
    save_config(cfg, "atria.json")
    model_dir = train(load_config("atria.json"))
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from echoseg.errors import EchosegError, ModelError
from echoseg.learner import SampleSource, Size
from echoseg.training.checkpoint import LOG_COLUMNS, load_checkpoint, read_log, save_checkpoint, write_log
from echoseg.training.config import RESUME_KEYS, VAL_SEED_BASE, TrainConfig, load_config, save_config
from echoseg.training.data import FolderSource, Sample, StepData, SynthSource, collate
from echoseg.training.families import LEARNERS, learner


def _size(size: Size) -> Any:
    """An input size as the model card stores it: int, or [rows, cols]."""
    return int(size) if isinstance(size, int) else [int(v) for v in size]


# per family: default input size (card form) and U-Net settings; kept for callers of the old table
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    name: {"input_size": _size(hooks.input_size), "arch_config": dict(hooks.arch_config)}
    for name, hooks in LEARNERS.items()}
VAL_SITE_WEIGHT = 0.5  # validation loss weighs the site head at the default site_weight, whatever the config

__all__ = ["LOG_COLUMNS", "RESUME_KEYS", "TASK_DEFAULTS", "VAL_SEED_BASE", "TrainConfig", "compute_loss",
           "load_config", "save_config", "train", "validate"]


# ------------------------------------------------------------------------------ loss, validation

def compute_loss(out: Any, y: Any, site: Any, task: str, site_weight: float = 0.5) -> Any:
    """The training loss of family ``task`` (its Learner's ``loss`` hook) for one batch's network output."""
    return learner(task).loss(out, y, site, site_weight)


def validate(model: Any, val: list[Sample], task: str, batch: int = 16, precision: str = "auto") -> dict[str, float]:
    """Validation loss and the family's metrics of ``model`` on un-augmented samples (autocast as in inference)."""
    import torch

    hooks = learner(task)
    from echoseg.models.registry import use_bf16  # torch: imported when training starts

    bf16 = use_bf16(precision)
    model.eval()
    losses: list[float] = []
    tally = hooks.tally()
    with torch.inference_mode():
        for i in range(0, len(val), batch):
            x, y, site = collate(val[i:i + batch])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = model(x.contiguous(memory_format=torch.channels_last))
            losses.append(float(hooks.loss(out, y, site, VAL_SITE_WEIGHT)) * len(x))
            tally.add(out, y, site)
    model.train()
    return {"val_loss": sum(losses) / max(len(val), 1), **tally.result()}


# ------------------------------------------------------------------------------ model and data

def _lr(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to 5 % of ``cfg.lr``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def _resolve_model(cfg: TrainConfig) -> tuple[Any, dict[str, Any]]:
    """Network and its model config, fresh (the family's defaults + overrides) or from ``init_from``."""
    import torch

    from echoseg.models.registry import create, load

    hooks = learner(cfg.task)
    if cfg.init_from:
        loaded = load(cfg.init_from)
        card = loaded.config
        if card.get("task", cfg.task) != cfg.task:
            raise ModelError(f"init_from {cfg.init_from!r} is a {card.get('task')!r} model, not {cfg.task!r}")
        size = card["input_size"]
        if cfg.input_size is not None and _size(cfg.input_size) != _size(size):
            # the U-Net is fully convolutional (its site head pools): the same weights read a new size
            step = 2 ** int(card["arch_config"].get("depth", 4))
            new = _size(cfg.input_size)
            sides = new if isinstance(new, list) else [new, new]
            if card["arch"] != "unet" or any(int(v) % step for v in sides):
                raise ModelError(f"input_size {cfg.input_size} cannot be used to fine-tune the init model "
                                 f"({card['arch']}, input {size}): a U-Net takes sides divisible by {step}; "
                                 "drop input_size from the config to fine-tune at the model's own size")
            size = new
        model = loaded.model
        mcfg = {"arch": card["arch"], "arch_config": dict(card["arch_config"]), "input_size": size}
    else:
        torch.manual_seed(cfg.seed)
        arch_config = {**hooks.arch_config, **cfg.arch_config}
        size = cfg.input_size if cfg.input_size is not None else hooks.input_size
        model = create(cfg.arch, **arch_config)
        mcfg = {"arch": cfg.arch, "arch_config": arch_config, "input_size": _size(size)}
    mcfg["task"] = cfg.task
    mcfg.update(copy.deepcopy(dict(hooks.card)))
    return model, mcfg


def _sources(cfg: TrainConfig, size: Size) -> tuple[SampleSource, list[Sample], dict[str, Any]]:
    """Training source, validation samples and the data description for the model card."""
    desc: dict[str, Any]
    if cfg.data == "synth":
        cache = str(Path(cfg.out_dir) / "cache") if cfg.cache_dir is None else cfg.cache_dir
        share = cfg.synth_scanner  # validation cases get the same share: val metrics measure the trained mix
        train_src = SynthSource(cfg.task, range(cfg.synth_seed, cfg.synth_seed + cfg.synth_cases), size, cache,
                                scanner=share)
        val_src = SynthSource(cfg.task, range(VAL_SEED_BASE, VAL_SEED_BASE + cfg.val_cases), size, cache,
                              scanner=share)
        val = [val_src[i] for i in range(len(val_src))]
        desc = {"source": "synth", "train_seeds": [cfg.synth_seed, cfg.synth_seed + cfg.synth_cases - 1],
                "val_seeds": [VAL_SEED_BASE, VAL_SEED_BASE + cfg.val_cases - 1], "style_families": "training only",
                "synth_scanner": share}
        return train_src, val, desc
    from echoseg.datasets.dataset import open_dataset, split

    ds = open_dataset(cfg.data, format=cfg.data_format, task=cfg.task, cm_per_px=cfg.cm_per_px)
    if len(ds) == 0:
        raise EchosegError(f"{cfg.data}: no labelled samples found for task {cfg.task!r}")
    tr, va = split(ds, val_fraction=cfg.val_fraction, seed=cfg.seed)
    val_folder = FolderSource(va, cfg.task, size)
    val = [val_folder[i] for i in range(len(val_folder))]
    desc = {"source": str(cfg.data), "format": cfg.data_format, "n_train": len(tr), "n_val": len(va)}
    return FolderSource(tr, cfg.task, size), val, desc


# ------------------------------------------------------------------------------------ the loop

@dataclass
class _Run:
    """What one training run threads through its steps."""

    cfg: TrainConfig
    out: Path
    model: Any
    opt: Any
    bf16: bool
    val: list[Sample]
    rows: list[dict[str, Any]]
    metrics: dict[str, float] = field(default_factory=dict)
    n_img: int = 0
    t_train: float = 0.0

    @property
    def log_path(self) -> Path:
        """The run's train_log.csv."""
        return self.out / "train_log.csv"


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True, stop_at: int | None = None) -> Path:
    """Run the training described by ``cfg``; return the model folder (``cfg.out_dir``).

    Writes model.safetensors + model.json (card: config, data, metrics, command), train_config.json,
    train_log.csv and, every ``checkpoint_every`` steps and at the end, checkpoint.safetensors/.json.
    ``resume=True`` continues from the checkpoint in ``out_dir`` (fresh start when there is none).
    ``stop_at`` ends the run early after that many steps (an interruption; resume finishes it).
    """
    import torch

    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "train_config.json")
    model, mcfg = _resolve_model(cfg)
    model = model.to(memory_format=torch.channels_last).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start = 0
    if resume and (out / "checkpoint.json").exists():
        start = load_checkpoint(out, model, opt, cfg)
    from echoseg.models.registry import use_bf16

    bf16 = use_bf16(cfg.precision)
    train_src, val, data_desc = _sources(cfg, mcfg["input_size"])
    end = min(cfg.steps, stop_at) if stop_at is not None else cfg.steps
    run = _Run(cfg, out, model, opt, bf16, val, read_log(out / "train_log.csv", start) if resume else [])
    step = _fit(run, _loader(cfg, train_src, start, end), start, end, len(train_src), progress)
    if step >= cfg.steps:
        _finish(run, mcfg, data_desc, step)
    return out


def _loader(cfg: TrainConfig, source: SampleSource, start: int, end: int) -> Any:
    """Batches of steps ``start .. end-1``: augmented samples at global positions step * batch_size + j."""
    import torch

    ds = StepData(source, cfg.seed, cfg.augment, cfg.task)
    positions = range(start * cfg.batch_size, end * cfg.batch_size)
    batches = torch.utils.data.BatchSampler(positions, cfg.batch_size, drop_last=False)
    return torch.utils.data.DataLoader(cast("torch.utils.data.Dataset[Sample]", ds), batch_sampler=batches,
                                       num_workers=cfg.num_workers, collate_fn=collate)


def _fit(run: _Run, loader: Any, start: int, end: int, n_train: int, progress: bool) -> int:
    """Train from step ``start`` to ``end``, validating, logging and checkpointing; return the last step."""
    from tqdm.auto import tqdm

    cfg = run.cfg
    bar = tqdm(total=end - start, initial=0, desc=f"train {cfg.task}", disable=not progress, unit="step")
    step = start
    for x, y, site in loader:
        t0 = time.perf_counter()
        lr = _lr(cfg, step)
        loss_v = _step(run, x, y, site, lr)
        dt = time.perf_counter() - t0
        run.n_img, run.t_train = run.n_img + len(x), run.t_train + dt
        step += 1
        row: dict[str, Any] = {"step": step, "epoch": round(step * cfg.batch_size / n_train, 3),
                               "loss": round(loss_v, 5), "lr": f"{lr:.3g}", "img_per_s": round(len(x) / dt, 1)}
        if step % cfg.val_every == 0 or step == cfg.steps:
            run.metrics = validate(run.model, run.val, cfg.task, precision=cfg.precision) if run.val else {}
            row.update({k: round(v, 5) for k, v in run.metrics.items()})
        run.rows.append(row)
        bar.update(1)
        bar.set_postfix({"loss": f"{loss_v:.4f}", **{k: f"{v:.3f}" for k, v in run.metrics.items()}})
        if step % cfg.checkpoint_every == 0 or step == end:
            save_checkpoint(run.out, run.model, run.opt, step, cfg)
            write_log(run.log_path, run.rows)
    bar.close()
    write_log(run.log_path, run.rows)
    return step


def _step(run: _Run, x: Any, y: Any, site: Any, lr: float) -> float:
    """One optimiser step at learning rate ``lr``; the batch's loss."""
    import torch

    for g in run.opt.param_groups:
        g["lr"] = lr
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=run.bf16):
        out_t = run.model(x)
    loss = compute_loss(out_t, y, site, run.cfg.task, run.cfg.site_weight)
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    run.opt.step()
    return float(loss.detach())


def _finish(run: _Run, mcfg: dict[str, Any], data_desc: dict[str, Any], step: int) -> None:
    """Write the final model folder: weights and the card (config, data, metrics, command, speed)."""
    import torch

    from echoseg.models.registry import save

    cfg = run.cfg
    if not run.metrics and run.val:  # resumed after the last step: validate the final weights again
        run.metrics = validate(run.model, run.val, cfg.task, precision=cfg.precision)
    card = {"data": data_desc, "metrics": run.metrics, "train_config": asdict(cfg),
            "command": f"echoseg train --config {run.out / 'train_config.json'}", "steps": step,
            "train_img_per_s": round(run.n_img / run.t_train, 1) if run.t_train else None, "bf16": run.bf16,
            "torch": torch.__version__, "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    save(run.model, mcfg, run.out, card, half=cfg.half_weights)


