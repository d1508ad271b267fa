"""Datasets over users' labelled echocardiography data, for fine-tuning and evaluation.

Torch-free: a :class:`LabelledSet` is a plain ``Sequence`` of :class:`LabelledSample` (numpy
image, label mask, calibration), decoded lazily one sample at a time; the training loop wraps it.

Formats (``format=``): ``labelme`` (JSON polygons / envelope traces next to DICOM, PNG or AVI),
``pngmask`` (label or per-class PNG masks), ``camus`` (MetaImage or NIfTI), ``echonet``
(EchoNet-Dynamic videos + VolumeTracings.csv). ``auto`` picks one with :func:`detect_format`.
Label values: 0 bg, 1 LA, 2 RA, 3 LV, 4 RV (task "atria"); 1 = flow region (task "doppler").

Example::

    ds = open_dataset("my_cases/", task="atria")
    print(len(ds), ds.skipped[:3])          # what was left out, and why
    train, val = split(ds, val_fraction=0.2, seed=0)   # no patient in both
    sample = train[0]                        # sample.image (H, W, 3) uint8, sample.labels (H, W) uint8
"""
from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

from echoseg.datasets.common import DatasetOptions, FrameReader, LabelledSample, SampleRef, check_task, flow_mask
from echoseg.errors import EchosegError, UnsupportedInputError
from echoseg.types import SpectralCalibration

__all__ = ["FORMATS", "LabelledSample", "LabelledSet", "detect_format", "flow_mask",
           "open_dataset", "split"]

FORMATS = ("labelme", "pngmask", "camus", "echonet")


def _module(fmt: str) -> Any:
    return importlib.import_module(f"echoseg.datasets.{fmt}")


def detect_format(root: str | os.PathLike[str]) -> str:
    """Name the layout of ``root``: echonet, camus, labelme or pngmask (checked in that order).

    Raises:
        UnsupportedInputError: ``root`` is missing or none of the layouts is recognised.
    """
    root = Path(root)
    if not root.is_dir():
        raise UnsupportedInputError(f"{root}: not a folder; open_dataset needs the dataset's root folder")
    if _module("echonet").is_echonet(root):
        return "echonet"
    if _module("camus").is_camus(root):
        return "camus"
    pngmask = _module("pngmask")
    has_masks = False
    for path in root.rglob("*"):
        if any(p.startswith(".") for p in path.relative_to(root).parts):
            continue
        if path.suffix.lower() == ".json":
            try:
                with path.open(encoding="utf-8") as fh:
                    head = fh.read(65536)
            except (OSError, UnicodeDecodeError):
                continue
            if '"shapes"' in head:
                return "labelme"
        elif not has_masks and path.is_file() and pngmask.classify_mask(path) is not None:
            has_masks = True
    if has_masks:
        return "pngmask"
    raise UnsupportedInputError(
        f"{root}: no known dataset layout: expected Videos/ + VolumeTracings.csv (EchoNet-Dynamic), "
        "patientXXXX_4CH_ES.mhd/.nii.gz (CAMUS), labelme *.json with 'shapes', or PNG masks "
        "(<stem>_mask.png, masks/<stem>.png, <stem>.la_area.png); pass format= explicitly")


class LabelledSet(Sequence[LabelledSample]):
    """Lazily decoded labelled samples of one dataset.

    ``refs`` say where each sample comes from (no pixels); ``skipped`` lists (path, reason) for
    every annotation left out while indexing, and, after :meth:`load_all`, every sample that
    failed to decode. Indexing with a slice or :meth:`subset` gives another LabelledSet.
    """

    def __init__(self, root: Path, fmt: str, task: str, refs: Sequence[SampleRef], opts: DatasetOptions,
                 skipped: list[tuple[str, str]] | None = None) -> None:
        self.root = root
        self.format = fmt
        self.task = task
        self.refs = tuple(refs)
        self.opts = opts
        self.skipped: list[tuple[str, str]] = list(skipped or [])
        self._reader = FrameReader()

    def __len__(self) -> int:
        return len(self.refs)

    @overload
    def __getitem__(self, i: int) -> LabelledSample: ...
    @overload
    def __getitem__(self, i: slice) -> LabelledSet: ...

    def __getitem__(self, i: int | slice) -> LabelledSample | LabelledSet:
        if isinstance(i, slice):
            return self.subset(range(len(self))[i])
        ref = self.refs[i]
        return _module(self.format).load(ref, self.task, self.opts, self._reader)

    def __iter__(self) -> Iterator[LabelledSample]:
        for i in range(len(self)):
            yield self[i]

    def __getstate__(self) -> dict[str, Any]:  # data-loader workers get an empty frame cache
        state = dict(self.__dict__)
        state["_reader"] = FrameReader()
        return state

    def __repr__(self) -> str:
        return (f"LabelledSet({self.format!r}, task={self.task!r}, {len(self)} samples, "
                f"{len(set(self.groups))} groups, {len(self.skipped)} skipped, root={str(self.root)!r})")

    @property
    def groups(self) -> tuple[str, ...]:
        """Patient/study key of every sample (what :func:`split` keeps together)."""
        return tuple(r.group for r in self.refs)

    def subset(self, indices: Sequence[int]) -> LabelledSet:
        """The samples at ``indices``, in that order (sharing this set's options, not its skipped list)."""
        return LabelledSet(self.root, self.format, self.task, [self.refs[int(i)] for i in indices], self.opts)

    def load_all(self) -> list[LabelledSample]:
        """Decode every sample; failures are appended to ``skipped`` instead of raised."""
        out: list[LabelledSample] = []
        for ref in self.refs:
            try:
                out.append(_module(self.format).load(ref, self.task, self.opts, self._reader))
            except (EchosegError, OSError) as exc:
                self.skipped.append((str(ref.annotation or ref.source), str(exc)))
        return out


def open_dataset(root: str | os.PathLike[str], format: str = "auto", task: str = "atria", *,
                 cm_per_px: float | None = None, spectral: SpectralCalibration | None = None,
                 views: Sequence[str] = ("4CH",)) -> LabelledSet:
    """Index the labelled dataset under ``root``; pixels are decoded when a sample is read.

    Args:
        root: the dataset folder.
        format: "auto" or one of :data:`FORMATS`.
        task: "atria" (labels 0-4) or "doppler" (flow mask between baseline and envelope).
        cm_per_px: square-pixel scale for sources without calibration (PNG, AVI, EchoNet);
            for DICOM and CAMUS it replaces the file's own scale.
        spectral: explicit Doppler calibration for screenshots without ultrasound regions.
        views: CAMUS views to include ("4CH" and/or "2CH").

    Raises:
        UnsupportedInputError: ``root`` is not a folder or its layout is unknown.
        ValueError: unknown format or task, or a task the format cannot serve (CAMUS/EchoNet doppler).
        EchosegError: the format's index file itself (VolumeTracings.csv) is unusable.
    """
    root = Path(root)
    check_task(task)
    if format != "auto" and format not in FORMATS:
        raise ValueError(f"format must be 'auto' or one of {', '.join(FORMATS)}, not {format!r}")
    if not root.is_dir():
        raise UnsupportedInputError(f"{root}: not a folder; open_dataset needs the dataset's root folder")
    fmt = detect_format(root) if format == "auto" else format
    opts = DatasetOptions(cm_per_px=cm_per_px, spectral=spectral, views=tuple(views))
    refs, skipped = _module(fmt).index(root, task, opts)
    return LabelledSet(root, fmt, task, refs, opts, skipped)


@overload
def split(samples: LabelledSet, val_fraction: float = 0.2, seed: int = 0) -> tuple[LabelledSet, LabelledSet]: ...
@overload
def split(samples: list[LabelledSample] | tuple[LabelledSample, ...], val_fraction: float = 0.2,
          seed: int = 0) -> tuple[list[LabelledSample], list[LabelledSample]]: ...


def split(samples: Any, val_fraction: float = 0.2, seed: int = 0) -> tuple[Any, Any]:
    """Split into (train, val) by patient/study group, so no group has samples on both sides.

    ``round(val_fraction * number of groups)`` groups (at least one when val_fraction > 0) are
    drawn for validation with a seeded generator; the result depends only on the groups and the
    seed, not on the order of the samples. A LabelledSet splits into two LabelledSets without
    decoding pixels; a list of LabelledSample splits into two lists.

    Raises:
        ValueError: val_fraction outside [0, 1), or fewer than two groups to split.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), not {val_fraction}")
    groups = list(samples.groups) if isinstance(samples, LabelledSet) else [s.group for s in samples]
    unique = sorted(set(groups))
    n_val = 0 if val_fraction == 0 else max(1, int(round(val_fraction * len(unique))))
    if n_val >= len(unique) and len(groups) > 0:
        raise ValueError(f"cannot split {len(groups)} samples of {len(unique)} patient/study group(s) "
                         f"with val_fraction {val_fraction}: every group would go to validation; "
                         "add patients or lower val_fraction")
    rng = np.random.default_rng(seed)
    val_groups = {unique[i] for i in rng.permutation(len(unique))[:n_val]}
    train_idx = [i for i, g in enumerate(groups) if g not in val_groups]
    val_idx = [i for i, g in enumerate(groups) if g in val_groups]
    if isinstance(samples, LabelledSet):
        return samples.subset(train_idx), samples.subset(val_idx)
    return [samples[i] for i in train_idx], [samples[i] for i in val_idx]
