"""Write every output of a measurement run into one folder (docs/output-format.md)."""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

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


def write_all(results: Sequence[FileResult], out: Path, *, save_masks: bool = False,
              studies: list[dict[str, object]] | None = None, overlays: bool = True,
              html_page: bool = True) -> dict[str, Path]:
    """Write measurements.csv, beats.csv, results.json, (studies.csv), overlays/, masks/ and report.html."""
    out = Path(out)
    paths = {"measurements": write_csv(out / "measurements.csv", measurement_rows(results), MEASUREMENT_COLUMNS),
             "beats": write_csv(out / "beats.csv", beat_rows(results), BEAT_COLUMNS)}
    payload = {"disclaimer": DISCLAIMER, "measurements": measurement_rows(results), "beats": beat_rows(results),
               "studies": studies or []}
    paths["json"] = atomic_write(out / "results.json", _text(json.dumps(payload, indent=1)))
    if studies:
        paths["studies"] = write_csv(out / "studies.csv", studies, list(studies[0]))
    pngs = [overlay_png(r) if (overlays or html_page) else None for r in results]
    for r, png in zip(results, pngs):
        stem = Path(r.file).stem
        if save_masks:
            for task, mask in r.masks.items():
                mask_png(out / "masks" / f"{stem}.{task}.png", mask)
        if overlays and png is not None:
            atomic_write(out / "overlays" / f"{stem}.png", _bytes(png))
    if html_page:
        paths["html"] = atomic_write(out / "report.html", _text(html_report(results, studies, pngs)))
    return paths
