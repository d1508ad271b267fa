"""`echoseg measure` with the decode budgets as options (docs/robustness.md): a file over a budget
gets a failed row whose reason names the file and the option that raises the limit; raising it
measures the file; a bad value is a usage error before any work."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from echoseg.cli import main
from echoseg.models.files import WEIGHTS_FILE, shipped_dir

pytestmark = pytest.mark.skipif(not (shipped_dir("atria") / WEIGHTS_FILE).exists()
                                or not (shipped_dir("doppler") / WEIGHTS_FILE).exists(),
                                reason="shipped weights not present")


@pytest.fixture(scope="module")
def cine(tmp_path_factory) -> Path:
    from echoseg.synth.dataset import write_dataset

    folder = tmp_path_factory.mktemp("cine")
    write_dataset(folder, "a4c", 1, seed=5, jpeg_fraction=0.0)
    (dcm,) = folder.glob("*.dcm")
    return dcm


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "measurements.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize(("flag", "value"), [("--max-frames", "3"), ("--max-decoded-mb", "0.5"),
                                             ("--max-file-mb", "0.01")])
def test_a_file_over_a_budget_is_refused_with_the_option_that_raises_it(cine, tmp_path, flag, value):
    assert main(["measure", str(cine), "--out", str(tmp_path / "o"), "--quiet", "--jobs", "1", flag, value]) == 0
    rows = _rows(tmp_path / "o")
    assert rows and all(r["qc"] == "fail" for r in rows)
    assert all(flag in r["reason"] and cine.name in r["reason"] and "limit" in r["reason"] for r in rows), rows


def test_raising_the_budget_measures_the_file(cine, tmp_path):
    assert main(["measure", str(cine), "--out", str(tmp_path / "o"), "--quiet", "--jobs", "1",
                 "--max-frames", "5000", "--max-decoded-mb", "4096", "--max-file-mb", "4096",
                 "--max-seconds", "600"]) == 0
    rows = _rows(tmp_path / "o")
    assert {r["task"] for r in rows} == {"la_area", "ra_area"}
    assert not any("limit" in r["reason"] for r in rows), rows


@pytest.mark.parametrize("bad", [["--max-frames", "0"], ["--max-seconds", "inf"], ["--max-decoded-mb", "-1"],
                                 ["--max-file-mb", "nan"], ["--max-frames", "many"]])
def test_bad_budgets_are_usage_errors_before_any_work(tmp_path, bad, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["measure", "nowhere.dcm", "--out", str(tmp_path / "o"), *bad])
    assert exc.value.code == 2 and bad[0] in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
