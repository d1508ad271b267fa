"""echoseg.models.inference and .ort: backend choice, fallbacks, and the same answers on both."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from echoseg.errors import ModelError  # noqa: E402
from echoseg.models.inference import backend_choice, infer, load_for_inference  # noqa: E402
from echoseg.models.ort import OrtNet  # noqa: E402
from echoseg.models.registry import create, for_inference, load, save  # noqa: E402
from echoseg.pipeline import Models, measure_file  # noqa: E402
from echoseg.synth.a4c import generate_a4c  # noqa: E402
from echoseg.synth.dicom_writer import write_case  # noqa: E402
from echoseg.synth.doppler import generate_doppler  # noqa: E402

CFG = {"in_ch": 2, "n_classes": 1, "base": 4, "depth": 2, "n_cls": 5}


def _small(tmp_path):
    torch.manual_seed(0)
    net = create("unet", **CFG)
    net.train()
    net(torch.randn(4, 2, 32, 64))
    return save(net.eval(), {"arch": "unet", "arch_config": CFG, "input_size": [32, 64]}, tmp_path / "m")


def test_backend_choice(monkeypatch):
    monkeypatch.delenv("ECHOSEG_BACKEND", raising=False)
    assert backend_choice() == "auto"
    assert backend_choice("torch") == "torch"
    monkeypatch.setenv("ECHOSEG_BACKEND", "torch")
    assert backend_choice() == "torch"
    monkeypatch.setenv("ECHOSEG_BACKEND", "tensorrt")
    with pytest.raises(ModelError, match="ECHOSEG_BACKEND"):
        backend_choice()


def test_auto_runs_onnx_and_agrees_with_torch_in_batches(tmp_path, monkeypatch):
    monkeypatch.delenv("ECHOSEG_BACKEND", raising=False)
    folder = _small(tmp_path)
    fast, slow = load_for_inference(folder), load_for_inference(folder, "torch")
    assert isinstance(fast.model, OrtNet) and isinstance(slow.model, torch.nn.Module)
    assert fast.config["arch_config"] == CFG
    x = np.random.default_rng(0).normal(size=(5, 2, 32, 64)).astype(np.float32)
    a = infer(fast.model, x, batch=2)  # 5 inputs in batches of 2
    assert a["seg"].shape == (5, 1, 32, 64) and a["cls"].shape == (5, 5)
    # like with like: ONNX Runtime runs fp32, so compare with torch forced to fp32 (on CPUs with native
    # bf16, load_for_inference's torch model runs bf16)
    b = infer(for_inference(load(folder).model, precision="fp32"), x)
    np.testing.assert_allclose(a["seg"], b["seg"], atol=1e-4)
    np.testing.assert_allclose(a["cls"], b["cls"], atol=1e-4)
    # the torch model the pipeline gets, in the precision this CPU picks: bf16 keeps 8 significant
    # bits (relative error 2**-8 per rounding), so probabilities in [0, 1] agree to a few times 2**-8
    c = infer(slow.model, x)
    tol = 4 * 2.0 ** -8 if slow.model._echoseg_precision == "bf16" else 1e-4
    np.testing.assert_allclose(a["seg"], c["seg"], rtol=0, atol=tol)
    np.testing.assert_allclose(a["cls"], c["cls"], rtol=0, atol=tol)
    with pytest.raises(ValueError, match="divisible by 4"):
        infer(fast.model, x[:, :, :30])


def test_pickled_weights_fall_back_to_torch(tmp_path):
    folder = _small(tmp_path)
    from safetensors.torch import load_file
    torch.save(load_file(str(folder / "model.safetensors")), folder / "weights.pt")
    assert isinstance(load_for_inference(folder / "weights.pt").model, torch.nn.Module)
    with pytest.raises(ModelError, match="safetensors"):
        load_for_inference(folder / "weights.pt", "onnxruntime")


def test_bf16_weights_fall_back_to_torch(tmp_path):
    from safetensors.torch import load_file, save_file
    folder = _small(tmp_path)
    state = load_file(str(folder / "model.safetensors"))
    save_file({k: v.bfloat16() if v.is_floating_point() else v for k, v in state.items()},
              str(folder / "model.safetensors"))
    assert isinstance(load_for_inference(folder).model, torch.nn.Module)
    with pytest.raises(ModelError, match="cannot read the weights without torch"):
        load_for_inference(folder, "onnxruntime")


def test_weights_that_do_not_fit_the_card_are_named(tmp_path):
    folder = _small(tmp_path)
    card = json.loads((folder / "model.json").read_text())
    card["arch_config"]["base"] = 8
    (folder / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match=r"enc\.0\.0\.weight \(4, 2, 3, 3\) \(expected \(8, 2, 3, 3\)\)"):
        load_for_inference(folder, "onnxruntime")


def test_both_backends_measure_the_same(tmp_path, monkeypatch):
    from echoseg.models import registry

    # like with like: ONNX Runtime runs fp32, so keep the torch backend off bf16 on CPUs that have it
    monkeypatch.setattr(registry, "bf16_supported", lambda: False)
    write_case(generate_a4c(9_300_001, n_frames=12), tmp_path, "a4c")
    write_case(generate_doppler(9_300_002, site="lvot"), tmp_path, "lvot")
    torch_models = Models(backend="torch")
    assert torch_models.get("atria").model._echoseg_precision == "fp32"
    for name in ("a4c.dcm", "lvot.dcm"):
        fast = measure_file(tmp_path / name, Models(backend="onnxruntime"))
        slow = measure_file(tmp_path / name, torch_models)
        assert [m.task for m in fast.measurements] == [m.task for m in slow.measurements]
        for f, s in zip(fast.measurements, slow.measurements, strict=True):
            assert f.qc == s.qc and f.frame == s.frame and f.n == s.n
            assert f.value == pytest.approx(s.value, rel=1e-3)


def test_measuring_with_onnx_does_not_import_torch(tmp_path):
    write_case(generate_doppler(9_300_003, site="mv"), tmp_path, "mv")
    code = ("import sys; from echoseg.pipeline import Models, measure_file; "
            f"r = measure_file({str(tmp_path / 'mv.dcm')!r}, Models(backend='onnxruntime')); "
            "assert r.measurements[0].value is not None, r; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
