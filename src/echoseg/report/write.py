"""Write every output of a measurement run into one folder (docs/output-format.md).

Two ways in: :func:`write_all` writes everything from results held in memory (the Python API, the
demo); a batch (:mod:`echoseg.batch`) writes each file's overlay and masks as soon as the file is
measured (:func:`write_file_outputs`) and assembles the tables and the report from its journal
(:mod:`echoseg.batch.assemble`). Both name a file's overlay and masks by :func:`output_names`:
the input stem, disambiguated only where two inputs share it.

    >>> unique_names(["s1/IM1.dcm", "s2/IM1.dcm", "s2/IM1", "a4c.dcm"], ["."])
    ['s1__IM1', 's2__IM1.dcm', 's2__IM1', 'a4c']
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from echoseg.io.atomic import atomic_write
from echoseg.report.html import html_report
from echoseg.report.overlay import mask_png, overlay_png
from echoseg.report.tables import BEAT_COLUMNS, MEASUREMENT_COLUMNS, beat_rows, measurement_rows, write_csv
from echoseg.types import FileResult
from echoseg.vocab import DISCLAIMER


def _text(text: str) -> Callable[[str], None]:
    """A writer for :func:`atomic_write` that writes ``text``."""
    def write(tmp: str) -> None:
        Path(tmp).write_text(text)
    return write


def _bytes(data: bytes) -> Callable[[str], None]:
    """A writer for :func:`atomic_write` that writes ``data``."""
    def write(tmp: str) -> None:
        Path(tmp).write_bytes(data)
    return write


def _relative(f: Path, roots: Sequence[Path]) -> Path:
    """``f`` relative to the deepest root it lies under (itself when under none)."""
    best: Path | None = None
    for r in roots:
        try:
            rel = f.relative_to(r)
        except ValueError:
            continue
        if best is None or len(rel.parts) < len(best.parts):
            best = rel
    return best if best is not None else Path(*[p for p in f.parts if p not in ("/", "..")])


def _flat(parts: Sequence[str]) -> str:
    return "__".join(p for p in parts if p not in ("", ".", "/"))


def unique_names(files: Sequence[str | os.PathLike[str]], roots: Sequence[str | os.PathLike[str]] = ()) -> list[str]:
    """One output name per file, in order: the stem when no other file has it, else the path
    relative to its input root without the suffix (folders joined by ``__``), else with the suffix,
    else the whole path; a number is appended only when all of these still collide."""
    paths = [Path(f) for f in files]
    rootp = [Path(r) for r in roots]
    rel = [_relative(p, rootp) for p in paths]
    candidates = [[p.stem, _flat([*r.parent.parts, r.stem]), _flat(r.parts), _flat(p.parts)] for p, r in zip(paths, rel)]
    names = [c[0] for c in candidates]
    for level in range(1, 4):
        counts: dict[str, int] = {}
        for n in names:
            counts[n] = counts.get(n, 0) + 1
        clash = [i for i, n in enumerate(names) if counts[n] > 1]
        if not clash:
            return names
        for i in clash:
            names[i] = candidates[i][level]
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 else f"{n}__{k + 1}")
    return out


def overlay_path(name: str) -> str:
    """The overlay of output name ``name``, relative to the output folder."""
    return f"overlays/{name}.png"


def mask_path(name: str, task: str) -> str:
    """The mask of ``task`` for output name ``name``, relative to the output folder (CONTRACT.md)."""
    return f"masks/{name}.{task}.png"


def output_names(results: Sequence[FileResult]) -> list[str]:
    """Each result's output name: its stem, or its path relative to the common folder where stems collide."""
    files = [r.file for r in results]
    parents = [str(Path(f).parent) for f in files]
    root = os.path.commonpath(parents) if parents and len({Path(p).is_absolute() for p in parents}) == 1 else "."
    return unique_names(files, [root or "."])


def write_file_outputs(result: FileResult, out: Path, name: str, *, save_masks: bool = False,
                       overlay: bool = True, png: bytes | None = None) -> list[str]:
    """Write ``result``'s overlay (and masks with ``save_masks``) under ``name``, each atomically;
    return their paths relative to ``out``. ``png``: the overlay already encoded."""
    out = Path(out)
    written = []
    if save_masks:
        for task, mask in result.masks.items():
            mask_png(out / mask_path(name, task), np.asarray(mask))
            written.append(mask_path(name, task))
    if overlay:
        png = overlay_png(result) if png is None else png
        if png is not None:
            atomic_write(out / overlay_path(name), _bytes(png))
            written.append(overlay_path(name))
    return written


def write_all(results: Sequence[FileResult], out: Path, *, save_masks: bool = False,
              studies: list[dict[str, object]] | None = None, overlays: bool = True,
              html_page: bool = True) -> dict[str, Path]:
    """Write measurements.csv, beats.csv, results.json, (studies.csv), overlays/, masks/ and report.html."""
    from echoseg.pipeline import dicom_uids

    out = Path(out)
    names = output_names(results)
    pngs = [overlay_png(r) if (overlays or html_page) else None for r in results]
    per_file = []
    for r, name, png in zip(results, names, pngs):
        written = write_file_outputs(r, out, name, save_masks=save_masks, overlay=overlays, png=png)
        sop, series = dicom_uids(r.file)
        per_file.append({"overlay": next((w for w in written if w.startswith("overlays/")), ""),
                         "sop_instance_uid": sop, "series_uid": series})
    mrows = measurement_rows(results, per_file)
    paths = {"measurements": write_csv(out / "measurements.csv", mrows, MEASUREMENT_COLUMNS),
             "beats": write_csv(out / "beats.csv", beat_rows(results), BEAT_COLUMNS)}
    payload = {"disclaimer": DISCLAIMER, "measurements": mrows, "beats": beat_rows(results),
               "studies": studies or []}
    paths["json"] = atomic_write(out / "results.json", _text(json.dumps(payload, indent=1)))
    if studies:
        paths["studies"] = write_csv(out / "studies.csv", studies, list(studies[0]))
    if html_page:
        paths["html"] = atomic_write(out / "report.html", _text(html_report(results, studies, pngs)))
    return paths
