"""Training samples from the synthetic generators (torch-free): kept as a stable import path.

The builders now live with the family that trains on them, in its ``learn`` module
(:mod:`echoseg.atria.learn`, :mod:`echoseg.doppler.learn`), where a change to how a family trains
belongs; this module re-exports them unchanged. Each sample is prepared exactly as inference
prepares a real file (calibration from the case's Sequence of Ultrasound Regions, pixels through
the family's ``prepare`` module, labels resampled with the same geometry).

Example::

    >>> x, y = atria_sample(3, size=64)
    >>> x.shape, y.shape, sorted(set(y.ravel().tolist())) == [0, 1, 2, 3, 4]
    ((1, 64, 64), (64, 64), True)
"""
from __future__ import annotations

from echoseg.atria.learn import DEFAULT_ATRIA_SIZE, atria_from_case, atria_sample, atria_samples
from echoseg.doppler.learn import DEFAULT_DOPPLER_SIZE, doppler_from_case, doppler_sample

__all__ = ["DEFAULT_ATRIA_SIZE", "DEFAULT_DOPPLER_SIZE", "atria_from_case", "atria_sample", "atria_samples",
           "doppler_from_case", "doppler_sample"]
