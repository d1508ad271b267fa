"""echoseg.models.unet_spec: the torch UNet and the ONNX graph come from one layer description.

These tests fail when the torch module and the spec drift apart: other state-dict names or
shapes, other defaults, or a forward pass that differs from the graph built from the spec.
"""
from __future__ import annotations

import copy
import dataclasses
import inspect
import subprocess
import sys

import numpy as np
import pytest

from echoseg.models.unet_spec import UNetConfig, unet_spec

torch = pytest.importorskip("torch")

from echoseg.models.onnx_unet import expected_shapes, unet_onnx  # noqa: E402
from echoseg.models.registry import infer  # noqa: E402
from echoseg.models.unet import UNet  # noqa: E402

BATCH_NORM_CONFIGS = [
    {"in_ch": 1, "n_classes": 5, "base": 4, "depth": 2},
    {"in_ch": 2, "n_classes": 1, "base": 6, "depth": 3, "n_cls": 5},
    {"in_ch": 3, "n_classes": 2, "base": 5, "depth": 1, "n_cls": 2},
    {"in_ch": 1, "n_classes": 1, "base": 3, "depth": 4},
    {"n_cls": 3},  # the defaults: base 16, depth 4
]
CONFIGS = BATCH_NORM_CONFIGS + [{"in_ch": 2, "n_classes": 3, "base": 8, "depth": 2, "n_cls": 4, "norm": "group"}]


def _ids(cfgs: list[dict]) -> list[str]:
    return [",".join(f"{k}={v}" for k, v in c.items()) or "defaults" for c in cfgs]


@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids(CONFIGS))
def test_spec_state_dict_is_the_torch_state_dict(cfg):
    torch_shapes = {k: tuple(v.shape) for k, v in UNet(**cfg).state_dict().items()}
    assert list(unet_spec(cfg).state_shapes().items()) == list(torch_shapes.items())  # names, shapes, order
    if cfg.get("norm", "batch") == "batch":
        assert expected_shapes(cfg) == torch_shapes  # what the ONNX path checks the weights against


@pytest.mark.parametrize("name", ["atria", "doppler"])
def test_spec_fits_the_shipped_weights(name):
    from safetensors.numpy import load_file

    from echoseg.models.files import locate

    _, weights, config = locate(name)
    state = {k: tuple(v.shape) for k, v in load_file(str(weights)).items()}
    assert unet_spec(config["arch_config"]).state_shapes() == state


def test_unet_defaults_are_the_spec_defaults():
    params = inspect.signature(UNet).parameters
    assert {k: p.default for k, p in params.items()} == dataclasses.asdict(UNetConfig())


def _with_trained_batchnorm(cfg: dict, seed: int) -> torch.nn.Module:
    """A random UNet whose batch norms hold the exact statistics of shifted, scaled inputs (means far
    from 0, variances far from 1) and random affine terms, so the outputs spread over (0, 1)."""
    torch.manual_seed(seed)
    net = UNet(**cfg)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for mod in norms:
        mod.momentum = None  # cumulative averages: running statistics are those of the batches
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(3 * torch.randn(4, net.spec.config.in_ch, 32, 64) + 1)
        for mod in norms:
            mod.weight.uniform_(0.5, 2.0)
            mod.bias.uniform_(-0.5, 0.5)
    return net.eval()


def _probabilities(out: torch.Tensor | dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    out = out if isinstance(out, dict) else {"seg": out}
    act = {k: torch.sigmoid(v) if k == "seg" and v.shape[1] == 1 else torch.softmax(v, dim=1) for k, v in out.items()}
    return {k: v.numpy() for k, v in act.items()}


@pytest.mark.parametrize("cfg", BATCH_NORM_CONFIGS, ids=_ids(BATCH_NORM_CONFIGS))
def test_onnx_runtime_equals_torch_fp32(cfg):
    """ONNX Runtime agrees with torch in fp32 (no bf16, no autocast) to within a few times torch
    fp32's own rounding error, measured against the same network in float64."""
    ort = pytest.importorskip("onnxruntime")
    net = _with_trained_batchnorm(cfg, seed=0)
    x = np.random.default_rng(1).normal(size=(3, net.spec.config.in_ch, 32, 64)).astype(np.float32)
    ref = infer(net, x, precision="fp32")
    ref = ref if isinstance(ref, dict) else {"seg": ref}
    with torch.no_grad():
        exact = _probabilities(copy.deepcopy(net).double()(torch.from_numpy(x).double()))
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    graph = unet_onnx(cfg, state)
    got = dict(zip(["seg", "cls"], ort.InferenceSession(graph, providers=["CPUExecutionProvider"]).run(None, {"x": x})))
    assert set(got) == set(ref) and ref["seg"].std() > 0.1  # outputs that vary: a meaningful comparison
    for k in ref:
        assert got[k].shape == ref[k].shape
        tol = 5 * float(np.abs(ref[k] - exact[k]).max()) + 1e-6
        np.testing.assert_allclose(got[k], ref[k], rtol=0, atol=tol, err_msg=k)


def test_spec_and_onnx_graph_do_not_import_torch():
    code = ("import sys, numpy as np\n"
            "from echoseg.models.unet_spec import unet_spec\n"
            "from echoseg.models.onnx_unet import unet_onnx\n"
            "cfg = {'in_ch': 2, 'n_classes': 1, 'base': 4, 'depth': 2, 'n_cls': 5}\n"
            "state = {k: np.ones(s, np.float32) for k, s in unet_spec(cfg).state_shapes().items()}\n"
            "assert len(unet_onnx(cfg, state)) > 1000\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_invalid_configs_and_specs_are_refused():
    with pytest.raises(ValueError, match="depth and base must be >= 1"):
        UNet(depth=0)
    with pytest.raises(ValueError, match="norm must be one of batch, group, not 'layer'"):
        UNet(norm="layer")
    with pytest.raises(ValueError, match="takes no argument"):
        unet_spec({"base": 4, "width": 3})
    spec = unet_spec({"base": 4, "depth": 2})
    with pytest.raises(ValueError, match="out takes 5 channels but is fed 4"):
        dataclasses.replace(spec, out=dataclasses.replace(spec.out, cin=5))
    with pytest.raises(ValueError, match=r"dec\.0\.0 takes"):
        dataclasses.replace(spec, decoder=(dataclasses.replace(spec.decoder[0], skip=0), *spec.decoder[1:]))
