"""A journal record carries everything the tables, study rows and report cards read (batch.record)."""
from __future__ import annotations

import json

import numpy as np

from echoseg.batch.record import plain, result_from_json, result_to_json
from echoseg.doppler.study import study_rows
from echoseg.options import Models
from echoseg.pipeline import measure_file
from echoseg.report.html import card
from echoseg.report.tables import beat_rows, measurement_rows
from echoseg.types import DopplerDetails

from .conftest import needs_weights


@needs_weights
def test_rows_studies_and_cards_survive_the_round_trip_through_json(study_dir):
    models = Models()
    results = [measure_file(f, models) for f in sorted(study_dir.glob("*.dcm"))]
    back = [result_from_json(json.loads(json.dumps(result_to_json(r)))) for r in results]
    assert any(r.beats for r in results) and any(r.curves for r in results)  # both families took part
    assert measurement_rows(back) == measurement_rows(results)
    assert beat_rows(back) == beat_rows(results)
    assert study_rows(back, 2.0, 2.2) == study_rows(results, 2.0, 2.2)
    for a, b in zip(results, back):
        assert a.measurements == b.measurements  # typed details, to the last bit
        assert card(a, None) == card(b, None)  # curves and beats drawn the same
    d = next(m.details for r in back for m in r.measurements if isinstance(m.details, DopplerDetails))
    assert isinstance(d.tracer_vti, tuple) and isinstance(d.warnings, tuple)


def test_a_failed_file_round_trips_and_numpy_values_become_plain():
    r = measure_file("does/not/exist.dcm", Models())
    back = result_from_json(result_to_json(r))
    assert back.measurements == r.measurements and back.error == r.error and back.kind is None
    assert plain({"a": np.float32(1.5), "b": np.arange(2), "c": (np.int64(3),)}) == {"a": 1.5, "b": [0, 1], "c": [3]}
    assert type(plain(np.int64(3))) is int
