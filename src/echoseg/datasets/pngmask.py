"""PNG masks next to (or in a ``masks/`` folder beside) DICOM / PNG / AVI images.

Recognised mask files, anywhere under the root:

- ``<stem>_mask.png`` next to the image: label values (atria: 0 bg, 1 LA, 2 RA, 3 LV, 4 RV;
  doppler: any non-zero value is flow).
- ``masks/<stem>.png``: the same label values, in a folder called ``masks``.
- ``<stem>.la_area.png`` / ``<stem>.ra_area.png`` (atria) and ``<stem>.<site>_vti.png`` (doppler),
  0/255 per-class masks as ``echoseg measure --save-masks`` writes them, in ``masks/`` or next to
  the image. The frame they belong to is read from ``measurements.csv`` beside that ``masks/``
  folder (column ``frame``), when present.

``<stem>`` may end in ``_frameN`` to name the frame of a multi-frame image. The image is found
by stem among the non-mask images under the root.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from echoseg.datasets.common import (
    IMAGE_SUFFIXES,
    DatasetOptions,
    FrameReader,
    LabelledSample,
    SampleRef,
    as_rgb,
    calibrate,
    group_key,
    is_dicom,
    load_mask_png,
    probe,
    split_frame_from_stem,
)
from echoseg.errors import EchosegError
from echoseg.vocab import TASKS_ATRIA, TASKS_DOPPLER

_PER_CLASS = {"la_area": "LA", "ra_area": "RA", **{t: "flow" for t in TASKS_DOPPLER}}


def classify_mask(path: Path) -> tuple[str, str] | None:
    """(image stem, kind) of a mask file, kind in labels | LA | RA | flow; None when not a mask."""
    if path.suffix.lower() != ".png":
        return None
    stem = path.stem
    base, _, task = stem.rpartition(".")
    if base and task in _PER_CLASS:
        return base, _PER_CLASS[task]
    if stem.lower().endswith("_mask"):
        return stem[: -len("_mask")], "labels"
    if path.parent.name.lower() == "masks":
        return stem, "labels"
    return None


def _frames_from_csv(masks_dir: Path) -> dict[tuple[str, str], int]:
    """(input stem, task) -> frame from an echoseg measurements.csv beside the masks folder."""
    table = masks_dir.parent / "measurements.csv"
    out: dict[tuple[str, str], int] = {}
    if not table.is_file():
        return out
    with table.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            try:
                out[(Path(row["file"]).stem, row["task"])] = int(row["frame"])
            except (KeyError, TypeError, ValueError):
                continue
    return out


def index(root: Path, task: str, opts: DatasetOptions) -> tuple[list[SampleRef], list[tuple[str, str]]]:
    """Pair every mask file under ``root`` with its image."""
    masks: dict[tuple[Path, str], list[tuple[Path, str]]] = {}  # (mask folder, stem) -> [(file, kind)]
    images: dict[str, list[Path]] = {}
    skipped: list[tuple[str, str]] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).parts
        if any(p.startswith(".") for p in rel) or not path.is_file():
            continue
        kind = classify_mask(path)
        if kind is not None:
            stem, what = kind
            wanted = ("flow", "labels") if task == "doppler" else ("labels", "LA", "RA")
            if what in wanted:
                masks.setdefault((path.parent, stem), []).append((path, what))
        elif path.suffix.lower() in IMAGE_SUFFIXES or is_dicom(path):
            images.setdefault(path.stem, []).append(path)
    refs: list[SampleRef] = []
    csv_frames: dict[Path, dict[tuple[str, str], int]] = {}
    for (folder, stem), files in sorted(masks.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        where = str(files[0][0])
        try:
            base, frame = split_frame_from_stem(stem)
            candidates = images.get(stem) or images.get(base) or []
            local = [c for c in candidates if c.parent == folder or c.parent == folder.parent]
            candidates = local or candidates
            dicoms = [c for c in candidates if is_dicom(c)]
            candidates = dicoms if len(dicoms) == 1 else candidates  # prefer the DICOM over its exports
            if len(candidates) != 1:
                problem = "no image" if not candidates else f"{len(candidates)} images ({', '.join(map(str, candidates))})"
                raise EchosegError(f"{where}: {problem} called {base}.* under {root}; the mask's image must be unique")
            image = candidates[0]
            if frame is None and any(k in ("LA", "RA", "flow") for _, k in files):
                table = csv_frames.setdefault(folder, _frames_from_csv(folder))
                task_names = TASKS_ATRIA if task == "atria" else TASKS_DOPPLER
                found = {table[(image.stem, t)] for t in task_names if (image.stem, t) in table}
                frame = found.pop() if len(found) == 1 else None
            n_frames, study = probe(image)
            if frame is None:
                if n_frames > 1:
                    raise EchosegError(f"{where}: {image} has {n_frames} frames and the mask names none; name it "
                                       f"{base}_frameN (or keep echoseg's measurements.csv beside masks/)")
                frame = 0
            if frame >= n_frames:
                raise EchosegError(f"{where}: frame {frame} is beyond the {n_frames} frame(s) of {image}")
            refs.append(SampleRef(source=image, frame=frame, group=group_key(image, root, study),
                                  annotation=files[0][0], payload=tuple(files)))
        except EchosegError as exc:
            skipped.append((where, str(exc)))
    return refs, skipped


def _labels(files: tuple[tuple[Path, str], ...], task: str, shape: tuple[int, int]) -> np.ndarray:
    labels = np.zeros(shape, dtype=np.uint8)
    for path, kind in sorted(files, key=lambda f: f[1] != "labels"):  # per-class files drawn last
        mask = load_mask_png(path)
        if mask.shape != shape:
            raise EchosegError(f"{path}: mask is {mask.shape[1]}x{mask.shape[0]} but its image is "
                               f"{shape[1]}x{shape[0]}; masks must be at the full image size")
        if task == "doppler":
            labels[mask > (127 if kind == "flow" else 0)] = 1
        elif kind == "labels":
            values = set(np.unique(mask).tolist())
            if not values <= {0, 1, 2, 3, 4}:
                raise EchosegError(f"{path}: label values {sorted(values)} are not within 0 bg, 1 LA, 2 RA, 3 LV, "
                                   "4 RV; save 0/255 masks per class as <stem>.la_area.png / <stem>.ra_area.png")
            labels = np.where(mask > 0, mask, labels).astype(np.uint8)
        else:
            labels[mask > 127] = 1 if kind == "LA" else 2
    return labels


def load(ref: SampleRef, task: str, opts: DatasetOptions, reader: FrameReader) -> LabelledSample:
    """Decode the image frame and read its mask(s)."""
    image, regions = reader.read(ref.source, ref.frame, opts)
    image = as_rgb(image, str(ref.source))
    shape = image.shape[:2]
    labels = _labels(ref.payload, task, shape)
    calibration, reason = calibrate(regions, shape, task, opts, str(ref.source))
    meta: dict[str, Any] = {"format": "pngmask", "mask_files": [str(p) for p, _ in ref.payload]}
    if reason:
        meta["calibration_error"] = reason
    return LabelledSample(image=image, labels=labels, calibration=calibration, source=str(ref.source),
                          frame=ref.frame, group=ref.group, annotation=str(ref.annotation), meta=meta)
