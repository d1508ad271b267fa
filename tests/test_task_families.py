"""The family interface: one call per family, dispatched by the pipeline's table, and the web app
measuring each file once through it (networks are the synthetic-truth stand-ins of test_web.py)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from echoseg import pipeline
from echoseg.atria import task as atria_task
from echoseg.doppler import task as doppler_task
from echoseg.doppler.measure import summarise_beats
from echoseg.io.read import read
from echoseg.models import inference
from echoseg.options import Options
from echoseg.report.tables import measurement_rows
from echoseg.types import AtriaEditData, DopplerDetails, DopplerEditData, FileResult
from echoseg.vocab import TASKS_ATRIA
from tests.oracle_models import SEED, OracleModels, oracle, study  # noqa: E402, F401 (fixtures)


def _file(study: Path, kind: str) -> Path:
    return study / f"study{SEED * 1000:06d}_{kind}.dcm"


@pytest.fixture
def infer_calls(monkeypatch) -> list[tuple[int, ...]]:
    """Input shapes of every network run (``echoseg.models.inference.infer``) during the test."""
    calls: list[tuple[int, ...]] = []
    real = inference.infer

    def counting(model, x, batch=32):
        calls.append(tuple(x.shape))
        return real(model, x, batch)

    monkeypatch.setattr(inference, "infer", counting)
    return calls


# ----------------------------------------------------------------------------- the web runs each network once
def test_the_web_app_runs_the_network_once_per_file_and_not_for_edits(study, oracle, infer_calls):
    pytest.importorskip("fastapi")
    pytest.importorskip("multipart")
    from fastapi.testclient import TestClient

    from echoseg.web import app as web

    a4c, lvot = _file(study, "a4c"), _file(study, "lvot")
    with TestClient(web.create_app(oracle)) as client:
        sid = client.post("/api/sessions").json()["id"]
        r = client.post(f"/api/sessions/{sid}/upload", files=[("files", (a4c.name, a4c.read_bytes()))])
        assert r.status_code == 200, r.text
        assert len(infer_calls) == 1 and infer_calls[0][0] == read(a4c).n_frames  # every frame in one call
        r = client.post(f"/api/sessions/{sid}/upload", files=[("files", (lvot.name, lvot.read_bytes()))])
        assert len(infer_calls) == 2 and infer_calls[1][0] == 2  # the strip as shown and brightened, one call
        files = {f["name"]: f for f in r.json()["files"]}
        assert files[a4c.name]["editable"] and files[lvot.name]["editable"]
        # edits re-measure from what the pipeline kept: no network, no file read
        fa, fl = files[a4c.name], files[lvot.name]
        other = (fa["cine"]["pipeline_frames"]["la_area"] + 1) % fa["cine"]["n_frames"]
        r = client.post(f"/api/sessions/{sid}/files/{fa['id']}/frame", json={"task": "la_area", "frame": other})
        assert r.status_code == 200 and next(t for t in r.json()["file"]["tasks"] if t["task"] == "la_area")["edited"]
        keep = [b["index"] for b in fl["beats"]["lvot_vti"] if b["complete"]][1:]
        r = client.post(f"/api/sessions/{sid}/files/{fl['id']}/beats", json={"task": "lvot_vti", "included": keep})
        assert r.status_code == 200
        assert len(infer_calls) == 2
        session = client.app.state.store.get(sid)
        assert all(e.original.edit_data is None for e in session.entries.values())  # the cine is not kept twice


def test_measure_file_runs_each_network_once(study, oracle, infer_calls):
    for kind in ("a4c", "mv"):
        pipeline.measure_file(_file(study, kind), oracle, Options(edit_data=True))
    assert len(infer_calls) == 2


# ----------------------------------------------------------------------------- one family interface
def test_pipeline_dispatches_through_the_family_table(study, oracle, monkeypatch):
    seen = []

    def stub(img, task, models, opts):
        seen.append((Path(img.path).name, task, models, opts))
        return FileResult(file=img.path, kind="stub", measurements=())

    assert set(pipeline.FAMILIES) == {"a4c", "doppler"}
    monkeypatch.setitem(pipeline.FAMILIES, "doppler", stub)
    opts = Options(task="av_vti", keep_image=False)
    assert pipeline.measure_file(_file(study, "av"), oracle, opts).kind == "stub"
    assert seen == [(_file(study, "av").name, "av_vti", oracle, opts)]
    assert pipeline.measure_file(_file(study, "a4c"), oracle).kind == "a4c"  # the other family untouched

    def broken(img, task, models, opts):
        raise ValueError("no beats: nothing to measure")

    monkeypatch.setitem(pipeline.FAMILIES, "doppler", broken)
    failed = pipeline.measure_file(_file(study, "av"), oracle)
    assert failed.kind is None and failed.error.endswith("no beats: nothing to measure")
    assert _file(study, "av").name in failed.error  # reasons name the file
    assert [(m.task, m.qc, m.reason) for m in failed.measurements] == [("unknown", "fail", failed.error)]


def test_family_calls_refuse_tasks_of_the_other_family(study, oracle):
    with pytest.raises(ValueError, match="la_area, ra_area for an A4C cine, not 'lvot_vti'"):
        atria_task.measure(read(_file(study, "a4c")), "lvot_vti", oracle, Options())
    with pytest.raises(ValueError, match="pv_vti for a Doppler strip, not 'la_area'"):
        doppler_task.measure(read(_file(study, "lvot")), "la_area", oracle, Options())


def test_edit_data_only_when_asked_and_the_rows_do_not_change(study, oracle):
    for kind in ("a4c", "rvot"):
        plain = pipeline.measure_file(_file(study, kind), oracle)
        kept = pipeline.measure_file(_file(study, kind), oracle, Options(edit_data=True))
        assert plain.edit_data is None
        assert measurement_rows([plain]) == measurement_rows([kept])
        if kind == "a4c":
            data = kept.edit_data
            assert isinstance(data, AtriaEditData) and set(data.probs) == set(TASKS_ATRIA)
            n = read(_file(study, kind)).n_frames
            assert all(p.dtype == np.float16 and p.shape[0] == n and p.shape[1] == p.shape[2]
                       for p in data.probs.values())
            assert data.frames is not None and data.frames.shape[0] == n
        else:
            assert isinstance(kept.edit_data, DopplerEditData) and kept.edit_data.cal.mode in ("PW", "CW")


def test_only_one_atrium_when_asked(study, oracle):
    r = pipeline.measure_file(_file(study, "a4c"), oracle, Options(task="ra_area", edit_data=True))
    assert [m.task for m in r.measurements] == ["ra_area"] and set(r.curves) == {"ra_area"}
    assert isinstance(r.edit_data, AtriaEditData) and set(r.edit_data.probs) == {"ra_area"}


def test_remeasure_refuses_rows_of_the_other_family(study, oracle):
    a4c = pipeline.measure_file(_file(study, "a4c"), oracle, Options(edit_data=True))
    lvot = pipeline.measure_file(_file(study, "lvot"), oracle, Options(edit_data=True))
    assert isinstance(a4c.edit_data, AtriaEditData) and isinstance(lvot.edit_data, DopplerEditData)
    with pytest.raises(TypeError, match="not a measured atrial area"):
        atria_task.remeasure_frame(lvot.measurements[0], a4c.edit_data, a4c.curves["la_area"], 0)
    with pytest.raises(TypeError, match="not a measured Doppler VTI"):
        doppler_task.remeasure_beats(a4c.measurements[0], lvot.beats["lvot_vti"], set(), lvot.edit_data.cal)
    # excluding a beat changes the summary and says which beat, numbered from 1
    m = lvot.measurements[0]
    complete = [b.index for b in lvot.beats["lvot_vti"] if b.complete]
    edited = doppler_task.remeasure_beats(m, lvot.beats["lvot_vti"], set(complete[1:]), lvot.edit_data.cal)
    assert edited.n == len(complete) - 1 and edited.edit == f"beats {complete[0] + 1} excluded by the user"
    assert isinstance(edited.details, DopplerDetails) and edited.details.summary.n == edited.n


def test_doppler_details_name_bad_values():
    summary = summarise_beats([])
    with pytest.raises(ValueError, match="side must be \\+1, -1 or None .* not 0"):
        DopplerDetails(summary=summary, side=0)
    with pytest.raises(ValueError, match="site_confidence must be between 0 and 1, not 1.5"):
        DopplerDetails(summary=summary, site_confidence=1.5)
    d = DopplerDetails(summary=summary, side=-1)
    assert d.raw_value is None and replace(d, side=1).side == 1
