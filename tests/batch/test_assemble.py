"""Outputs assembled from the journal: the rows write_all gives in memory, a paged report (batch.assemble)."""
from __future__ import annotations

import csv
from pathlib import Path

from echoseg.batch.run import BatchRequest, run_batch
from echoseg.doppler.study import study_rows
from echoseg.options import Models
from echoseg.pipeline import measure
from echoseg.report.write import write_all

from .conftest import needs_weights


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@needs_weights
def test_batch_outputs_equal_the_in_memory_writer(tmp_path, study_dir):
    results = measure([study_dir], models=Models())
    mem = write_all(results, tmp_path / "mem", save_masks=True, studies=study_rows(results, 2.0))
    s = run_batch(BatchRequest(inputs=(str(study_dir),), out=tmp_path / "batch", lvot_diameter_cm=2.0))
    for key in ("measurements", "beats"):
        assert s.paths[key].read_text() == mem[key].read_text(), key
    (study,) = _rows(s.paths["studies"])
    (mem_study,) = _rows(mem["studies"])
    assert study == mem_study | {"la_volume_ml": study["la_volume_ml"]}  # the batch adds the LA volume
    assert float(study["la_volume_ml"]) > 0
    assert sorted(p.name for p in (tmp_path / "batch" / "overlays").iterdir()) == \
        sorted(p.name for p in (tmp_path / "mem" / "overlays").iterdir())
    # the one-page report shows every file's card with its overlay, as write_all's does
    assert s.paths["html"].read_text().count("<img") == mem["html"].read_text().count("<img") == 6


@needs_weights
def test_report_is_paged_and_pages_follow_the_page_size(tmp_path, study_dir):
    out = tmp_path / "out"
    run_batch(BatchRequest(inputs=(str(study_dir),), out=out, page_size=4))
    summary = (out / "report.html").read_text()
    pages = sorted((out / "report").glob("page-*.html"))
    assert [p.name for p in pages] == ["page-001.html", "page-002.html"]
    assert "<img" not in summary and all(f"report/{p.name}" in summary for p in pages)
    assert [p.read_text().count("<div class='card'>") for p in pages] == [4, 2]
    assert sum(p.read_text().count("<img") for p in pages) == 6
    assert summary.count("<tr class=") == 7  # every row in the summary table
    s = run_batch(BatchRequest(inputs=(str(study_dir),), out=out, page_size=50))  # reassembled, nothing measured
    assert s.measured == 0 and not list((out / "report").glob("page-*.html"))
    assert (out / "report.html").read_text().count("<img") == 6


def test_measure_api_names_outputs_apart_without_a_batch(tmp_path):
    from echoseg.report.write import output_names
    from echoseg.types import FileResult

    rs = [FileResult(str(Path("x") / d / "IM1"), None, ()) for d in ("a", "b")] + [FileResult("x/c/IM2", None, ())]
    assert output_names(rs) == ["a__IM1", "b__IM1", "IM2"]
