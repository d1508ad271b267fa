"""echoseg.models.onnx_unet: the ONNX graph gives the torch U-Net's probabilities."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from echoseg.models.onnx_unet import unet_onnx  # noqa: E402
from echoseg.models.registry import create, for_inference, infer, load  # noqa: E402


def _run(graph: bytes, x: np.ndarray) -> list[np.ndarray]:
    return ort.InferenceSession(graph, providers=["CPUExecutionProvider"]).run(None, {"x": x})


def _state(net: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in net.state_dict().items()}


@pytest.mark.parametrize("cfg", [{"in_ch": 1, "n_classes": 5, "base": 4, "depth": 2},
                                 {"in_ch": 2, "n_classes": 1, "base": 6, "depth": 3, "n_cls": 5}])
def test_matches_torch_with_trained_batchnorm(cfg):
    torch.manual_seed(0)
    net = create("unet", **cfg)
    net.train()
    for _ in range(3):  # running statistics and affine terms far from the identity
        net(3 * torch.randn(4, cfg["in_ch"], 32, 64) + 1)
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 2.0)
                mod.bias.uniform_(-0.5, 0.5)
    x = np.random.default_rng(1).normal(size=(3, cfg["in_ch"], 32, 64)).astype(np.float32)
    ref = infer(for_inference(net.eval(), precision="fp32"), x)
    out = _run(unet_onnx(cfg, _state(net)), x)
    seg = ref["seg"] if isinstance(ref, dict) else ref
    np.testing.assert_allclose(out[0], seg, atol=1e-4)
    if cfg.get("n_cls"):
        np.testing.assert_allclose(out[1], ref["cls"], atol=1e-4)
        np.testing.assert_allclose(out[1].sum(axis=1), 1.0, atol=1e-5)
    else:
        np.testing.assert_allclose(out[0].sum(axis=1), 1.0, atol=1e-5)  # softmax over classes


@pytest.mark.parametrize("name,shape", [("atria", (2, 1, 160, 160)), ("doppler", (2, 2, 128, 256))])
def test_shipped_models_match_torch(name, shape):
    loaded = load(name)
    x = np.random.default_rng(2).random(shape, dtype=np.float32)
    ref = infer(for_inference(loaded.model, precision="fp32"), x)
    out = _run(unet_onnx(loaded.config["arch_config"], _state(loaded.model)), x)
    np.testing.assert_allclose(out[0], ref["seg"] if isinstance(ref, dict) else ref, atol=1e-4)


def test_refuses_what_it_cannot_fold():
    net = create("unet", in_ch=1, n_classes=2, base=4, depth=2)
    with pytest.raises(ValueError, match="batch-norm"):
        unet_onnx({"in_ch": 1, "n_classes": 2, "base": 4, "depth": 2, "norm": "group"}, _state(net))
    state = _state(net)
    with pytest.raises(ValueError, match="unexpected tensors"):
        unet_onnx({"in_ch": 1, "n_classes": 2, "base": 4, "depth": 1}, state)
    del state["dec.0.4.running_var"]
    with pytest.raises(ValueError, match="dec.0.4.running_var"):
        unet_onnx({"in_ch": 1, "n_classes": 2, "base": 4, "depth": 2}, state)
