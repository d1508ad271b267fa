"""The web demo's edits: another measured frame for an atrium, other beats for a Doppler strip.

Edits reuse what the pipeline kept when the file was measured (``Options(edit_data=True)``): the
atria network's per-frame probabilities and the Doppler calibration, so no file is read and no
network runs again. The values come from the family code the command line uses,
:func:`echoseg.atria.task.remeasure_frame` and :func:`echoseg.doppler.task.remeasure_beats`.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field, replace

import numpy as np

from echoseg.atria.task import remeasure_frame
from echoseg.doppler.task import remeasure_beats
from echoseg.report.overlay import overlay_image
from echoseg.types import AtriaEditData, DopplerEditData, FileResult
from echoseg.vocab import TASKS_ATRIA

DopplerContext = DopplerEditData  # what a beat edit needs: the strip's calibration


@dataclass(frozen=True, eq=False)
class AtriaContext:
    """What a frame edit needs: the pipeline's probabilities, geometry and calibration, and the cine as JPEGs."""

    data: AtriaEditData  # without the cine (``frames`` None): the JPEGs below stand for it
    frames_jpeg: tuple[bytes, ...]


EditContext = AtriaContext | DopplerContext


@dataclass
class Entry:
    """One measured file of a session: the pipeline's result, the user's edits and the edited result."""

    id: str
    original: FileResult
    context: EditContext | None = None
    context_error: str = ""
    truth: dict[str, float] = field(default_factory=dict)
    frames: dict[str, int] = field(default_factory=dict)  # atria: task -> chosen frame
    included: dict[str, set[int]] = field(default_factory=dict)  # Doppler: task -> included beat indices
    view_task: str | None = None  # the overlay shows this task's frame (None: the pipeline's overview)
    version: int = 0
    edited: FileResult | None = None

    @property
    def result(self) -> FileResult:
        return self.edited or self.original


def edit_context(result: FileResult) -> EditContext | None:
    """The edit context of a result measured with ``Options(edit_data=True)``; None when nothing is editable."""
    data = result.edit_data
    if isinstance(data, AtriaEditData) and result.curves and data.frames is not None:
        return AtriaContext(data=replace(data, frames=None), frames_jpeg=tuple(encode_jpeg(f) for f in data.frames))
    if isinstance(data, DopplerEditData) and result.beats:
        return data
    return None


def encode_jpeg(frame: np.ndarray, quality: int = 90) -> bytes:
    """One RGB frame (H, W, 3) uint8 as JPEG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def decode_jpeg(jpeg: bytes) -> np.ndarray:
    """JPEG bytes as an RGB frame (H, W, 3) uint8."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))


def default_frames(result: FileResult) -> dict[str, int]:
    """The frames the pipeline measured, per atrial task."""
    return {m.task: int(m.frame) for m in result.measurements if m.task in TASKS_ATRIA and m.frame is not None}


def default_included(result: FileResult) -> dict[str, set[int]]:
    """The beats the pipeline used (every complete beat), per Doppler task."""
    return {t: {b.index for b in beats if b.complete} for t, beats in result.beats.items()}


def choose_frame(entry: Entry, task: str, frame: object) -> None:
    """Record the user's frame for ``task``; ValueError naming the valid tasks or frame range."""
    if not isinstance(entry.context, AtriaContext) or task not in entry.frames:
        raise ValueError(f"task must be one of {sorted(entry.frames)} for a frame edit of {entry.original.file}, "
                         f"not {task!r}")
    n = len(entry.context.frames_jpeg)
    if not isinstance(frame, int) or not 0 <= frame < n:
        raise ValueError(f"frame must be an integer from 0 to {n - 1}, not {frame!r}")
    entry.frames[task], entry.view_task = frame, task


def choose_beats(entry: Entry, task: str, included: object) -> None:
    """Record the user's beats for ``task`` (incomplete beats are dropped: they never count)."""
    if not isinstance(entry.context, DopplerEditData) or task not in entry.included:
        raise ValueError(f"task must be one of {sorted(entry.included)} for a beat edit of {entry.original.file}, "
                         f"not {task!r}")
    if not isinstance(included, list) or not all(isinstance(i, int) for i in included):
        raise ValueError(f"included must be a list of beat indices, not {included!r}")
    beats = {b.index: b for b in entry.original.beats[task]}
    entry.included[task] = {i for i in included if i not in beats or beats[i].complete}


def reset(entry: Entry) -> None:
    """Back to the pipeline's frames and beats."""
    entry.frames, entry.included = default_frames(entry.original), default_included(entry.original)
    entry.view_task = None


def apply_edits(entry: Entry) -> FileResult:
    """The original result with the entry's frame and beat choices applied (unchanged tasks verbatim)."""
    r, ctx = entry.original, entry.context
    rows, masks, frames, labels = [], dict(r.masks), dict(r.frames_for_task), r.labels
    for m in r.measurements:
        if isinstance(ctx, AtriaContext) and m.task in entry.frames and entry.frames[m.task] != m.frame:
            m, mask = remeasure_frame(m, ctx.data, r.curves[m.task], entry.frames[m.task])
            masks[m.task], frames[m.task] = mask, entry.frames[m.task]
        elif isinstance(ctx, DopplerEditData) and m.task in entry.included \
                and entry.included[m.task] != default_included(r).get(m.task):
            m = remeasure_beats(m, r.beats[m.task], entry.included[m.task], ctx.cal)
            labels = _excluded_in_brackets(r, m.task, entry.included[m.task])
        rows.append(m)
    image = r.image
    if isinstance(ctx, AtriaContext) and rows and rows[0].task in frames:
        k = frames[rows[0].task]
        image = r.image if k == r.frames_for_task.get(rows[0].task) else decode_jpeg(ctx.frames_jpeg[k])
    return replace(r, measurements=tuple(rows), masks=masks, frames_for_task=frames, labels=labels, image=image)


def _excluded_in_brackets(r: FileResult, task: str, included: set[int]) -> tuple[tuple[float, float, str], ...]:
    """The beat numbers drawn on the overlay, excluded complete beats as "(n)"."""
    beats = r.beats[task]
    return tuple((x, y, t if i in included or not beats[i].complete else f"({t})")
                 for i, (x, y, t) in enumerate(r.labels))


def view_overlay(entry: Entry) -> bytes:
    """PNG of the overlay: the pipeline's overview, or the frame of the last edited atrium."""
    r = entry.result
    task = entry.view_task
    if task is not None and isinstance(entry.context, AtriaContext) and task in r.frames_for_task:
        k = r.frames_for_task[task]
        same = k == r.frames_for_task.get(r.measurements[0].task)
        image = r.image if same else decode_jpeg(entry.context.frames_jpeg[k])
        r = replace(r, image=image, masks={t: m for t, m in r.masks.items() if r.frames_for_task.get(t) == k})
    img = overlay_image(r)
    if img is None:
        raise LookupError(f"{entry.original.file}: no image to draw (the file could not be read)")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
