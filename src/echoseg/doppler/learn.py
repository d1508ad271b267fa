"""How the Doppler network trains: the Doppler family's :class:`~echoseg.learner.Learner`.

The network reads a spectral strip (channel 0: luminance, channel 1: signed distance from the
baseline row) and outputs the soft flow mask between baseline and envelope plus a site class
(:data:`echoseg.vocab.SITE_CLASSES`: the five sites, then flows that are none of them). Synthetic samples are prepared exactly as inference prepares a real
file (calibration from the Sequence of Ultrasound Regions, pixels through
:func:`echoseg.doppler.prepare.doppler_input`, mask resampled with the same geometry).
Importing this module does not import torch.

Example::

    >>> x, y, site = doppler_sample(5, size=(32, 64))
    >>> x.shape, y.shape, str(y.dtype), 0 <= site < len(SITE_CLASSES)
    ((2, 32, 64), (32, 64), 'float32', True)
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np

from echoseg.doppler.prepare import doppler_input
from echoseg.errors import EchosegError
from echoseg.imaging.augment import jitter_intensity, warp, warp_offset
from echoseg.imaging.resample import mask_input
from echoseg.io.calibration import spectral_calibration
from echoseg.learner import Learner, Sample
from echoseg.synth.case import SynthCase
from echoseg.synth.doppler import generate_doppler
from echoseg.synth.doppler_signal import generate_doppler_signal
from echoseg.types import SpectralCalibration
from echoseg.vocab import SITE_CLASSES

DEFAULT_DOPPLER_SIZE = (128, 256)  # network input (rows, cols)
ARCH_CONFIG = MappingProxyType({"in_ch": 2, "n_classes": 1, "base": 12, "depth": 4, "n_cls": len(SITE_CLASSES)})
# Synthetic training mix: screens of the picture-level generator (echoseg.synth.doppler), of the
# signal-level one (echoseg.synth.doppler_signal: speckled spectra as scanners compute them) and
# signal-level screens of flows that are not one of the five sites (the head's "other" classes).
MIX = (("picture", 0.35), ("signal", 0.47), ("other", 0.18))

__all__ = ["ARCH_CONFIG", "DEFAULT_DOPPLER_SIZE", "LEARNER", "DopplerTally", "augment", "doppler_from_case",
           "doppler_sample", "loss", "sample_from_labelled", "synth_samples"]


# ------------------------------------------------------------------------------ synthetic samples

def site_class(truth: dict[str, Any]) -> int:
    """Index into :data:`echoseg.vocab.SITE_CLASSES` of a synthetic case: its site, or for a
    non-target flow (site "other") the flow's name (``variant``)."""
    name = truth["variant"] if truth["site"] == "other" else truth["site"]
    return SITE_CLASSES.index(name)


def doppler_from_case(case: SynthCase, size: tuple[int, int] = DEFAULT_DOPPLER_SIZE
                      ) -> tuple[np.ndarray, np.ndarray, int]:
    """(x (2, rows, cols) float32, soft flow mask (rows, cols) float32, class index into SITE_CLASSES) of a case."""
    if case.masks is None:
        raise ValueError(f"synthetic case (seed {case.seed}) has no flow mask")
    cal = spectral_calibration(case.regions, case.frames.shape[1:3], f"synthetic doppler seed {case.seed}")
    x, geom = doppler_input(case.frames[0], cal, size=size)
    y = mask_input(case.masks[0], geom)
    return x, y, site_class(case.truth)


def generator_of(seed: int) -> str:
    """Which part of :data:`MIX` synthetic case ``seed`` comes from (a fixed function of the seed)."""
    u = float(np.random.default_rng([int(seed), 1789]).random())
    edges = np.cumsum([w for _, w in MIX])
    return MIX[int(np.searchsorted(edges, u, side="right"))][0]


def synth_case(seed: int, heldout: bool = False) -> SynthCase:
    """Synthetic spectral Doppler screen ``seed`` from the generator :func:`generator_of` picks."""
    kind = generator_of(seed)
    if kind == "picture":
        return generate_doppler(int(seed), heldout=heldout)
    return generate_doppler_signal(int(seed), heldout=heldout, site="other" if kind == "other" else None)


def doppler_sample(seed: int, heldout: bool = False, size: tuple[int, int] = DEFAULT_DOPPLER_SIZE
                   ) -> tuple[np.ndarray, np.ndarray, int]:
    """One synthetic spectral Doppler screen (random generator and site) as (x, flow mask, class index)."""
    return doppler_from_case(synth_case(seed, heldout=heldout), size)


def synth_samples(seed: int, size: Any, scanner: float = 0.0) -> list[Sample]:
    """Hook: the one training sample of synthetic strip ``seed``.

    ``scanner`` (TrainConfig.synth_scanner, a share of scanner-formed A4C cases) is ignored: the
    Doppler generators have no such cases.
    """
    return [doppler_sample(seed, size=(int(size[0]), int(size[1])))]


# -------------------------------------------------------------------------------- labelled data

def sample_from_labelled(sample: Any, size: Any) -> Sample:
    """Hook: one echoseg.datasets LabelledSample -> (x, flow mask, site) with the inference preprocessing.

    The site comes from ``sample.meta["site"]`` (-1 when absent). Raises EchosegError without a
    SpectralCalibration: the baseline row cannot be guessed.
    """
    cal = sample.calibration
    if not isinstance(cal, SpectralCalibration):
        raise EchosegError(f"{sample.source}: Doppler training needs the spectral calibration (baseline row); "
                           "use DICOMs with ultrasound regions or pass spectral= to open_dataset")
    x, geom = doppler_input(sample.image, cal, size=(int(size[0]), int(size[1])))
    site = (sample.meta or {}).get("site")
    return x, mask_input(sample.labels > 0, geom), SITE_CLASSES.index(site) if site in SITE_CLASSES else -1


# --------------------------------------------------------------------------------- augmentation

def augment(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Hook: time zoom 0.8-1.25, time shift +-10 % and velocity zoom 0.9-1.15 about the baseline, then intensity.

    The baseline channel (1) is recomputed at the source rows, so it stays linear and zero at the baseline.
    """
    x, y = x.copy(), y.copy()
    h, w = y.shape
    d = x[1, :, 0]
    slope = (d[-1] - d[0]) / (h - 1)
    vb = -d[0] / slope if slope != 0 else (h - 1) / 2
    c = np.array([np.clip(vb, 0, h - 1), (w - 1) / 2])
    m = np.diag([1 / rng.uniform(0.9, 1.15), 1 / rng.uniform(0.8, 1.25)])
    shift = np.array([0.0, rng.uniform(-0.1, 0.1) * w])
    off = warp_offset(c, m, shift)
    x[0] = warp(x[0], m, off, 1)
    y = np.clip(warp(y.astype(np.float32), m, off, 1), 0, 1).astype(np.float32)
    rows = m[0, 0] * np.arange(h) + off[0]
    x[1] = (d[0] + slope * rows)[:, None]
    x[0] = jitter_intensity(x[0], rng)
    return x.astype(np.float32), y


# ------------------------------------------------------------------------------ loss and metrics

def loss(out: Any, y: Any, site: Any, site_weight: float) -> Any:
    """Hook: BCE + soft Dice of the flow mask, + ``site_weight`` x CE of the site head (known sites only)."""
    import torch
    from torch.nn import functional as F

    seg = out["seg"][:, 0].float()
    prob = torch.sigmoid(seg)
    inter = (prob * y).sum(dim=(1, 2))
    dice = 1 - (2 * inter + 1) / (prob.sum(dim=(1, 2)) + y.sum(dim=(1, 2)) + 1)
    total = F.binary_cross_entropy_with_logits(seg, y) + dice.mean()
    if "cls" in out and (site >= 0).any():
        total = total + site_weight * F.cross_entropy(out["cls"].float(), site, ignore_index=-1)
    return total


class DopplerTally:
    """Validation metrics: Dice of the thresholded flow mask and the accuracy of the site head."""

    def __init__(self) -> None:
        self.inter, self.total, self.hit, self.n_site = 0.0, 0.0, 0, 0

    def add(self, out: Any, y: Any, site: Any) -> None:
        """Count one batch of {"seg": (N, 1, H, W), "cls": (N, n_sites)} against masks and site indices."""
        import torch

        pred = torch.sigmoid(out["seg"][:, 0].float()) > 0.5
        tgt = y > 0.5
        self.inter += float((pred & tgt).sum())
        self.total += float(pred.sum() + tgt.sum())
        known = site >= 0
        self.hit += int((out["cls"].argmax(dim=1)[known] == site[known]).sum())
        self.n_site += int(known.sum())

    def result(self) -> dict[str, float]:
        """val_dice_flow (pooled over pixels) and val_site_acc (over samples with a known site; nan if none)."""
        return {"val_dice_flow": 2 * self.inter / max(self.total, 1.0),
                "val_site_acc": self.hit / self.n_site if self.n_site else float("nan")}


LEARNER = Learner(
    family="doppler",
    input_size=DEFAULT_DOPPLER_SIZE,
    arch_config=ARCH_CONFIG,
    card=MappingProxyType({"classes": ["flow"], "sites": list(SITE_CLASSES)}),
    metrics=("val_dice_flow", "val_site_acc"),
    frames_per_case=1,
    label_dtype=np.float32,
    label_storage=np.float16,
    synth_samples=synth_samples,
    sample_from_labelled=sample_from_labelled,
    augment=augment,
    loss=loss,
    tally=DopplerTally,
)
