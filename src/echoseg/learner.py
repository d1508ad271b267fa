"""The training interface each measurement family implements (torch-free at import).

A family package (``echoseg.atria``, ``echoseg.doppler``) supplies one :class:`Learner` in its
``learn`` module; :data:`echoseg.training.families.LEARNERS` registers them, and the training loop
(:mod:`echoseg.training.train`) and data code (:mod:`echoseg.training.data`) call only these hooks,
never ``if task == ...``. A change to how one family trains touches that family's ``learn`` module.

Sample convention: ``(x (C, H, W) float32, y, site)``; y is (H, W) labels in the family's
:attr:`Learner.label_dtype`, site an index into the network's class head (-1 when unknown or absent).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

Sample = tuple[np.ndarray, np.ndarray, int]  # x (C, H, W) float32, y (H, W) labels | soft mask, site
Size = Any  # a network input size: int (square) or (rows, cols)

__all__ = ["Learner", "MetricTally", "Sample", "SampleSource", "Size"]


class SampleSource(Protocol):
    """A sequence of base (un-augmented) samples."""

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> Sample: ...


class MetricTally(Protocol):
    """Accumulates one family's validation metrics over batches (created fresh per validation)."""

    def add(self, out: Any, y: Any, site: Any) -> None:
        """Count one batch: the network output (float, any autocast dtype) and the collated targets."""

    def result(self) -> dict[str, float]:
        """The metrics, keyed exactly by :attr:`Learner.metrics`, in that order."""


@dataclass(frozen=True)
class Learner:
    """How one measurement family trains: defaults, data, augmentation, loss and validation.

    family: the key in echoseg.vocab.FAMILIES (and the ``task`` of TrainConfig and model cards).
    input_size: default network input, int (square) or (rows, cols).
    arch_config: default U-Net settings (``in_ch``, ``n_classes``, ``base``, ``depth``, ``n_cls``).
    card: extra model-card entries written next to the config (``classes``, ``sites`` ...).
    metrics: validation metric names, in order (train_log.csv columns after ``val_loss``).
    frames_per_case: base samples one synthetic case gives.
    label_dtype / label_storage: dtype of y in training, and in the on-disk synthetic cache
        (labels are rounded through ``label_storage`` on generation, so both caches agree).
    synth_samples(seed, size, scanner): the base samples of synthetic case ``seed`` (``frames_per_case`` of
        them); ``scanner`` is TrainConfig.synth_scanner, the share of scanner-formed cases (a family
        without such cases ignores it).
    sample_from_labelled(sample, size): one echoseg.datasets LabelledSample -> Sample, as inference prepares it.
    augment(x, y, rng): one randomly augmented copy of a sample (labels warped with the image).
    loss(out, y, site, site_weight): the training loss (a scalar tensor) of a network output.
    tally(): a fresh :class:`MetricTally` for validation.
    """

    family: str
    input_size: Size
    arch_config: Mapping[str, Any]
    card: Mapping[str, Any]
    metrics: tuple[str, ...]
    frames_per_case: int
    label_dtype: type[np.generic]
    label_storage: type[np.generic]
    synth_samples: Callable[[int, Size, float], list[Sample]]
    sample_from_labelled: Callable[[Any, Size], Sample]
    augment: Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]
    loss: Callable[[Any, Any, Any, float], Any]
    tally: Callable[[], MetricTally]
