"""EchoNet-Dynamic: ``Videos/<FileName>.avi``, ``FileList.csv`` and ``VolumeTracings.csv``.

VolumeTracings.csv has columns FileName, X1, Y1, X2, Y2, Frame: for each traced frame (end
diastole and end systole) a list of lines across the left ventricle. The first line of a frame
is the long axis (apex to mitral-annulus midpoint); the others are the disc chords. The LV
polygon is the chords' (X1, Y1) ends in file order followed by their (X2, Y2) ends in reverse.
The mask is label 3 (LV): an auxiliary class for atrial training. Of a video's two traced frames,
the larger tracing is marked ``phase`` "ED" in ``meta``, the smaller "ES". FileList.csv, when
present, adds its ``Split`` (TRAIN/VAL/TEST) to ``meta``. The videos carry no calibration: pass
``cm_per_px`` for one, else calibration is None.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from echoseg.datasets.common import DatasetOptions, FrameReader, LabelledSample, SampleRef, as_rgb, calibrate, probe
from echoseg.errors import EchosegError
from echoseg.imaging.polygons import polygon_mask, shoelace_area
from echoseg.vocab import LABEL_VALUES

_COLUMNS = ("FileName", "X1", "Y1", "X2", "Y2", "Frame")
_Line = tuple[float, float, float, float]  # one traced line: X1, Y1, X2, Y2


def is_echonet(root: Path) -> bool:
    return (root / "VolumeTracings.csv").is_file() and (root / "Videos").is_dir()


def _stem(name: str) -> str:
    name = name.strip()
    return name[:-4] if name.lower().endswith(".avi") else name


def tracing_polygon(rows: list[_Line]) -> np.ndarray:
    """(N, 2) LV polygon from one frame's (X1, Y1, X2, Y2) lines, the first being the long axis."""
    lines = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    chords = lines[1:] if len(lines) > 2 else lines
    return np.concatenate([chords[:, 0:2], chords[::-1, 2:4]])


def _read_tracings(path: Path) -> tuple[dict[tuple[str, int], list[_Line]], list[tuple[str, str]]]:
    tracings: dict[tuple[str, int], list[_Line]] = {}
    bad: list[tuple[str, str]] = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise EchosegError(f"{path}: missing column(s) {', '.join(missing)}; "
                               f"VolumeTracings.csv needs {', '.join(_COLUMNS)}")
        for n, row in enumerate(reader, start=2):
            try:
                key = (_stem(row["FileName"]), int(float(row["Frame"])))
                x1, y1, x2, y2 = (float(row[c]) for c in ("X1", "Y1", "X2", "Y2"))
                tracings.setdefault(key, []).append((x1, y1, x2, y2))
            except (TypeError, ValueError):
                bad.append((f"{path}:{n}", f"{path} line {n}: non-numeric coordinates or frame {row!r}"))
    return tracings, bad


def _read_filelist(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return {_stem(row.get("FileName", "")): row for row in csv.DictReader(fh)}


def index(root: Path, task: str, opts: DatasetOptions) -> tuple[list[SampleRef], list[tuple[str, str]]]:
    """One reference per traced (video, frame)."""
    if task != "atria":
        raise ValueError(f"EchoNet-Dynamic holds B-mode videos only; task must be 'atria', not {task!r}")
    tracings, skipped = _read_tracings(root / "VolumeTracings.csv")
    filelist = _read_filelist(root / "FileList.csv")
    areas: dict[str, dict[int, float]] = {}
    for (name, frame), rows in tracings.items():
        areas.setdefault(name, {})[frame] = shoelace_area(tracing_polygon(rows))
    refs: list[SampleRef] = []
    n_frames: dict[str, int] = {}
    for (name, frame), rows in sorted(tracings.items()):
        video = root / "Videos" / f"{name}.avi"
        where = f"{root / 'VolumeTracings.csv'} ({name}, frame {frame})"
        if not video.is_file():
            skipped.append((str(video), f"{where}: video {video} not found"))
            continue
        if len(rows) < 3:
            skipped.append((str(video), f"{where}: {len(rows)} line(s) traced; a polygon needs at least 3"))
            continue
        if name not in n_frames:
            listed = (filelist.get(name) or {}).get("NumberOfFrames", "")
            n_frames[name] = int(listed) if str(listed).isdigit() else probe(video)[0]
        if not 0 <= frame < n_frames[name]:
            skipped.append((str(video), f"{where}: frame {frame} is beyond the video's {n_frames[name]} frames"))
            continue
        by_frame = areas[name]
        phase = None
        if len(by_frame) == 2:
            phase = "ED" if by_frame[frame] == max(by_frame.values()) else "ES"
        meta: dict[str, Any] = {"phase": phase, "split": (filelist.get(name) or {}).get("Split")}
        refs.append(SampleRef(source=video, frame=frame, group=name, annotation=root / "VolumeTracings.csv",
                              payload={"polygon": tracing_polygon(rows), "meta": meta}))
    return refs, skipped


def load(ref: SampleRef, task: str, opts: DatasetOptions, reader: FrameReader) -> LabelledSample:
    """Decode the traced frame and draw the LV polygon as label 3."""
    image, _ = reader.read(ref.source, ref.frame, opts)
    image = as_rgb(image, str(ref.source))
    shape = image.shape[:2]
    labels = np.zeros(shape, dtype=np.uint8)
    labels[polygon_mask(ref.payload["polygon"], shape)] = LABEL_VALUES["LV"]
    calibration, reason = calibrate((), shape, task, opts, str(ref.source))
    meta = {"format": "echonet", **ref.payload["meta"]}
    if reason:
        meta["calibration_error"] = reason
    return LabelledSample(image=image, labels=labels, calibration=calibration, source=str(ref.source),
                          frame=ref.frame, group=ref.group, annotation=str(ref.annotation), meta=meta)
