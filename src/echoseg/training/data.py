"""Training data: synthetic and folder sample sources, on-the-fly augmentation, step-indexed batches.

Torch is imported only inside :func:`collate`. A *source* is a sequence of base samples
``(x (C, H, W) float32, y, site)``: y is (H, W) int64 labels 0..4 (atria) or a float32 soft flow
mask (doppler); site indexes echoseg.types.SITES (-1 when unknown). :class:`StepData` turns a
source into batches that depend only on (seed, position), which makes resumed runs exact.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from echoseg.errors import EchosegError
from echoseg.vocab import SITES

ATRIA_FRAMES_PER_CASE = 3

__all__ = ["ATRIA_FRAMES_PER_CASE", "FolderSource", "Sample", "StepData", "SynthSource", "augment", "collate",
           "sample_from_labelled"]

Sample = tuple[np.ndarray, np.ndarray, int]  # x (C, H, W) float32, y (H, W) int64 labels | float32 mask, site


class SynthSource:
    """Base (un-augmented) samples of synthetic cases ``seeds``, cached on disk and in memory."""

    def __init__(self, task: str, seeds: range, size: Any, cache_dir: str | None, memory: int = 256) -> None:
        self.task, self.seeds, self.size = task, seeds, size
        self.per_case = ATRIA_FRAMES_PER_CASE if task == "atria" else 1
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._memory: OrderedDict[int, list[Sample]] = OrderedDict()
        self._limit = memory

    def __len__(self) -> int:
        return len(self.seeds) * self.per_case

    def _file(self, seed: int) -> Path | None:
        if self.cache_dir is None:
            return None
        tag = f"{self.size}" if self.task == "atria" else "x".join(str(v) for v in self.size)
        return self.cache_dir / f"{self.task}_{tag}" / f"{seed}.npz"

    def _case(self, seed: int) -> list[Sample]:
        if seed in self._memory:
            self._memory.move_to_end(seed)
            return self._memory[seed]
        f = self._file(seed)
        if f is not None and f.exists():
            with np.load(f) as z:
                samples = [(z["x"][i].astype(np.float32), z["y"][i].astype(np.int64 if self.task == "atria"
                                                                           else np.float32), int(z["site"][i]))
                           for i in range(z["x"].shape[0])]
        else:  # stored as float16: round now so that memory and disk caches give identical batches
            samples = [(x.astype(np.float16).astype(np.float32),
                        y if self.task == "atria" else y.astype(np.float16).astype(np.float32), k)
                       for x, y, k in self._generate(seed)]
            if f is not None:
                f.parent.mkdir(parents=True, exist_ok=True)
                tmp = f.with_suffix(f".{os.getpid()}.tmp.npz")
                ys = np.stack([s[1] for s in samples])
                np.savez_compressed(tmp, x=np.stack([s[0] for s in samples]).astype(np.float16),
                                    y=ys.astype(np.uint8) if self.task == "atria" else ys.astype(np.float16),
                                    site=np.array([s[2] for s in samples]))
                os.replace(tmp, f)
        self._memory[seed] = samples
        while len(self._memory) > self._limit:
            self._memory.popitem(last=False)
        return samples

    def _generate(self, seed: int) -> list[Sample]:
        from echoseg.synth.samples import atria_samples, doppler_sample

        if self.task == "atria":
            return [(x, y, -1) for x, y in atria_samples(seed, size=int(self.size), n_frames=self.per_case)]
        return [doppler_sample(seed, size=tuple(self.size))]

    def __getitem__(self, i: int) -> Sample:
        case, k = divmod(int(i), self.per_case)
        samples = self._case(self.seeds[case])
        return samples[k % len(samples)]


class FolderSource:
    """Base samples of a labelled dataset (echoseg.data), preprocessed as inference does."""

    def __init__(self, samples: Any, task: str, size: Any, memory: int = 4096) -> None:
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


def sample_from_labelled(sample: Any, task: str, size: Any) -> Sample:
    """One echoseg.data LabelledSample -> (x, y, site) with the inference preprocessing."""
    from echoseg.atria.prepare import atria_input
    from echoseg.doppler.prepare import doppler_input
    from echoseg.imaging.resample import labels_input, mask_input
    from echoseg.io.calibration import manual_tissue_calibration
    from echoseg.types import SpectralCalibration, TissueCalibration

    img, labels, cal = sample.image, sample.labels, sample.calibration
    if task == "atria":
        if not isinstance(cal, TissueCalibration):  # scale is irrelevant for training: use the whole image
            cal = manual_tissue_calibration(1.0, img.shape[:2])
        x, geom = atria_input(img, cal, size=int(size))
        return x[0], labels_input(labels, geom), -1
    if not isinstance(cal, SpectralCalibration):
        raise EchosegError(f"{sample.source}: Doppler training needs the spectral calibration (baseline row); "
                           "use DICOMs with ultrasound regions or pass spectral= to open_dataset")
    x, geom = doppler_input(img, cal, size=tuple(size))
    site = (sample.meta or {}).get("site")
    return x, mask_input(labels > 0, geom), SITES.index(site) if site in SITES else -1


def _affine(img: np.ndarray, m: np.ndarray, off: np.ndarray, order: int) -> np.ndarray:
    from scipy.ndimage import affine_transform
    return affine_transform(img, m, offset=off, order=order, mode="constant", cval=0.0, prefilter=False)


def augment(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Random geometry and intensity changes of one sample (no flips: laterality and waveform shape matter).

    Atria: scale 0.85-1.15, rotation +-10 deg, shift +-6 %. Doppler: time zoom 0.8-1.25 and velocity
    zoom 0.9-1.15 about the baseline (the baseline channel is recomputed). Both: gamma, contrast,
    brightness, blur and noise on channel 0.
    """
    from scipy.ndimage import gaussian_filter

    x, y = x.copy(), y.copy()
    h, w = y.shape
    c = np.array([(h - 1) / 2, (w - 1) / 2])
    if task == "atria":
        s, a = rng.uniform(0.85, 1.15), np.deg2rad(rng.uniform(-10, 10))
        m = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) / s
        shift = rng.uniform(-0.06, 0.06, 2) * np.array([h, w])
    else:
        d = x[1, :, 0]
        slope = (d[-1] - d[0]) / (h - 1)
        vb = -d[0] / slope if slope != 0 else c[0]
        c = np.array([np.clip(vb, 0, h - 1), (w - 1) / 2])
        m = np.diag([1 / rng.uniform(0.9, 1.15), 1 / rng.uniform(0.8, 1.25)])
        shift = np.array([0.0, rng.uniform(-0.1, 0.1) * w])
    off = c - m @ (c + shift)
    x[0] = _affine(x[0], m, off, 1)
    y = _affine(y.astype(np.float32), m, off, 0 if task == "atria" else 1)
    y = y.astype(np.int64) if task == "atria" else np.clip(y, 0, 1).astype(np.float32)
    if task == "doppler":  # channel 1 is linear in the row: evaluate it at the source rows
        rows = m[0, 0] * np.arange(h) + off[0]
        x[1] = (d[0] + slope * rows)[:, None]
    g = x[0] / 1.5
    g = np.clip(g, 0, 1) ** rng.uniform(0.65, 1.5)
    g = g * rng.uniform(0.75, 1.3) + rng.uniform(-0.08, 0.08)
    if rng.random() < 0.3:
        g = gaussian_filter(g, rng.uniform(0.3, 1.2))
    if rng.random() < 0.5:
        g = g + rng.normal(0.0, rng.uniform(0.005, 0.05), g.shape)
    x[0] = np.clip(g * 1.5, 0.0, 1.5)
    return x.astype(np.float32), y


class StepData:
    """Map-style dataset over global sample positions: position p -> augmented sample (pure in p)."""

    def __init__(self, source: Any, seed: int, do_augment: bool, task: str) -> None:
        self.source, self.seed, self.do_augment, self.task = source, seed, do_augment, task
        self._perms: dict[int, np.ndarray] = {}

    def index(self, p: int) -> int:
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
            x, y = augment(x, y, np.random.default_rng([self.seed, 11, int(p)]), self.task)
        return x, y, site


def collate(batch: list[Sample]) -> tuple[Any, Any, Any]:
    import torch
    xs, ys, sites = zip(*batch)
    return (torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys)),
            torch.tensor(sites, dtype=torch.int64))
