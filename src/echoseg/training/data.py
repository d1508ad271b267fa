"""Training data: synthetic and folder sample sources, on-the-fly augmentation, step-indexed batches.

Torch is imported only inside :func:`collate`. A *source* is a sequence of base samples
``(x (C, H, W) float32, y, site)`` (see :mod:`echoseg.learner`); what a sample holds, how
it is made and augmented is the family's :class:`~echoseg.learner.Learner`, looked up by
task in :data:`echoseg.training.families.LEARNERS`. :class:`StepData` turns a source into batches
that depend only on (seed, position), which makes resumed runs exact.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from echoseg.learner import Sample, SampleSource, Size
from echoseg.training.families import learner

__all__ = ["FolderSource", "Sample", "StepData", "SynthSource", "augment", "collate", "sample_from_labelled"]


def _size_tag(size: Size) -> str:
    """Cache folder suffix of an input size: "160" or "128x256"."""
    return str(size) if isinstance(size, int) else "x".join(str(v) for v in size)


class SynthSource:
    """Base (un-augmented) samples of synthetic cases ``seeds``, cached on disk and in memory.

    Samples are rounded to their on-disk precision (x float16, labels ``Learner.label_storage``)
    when generated, so memory and disk caches give identical batches. ``scanner`` is the share of
    scanner-formed cases passed to the family's ``synth_samples`` hook (TrainConfig.synth_scanner).
    """

    def __init__(self, task: str, seeds: range, size: Size, cache_dir: str | None, memory: int = 256,
                 scanner: float = 0.0) -> None:
        self.task, self.seeds, self.size = task, seeds, size  # only plain values: picklable for workers
        self.scanner = float(scanner)
        self.per_case = learner(task).frames_per_case
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._memory: OrderedDict[int, list[Sample]] = OrderedDict()
        self._limit = memory

    def __len__(self) -> int:
        return len(self.seeds) * self.per_case

    def _file(self, seed: int) -> Path | None:
        """The on-disk cache file of case ``seed`` (None: memory only).

        The folder names everything the samples depend on besides the seed: task, input size and a
        non-zero scanner share (``atria_160_scanner0.4``; share 0 keeps the folder it always had).
        """
        if self.cache_dir is None:
            return None
        share = f"_scanner{self.scanner:g}" if self.scanner else ""
        return self.cache_dir / f"{self.task}_{_size_tag(self.size)}{share}" / f"{seed}.npz"

    def _case(self, seed: int) -> list[Sample]:
        """Case ``seed``'s samples: from memory, else the disk cache, else generated."""
        if seed in self._memory:
            self._memory.move_to_end(seed)
            return self._memory[seed]
        f = self._file(seed)
        samples = self._read(f) if f is not None and f.exists() else self._generate(seed, f)
        self._memory[seed] = samples
        while len(self._memory) > self._limit:
            self._memory.popitem(last=False)
        return samples

    def _read(self, f: Path) -> list[Sample]:
        """Samples from a cache file, in training dtypes."""
        with np.load(f) as z:
            dtype = learner(self.task).label_dtype
            return [(z["x"][i].astype(np.float32), z["y"][i].astype(dtype), int(z["site"][i]))
                    for i in range(z["x"].shape[0])]

    def _generate(self, seed: int, f: Path | None) -> list[Sample]:
        """Generate case ``seed``'s samples (rounded to the cache precision) and cache them in ``f``."""
        hooks = learner(self.task)
        store, dtype = hooks.label_storage, hooks.label_dtype
        samples = [(x.astype(np.float16).astype(np.float32), y.astype(store).astype(dtype), k)
                   for x, y, k in hooks.synth_samples(seed, self.size, self.scanner)]
        if f is not None:
            f.parent.mkdir(parents=True, exist_ok=True)
            tmp = f.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez_compressed(tmp, x=np.stack([s[0] for s in samples]).astype(np.float16),
                                y=np.stack([s[1] for s in samples]).astype(store),
                                site=np.array([s[2] for s in samples]))
            os.replace(tmp, f)
        return samples

    def __getitem__(self, i: int) -> Sample:
        case, k = divmod(int(i), self.per_case)
        samples = self._case(self.seeds[case])
        return samples[k % len(samples)]


class FolderSource:
    """Base samples of a labelled dataset (echoseg.datasets), preprocessed as inference does."""

    def __init__(self, samples: Any, task: str, size: Size, memory: int = 4096) -> None:
        self.samples, self.task, self.size = samples, task, size
        self._memory: dict[int, Sample] = {}
        self._limit = memory

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> Sample:
        i = int(i)
        if i not in self._memory:
            s = sample_from_labelled(self.samples[i], self.task, self.size)
            if len(self._memory) < self._limit:
                self._memory[i] = s
            return s
        return self._memory[i]


def sample_from_labelled(sample: Any, task: str, size: Size) -> Sample:
    """One echoseg.datasets LabelledSample -> (x, y, site) with the inference preprocessing of ``task``."""
    return learner(task).sample_from_labelled(sample, size)


def augment(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Random geometry and intensity changes of one sample, as the ``task`` family's hook draws them."""
    return learner(task).augment(x, y, rng)


class StepData:
    """Map-style dataset over global sample positions: position p -> augmented sample (pure in p)."""

    def __init__(self, source: SampleSource, seed: int, do_augment: bool, task: str) -> None:
        self.source, self.seed, self.do_augment, self.task = source, seed, do_augment, task
        learner(task)  # an unknown task fails here, not in a loader worker
        self._perms: dict[int, np.ndarray] = {}

    def index(self, p: int) -> int:
        """The source index at global position ``p`` (a seeded permutation per epoch)."""
        n = len(self.source)
        epoch, k = divmod(int(p), n)
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng([self.seed, 7, epoch]).permutation(n)}
        return int(self._perms[epoch][k])

    def __len__(self) -> int:
        return 2 ** 62

    def __getitem__(self, p: int) -> Sample:
        x, y, site = self.source[self.index(p)]
        if self.do_augment:
            x, y = learner(self.task).augment(x, y, np.random.default_rng([self.seed, 11, int(p)]))
        return x, y, site


def collate(batch: list[Sample]) -> tuple[Any, Any, Any]:
    """Stack samples into (x (N, C, H, W) float32, y (N, H, W), site (N,) int64) tensors."""
    import torch

    xs, ys, sites = zip(*batch)
    return (torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys)),
            torch.tensor(sites, dtype=torch.int64))
