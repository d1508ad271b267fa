"""How the atria network trains: the atria family's :class:`~echoseg.learner.Learner`.

The network segments one A4C frame into the label map of :data:`echoseg.vocab.ATRIA_CLASSES`
(background, LA, RA, LV, RV). Synthetic samples are prepared exactly as inference prepares a real
file: the calibration comes from the case's Sequence of Ultrasound Regions through
:mod:`echoseg.io.calibration`, the pixels go through :func:`echoseg.atria.prepare.atria_input`,
and the labels are resampled with the same geometry. Importing this module does not import torch.

Example::

    >>> x, y = atria_sample(3, size=64)
    >>> x.shape, y.shape, sorted(set(y.ravel().tolist())) == [0, 1, 2, 3, 4]
    ((1, 64, 64), (64, 64), True)
    >>> LEARNER.metrics
    ('val_dice_la', 'val_dice_ra', 'val_area_err_la', 'val_area_err_ra')
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np

from echoseg.atria.postprocess import soft_area_cm2
from echoseg.atria.prepare import atria_input
from echoseg.imaging.augment import jitter_intensity, warp, warp_offset
from echoseg.imaging.resample import labels_input
from echoseg.io.calibration import manual_tissue_calibration, tissue_calibration
from echoseg.learner import Learner, Sample
from echoseg.synth.a4c import generate_a4c
from echoseg.synth.case import SynthCase
from echoseg.types import TissueCalibration
from echoseg.vocab import ATRIA_CLASSES, LABEL_VALUES

DEFAULT_ATRIA_SIZE = 160  # network input side (model pixels)
FRAMES_PER_CASE = 3  # frames of a synthetic training clip; it always holds end-systole
ARCH_CONFIG = MappingProxyType({"in_ch": 1, "n_classes": len(ATRIA_CLASSES), "base": 16, "depth": 4, "n_cls": 0})
ATRIA = (("la", LABEL_VALUES["LA"]), ("ra", LABEL_VALUES["RA"]))  # the measured classes: (name, label)

__all__ = ["ARCH_CONFIG", "DEFAULT_ATRIA_SIZE", "FRAMES_PER_CASE", "LEARNER", "AtriaTally", "atria_from_case",
           "atria_sample", "atria_samples", "augment", "loss", "sample_from_labelled", "synth_samples"]


# ------------------------------------------------------------------------------ synthetic samples

def atria_from_case(case: SynthCase, size: int = DEFAULT_ATRIA_SIZE,
                    frames: list[int] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(x (1, S, S) float32, y (S, S) int64 labels 0..4) for the chosen frames (default: all) of an A4C case."""
    if case.masks is None:
        raise ValueError(f"synthetic case (seed {case.seed}) has no masks; atria samples need label masks")
    cal = tissue_calibration(case.regions, case.frames.shape[1:3], f"synthetic a4c seed {case.seed}")
    idx = list(range(case.frames.shape[0])) if frames is None else list(frames)
    x, geom = atria_input(case.frames[idx], cal, size=size)
    y = labels_input(case.masks[idx], geom, n_classes=len(ATRIA_CLASSES))
    return [(x[i], y[i]) for i in range(len(idx))]


def atria_samples(seed: int, heldout: bool = False, size: int = DEFAULT_ATRIA_SIZE,
                  n_frames: int = FRAMES_PER_CASE, scanner: float = 0.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """All frames of a short synthetic clip (which always holds an end-systolic frame) as samples.

    ``scanner`` is generate_a4c's share of scanner-formed cases (0: the classic cases).
    """

    return atria_from_case(generate_a4c(int(seed), heldout=heldout, n_frames=n_frames, scanner=scanner), size)


def atria_sample(seed: int, heldout: bool = False, size: int = DEFAULT_ATRIA_SIZE,
                 n_frames: int = FRAMES_PER_CASE) -> tuple[np.ndarray, np.ndarray]:
    """The frame where the left atrium is largest, from a short synthetic clip, as (x, y)."""

    case = generate_a4c(int(seed), heldout=heldout, n_frames=n_frames)
    return atria_from_case(case, size, frames=[int(case.truth["la_frame"])])[0]


def synth_samples(seed: int, size: Any, scanner: float = 0.0) -> list[Sample]:
    """Hook: the :data:`FRAMES_PER_CASE` training samples of synthetic case ``seed`` (no site: -1).

    ``scanner``: the share of cases formed as a scanner forms B-mode (TrainConfig.synth_scanner);
    whether case ``seed`` is one is a fixed function of the seed and the share (see generate_a4c).
    """
    return [(x, y, -1) for x, y in atria_samples(seed, size=int(size), n_frames=FRAMES_PER_CASE,
                                                 scanner=float(scanner))]


# -------------------------------------------------------------------------------- labelled data

def sample_from_labelled(sample: Any, size: Any) -> Sample:
    """Hook: one echoseg.datasets LabelledSample -> (x, labels, -1) with the inference preprocessing.

    Without a tissue calibration the whole image is the region (scale does not matter for training).
    """
    img, cal = sample.image, sample.calibration
    if not isinstance(cal, TissueCalibration):
        cal = manual_tissue_calibration(1.0, img.shape[:2])
    x, geom = atria_input(img, cal, size=int(size))
    return x[0], labels_input(sample.labels, geom), -1


# --------------------------------------------------------------------------------- augmentation

def augment(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Hook: scale 0.85-1.15, rotation +-10 deg and shift +-6 % (labels nearest-neighbour), then intensity."""
    x, y = x.copy(), y.copy()
    h, w = y.shape
    c = np.array([(h - 1) / 2, (w - 1) / 2])
    s, a = rng.uniform(0.85, 1.15), np.deg2rad(rng.uniform(-10, 10))
    m = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) / s
    shift = rng.uniform(-0.06, 0.06, 2) * np.array([h, w])
    off = warp_offset(c, m, shift)
    x[0] = warp(x[0], m, off, 1)
    y = warp(y.astype(np.float32), m, off, 0).astype(np.int64)
    x[0] = jitter_intensity(x[0], rng)
    return x.astype(np.float32), y


# ------------------------------------------------------------------------------ loss and metrics

def loss(out: Any, y: Any, site: Any, site_weight: float) -> Any:
    """Hook: cross-entropy over all classes + soft Dice of LA and RA (there is no site head)."""
    import torch
    from torch.nn import functional as F

    logits = (out["seg"] if isinstance(out, dict) else out).float()
    prob = torch.softmax(logits, dim=1)[:, 1:3]
    target = torch.stack([(y == 1), (y == 2)], dim=1).float()
    inter = (prob * target).sum(dim=(2, 3))
    dice = 1 - (2 * inter + 1) / (prob.sum(dim=(2, 3)) + target.sum(dim=(2, 3)) + 1)
    return F.cross_entropy(logits, y) + dice.mean()


def _area_errors(prob: np.ndarray, truth_px: np.ndarray) -> list[float]:
    """Relative errors of the pipeline's soft area (postprocess.soft_area_cm2 in model pixels) vs label pixels."""

    unit = manual_tissue_calibration(1.0, prob.shape[-2:])
    return [abs(soft_area_cm2(p, unit) - float(t)) / float(t) for p, t in zip(prob, truth_px) if t > 0]


class AtriaTally:
    """Validation metrics: Dice of the argmax LA/RA masks and the relative error of the soft areas."""

    def __init__(self) -> None:
        self.inter = {name: 0.0 for name, _ in ATRIA}
        self.total = {name: 0.0 for name, _ in ATRIA}
        self.area_err: dict[str, list[float]] = {name: [] for name, _ in ATRIA}

    def add(self, out: Any, y: Any, site: Any) -> None:
        """Count one batch of logits (N, 5, H, W) against labels (N, H, W)."""
        import torch

        prob = torch.softmax(out.float(), dim=1)
        pred = prob.argmax(dim=1)
        for name, k in ATRIA:
            self.inter[name] += float(((pred == k) & (y == k)).sum())
            self.total[name] += float((pred == k).sum() + (y == k).sum())
        for name, k in ATRIA:
            self.area_err[name] += _area_errors(prob[:, k].numpy(), (y == k).sum(dim=(1, 2)).numpy())

    def result(self) -> dict[str, float]:
        """val_dice_la/ra (pooled over pixels) and val_area_err_la/ra (mean over samples; nan if none)."""
        res = {f"val_dice_{name}": 2 * self.inter[name] / max(self.total[name], 1.0) for name, _ in ATRIA}
        for name, _ in ATRIA:
            errs = self.area_err[name]
            res[f"val_area_err_{name}"] = float(np.mean(errs)) if errs else float("nan")
        return res


LEARNER = Learner(
    family="atria",
    input_size=DEFAULT_ATRIA_SIZE,
    arch_config=ARCH_CONFIG,
    card=MappingProxyType({"classes": list(ATRIA_CLASSES)}),
    metrics=tuple(f"val_{kind}_{name}" for kind in ("dice", "area_err") for name, _ in ATRIA),
    frames_per_case=FRAMES_PER_CASE,
    label_dtype=np.int64,
    label_storage=np.uint8,
    synth_samples=synth_samples,
    sample_from_labelled=sample_from_labelled,
    augment=augment,
    loss=loss,
    tally=AtriaTally,
)
