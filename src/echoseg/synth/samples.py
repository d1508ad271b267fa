"""Training samples from the synthetic generators (torch-free): the bridge between synth and train.

Each sample is prepared exactly as inference prepares a real file: the calibration comes from the
case's Sequence of Ultrasound Regions through :mod:`echoseg.calibration`, and the pixels go through
:func:`echoseg.preprocess.atria_input` / :func:`~echoseg.preprocess.doppler_input`. Labels are
resampled with the same geometry.

Example::

    >>> x, y = atria_sample(3, size=64)
    >>> x.shape, y.shape, sorted(set(y.ravel().tolist())) == [0, 1, 2, 3, 4]
    ((1, 64, 64), (64, 64), True)
"""
from __future__ import annotations

import numpy as np

from echoseg.io.calibration import spectral_calibration, tissue_calibration
from echoseg.atria.prepare import atria_input
from echoseg.doppler.prepare import doppler_input
from echoseg.imaging.resample import labels_input, mask_input
from echoseg.synth.case import SynthCase
from echoseg.vocab import ATRIA_CLASSES, SITES

DEFAULT_ATRIA_SIZE = 160
DEFAULT_DOPPLER_SIZE = (128, 256)

__all__ = ["atria_from_case", "atria_sample", "atria_samples", "doppler_from_case",
           "doppler_sample"]


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
                  n_frames: int = 3) -> list[tuple[np.ndarray, np.ndarray]]:
    """All frames of a short synthetic clip (which always holds an end-systolic frame) as samples."""
    from echoseg.synth.a4c import generate_a4c

    return atria_from_case(generate_a4c(int(seed), heldout=heldout, n_frames=n_frames), size)


def atria_sample(seed: int, heldout: bool = False, size: int = DEFAULT_ATRIA_SIZE,
                 n_frames: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The frame where the left atrium is largest, from a short synthetic clip, as (x, y)."""
    from echoseg.synth.a4c import generate_a4c

    case = generate_a4c(int(seed), heldout=heldout, n_frames=n_frames)
    return atria_from_case(case, size, frames=[int(case.truth["la_frame"])])[0]


def doppler_from_case(case: SynthCase, size: tuple[int, int] = DEFAULT_DOPPLER_SIZE
                      ) -> tuple[np.ndarray, np.ndarray, int]:
    """(x (2, rows, cols) float32, soft flow mask (rows, cols) float32, site index into SITES) of a Doppler case."""
    if case.masks is None:
        raise ValueError(f"synthetic case (seed {case.seed}) has no flow mask")
    cal = spectral_calibration(case.regions, case.frames.shape[1:3], f"synthetic doppler seed {case.seed}")
    x, geom = doppler_input(case.frames[0], cal, size=size)
    y = mask_input(case.masks[0], geom)
    return x, y, SITES.index(case.truth["site"])


def doppler_sample(seed: int, heldout: bool = False, size: tuple[int, int] = DEFAULT_DOPPLER_SIZE
                   ) -> tuple[np.ndarray, np.ndarray, int]:
    """One synthetic spectral Doppler screen (random site) as (x, flow mask, site index)."""
    from echoseg.synth.doppler import generate_doppler

    return doppler_from_case(generate_doppler(int(seed), heldout=heldout), size)
