"""The one table from measurement family to its training hooks (torch-free at import).

Training code looks a family up here (:func:`learner`) and calls its
:class:`~echoseg.learner.Learner`; adding a family means writing ``<family>/learn.py``,
naming it in :data:`echoseg.vocab.FAMILIES` and listing its LEARNER below.

Example::

    >>> tuple(LEARNERS) == FAMILIES, learner("doppler").frames_per_case
    (True, 1)
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from echoseg.atria import learn as atria_learn
from echoseg.doppler import learn as doppler_learn
from echoseg.learner import Learner
from echoseg.vocab import FAMILIES

LEARNERS: Mapping[str, Learner] = MappingProxyType(
    {hooks.family: hooks for hooks in (atria_learn.LEARNER, doppler_learn.LEARNER)})
if tuple(LEARNERS) != FAMILIES:  # the order fixes train_log.csv's column order
    raise RuntimeError(f"training learners {tuple(LEARNERS)} do not match echoseg.vocab.FAMILIES {FAMILIES}")

__all__ = ["LEARNERS", "learner"]


def learner(task: str) -> Learner:
    """The training hooks of family ``task``; ValueError naming the families for anything else."""
    try:
        return LEARNERS[task]
    except (KeyError, TypeError):
        raise ValueError(f"task must be {' or '.join(repr(f) for f in LEARNERS)}, not {task!r}") from None
