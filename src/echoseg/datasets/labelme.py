"""labelme JSON polygons next to DICOM / PNG / AVI images.

Layout: ``case01.dcm`` + ``case01.json`` (or ``case01_frame12.json``), any folder depth. Read keys:
``shapes[].label``/``points``/``shape_type``, ``imagePath``, ``imageHeight``/``imageWidth``,
``imageData`` (embedded image, used when no image file is found), ``frame`` or ``frame_index``
(top level, or per shape to annotate several frames in one file).

Atria: polygons labelled LA, RA (any case; LV, RV also kept as labels 3, 4).
Doppler: ``linestrip`` (or ``line``) shapes labelled ``envelope...`` traced along the outer
envelope; the flow region runs from the baseline row (the DICOM's spectral calibration, the
user's explicit calibration, or a ``baseline`` line shape in the JSON) to the envelope.
Polygons labelled ``flow`` are taken as the flow region directly.

The annotated frame is the ``frame`` key, else the ``_frameN`` file-name suffix, else frame 0 of
a single-frame image. A multi-frame image without a frame index is skipped with that reason:
guessing the frame would silently train on the wrong one.
"""
from __future__ import annotations

import base64
import io as _io
import json
from pathlib import Path
from typing import Any

import numpy as np

from echoseg.datasets.common import (
    DatasetOptions,
    FrameReader,
    LabelledSample,
    SampleRef,
    as_rgb,
    calibrate,
    canonical_label,
    find_image,
    flow_mask,
    group_key,
    probe,
    split_frame_from_stem,
)
from echoseg.errors import EchosegError
from echoseg.imaging.polygons import polygon_mask
from echoseg.types import Region, SpectralCalibration
from echoseg.vocab import LABEL_VALUES

_DRAW_ORDER = ("LV", "RV", "LA", "RA")  # atria drawn last: they win where polygons overlap


def _frame_value(value: Any, where: str) -> int | None:
    if value is None:
        return None
    try:
        frame = int(value)
    except (TypeError, ValueError):
        raise EchosegError(f"{where}: frame index must be a non-negative integer, not {value!r}") from None
    if frame < 0:
        raise EchosegError(f"{where}: frame index must be a non-negative integer, not {value!r}")
    return frame


def read_labelme_json(path: Path) -> dict[str, Any]:
    """The JSON object of one labelme file; EchosegError naming the file when it is missing, not
    JSON, or has no 'shapes' list (the one labelme reader of echoseg: datasets and prompts use it)."""
    where = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EchosegError(f"{where}: no such labelme JSON file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EchosegError(f"{where}: not valid JSON ({exc}); expected a labelme annotation file") from None
    if not isinstance(data, dict) or "shapes" not in data:
        raise EchosegError(f"{where}: no 'shapes' list; this is not a labelme annotation file")
    return data


def shape_points(shape: dict[str, Any], where: str) -> np.ndarray:
    """(N, 2) float (x, y) vertices of one labelme shape; EchosegError for malformed or non-finite points."""
    try:
        pts = np.asarray(shape.get("points") or [], dtype=np.float64).reshape(-1, 2)
    except (TypeError, ValueError):
        raise EchosegError(f"{where}: points must be a list of [x, y] pairs, not {shape.get('points')!r}") from None
    if not np.isfinite(pts).all():
        raise EchosegError(f"{where}: points contain NaN or infinite coordinates")
    return pts


def _shapes_by_frame(data: dict[str, Any], task: str, file_frame: int | None,
                     where: str) -> tuple[dict[int | None, list[tuple[str, np.ndarray]]], float | None]:
    """Usable shapes grouped by frame (None = not stated), and a baseline row from a 'baseline' line."""
    out: dict[int | None, list[tuple[str, np.ndarray]]] = {}
    baseline = None
    shapes = data.get("shapes")
    if not isinstance(shapes, list):
        raise EchosegError(f"{where}: 'shapes' must be a list, not {type(shapes).__name__}")
    for i, shape in enumerate(shapes):
        if not isinstance(shape, dict):
            raise EchosegError(f"{where}: shape {i} is not an object")
        label = str(shape.get("label", "")).strip().lower()
        kind = str(shape.get("shape_type") or "polygon").lower()
        pts = shape_points(shape, f"{where} shape {i} ({label!r})")
        frame = _frame_value(shape.get("frame", shape.get("frame_index")), f"{where} shape {i}")
        frame = file_frame if frame is None else frame
        if task == "atria":
            name = canonical_label(label)
            if name is None or kind != "polygon" or len(pts) < 3:
                continue
            out.setdefault(frame, []).append((name, pts))
        elif label.startswith("baseline") and len(pts) >= 1:
            baseline = float(pts[:, 1].mean())
        elif label.startswith("envelope") and kind in ("linestrip", "line", "polyline") and len(pts) >= 2:
            out.setdefault(frame, []).append(("envelope", pts))
        elif label.startswith("flow") and kind == "polygon" and len(pts) >= 3:
            out.setdefault(frame, []).append(("flow", pts))
    return out, baseline


def _resolve_image(json_path: Path, data: dict[str, Any]) -> Path | None:
    image_path = data.get("imagePath")
    if image_path:
        cand = (json_path.parent / str(image_path).replace("\\", "/")).resolve()
        if cand.is_file():
            return cand
    stem, _ = split_frame_from_stem(json_path.stem)
    for s in dict.fromkeys((stem, json_path.stem)):
        found = find_image(json_path.parent, s)
        if found is not None:
            return found
    return None


def index(root: Path, task: str, opts: DatasetOptions) -> tuple[list[SampleRef], list[tuple[str, str]]]:
    """Parse every labelme JSON under ``root`` (hidden folders skipped)."""
    refs: list[SampleRef] = []
    skipped: list[tuple[str, str]] = []
    for path in sorted(root.rglob("*.json")):
        if any(p.startswith(".") for p in path.relative_to(root).parts):
            continue
        try:
            refs.extend(_index_one(path, root, task))
        except EchosegError as exc:
            skipped.append((str(path), str(exc)))
    return refs, skipped


def _index_one(path: Path, root: Path, task: str) -> list[SampleRef]:
    where = str(path)
    data = read_labelme_json(path)
    file_frame = _frame_value(data.get("frame", data.get("frame_index")), where)
    if file_frame is None:
        file_frame = split_frame_from_stem(path.stem)[1]
    by_frame, baseline = _shapes_by_frame(data, task, file_frame, where)
    if not by_frame:
        wanted = "LA/RA/LV/RV polygons" if task == "atria" else "'envelope' linestrips or 'flow' polygons"
        found = sorted({str(s.get("label", "")) for s in data["shapes"] if isinstance(s, dict)})
        raise EchosegError(f"{where}: no {wanted} (labels found: {', '.join(found) or 'none'})")
    image = _resolve_image(path, data)
    embedded = image is None and bool(data.get("imageData"))
    if image is None and not embedded:
        raise EchosegError(f"{where}: no image found (imagePath {data.get('imagePath')!r}, nor "
                           f"{split_frame_from_stem(path.stem)[0]}.dcm/.png/.avi next to the JSON)")
    # from here on, embedded is exactly "image is None"
    n_frames, study = (1, None) if image is None else probe(image)
    size = (data.get("imageHeight"), data.get("imageWidth"))
    refs = []
    for frame, shapes in sorted(by_frame.items(), key=lambda kv: -1 if kv[0] is None else kv[0]):
        if frame is None:
            if n_frames > 1:
                raise EchosegError(
                    f"{where}: {image} has {n_frames} frames but the JSON names none; add a 'frame' key "
                    f"or name the file {split_frame_from_stem(path.stem)[0]}_frameN.json")
            frame = 0
        if frame >= n_frames:
            raise EchosegError(f"{where}: frame {frame} is beyond the {n_frames} frame(s) of {image}")
        source = path if image is None else image
        refs.append(SampleRef(source=source, frame=frame, group=group_key(source, root, study),
                              annotation=path,
                              payload={"shapes": tuple(shapes), "baseline": baseline, "size": size,
                                       "embedded": embedded}))
    return refs


def _embedded_image(path: Path) -> np.ndarray:
    from PIL import Image

    data = json.loads(path.read_text(encoding="utf-8"))
    try:
        with Image.open(_io.BytesIO(base64.b64decode(data["imageData"]))) as im:
            return np.asarray(im.convert("RGB")).copy()
    except Exception as exc:  # noqa: BLE001 - base64 / image decoding errors vary
        raise EchosegError(f"{path}: imageData cannot be decoded ({type(exc).__name__}: {exc})") from None


def load(ref: SampleRef, task: str, opts: DatasetOptions, reader: FrameReader) -> LabelledSample:
    """Decode the image frame and draw the labels (atria) or flow mask (doppler) of one reference."""
    payload = ref.payload
    where = str(ref.annotation)
    regions: tuple[Region, ...]
    if payload["embedded"]:
        image, regions = _embedded_image(ref.source), ()
    else:
        image, regions = reader.read(ref.source, ref.frame, opts)
    image = as_rgb(image, str(ref.source))
    shape = image.shape[:2]
    h, w = payload["size"]
    if h is not None and w is not None and (int(h), int(w)) != shape:
        raise EchosegError(f"{where}: drawn on a {w}x{h} image but {ref.source} is {shape[1]}x{shape[0]}; "
                           "re-export the annotation at the image's size")
    calibration, reason = calibrate(regions, shape, task, opts, str(ref.source))
    labels = np.zeros(shape, dtype=np.uint8)
    shapes = payload["shapes"]
    if task == "atria":
        for name in _DRAW_ORDER:
            for label, pts in shapes:
                if label == name:
                    labels[polygon_mask(pts, shape)] = LABEL_VALUES[name]
    else:
        baseline = payload["baseline"]
        if baseline is None and isinstance(calibration, SpectralCalibration):  # the doppler task's calibration
            baseline = calibration.baseline_row
        for label, pts in shapes:
            if label == "flow":
                labels[polygon_mask(pts, shape)] = 1
            elif baseline is None:
                raise EchosegError(
                    f"{where}: envelope traced but the baseline row is unknown ({reason}); add a 'baseline' "
                    "line shape to the JSON or pass a spectral calibration")
            else:
                labels[flow_mask(pts, baseline, shape)] = 1
    meta: dict[str, Any] = {"format": "labelme"}
    if reason:
        meta["calibration_error"] = reason
    return LabelledSample(image=image, labels=labels, calibration=calibration, source=str(ref.source),
                          frame=ref.frame, group=ref.group, annotation=where, meta=meta)
