"""Agreement statistics, mask metrics, CSV matching and the report writer, against independent computations."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from PIL import Image
from scipy import stats
from scipy.spatial.distance import directed_hausdorff

from echoseg.errors import EchosegError
from echoseg.evaluation.evaluate import evaluate
from echoseg.evaluation.report import metrics_rows, write_report
from echoseg.evaluation.stats import agreement, dice, hausdorff_mm, icc_2_1

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges. Published: ICC(2,1) = 0.29.
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)


def _icc21_by_hand(x: np.ndarray) -> float:
    """Two-way ANOVA written out with loops (independent of the vectorised code under test)."""
    n, k = x.shape
    grand = sum(sum(r) for r in x) / (n * k)
    row_means = [sum(x[i]) / k for i in range(n)]
    col_means = [sum(x[i][j] for i in range(n)) / n for j in range(k)]
    ssr = k * sum((m - grand) ** 2 for m in row_means)
    ssc = n * sum((m - grand) ** 2 for m in col_means)
    sse = sum((x[i][j] - row_means[i] - col_means[j] + grand) ** 2 for i in range(n) for j in range(k))
    bms, jms, ems = ssr / (n - 1), ssc / (k - 1), sse / ((n - 1) * (k - 1))
    return (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n)


def test_icc_matches_shrout_fleiss_table():
    assert round(icc_2_1(SHROUT_FLEISS), 2) == 0.29
    assert icc_2_1(SHROUT_FLEISS) == pytest.approx(_icc21_by_hand(SHROUT_FLEISS), abs=1e-12)


def test_two_rater_icc_in_agreement_matches_anova_by_hand():
    rng = np.random.default_rng(3)
    truth = rng.uniform(10, 30, 25)
    pred = 0.9 * truth + 2.5 + rng.normal(0, 1.5, 25)
    expected = _icc21_by_hand(np.column_stack([pred, truth]))
    assert agreement(pred, truth, n_boot=0).icc == pytest.approx(expected, abs=1e-12)
    assert icc_2_1(np.column_stack([pred, truth])) == pytest.approx(expected, abs=1e-12)


def test_icc_penalises_offset_that_pearson_ignores():
    truth = np.linspace(10, 20, 11)
    a = agreement(truth + 3.0, truth, n_boot=0)
    assert a.pearson_r == pytest.approx(1.0)
    assert a.icc < 0.9
    assert a.r2 < 0.9  # coefficient of determination, not r²


def test_r2_pearson_mae_against_scipy():
    rng = np.random.default_rng(0)
    truth = rng.uniform(5, 40, 60)
    pred = 1.1 * truth - 1.0 + rng.normal(0, 2, 60)
    a = agreement(pred, truth, n_boot=0)
    ss_res = np.sum((pred - truth) ** 2)
    ss_tot = np.sum((truth - truth.mean()) ** 2)
    assert a.r2 == pytest.approx(1 - ss_res / ss_tot)
    assert a.pearson_r == pytest.approx(stats.pearsonr(pred, truth)[0])
    assert a.pearson_r ** 2 == pytest.approx(stats.linregress(truth, pred).rvalue ** 2)
    assert a.r2 != pytest.approx(a.pearson_r ** 2, abs=1e-3)
    assert a.mae == pytest.approx(np.mean(np.abs(pred - truth)))
    assert a.n == 60


def test_bias_loa_and_within_10_on_hand_worked_data():
    pred, truth = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 2.0, 2.0, 5.0])
    # d = [1, 0, 1, -1]: mean 0.25, SD sqrt(2.75 / 3)
    a = agreement(pred, truth, n_boot=0)
    sd = math.sqrt(2.75 / 3)
    assert a.bias == pytest.approx(0.25)
    assert a.sd_diff == pytest.approx(sd)
    assert a.loa_low == pytest.approx(0.25 - 1.96 * sd)
    assert a.loa_high == pytest.approx(0.25 + 1.96 * sd)
    assert a.mae == pytest.approx(0.75)
    assert a.pct_within_10 == pytest.approx(25.0)  # only the exact 2.0 == 2.0


def test_bootstrap_ci_contains_estimate_and_is_seeded():
    rng = np.random.default_rng(7)
    truth = rng.uniform(10, 30, 40)
    pred = truth + rng.normal(0.5, 1.0, 40)
    a = agreement(pred, truth, n_boot=500, seed=11)
    for est, (lo, hi) in ((a.r2, a.r2_ci), (a.mae, a.mae_ci), (a.bias, a.bias_ci), (a.icc, a.icc_ci)):
        assert lo <= est <= hi and lo < hi
    assert agreement(pred, truth, n_boot=500, seed=11) == a
    assert agreement(pred, truth, n_boot=500, seed=12).bias_ci != a.bias_ci


def test_agreement_edge_cases():
    assert math.isnan(agreement(np.array([]), np.array([])).r2)
    one = agreement(np.array([2.0]), np.array([1.0]))
    assert one.bias == 1.0 and math.isnan(one.sd_diff) and math.isnan(one.icc)
    with pytest.raises(ValueError, match="same length"):
        agreement(np.array([1.0, 2.0]), np.array([1.0]))
    with pytest.raises(ValueError, match="finite"):
        agreement(np.array([1.0, np.nan]), np.array([1.0, 2.0]))


def _square(shape, r0, c0, size):
    m = np.zeros(shape, bool)
    m[r0:r0 + size, c0:c0 + size] = True
    return m


def test_dice_hand_worked():
    a = _square((20, 20), 0, 0, 4)  # 16 px
    b = _square((20, 20), 0, 2, 4)  # 16 px, overlap 8
    assert dice(a, b) == pytest.approx(0.5)
    assert dice(a, a) == 1.0
    assert dice(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0
    assert dice(a, np.zeros_like(a)) == 0.0


def test_hausdorff_against_scipy_directed_on_boundaries():
    rng = np.random.default_rng(5)
    a = np.zeros((60, 60), bool)
    b = np.zeros((60, 60), bool)
    yy, xx = np.mgrid[:60, :60]
    a[((yy - 30) / 12.0) ** 2 + ((xx - 28) / 15.0) ** 2 <= 1] = True
    b[((yy - 33) / 10.0) ** 2 + ((xx - 31) / 17.0) ** 2 <= 1] = True
    b[rng.integers(0, 60), rng.integers(0, 60)] = True  # an outlier pixel far away

    def boundary_pts(m):
        from scipy import ndimage
        edge = m & ~ndimage.binary_erosion(m, structure=np.ones((3, 3), bool))
        return np.argwhere(edge).astype(float)

    pa, pb = boundary_pts(a), boundary_pts(b)
    expected = max(directed_hausdorff(pa, pb)[0], directed_hausdorff(pb, pa)[0])
    assert hausdorff_mm(a, b) == pytest.approx(expected)
    assert hausdorff_mm(a, b, 0.5) == pytest.approx(expected * 0.5)
    shifted = _square((30, 30), 5, 5, 10), _square((30, 30), 5, 8, 10)
    assert hausdorff_mm(*shifted, mm_per_px=0.3) == pytest.approx(0.9)
    assert hausdorff_mm(a, np.zeros_like(a)) == math.inf


def _write_csv(path, rows, fields):
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


PRED_FIELDS = ["file", "task", "value", "unit", "n", "frame", "qc", "reason"]


def _pred(file, task, value, qc="pass", reason=""):
    return {"file": file, "task": task, "value": value, "unit": "cm2", "n": 1, "frame": 0, "qc": qc, "reason": reason}


@pytest.fixture()
def tables(tmp_path):
    preds = [
        _pred("/data/site1/c1.dcm", "la_area", 20.0),
        _pred("/data/site1/c2.dcm", "la_area", 15.0),
        _pred("/data/site2/c3.dcm", "la_area", "", "fail", "no 2D region"),
        _pred("c4.dcm", "la_area", 30.0),
        _pred("/data/site2/c5.dcm", "la_area", 12.0),
        _pred("/data/site1/c1.dcm", "ra_area", 18.0),
        _pred("/data/site1/c2.dcm", "ra_area", 16.0, "fail", "foreshortened"),
        _pred("/data/extra/c9.dcm", "la_area", 11.0),  # no reference row
    ]
    truth = [
        {"file": "c1", "task": "la_area", "value": 21.0, "vendor": "GE"},
        {"file": "c2.dcm", "task": "la_area", "value": 14.0, "vendor": "GE"},
        {"file": "c3", "task": "la_area", "value": 25.0, "vendor": "Philips"},
        {"file": "c4", "task": "la_area", "value": 28.0, "vendor": "Philips"},
        {"file": "c5", "task": "la_area", "value": 13.0, "vendor": "Philips"},
        {"file": "c6", "task": "la_area", "value": 19.0, "vendor": "GE"},  # no prediction row
        {"file": "c1", "task": "ra_area", "value": 17.0, "vendor": "GE"},
        {"file": "c2", "task": "ra_area", "value": 15.0, "vendor": "GE"},
    ]
    p, t = tmp_path / "measurements.csv", tmp_path / "truth.csv"
    _write_csv(p, preds, PRED_FIELDS)
    _write_csv(t, truth, ["file", "task", "value", "vendor"])
    return p, t


def test_evaluate_matches_rows_and_counts_refusals(tables):
    p, t = tables
    res = evaluate(p, t, by=["vendor"], n_boot=200)
    la = res.overall("la_area")
    assert (la.n_truth, la.n_matched, la.n_refused, la.n_missing) == (6, 4, 1, 1)
    assert la.refusal_rate == pytest.approx(1 / 5)
    expected = agreement(np.array([20.0, 15.0, 30.0, 12.0]), np.array([21.0, 14.0, 28.0, 13.0]), n_boot=200)
    assert la.stats == expected
    ra = res.overall("ra_area")
    assert (ra.n_matched, ra.n_refused) == (1, 1)
    assert res.n_unmatched_pred == 1
    refused = [q for q in res.pairs if q.status == "refused"]
    assert {(q.key, q.reason) for q in refused} == {("c3", "no 2D region"), ("c2", "foreshortened")}
    by_group = {(g.task, g.group): g for g in res.groups if g.by == "vendor"}
    ge, ph = by_group[("la_area", "GE")], by_group[("la_area", "Philips")]
    assert (ge.n_truth, ge.n_matched, ge.n_refused, ge.n_missing) == (3, 2, 0, 1)
    assert (ph.n_truth, ph.n_matched, ph.n_refused, ph.n_missing) == (3, 2, 1, 0)
    assert ph.stats.bias == pytest.approx(((30 - 28) + (12 - 13)) / 2)
    assert set(by_group) == {("la_area", "GE"), ("la_area", "Philips"), ("ra_area", "GE")}
    assert not any("units" in n for n in res.notes)


def test_unexpected_units_are_noted(tmp_path):
    p, t = tmp_path / "m.csv", tmp_path / "t.csv"
    row = _pred("a.dcm", "mv_vti", 20.0)  # _pred writes unit cm2, wrong for a VTI
    _write_csv(p, [row], PRED_FIELDS)
    _write_csv(t, [{"file": "a", "task": "mv_vti", "value": 19.0}], ["file", "task", "value"])
    assert any("mv_vti: cm2" in n for n in evaluate(p, t, n_boot=0).notes)


def test_evaluate_errors_name_the_problem(tmp_path, tables):
    p, t = tables
    with pytest.raises(EchosegError, match="lacks column.*site"):
        evaluate(p, t, by=["site"])
    with pytest.raises(EchosegError, match="does not exist"):
        evaluate(tmp_path / "nope.csv", t)
    dup = tmp_path / "dup.csv"
    _write_csv(dup, [_pred("a.dcm", "la_area", 1), _pred("a.dcm", "la_area", 2)], PRED_FIELDS)
    with pytest.raises(EchosegError, match="appears twice"):
        evaluate(dup, t)


def test_ambiguous_basenames_are_not_matched(tmp_path):
    p, t = tmp_path / "m.csv", tmp_path / "t.csv"
    _write_csv(p, [_pred("/a/x.dcm", "la_area", 10), _pred("/b/x.dcm", "la_area", 20)], PRED_FIELDS)
    _write_csv(t, [{"file": "x", "task": "la_area", "value": 10},
                   {"file": "/b/x.dcm", "task": "la_area", "value": 19}], ["file", "task", "value"])
    res = evaluate(p, t, n_boot=0)
    status = {q.key: (q.status, q.pred) for q in res.pairs}
    assert status == {"x": ("missing", None), "/b/x.dcm": ("matched", 20.0)}


def _save_mask(path, m):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(m.astype(np.uint8) * 255).save(path)


@pytest.mark.parametrize("with_mm", [True, False])
def test_evaluate_masks_dice_and_hausdorff_units(tmp_path, tables, with_mm):
    p, _ = tables
    t = tmp_path / "truth_mm.csv"
    rows = [{"file": "c1", "task": "la_area", "value": 21.0, "mm_per_px": 0.5 if with_mm else ""},
            {"file": "c2", "task": "la_area", "value": 14.0, "mm_per_px": 0.5}]
    _write_csv(t, rows, ["file", "task", "value", "mm_per_px"])
    out, ref = tmp_path / "out", tmp_path / "ref"
    _save_mask(out / "masks" / "c1.la_area.png", _square((40, 40), 5, 5, 10))
    _save_mask(ref / "c1.la_area.png", _square((40, 40), 5, 7, 10))  # shift 2 px: Dice 0.8, HD 2 px
    _save_mask(out / "masks" / "c2.la_area.png", _square((40, 40), 5, 5, 10))
    _save_mask(ref / "c2.la_area.png", _square((40, 40), 5, 5, 10))
    res = evaluate(p, t, pred_masks=out, truth_masks=ref, n_boot=0)
    mk = res.overall("la_area").masks
    assert mk is not None and mk.n == 2
    assert mk.dice_mean == pytest.approx((0.8 + 1.0) / 2)
    assert mk.hd_unit == ("mm" if with_mm else "px")
    assert max(q.hausdorff for q in res.pairs) == pytest.approx(1.0 if with_mm else 2.0)
    assert any("pixels" in n for n in res.notes) != with_mm


def test_write_report_files(tmp_path, tables):
    p, t = tables
    res = evaluate(p, t, by=["vendor"], n_boot=100)
    paths = write_report(res, tmp_path / "rep")
    with paths["csv"].open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(res.groups) == len(metrics_rows(res))
    la = next(r for r in rows if r["task"] == "la_area" and r["by"] == "all")
    assert float(la["bias"]) == pytest.approx(res.overall("la_area").stats.bias)
    assert la["n_refused"] == "1"
    md = paths["md"].read_text()
    assert md.count("\n| la_area |") == 3 and "vendor=Philips" in md
    html = paths["html"].read_text()
    assert html.count("data:image/png;base64,") == 1  # la_area has 4 matched cases; ra_area only 1
    assert "too few to plot" in html and "no 2D region" in html


def test_extra_cells_and_bom_are_tolerated(tmp_path):
    p, t = tmp_path / "m.csv", tmp_path / "t.csv"
    p.write_text("\ufefffile,task,value,unit,n,frame,qc,reason\na.dcm,la_area,10,cm2,1,0,pass,,surplus\n")
    t.write_text("file,task,value\na,la_area,12\n")
    res = evaluate(p, t, n_boot=0)
    assert res.overall("la_area").stats.bias == pytest.approx(-2.0)
