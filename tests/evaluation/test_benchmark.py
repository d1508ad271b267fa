"""echoseg.evaluation.benchmark and benchmark_report: cohort seeds and styles, size tertiles, table layout, baselines on the measured frame.

Most tests share one tiny benchmark run in which ``pipeline.measure_file`` is replaced by an
oracle that reads the generator's truth: it reports the contract value (the largest area) but
the mask of the frame where the atrium is *smallest*, so a comparison made on any frame other
than the one echoseg reported cannot give Dice 1.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from echoseg import pipeline
from echoseg.doppler.measure import summarise_beats
from echoseg.evaluation import benchmark as bm
from echoseg.evaluation import benchmark_report as bmr
from echoseg.synth.a4c_screen import SIZES as A4C_SIZES
from echoseg.synth.doppler_screen import _SIZES as DOPPLER_SIZES
from echoseg.synth.styles import HELDOUT_FAMILY, TRAIN_FAMILIES
from echoseg.training.train import VAL_SEED_BASE
from echoseg.types import AtriaDetails, DopplerDetails, FileResult, Measurement
from echoseg.vocab import ATRIUM_LABEL, TASKS

try:
    from tiny_models import TinyModels
except ImportError:  # run from the repository root
    from tests.tiny_models import TinyModels

N_A4C, N_DOPPLER = 2, 2


def _oracle(path, models=None, opts=pipeline.Options()) -> FileResult:
    f = Path(path)
    truth = json.loads(f.with_suffix(".truth.json").read_text())
    if truth["kind"] == "a4c":
        masks = np.load(f.with_suffix(".masks.npz"))["masks"]
        rows, out_masks, frames = [], {}, {}
        for task, label in ATRIUM_LABEL.items():
            frame = int(np.argmin(truth[f"{task[:2]}_area_cm2"]))
            frames[task], out_masks[task] = frame, masks[frame] == label
            rows.append(Measurement(str(f), task, truth[task], "cm2", 1, frame, "pass",
                                    details=AtriaDetails(raw_value=truth[task], n_total=1)))
        return FileResult(str(f), "a4c", tuple(rows), route="2D region -> atria", masks=out_masks,
                          frames_for_task=frames)
    task, value = f"{truth['site']}_vti", truth["value"]
    row = Measurement(str(f), task, value, "cm", 3, 0, "pass" if value else "fail", "" if value else "no beats")
    return FileResult(str(f), "doppler", (row,), route=f"site {truth['site']} (0.9) from waveform")


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> bm.BenchmarkResult:
    out = tmp_path_factory.mktemp("bench")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "measure_file", _oracle)
        return bm.run_benchmark(out, n_a4c=N_A4C, n_doppler=N_DOPPLER, models=pipeline.Models("none", "none"),
                                n_boot=0, cohorts=bm.COHORTS)


def _truth(res: bm.BenchmarkResult, cohort: str) -> list[dict[str, str]]:
    return next(bm._read_rows(c.truth_csv) for c in res.cohorts if c.spec.name == cohort)


# ----------------------------------------------------------------------------- cohorts
def test_cohort_seeds_are_disjoint_from_training_validation_and_each_other():
    ranges = [s.case_seeds(bm.MAX_CASES) for draw in (0, 1, 2) for s in bm.cohort_specs(draw, bm.COHORTS)]
    assert all(r.start >= 9_000_000 > VAL_SEED_BASE + 100_000 for r in ranges)
    seen: set[int] = set()
    for r in ranges:
        assert seen.isdisjoint(r)
        seen.update(r)
    specs = {s.name: s for s in bm.cohort_specs(0, bm.COHORTS)}
    assert [s.name for s in bm.cohort_specs(0)] == list(bm.DEFAULT_COHORTS) == ["held-out", "shifted", "external"]
    assert [specs[n].seed for n in bm.COHORTS] == [9001, 9002, 9003, 9004]
    assert specs["external"].heldout and not specs["held-out"].heldout and not specs["shifted"].heldout
    assert specs["scanner"].physical and not any(specs[n].physical for n in ("held-out", "shifted", "external"))
    assert specs["shifted"].image_sizes and not specs["held-out"].image_sizes


def test_cohort_specs_reject_unknown_names_and_counts(tmp_path):
    with pytest.raises(ValueError, match="'holdout'"):
        bm.cohort_specs(0, ["holdout"])
    with pytest.raises(ValueError, match="1001"):
        bm.write_cohort(bm.cohort_specs(0)[0], tmp_path, 1001, 0)


def test_written_cohorts_use_the_right_styles_sizes_and_seeds(result):
    for c in result.cohorts:
        rows = _truth(result, c.spec.name)
        assert {int(r["seed"]) for r in rows} <= set(c.spec.case_seeds(max(N_A4C, N_DOPPLER)))
        assert len(rows) == 2 * N_A4C + N_DOPPLER  # two atria per A4C file
        styles = {r["style"] for r in rows}
        if c.spec.name == "external":
            assert styles == {HELDOUT_FAMILY}
        elif c.spec.name == "scanner":
            assert {r["style"] for r in rows if r["kind"] == "a4c"} == {"scanner"}
            assert {r["style"] for r in rows if r["kind"] == "doppler"} <= set(TRAIN_FAMILIES)
        else:
            assert styles <= set(TRAIN_FAMILIES)
    shifted = {tuple(map(int, r["image_size"].split("x"))) for r in _truth(result, "shifted")}
    assert shifted <= set(bm.SHIFTED_SIZES) and len(shifted) >= 2
    assert shifted.isdisjoint(set(A4C_SIZES) | set(DOPPLER_SIZES))
    assert all(rows > 820 or rows < 420 for rows, _ in bm.SHIFTED_SIZES)  # outside the random training draw
    held = {tuple(map(int, r["image_size"].split("x"))) for r in _truth(result, "held-out")}
    assert held.isdisjoint(shifted)


def test_the_scanner_cohort_holds_signal_level_doppler_and_scanner_formed_cines(result):
    from echoseg.synth.a4c import generate_a4c
    from echoseg.synth.doppler import generate_doppler
    from echoseg.synth.doppler_signal import generate_doppler_signal

    rows = _truth(result, "scanner")
    for r in rows:
        s = int(r["seed"])
        if r["kind"] == "doppler":
            assert float(r["value"]) == pytest.approx(generate_doppler_signal(s).truth["value"])
            assert float(r["value"]) != pytest.approx(generate_doppler(s).truth["value"])
        elif r["task"] == "la_area":
            assert float(r["value"]) == pytest.approx(generate_a4c(s, family="scanner").truth["la_area"])


# ----------------------------------------------------------------------------- tertiles
def test_size_tertiles_split_by_value_not_by_position():
    values = [9.0, 1.0, 5.0, 3.0, 7.0, 2.0, 8.0, 4.0, 6.0]
    labels = bm.size_tertiles(values)
    by_value = dict(zip(values, labels))
    assert [by_value[v] for v in (1.0, 2.0, 3.0)] == [bm.TERTILES[0]] * 3
    assert [by_value[v] for v in (4.0, 5.0, 6.0)] == [bm.TERTILES[1]] * 3
    assert [by_value[v] for v in (7.0, 8.0, 9.0)] == [bm.TERTILES[2]] * 3
    with pytest.raises(ValueError, match="nan"):
        bm.size_tertiles([1.0, float("nan")])


def test_add_size_tertiles_cuts_each_task_separately_and_skips_missing_values():
    rows = [{"task": "la_area", "value": v} for v in ("10", "20", "30")]
    rows += [{"task": "mv_vti", "value": v} for v in ("1", "2", "3", "")]
    out = bm.add_size_tertiles(rows)
    assert [r["size_tertile"] for r in out[:3]] == list(bm.TERTILES)
    assert [r["size_tertile"] for r in out[3:]] == [*bm.TERTILES, ""]
    assert "size_tertile" not in rows[0]  # a copy


def test_pooled_truth_has_tertiles_and_subgroups(result):
    groups = {(g.by, g.group) for g in result.pooled.groups}
    assert ("size_tertile", bm.TERTILES[0]) in groups and ("size_tertile", bm.TERTILES[2]) in groups
    assert ("style", HELDOUT_FAMILY) in groups
    assert {g for by, g in groups if by == "rhythm"} - {""} <= {"regular", "irregular"}


# ----------------------------------------------------------------------------- tables
def test_parameter_table_has_seven_rows_and_four_columns_per_cohort(result):
    lines = bmr.parameter_table(result)
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    assert head[:2] == ["parameter", "unit"] and len(head) == 2 + 4 * len(bm.COHORTS)
    assert [h for h in head if h.endswith(" n")] == [f"{n} n" for n in bm.COHORTS]
    body = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:]]
    assert [r[0] for r in body] == list(TASKS)
    assert all(len(r) == len(head) for r in body)
    la = body[0]
    for k in range(len(bm.COHORTS)):  # the oracle reports the truth: R² 1, MAE 0
        n, refused, r2, mae = la[2 + 4 * k: 6 + 4 * k]
        assert (n, refused, r2, mae) == (str(N_A4C), "0", "1.000", "0.00")


def test_routing_counts_unlabelled_and_waveform_alone_separately(tmp_path):
    files = [str((tmp_path / f"d{i}.dcm").resolve()) for i in range(3)]
    truth = [{"file": files[0], "task": "mv_vti"}, {"file": files[1], "task": "av_vti"},
             {"file": files[2], "task": "pv_vti"}, {"file": "x", "task": "la_area"}]

    def res(f: str, task: str, route: str, wave: str) -> FileResult:
        probs = {s: (0.8 if s == wave else 0.05) for s in ("mv", "av", "lvot", "rvot", "pv")}
        details = DopplerDetails(summary=summarise_beats([]), waveform_site_probabilities=probs)
        m = Measurement(f, task, 1.0, "cm", 1, 0, "pass", details=details)
        return FileResult(f, "doppler", (m,), route=route)

    results = [res(files[0], "mv_vti", "site mv named in the file's labels", "mv"),
               res(files[1], "lvot_vti", "site lvot (0.6) from waveform", "lvot"),
               # the screen text routed this one right although the waveform alone says rvot
               res(files[2], "pv_vti", "site pv (0.9) from 'PV' printed on the screen, waveform", "rvot")]
    assert bm.routing(results, truth) == (2, 3, 1, 2, 0)
    assert bmr.routing_text((2, 3, 1, 2, 0)) == "66.7 % of 3 (no DICOM label: 50.0 % of 2; waveform alone: 0.0 %)"
    assert bmr.routing_text((2, 3, 1, 2)) == "66.7 % of 3 (no DICOM label: 50.0 % of 2)"


def test_markdown_sections_and_command(result, tmp_path):
    path = bmr.write_benchmark_md(result, tmp_path / "docs" / "benchmark.md", "echoseg benchmark --n-a4c 2")
    text = path.read_text()
    assert "`echoseg benchmark --n-a4c 2`" in text
    for heading in ("## Cohorts", "## Accuracy per parameter", "## Subgroups", "## Baseline comparison"):
        assert heading in text
    assert "| rhythm = regular |" in text or "| rhythm = irregular |" in text
    assert "| style = violet |" in text and "SamBackend" in text
    no_base = bmr.benchmark_markdown(bm.BenchmarkResult(**{**result.__dict__, "baseline": None}), "x")
    assert "Not run" in no_base and "| la_area | classical-box |" not in no_base


# ----------------------------------------------------------------------------- baselines
def test_baseline_is_scored_on_the_frame_echoseg_measured(result):
    cases = result.baseline
    assert cases is not None and len(cases) == 2 * N_A4C * len(bm.COHORTS)
    for c in cases:
        truth = json.loads(Path(c.file).with_suffix(".truth.json").read_text())
        areas = truth[f"{c.task[:2]}_area_cm2"]
        assert c.frame == int(np.argmin(areas)) != truth[f"{c.task[:2]}_frame"]
        assert c.dice["echoseg"] == pytest.approx(1.0)  # the oracle's mask is the truth of *that* frame
        assert c.truth_cm2 == pytest.approx(areas[c.frame])
        assert c.area_cm2["echoseg"] == pytest.approx(max(areas))
        for method in ("classical-box", "classical-point"):
            assert 0.0 <= c.dice[method] < 1.0 and c.area_cm2[method] > 0
    for method in ("classical-box", "classical-point"):  # the baselines segment the atrium, not noise
        assert np.median([c.dice[method] for c in cases]) > 0.6
    table = bmr.baseline_table(cases)
    assert [(r["task"], r["method"]) for r in table] == [(t, m) for t in ("la_area", "ra_area")
                                                         for m in bm.BASELINE_METHODS]
    mae = {(r["task"], r["method"]): r["mae"] for r in table}
    expect = np.mean([c.area_cm2["echoseg"] - c.truth_cm2 for c in cases if c.task == "la_area"])
    assert mae[("la_area", "echoseg")] == pytest.approx(expect)


# ----------------------------------------------------------------------------- real pipeline
def test_real_pipeline_run_counts_every_case(tmp_path):
    res = bm.run_benchmark(tmp_path, n_a4c=1, n_doppler=1, models=TinyModels("tiny", "tiny"), cohorts=["external"],
                           baselines=False, n_boot=0)
    (cohort,) = res.cohorts
    rows = bm._read_rows(cohort.measurements_csv)
    assert {r["task"] for r in rows} >= {"la_area", "ra_area"}
    for task, s in bmr.task_summaries(cohort.evaluation).items():
        assert s.n + s.refused + s.missing == s.n_truth, task
    assert res.baseline is None and cohort.routing[1] == 1


def test_a_doppler_only_cohort_is_measured_without_atria_masks(tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "measure_file", _oracle)
        res = bm.run_benchmark(tmp_path, n_a4c=0, n_doppler=2, models=pipeline.Models("none", "none"),
                               cohorts=["external"], baselines=False, n_boot=0)
    (cohort,) = res.cohorts
    summaries = bmr.task_summaries(cohort.evaluation)
    assert sum(s.n_truth for t, s in summaries.items() if t.endswith("_vti")) == 2
    assert all(s.n_truth == 0 for t, s in summaries.items() if t.endswith("_area"))
    assert cohort.routing[:2] == (2, 2)


def test_cli_benchmark_writes_the_markdown(tmp_path, monkeypatch, capsys):
    from echoseg import cli

    if "benchmark" not in cli.build_parser().format_help():
        pytest.skip("the `echoseg benchmark` command is not wired into cli.py yet")
    monkeypatch.setattr(pipeline, "measure_file", _oracle)
    out = tmp_path / "bench.md"
    rc = cli.main(["benchmark", "--out", str(out), "--n-a4c", "1", "--n-doppler", "1", "--no-baselines",
                   "--work", str(tmp_path / "work"), "--quiet"])
    assert rc == 0 and out.is_file()
    text = out.read_text()
    assert "`echoseg benchmark --n-a4c 1 --n-doppler 1 --no-baselines`" in text and "Not run" in text
    assert (tmp_path / "work" / "shifted" / "measure" / "measurements.csv").is_file()
    assert str(out) in capsys.readouterr().out
