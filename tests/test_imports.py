"""Measuring imports neither torch nor the onnx package (ONNX Runtime runs the networks), and
importing echoseg does no work."""
from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("onnxruntime")

from echoseg.synth.a4c import generate_a4c  # noqa: E402
from echoseg.synth.dicom_writer import write_case  # noqa: E402
from echoseg.synth.doppler import generate_doppler  # noqa: E402


def test_measure_command_on_a_study_imports_neither_torch_nor_onnx(tmp_path):
    write_case(generate_a4c(9_300_011, n_frames=8), tmp_path / "study", "a4c")
    write_case(generate_doppler(9_300_012, site="lvot"), tmp_path / "study", "lvot")
    code = ("import sys; from echoseg.cli import main; "
            f"rc = main(['measure', {str(tmp_path / 'study')!r}, '--out', {str(tmp_path / 'out')!r}, '--quiet']); "
            "print(rc, sorted(m for m in ('torch', 'onnx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0 []"
    assert (tmp_path / "out" / "measurements.csv").read_text().count("\n") == 4  # header, LA, RA, LVOT


def test_importing_echoseg_imports_none_of_its_layers():
    code = "import sys, echoseg; print(sorted(m for m in sys.modules if m.startswith('echoseg.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
