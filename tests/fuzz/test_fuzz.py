"""The CI fuzzer: 300 seeded mutants of synthetic DICOMs through measure_file, `echoseg info` and the
report writer (tests/fuzz/mutants.py; thousands in benchmarks/fuzz.py, docs/fuzz.md).

Every mutant must end in a result or a clean refusal: no uncaught exception, no "internal error", a
reason that names the file, is printable and at most 500 characters, no planted patient identifier
in any output (rows, info text and JSON, warnings, log records, the written CSV/JSON/HTML), no
case over 30 s, and resident memory that does not grow by 500 MiB over the run.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from echoseg.models.files import WEIGHTS_FILE, shipped_dir
from echoseg.options import Models, Options

from tests.fuzz.mutants import MARKERS, base_files, check_case, mutants

pytestmark = pytest.mark.skipif(not (shipped_dir("atria") / WEIGHTS_FILE).exists()
                                or not (shipped_dir("doppler") / WEIGHTS_FILE).exists(),
                                reason="shipped weights not present")

N_MUTANTS, SEED = 300, 17


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    bases = base_files(tmp / "base", seed=SEED)
    models, opts = Models(), Options(read_screen_text=False)
    outcomes, results = [], []
    rss_before = _rss_mb()
    for m in mutants(bases, N_MUTANTS, SEED):
        path = tmp / m.name
        path.write_bytes(m.data)
        out, result = check_case(path, m.kinds, models, opts)
        outcomes.append(out)
        if result is not None:
            results.append(result)
    fuzzed_rss_growth_mb.append(_rss_mb() - rss_before)
    return bases, outcomes, results, tmp


fuzzed_rss_growth_mb: list[float] = []


def _rss_mb() -> float:
    """Resident memory of this process now (MiB): the peak (ru_maxrss) carries the earlier tests of a full run."""
    import os
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_bases_are_measured_and_clean(tmp_path):
    """The unmutated files pass: the checks do not flag good files, and the planted names are really there."""
    bases = base_files(tmp_path / "base", seed=SEED)
    for b in bases:
        assert any(k.encode() in b.read_bytes() for k in MARKERS)
        out, result = check_case(b, (), Models(), Options(read_screen_text=False))
        assert out.problems == [] and out.read_ok and result.error is None, (b.name, out.problems)


def test_no_mutant_breaks_the_rules(fuzzed):
    _, outcomes, _, _ = fuzzed
    assert len(outcomes) == N_MUTANTS
    problems = [f"{o.name}: {p}" for o in outcomes for p in o.problems]
    assert problems == [], "\n".join(problems[:20])


def test_mutations_reach_every_stage(fuzzed):
    """Not a fuzzer that only feeds the parser: some mutants read, some pass QC, most are refused."""
    _, outcomes, _, _ = fuzzed
    read = sum(o.read_ok for o in outcomes)
    refused = sum(bool(o.reasons) and not o.read_ok for o in outcomes)
    assert 0.1 * N_MUTANTS < read < 0.9 * N_MUTANTS, read
    assert sum(o.passed_rows > 0 for o in outcomes) > 0 and refused > 0.1 * N_MUTANTS
    assert {k for o in outcomes for k in o.kinds} == {"flip", "truncate", "length", "vr", "tag", "calibration"}


def test_written_outputs_hold_no_identifier(fuzzed):
    _, _, results, tmp = fuzzed
    from echoseg.report.write import write_all

    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        paths = write_all(results, tmp / "out", save_masks=False, overlays=False)
    # pydicom's warnings quote raw header values: none may escape while the outputs are written
    assert [str(w.message)[:80] for w in caught if "pydicom" in w.filename] == []
    import csv
    import re

    with open(tmp / "out" / "measurements.csv", newline="") as fh:
        uids = [r[k] for r in csv.DictReader(fh) for k in ("sop_instance_uid", "series_uid") if r.get(k)]
    assert uids and all(re.fullmatch(r"[0-9]+(\.[0-9]+)*", u) and len(u) <= 64 for u in uids)
    files = [p for p in (tmp / "out").rglob("*") if p.is_file()]
    assert paths and files
    for f in files:
        text = f.read_bytes().decode("utf-8", "replace")
        assert not any(k in text for k in MARKERS), f.name
    rows = json.loads((tmp / "out" / "results.json").read_text())
    assert rows  # the JSON is valid (no NaN)


def test_memory_bounded(fuzzed):
    """Memory stays bounded over the mutants: what the process holds grows by less than 500 MiB over the
    whole run (no file's decode or result is kept). The lifetime peak (ru_maxrss) is not asserted: in a
    full test run it carries the earlier tests; benchmarks/fuzz.py reports it for the fuzzer alone."""
    assert fuzzed_rss_growth_mb and fuzzed_rss_growth_mb[0] < 500


N_WEB = 60


def test_mutants_through_the_web_upload_handler(tmp_path):
    """The first mutants again, uploaded to the web demo (every fourth zipped): 200 or a clean 4xx,
    reasons naming the name shown, no identifier in responses or downloads, nothing left on disk."""
    pytest.importorskip("fastapi")
    pytest.importorskip("multipart")
    from tests.fuzz.mutants import WebFuzz

    bases = base_files(tmp_path / "base", seed=SEED)
    web = WebFuzz(Models())
    problems = []
    try:
        for i, m in enumerate(mutants(bases, N_WEB, SEED)):
            problems += [f"{m.name}: {p}" for p in web.check(m.name, m.data, zipped=i % 4 == 3)]
    finally:
        problems += web.close()
    assert problems == [], "\n".join(problems[:20])
    assert sum(web.statuses.values()) == N_WEB and web.statuses.get(200, 0) > N_WEB // 2, web.statuses
