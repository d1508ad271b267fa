"""Assemble a run's outputs from its journal: measurements.csv, beats.csv, studies.csv,
results.json and report.html, each written atomically (a reader sees the old file or the new one).

Records are read back one at a time at the positions the journal index holds, so memory does not
grow with the number of files; rows come out in the order of the plan's files whatever the order
in which workers finished, which makes the outputs of ``--jobs N`` those of ``--jobs 1``. The
report is paged: up to ``page_size`` files' cards in report.html itself, else a summary page that
links to ``report/page-NNN.html`` pages of ``page_size`` cards each.
"""
from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from echoseg.batch.journal import Entry, read_at
from echoseg.batch.record import result_from_json
from echoseg.batch.study_info import StudyInfo, indexed_columns, match
from echoseg.io.atomic import atomic_write
from echoseg.report import html as report_html
from echoseg.report.tables import BEAT_COLUMNS, MEASUREMENT_COLUMNS, beat_rows, format_cell, measurement_rows
from echoseg.types import AtriaDetails, FileResult
from echoseg.vocab import DISCLAIMER

log = logging.getLogger("echoseg.batch")
PAGE_SIZE = 25


@dataclass(frozen=True)
class StudyInputs:
    """What the study rows use beyond the files: the single-study flags and the sidecar."""

    lvot_diameter_cm: float | None = None
    rvot_diameter_cm: float | None = None
    info: Mapping[str, StudyInfo] = field(default_factory=dict)


def _load(journal: Path, entry: Entry) -> tuple[FileResult, dict[str, object]]:
    rec = read_at(journal, entry.pos)
    per_file = {"sop_instance_uid": rec.get("sop_instance_uid"), "series_uid": rec.get("series_uid"),
                "overlay": next((o for o in rec.get("outputs", ()) if o.startswith("overlays/")), "")}
    return result_from_json(rec["result"]), per_file


def _each(journal: Path, entries: Sequence[Entry]) -> Iterator[tuple[FileResult, dict[str, object]]]:
    for e in entries:
        yield _load(journal, e)


def _stream(path: Path, write: Callable[[IO[str]], None]) -> Path:
    def writer(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            write(fh)
    return atomic_write(path, writer)


def _csv(path: Path, columns: Sequence[str], rows: Callable[[], Iterator[Mapping[str, object]]]) -> Path:
    def write(fh: IO[str]) -> None:
        w = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        for row in rows():
            w.writerow(row)
    return _stream(path, write)


def _study_key(r: FileResult) -> str:
    return r.study_uid or Path(r.file).parent.name  # as echoseg.doppler.study.study_rows groups


def _la_volume(results: Sequence[FileResult], la_area: object) -> float | None:
    for r in results:
        for m in r.measurements:
            if (m.task == "la_area" and m.qc == "pass" and m.value == la_area and isinstance(m.details, AtriaDetails)
                    and m.details.volume_ml is not None):
                return float(m.details.volume_ml)
    return None


def study_table(journal: Path, entries: Sequence[Entry], inputs: StudyInputs) -> list[dict[str, object]]:
    """One row per study (echoseg.doppler.study.study_rows over that study's files alone), with the
    sidecar's or the flags' diameters and the indexed values; one study's records in memory at a time."""
    from echoseg.doppler.study import study_rows

    groups: dict[str, list[int]] = {}
    files: dict[str, list[str]] = {}
    for i, e in enumerate(entries):
        r, _ = _load(journal, e)
        groups.setdefault(_study_key(r), []).append(i)
        files.setdefault(_study_key(r), []).append(r.file)
    flags = inputs.lvot_diameter_cm is not None or inputs.rvot_diameter_cm is not None
    if flags and len(groups) > 1:
        log.warning("--lvot-diameter/--rvot-diameter apply to a batch of one study; this batch has %d studies, "
                    "so they are not used: give each study its diameters with --study-info", len(groups))
    used: set[str] = set()
    rows: list[dict[str, object]] = []
    for key, idx in groups.items():
        results = [_load(journal, entries[i])[0] for i in idx]
        info = match(inputs.info, key, files[key])
        lvot = info.lvot_diameter_cm if info and info.lvot_diameter_cm is not None else None
        rvot = info.rvot_diameter_cm if info and info.rvot_diameter_cm is not None else None
        note = ""
        if len(groups) == 1:
            lvot = inputs.lvot_diameter_cm if lvot is None else lvot
            rvot = inputs.rvot_diameter_cm if rvot is None else rvot
        elif flags and info is None:
            note = "diameter flags not used: several studies in the batch (use --study-info)"
        try:
            (row,) = study_rows(results, lvot, rvot)
        except ValueError as exc:  # a value outside the range an index accepts: the row without indices
            (row,) = study_rows(results)
            note = "; ".join(filter(None, [note, f"derived indices not computed: {exc}"]))
        if info is not None:
            used.add(info.study)
            row |= {"lvot_diameter_cm": lvot, "rvot_diameter_cm": rvot}
        row |= indexed_columns(row, info.bsa() if info else None, _la_volume(results, row.get("la_area")))
        if note:
            row["note"] = note
        rows.append(row)
    unused = sorted(set(inputs.info) - used)
    if unused:
        log.warning("--study-info: %d row(s) match no study of the batch (%s)", len(unused), ", ".join(unused[:5]))
    cols: list[str] = []
    for row in rows:
        cols += [c for c in row if c not in cols]
    return [{c: row.get(c) for c in cols} for row in rows]


def _json(path: Path, journal: Path, entries: Sequence[Entry], studies: Sequence[Mapping[str, object]],
          run: Mapping[str, Any]) -> Path:
    def write(fh: IO[str]) -> None:
        fh.write('{"disclaimer": ' + json.dumps(DISCLAIMER) + ',\n "run": ' + json.dumps(run) + ',\n "measurements": [')
        first = True
        for r, per in _each(journal, entries):
            for row in measurement_rows([r], [per]):
                fh.write(("\n  " if first else ",\n  ") + json.dumps(row))
                first = False
        fh.write('],\n "beats": [')
        first = True
        for r, _ in _each(journal, entries):
            for row in beat_rows([r]):
                fh.write(("\n  " if first else ",\n  ") + json.dumps(row))
                first = False
        fh.write('],\n "studies": ' + json.dumps([{k: format_cell(v) for k, v in s.items()} for s in studies],
                                                  indent=1) + "}\n")
    return _stream(path, write)


def _png(out: Path, per: Mapping[str, object]) -> bytes | None:
    rel = per.get("overlay")
    if not rel:
        return None
    try:
        return (out / str(rel)).read_bytes()
    except OSError:
        return None


def _report(out: Path, journal: Path, entries: Sequence[Entry], studies: Sequence[Mapping[str, object]],
            page_size: int) -> list[Path]:
    n_pages = 1 if len(entries) <= page_size else math.ceil(len(entries) / page_size)
    pages = [f"report/page-{k + 1:03d}.html" for k in range(n_pages)] if n_pages > 1 else []

    def summary(fh: IO[str]) -> None:
        fh.write(report_html.page_head() + report_html.table_head())
        for r, per in _each(journal, entries):
            for row in measurement_rows([r], [per]):
                fh.write(report_html.table_row(row))
        fh.write("</table>" + report_html.studies_table(studies))
        if pages:
            fh.write(f"<h2>Files</h2><p>{len(entries)} files, {page_size} a page:</p><ul>")
            for k, p in enumerate(pages):
                lo, hi = k * page_size + 1, min(len(entries), (k + 1) * page_size)
                fh.write(f"<li><a href='{p}'>files {lo}-{hi}</a></li>")
            fh.write("</ul>")
        else:
            for r, per in _each(journal, entries):
                fh.write(report_html.card(r, _png(out, per)))
        fh.write(report_html.PAGE_END)

    written = [_stream(out / "report.html", summary)]
    for k, p in enumerate(pages):
        chunk = entries[k * page_size:(k + 1) * page_size]

        def page(fh: IO[str], chunk: Sequence[Entry] = chunk, k: int = k) -> None:
            fh.write(report_html.page_head(f"echoseg report, page {k + 1}", f"echoseg measurements: page {k + 1} "
                                           f"of {n_pages}") + "<p><a href='../report.html'>summary</a></p>")
            for r, per in _each(journal, chunk):
                fh.write(report_html.card(r, _png(out, per)))
            fh.write(report_html.PAGE_END)
        written.append(_stream(out / p, page))
    for old in sorted((out / "report").glob("page-*.html")) if (out / "report").is_dir() else []:
        if f"report/{old.name}" not in pages:
            old.unlink()
    return written


def assemble(out: Path, journal: Path, entries: Sequence[Entry], studies: StudyInputs | None = None,
             run: Mapping[str, Any] | None = None, page_size: int = PAGE_SIZE) -> dict[str, Path]:
    """Write the run's tables and report from the journal records at ``entries`` (one per file, in order)."""
    out = Path(out)
    study = study_table(journal, entries, studies or StudyInputs())

    def mrows() -> Iterator[Mapping[str, object]]:
        for r, per in _each(journal, entries):
            yield from measurement_rows([r], [per])

    def brows() -> Iterator[Mapping[str, object]]:
        for r, _ in _each(journal, entries):
            yield from beat_rows([r])

    paths = {"measurements": _csv(out / "measurements.csv", MEASUREMENT_COLUMNS, mrows),
             "beats": _csv(out / "beats.csv", BEAT_COLUMNS, brows)}
    if study:
        paths["studies"] = _csv(out / "studies.csv", list(study[0]), lambda: iter(study))
    elif (out / "studies.csv").exists():
        (out / "studies.csv").unlink()
    paths["json"] = _json(out / "results.json", journal, entries, study, run or {})
    paths["html"] = _report(out, journal, entries, study, page_size)[0]
    return paths
