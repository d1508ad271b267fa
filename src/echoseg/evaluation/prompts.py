"""labelme JSON annotations of the atria and the box/point prompts of prompted segmenters.

Reads the labelme layout the public EchoNet atrial segmentation masks use: ``shapes[]`` with
``label`` in {LA, RA} (any case) and ``points`` polygons ([[x, y], ...] in image pixels),
``imageHeight``/``imageWidth``, and optionally ``bbox_prompt`` ([x0, y0, x1, y1]),
``point_prompt`` ([x, y] or a list of them) and ``image_size_for_box_and_point_prompt`` (the
image size the prompts were drawn at, [W, H] or {"width": W, "height": H}; 640x480 when absent).
Prompts may sit at the top level (one object per file, or a {label: prompt} mapping) or inside a
shape. Coordinates are (x, y) = (column, row) throughout; boxes are inclusive pixel bounds.

Example::

    ann = read_labelme("case01.json")
    box = rescale_box(box_from_mask(ann.masks["LA"]), (ann.width, ann.height), (1024, 768))
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from echoseg.datasets.labelme import read_labelme_json, shape_points
from echoseg.errors import EchosegError
from echoseg.imaging.polygons import polygon_mask

Box = tuple[float, float, float, float]  # x0, y0, x1, y1
Point = tuple[float, float]  # x, y
Size = tuple[int, int]  # width, height
DEFAULT_PROMPT_SIZE: Size = (640, 480)
LABELS = ("LA", "RA")


@dataclass(frozen=True, eq=False)
class LabelmeAnnotation:
    """Masks and prompts of one labelme JSON file.

    ``masks`` maps the upper-case label (LA, RA, or any other label found) to a bool (H, W) mask,
    the union of that label's polygons. ``bbox_prompts``/``point_prompts`` map a label to its
    prompts in ``prompt_image_size`` (W, H) coordinates; prompts not tied to a label sit under
    the only label of the file, or under "" when the file has several labels.
    """

    path: str
    masks: dict[str, np.ndarray]
    width: int
    height: int
    bbox_prompts: dict[str, tuple[Box, ...]] = field(default_factory=dict)
    point_prompts: dict[str, tuple[Point, ...]] = field(default_factory=dict)
    prompt_image_size: Size = DEFAULT_PROMPT_SIZE
    image_path: str | None = None


def _size(value: Any, where: str) -> Size:
    if isinstance(value, Mapping):
        w, h = value.get("width", value.get("w")), value.get("height", value.get("h"))
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        w, h = value
    else:
        w = h = None
    try:
        size = (int(w), int(h))
    except (TypeError, ValueError):
        size = (0, 0)
    if size[0] <= 0 or size[1] <= 0:
        raise EchosegError(f"{where}: image_size_for_box_and_point_prompt must be [W, H] or "
                           f"{{'width': W, 'height': H}} with positive sizes, not {value!r}")
    return size


def _is_number_list(v: Any, n: int) -> bool:
    return (isinstance(v, Sequence) and not isinstance(v, str) and len(v) == n
            and all(isinstance(x, (int, float)) for x in v))


def _boxes(value: Any, where: str) -> tuple[Box, ...]:
    if value is None:
        return ()
    items = [value] if _is_number_list(value, 4) else list(value)
    out = []
    for b in items:
        if not _is_number_list(b, 4):
            raise EchosegError(f"{where}: bbox_prompt must be [x0, y0, x1, y1] or a list of them, not {b!r}")
        x0, y0, x1, y1 = (float(c) for c in b)
        out.append((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    return tuple(out)


def _points(value: Any, where: str) -> tuple[Point, ...]:
    if value is None:
        return ()
    items = [value] if _is_number_list(value, 2) else list(value)
    out = []
    for p in items:
        if not _is_number_list(p, 2):
            raise EchosegError(f"{where}: point_prompt must be [x, y] or a list of them, not {p!r}")
        out.append((float(p[0]), float(p[1])))
    return tuple(out)


def _add(store: dict[str, tuple], label: str, items: tuple) -> None:
    if items:
        store[label] = store.get(label, ()) + items


def read_labelme(path: str | Path) -> LabelmeAnnotation:
    """Read one labelme JSON file: per-label masks (polygons rasterised) and any box/point prompts."""
    path = Path(path)
    where = str(path)
    data = read_labelme_json(path)
    try:
        height, width = int(data["imageHeight"]), int(data["imageWidth"])
    except (KeyError, TypeError, ValueError):
        raise EchosegError(f"{where}: imageHeight and imageWidth must be integers; add them to the JSON") from None

    masks: dict[str, np.ndarray] = {}
    boxes: dict[str, tuple[Box, ...]] = {}
    points: dict[str, tuple[Point, ...]] = {}
    for i, shape in enumerate(data["shapes"] or []):
        label = str(shape.get("label", "")).strip().upper()
        pts = shape_points(shape, f"{where} shape {i}")
        kind = shape.get("shape_type", "polygon") or "polygon"
        if kind == "polygon" and len(pts) >= 3:
            m = polygon_mask(pts, (height, width))
            masks[label] = masks[label] | m if label in masks else m
        elif kind == "rectangle" and len(pts) == 2:
            _add(boxes, label, _boxes([*pts[0].tolist(), *pts[1].tolist()], f"{where} shape {i}"))
        elif kind == "point" and len(pts) == 1:
            _add(points, label, _points(pts[0].tolist(), f"{where} shape {i}"))
        _add(boxes, label, _boxes(shape.get("bbox_prompt"), f"{where} shape {i}"))
        _add(points, label, _points(shape.get("point_prompt"), f"{where} shape {i}"))

    default_label = next(iter(masks)) if len(masks) == 1 else ""
    for key, store, parse in (("bbox_prompt", boxes, _boxes), ("point_prompt", points, _points)):
        value = data.get(key)
        if isinstance(value, Mapping):
            for lab, v in value.items():
                _add(store, str(lab).strip().upper(), parse(v, f"{where} {key}[{lab}]"))
        else:
            _add(store, default_label, parse(value, f"{where} {key}"))
    size_value = data.get("image_size_for_box_and_point_prompt")
    prompt_size = DEFAULT_PROMPT_SIZE if size_value is None else _size(size_value, where)
    return LabelmeAnnotation(path=where, masks=masks, width=width, height=height, bbox_prompts=boxes,
                             point_prompts=points, prompt_image_size=prompt_size,
                             image_path=data.get("imagePath"))


def box_from_mask(mask: np.ndarray, margin_px: float = 0) -> Box:
    """Inclusive bounding box (x0, y0, x1, y1) of a mask's pixels, grown by ``margin_px`` and clipped to the image."""
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2 or not m.any():
        raise EchosegError(f"box_from_mask needs a non-empty 2-D mask, not shape {m.shape} with {int(m.sum())} pixels")
    rows, cols = np.nonzero(m)
    h, w = m.shape
    return (float(max(0, cols.min() - margin_px)), float(max(0, rows.min() - margin_px)),
            float(min(w - 1, cols.max() + margin_px)), float(min(h - 1, rows.max() + margin_px)))


def point_from_mask(mask: np.ndarray) -> Point:
    """The mask pixel farthest from the mask's boundary, as (x, y).

    Uses the Euclidean distance transform, so the point is always inside the mask, even for
    concave (C-shaped) masks whose centroid lies outside. Ties go to the pixel nearest the centroid.
    """
    from scipy import ndimage

    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2 or not m.any():
        raise EchosegError(
            f"point_from_mask needs a non-empty 2-D mask, not shape {m.shape} with {int(m.sum())} pixels")
    dist = ndimage.distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]
    rows, cols = np.nonzero(dist >= dist.max() - 1e-9)
    cy, cx = np.argwhere(m).mean(axis=0)
    k = int(np.argmin((rows - cy) ** 2 + (cols - cx) ** 2))
    return (float(cols[k]), float(rows[k]))


def _scale(from_size: Size, to_size: Size) -> tuple[float, float]:
    fw, fh = from_size
    tw, th = to_size
    if min(fw, fh, tw, th) <= 0:
        raise EchosegError(f"image sizes must be positive (W, H), not {from_size} -> {to_size}")
    return tw / fw, th / fh


def rescale_point(point: Point, from_size: Size, to_size: Size) -> Point:
    """Map an (x, y) point between image sizes given as (W, H) (pixel-edge convention: x * W_to / W_from)."""
    sx, sy = _scale(from_size, to_size)
    return (point[0] * sx, point[1] * sy)


def rescale_box(box: Box, from_size: Size, to_size: Size) -> Box:
    """Map an (x0, y0, x1, y1) box between image sizes given as (W, H)."""
    sx, sy = _scale(from_size, to_size)
    return (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
