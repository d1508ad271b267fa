"""measurements.csv columns from the typed details of each family (report.tables)."""
from __future__ import annotations

from echoseg.doppler.measure import summarise_beats
from echoseg.report.tables import BEAT_COLUMNS, MEASUREMENT_COLUMNS, beat_rows, detail_columns, format_cell, measurement_rows
from echoseg.types import AtriaDetails, Beat, DopplerDetails, FileResult, Measurement


def _beat(i: int, vti: float, rr: float | None = 0.8, complete: bool = True) -> Beat:
    return Beat(i, i * 0.8, i * 0.8 + 0.3, vti, 90.0 + i, vti / 0.3, 3.24, 1.5, complete, rr)


def test_atria_details_fill_their_columns_and_nothing_of_doppler():
    d = AtriaDetails(raw_value=21.3, n_total=3, cycle_values_cm2=(20.1, 21.3, 20.8), warnings=("a", "b"),
                     sd=0.61, length_cm=5.12341, volume_ml=70.0)
    m = Measurement("f.dcm", "la_area", 21.3, "cm2", 3, 7, "pass", details=d)
    (row,) = measurement_rows([FileResult("f.dcm", "a4c", (m,), route="2D region -> atria")])
    assert list(row) == MEASUREMENT_COLUMNS
    assert (row["warnings"], row["sd"], row["n_total"], row["length_cm"], row["volume_ml"]) == \
        ("a; b", 0.61, 3, 5.1234, 70.0)
    assert all(row[k] == "" for k in ("heart_rate_bpm", "vmax_cm_s", "vmean_cm_s", "peak_gradient_mmhg",
                                       "mean_gradient_mmhg", "edited"))
    assert (row["kind"], row["frame"], row["route"]) == ("a4c", 7, "2D region -> atria")


def test_doppler_details_fill_the_columns_from_the_beat_summary():
    summary = summarise_beats([_beat(0, 20.0, None), _beat(1, 22.0), _beat(2, 21.0), _beat(3, 30.0, complete=False)])
    note = "1 beat(s) not counted (cut by the strip edge or an erase bar, or set aside: see the notes)"
    d = DopplerDetails(summary=summary, warnings=(note,), side=1)
    m = Measurement("d.dcm", "lvot_vti", summary.value, "cm", summary.n, 0, "pass", details=d)
    cols = detail_columns(m)
    assert cols["n_total"] == 4 and cols["sd"] == summary.sd and cols["heart_rate_bpm"] == 60 / 0.8
    assert cols["vmax_cm_s"] == 91.0 and "length_cm" not in cols and cols["edited"] is None
    (row,) = measurement_rows([FileResult("d.dcm", "doppler", (m,))])
    assert row["value"] == 21.0 and row["warnings"] == note
    assert row["length_cm"] == "" and row["volume_ml"] == ""


def test_rows_without_details_and_edited_rows():
    failed = Measurement("x.dcm", "unknown", None, "", 0, None, "fail", "unreadable")
    assert detail_columns(failed) == {"edited": None} and failed.warnings == () and failed.raw_value is None
    (row,) = measurement_rows([FileResult("x.dcm", None, (failed,))])
    assert (row["value"], row["frame"], row["reason"], row["warnings"], row["kind"]) == ("", "", "unreadable", "", "")
    d = AtriaDetails(raw_value=12.0, n_total=1)
    edited = Measurement("f.dcm", "ra_area", 12.0, "cm2", 1, 3, "pass", details=d, edit="frame 3 chosen by the user")
    assert edited.edited and detail_columns(edited)["edited"] is True and edited.raw_value == 12.0


def test_format_cell():
    assert format_cell(1 / 3) == 0.3333 and format_cell(float("nan")) == "" and format_cell(None) == ""
    assert format_cell(("a", "b")) == "a; b" and format_cell([]) == "" and format_cell(3) == 3


def test_beat_rows_carry_mitral_e_and_a_peaks():
    from dataclasses import replace

    inflow = replace(_beat(0, 12.0), e_cm_s=63.2, a_cm_s=34.1)
    fused = replace(_beat(1, 11.0), e_cm_s=70.0)
    rows = beat_rows([FileResult("m.dcm", "doppler", (), beats={"mv_vti": (inflow, fused, _beat(2, 10.0))})])
    assert all(list(r) == BEAT_COLUMNS for r in rows)
    assert [(r["e_cm_s"], r["a_cm_s"]) for r in rows] == [(63.2, 34.1), (70.0, ""), ("", "")]
