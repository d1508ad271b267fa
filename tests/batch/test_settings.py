"""Options checked before any work and the key that decides what a resumed run reuses (batch.settings)."""
from __future__ import annotations

import pytest

from echoseg.batch.inputs import UsageError
from echoseg.batch.settings import (ModelSpec, Settings, check_diameter, provenance, run_key, sha256_file,
                                    threads_per_worker)
from echoseg.io.limits import ReadLimits
from echoseg.models.files import locate

from .conftest import needs_weights


def test_a_diameter_in_millimetres_is_refused_with_the_centimetre_value():
    with pytest.raises(UsageError, match=r"looks like millimetres.*pass 2\.1"):
        check_diameter("--lvot-diameter", 21, 1.0, 4.0)
    with pytest.raises(UsageError, match="between 1 and 4 cm, not 0.5"):
        check_diameter("--lvot-diameter", 0.5, 1.0, 4.0)
    assert check_diameter("--lvot-diameter", 2.0, 1.0, 4.0) == 2.0 and check_diameter("x", None, 1, 4) is None


def test_settings_refuse_bad_values():
    with pytest.raises(UsageError, match="task must be"):
        Settings(task="lv_mass")
    with pytest.raises(UsageError, match="cm_per_px"):
        Settings(cm_per_px=0.0)
    with pytest.raises(UsageError, match="jobs must be at least 1"):
        threads_per_worker(0)
    assert threads_per_worker(2, 2) == 1 and threads_per_worker(1, 16) == 16 and threads_per_worker(3, 2) == 1


@needs_weights
def test_run_key_follows_weights_and_per_file_options_only(tmp_path):
    spec = ModelSpec()
    prov = provenance(spec)
    folder, weights, _ = locate("atria")
    assert prov["atria"]["weights_sha256"] == sha256_file(weights)
    assert prov["backend"] in ("onnxruntime", "torch") and prov["echoseg_version"]
    base = run_key(spec, Settings(), prov)
    assert run_key(spec, Settings(), prov) == base
    assert run_key(spec, Settings(task="lvot_vti"), prov) != base
    assert run_key(spec, Settings(save_masks=True), prov) != base
    tight = ReadLimits(max_frames=10)  # a file over a budget gets another row: another key
    assert run_key(spec, Settings(limits=tight), prov) != base
    assert run_key(spec, Settings(keep_screen_text=True), prov) != base
    opts = Settings(limits=tight, keep_screen_text=True).options()
    assert opts.limits == tight and opts.keep_screen_text and not Settings().options().keep_screen_text
    other = {**prov, "doppler": {**prov["doppler"], "weights_sha256": "0" * 64}}
    assert run_key(spec, Settings(), other) != base
    # the same weights found under another path are the same models
    moved = {**prov, "atria": {**prov["atria"], "model": str(folder)}}
    assert run_key(spec, Settings(), moved) == base
