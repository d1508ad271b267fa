"""Seeded synthetic inputs shared by the batch tests: one small study (an 8-frame A4C cine and one
Doppler file per site, StudyInstanceUID 1.2.3) written once per session."""
from __future__ import annotations

import pytest

from echoseg.models.registry import shipped_dir
from echoseg.synth.a4c import generate_a4c
from echoseg.synth.dicom_writer import write_case
from echoseg.synth.doppler import generate_doppler
from echoseg.vocab import SITES

SHIPPED = (shipped_dir("atria") / "model.safetensors").exists() and (shipped_dir("doppler") / "model.safetensors").exists()
needs_weights = pytest.mark.skipif(not SHIPPED, reason="shipped weights not present (src/echoseg/weights)")


@pytest.fixture(scope="session")
def study_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    write_case(generate_a4c(9_400_001, n_frames=8), out, "a4c", study_uid="1.2.3")
    for i, site in enumerate(SITES):
        write_case(generate_doppler(9_400_010 + i, site=site), out, site, study_uid="1.2.3")
    for extra in out.glob("*"):
        if extra.suffix != ".dcm":
            extra.unlink()  # inputs only: the truth files are not needed here
    return out
