"""echoseg.models.files and the loaders: a shipped name is a shipped name, a path is a path; pickled
weights are refused in echoseg's words; ONNX Runtime's telemetry stays off."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from echoseg.errors import ModelError
from echoseg.models.files import WEIGHTS_FILE, resolve, shipped_dir

SHIPPED_PRESENT = (shipped_dir("atria") / WEIGHTS_FILE).exists()


@pytest.mark.skipif(not SHIPPED_PRESENT, reason="shipped weights not present")
def test_shipped_name_never_resolves_to_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    decoy = tmp_path / "atria"
    decoy.mkdir()
    (decoy / WEIGHTS_FILE).write_bytes(b"not weights")
    monkeypatch.chdir(tmp_path)
    assert resolve("atria") == shipped_dir("atria")
    assert resolve("./atria").resolve() == decoy.resolve()  # a path is a path
    assert resolve(Path("atria")).resolve() == decoy.resolve()


def test_missing_path_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="nowhere"):
        resolve(str(tmp_path / "nowhere"))


def test_pickled_weights_refused_without_torch_advice(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from echoseg.models.registry import _read_weights

    p = tmp_path / "model.pt"
    torch.save({"w": Path("a pickled object, not a tensor")}, p)
    with pytest.raises(ModelError, match="model.pt: not a plain state dict") as exc:
        _read_weights(p)
    assert "weights_only=False" not in str(exc.value)


@pytest.mark.skipif(not SHIPPED_PRESENT, reason="shipped weights not present")
def test_onnxruntime_telemetry_off(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    probe_home = tmp_path / "probe"
    probe_home.mkdir()
    probe_env = dict(env, HOME=str(probe_home), XDG_CACHE_HOME=str(probe_home / ".cache"))
    subprocess.run([sys.executable, "-c", "import onnxruntime"], env=probe_env, check=True, timeout=120)
    if not list(probe_home.rglob("*onnxruntime*")):
        pytest.skip("this ONNX Runtime build writes no telemetry store here: nothing to switch off")
    home = tmp_path / "home"
    home.mkdir()
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
    code = "from echoseg.models import ort; ort.load('atria')"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    assert not list(home.rglob("*onnxruntime*")), "ONNX Runtime wrote its telemetry store"
