"""Write synthetic studies and datasets to disk: DICOMs, per-file truth JSON and a truth.csv.

truth.csv has the columns ``echoseg evaluate`` reads (file, task, value) plus subgroups
(kind, style, rhythm, site, study_uid, seed).
"""
from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from echoseg.io.atomic import atomic_write
from echoseg.synth.a4c import generate_a4c
from echoseg.synth.case import SynthCase
from echoseg.synth.dicom_writer import new_uid, write_case
from echoseg.synth.doppler import generate_doppler
from echoseg.vocab import SITES

KINDS = ("a4c", "doppler", "study", *SITES)


def _case(kind: str, seed: int, heldout: bool, family: str | None) -> SynthCase:
    if kind == "a4c":
        return generate_a4c(seed, family=family, heldout=heldout)
    return generate_doppler(seed, site=None if kind == "doppler" else kind, family=family, heldout=heldout)


def iter_cases(kind: str, n: int, seed: int, *, heldout: bool = False,
               family: str | None = None) -> Iterator[tuple[str, SynthCase, str | None]]:
    """Yield (stem, case, study_uid) for ``n`` cases (or ``n`` studies of one A4C + five Doppler sites)."""
    if kind not in KINDS:
        raise ValueError(f"task must be one of {', '.join(KINDS)}, not {kind!r}")
    for i in range(n):
        s = seed * 1000 + i
        if kind == "study":
            study_uid = new_uid("study", "s", s)
            yield f"study{s:06d}_a4c", _case("a4c", s, heldout, family), study_uid
            for j, site in enumerate(SITES):
                yield f"study{s:06d}_{site}", _case(site, s * 10 + j, heldout, family), study_uid
        else:
            yield f"{kind}{s:06d}", _case(kind, s, heldout, family), None


def truth_rows(stem: str, case: SynthCase, study_uid: str | None) -> list[dict[str, object]]:
    """One truth.csv row per task of ``case``."""
    t = case.truth
    common = {"file": f"{stem}.dcm", "kind": case.kind, "style": case.style, "seed": case.seed,
              "study_uid": study_uid or ""}
    if case.kind == "a4c":
        return [{**common, "task": "la_area", "value": t["la_area"], "frame": t["la_frame"], "rhythm": "",
                 "site": "la"},
                {**common, "task": "ra_area", "value": t["ra_area"], "frame": t["ra_frame"], "rhythm": "",
                 "site": "ra"}]
    return [{**common, "task": f"{t['site']}_vti", "value": t["value"], "frame": 0,
             "rhythm": "irregular" if t.get("irregular") else "regular", "site": t["site"]}]


def write_dataset(out_dir: str | Path, kind: str, n: int, seed: int, *, heldout: bool = False,
                  family: str | None = None, jpeg_fraction: float = 0.3, progress: bool = False) -> Path:
    """Generate and write ``n`` cases; returns the path of truth.csv (written last, atomically)."""

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    cases = iter_cases(kind, n, seed, heldout=heldout, family=family)
    if progress:
        from tqdm import tqdm
        cases = tqdm(cases, total=n * (6 if kind == "study" else 1), desc="synth", unit="case")
    for stem, case, study_uid in cases:
        compression = "jpeg" if rng.random() < jpeg_fraction and not case.monochrome else "none"
        write_case(case, out, stem, compression=compression, study_uid=study_uid)
        rows.extend(truth_rows(stem, case, study_uid))
    def _write(tmp: str) -> None:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    path = atomic_write(out / "truth.csv", _write)
    return path
