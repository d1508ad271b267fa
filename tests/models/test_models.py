"""Model registry: one contract test over every registered architecture, save/load, infer."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from echoseg.errors import ModelError  # noqa: E402
from echoseg.models import ARCHS, create, infer, load, n_parameters, save  # noqa: E402
from echoseg.models.registry import shipped_dir  # noqa: E402

SMALL = {"unet": {"base": 4, "depth": 2}}
DEFAULT_PARAMS = {"unet": (1_000_000, 3_000_000)}  # full-size networks of the task defaults


def _variants(arch: str) -> list[dict]:
    small = SMALL[arch]
    return [{"in_ch": 1, "n_classes": 5, **small}, {"in_ch": 2, "n_classes": 1, "n_cls": 5, **small}]


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_every_registered_arch_meets_the_contract(arch, tmp_path):
    assert arch in SMALL, f"add a small config of {arch} to SMALL"
    for k, cfg in enumerate(_variants(arch)):
        torch.manual_seed(0)
        net = create(arch, **cfg)
        # a few training steps so that BatchNorm running statistics are not the identity
        net.train()
        for _ in range(2):
            net(torch.randn(4, cfg["in_ch"], 32, 64))
        net.eval()
        x = torch.randn(3, cfg["in_ch"], 32, 64)
        with torch.no_grad():
            a, b = net(x), net(x)
        seg_a = a["seg"] if isinstance(a, dict) else a
        seg_b = b["seg"] if isinstance(b, dict) else b
        assert tuple(seg_a.shape) == (3, cfg["n_classes"], 32, 64)
        assert torch.equal(seg_a, seg_b)  # deterministic in eval mode
        if cfg.get("n_cls"):
            assert tuple(a["cls"].shape) == (3, cfg["n_cls"])
        # save -> load gives the same outputs
        config = {"arch": arch, "arch_config": cfg, "input_size": [32, 64], "task": "test"}
        out = save(net, config, tmp_path / f"m{k}", card={"note": "contract test"})
        loaded = load(out)
        card = json.loads((out / "model.json").read_text())
        assert card["note"] == "contract test" and card["n_parameters"] == n_parameters(net)
        with torch.no_grad():
            c = loaded.model(x)
        seg_c = c["seg"] if isinstance(c, dict) else c
        torch.testing.assert_close(seg_c, seg_a, rtol=1e-5, atol=1e-5)
        assert not loaded.model.training
    lo, hi = DEFAULT_PARAMS[arch]
    for cfg in ({"in_ch": 1, "n_classes": 5}, {"in_ch": 2, "n_classes": 1, "n_cls": 5}):
        assert lo <= n_parameters(create(arch, **cfg)) <= hi


def test_unet_rejects_indivisible_input():
    net = create("unet", base=4, depth=3).eval()
    with pytest.raises(ValueError, match="divisible by 8"):
        net(torch.zeros(1, 1, 36, 64))


def test_infer_probabilities_and_precisions():
    torch.manual_seed(1)
    seg = create("unet", in_ch=1, n_classes=3, base=4, depth=2)
    x = np.random.default_rng(0).normal(size=(5, 1, 32, 32)).astype(np.float32)
    p32 = infer(seg, x, batch=2, precision="fp32")
    assert p32.shape == (5, 3, 32, 32) and p32.dtype == np.float32
    np.testing.assert_allclose(p32.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(infer(seg, x, batch=2, precision="fp32"), p32)  # deterministic
    with torch.no_grad():
        ref = torch.softmax(seg.eval()(torch.from_numpy(x)), dim=1).numpy()
    np.testing.assert_allclose(p32, ref, atol=1e-5)  # batching does not change results
    pbf = infer(seg, x, precision="bf16")
    assert (pbf.argmax(1) == p32.argmax(1)).mean() > 0.97
    head = create("unet", in_ch=2, n_classes=1, n_cls=5, base=4, depth=2)
    out = infer(head, np.zeros((2, 2, 32, 64), np.float32), precision="fp32")
    assert set(out) == {"seg", "cls"} and out["seg"].shape == (2, 1, 32, 64)
    assert out["seg"].min() >= 0 and out["seg"].max() <= 1  # sigmoid
    np.testing.assert_allclose(out["cls"].sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="precision"):
        infer(seg, x, precision="fp16")


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_for_inference_copy_gives_identical_outputs_and_leaves_the_original(precision):
    from echoseg.models.registry import for_inference

    torch.manual_seed(2)
    head = create("unet", in_ch=2, n_classes=1, n_cls=5, base=4, depth=2)
    x = np.random.default_rng(1).normal(size=(3, 2, 32, 64)).astype(np.float32)
    ref = infer(head, x, precision=precision)
    ready = for_inference(head, precision)
    got = infer(ready, x)
    for k in ("seg", "cls"):
        np.testing.assert_array_equal(got[k], ref[k])
    conv_dtypes = {m.weight.dtype for m in ready.modules() if isinstance(m, torch.nn.Conv2d)}
    assert conv_dtypes == {torch.bfloat16 if precision == "bf16" else torch.float32}
    assert all(p.dtype == torch.float32 for p in head.parameters())  # the original still trains
    other = "fp32" if precision == "bf16" else "bf16"
    with pytest.raises(ValueError, match=f"prepared for {precision}"):
        infer(ready, x, precision=other)


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load(tmp_path / "nowhere")
    net = create("unet", in_ch=1, n_classes=5, base=4, depth=2)
    d = save(net, {"arch": "unet", "arch_config": {"in_ch": 1, "n_classes": 5, "base": 4, "depth": 2},
                   "input_size": 32}, tmp_path / "m")
    card = json.loads((d / "model.json").read_text())
    card["arch_config"]["base"] = 8  # card no longer matches the weights
    (d / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="does not match"):
        load(d)
    (d / "model.json").unlink()
    with pytest.raises(ModelError, match="model.json"):
        load(d)
    with pytest.raises(ModelError, match="unknown architecture"):
        create("resnet9000")
    with pytest.raises(ModelError, match="arch_config"):
        save(net, {"arch": "unet"}, tmp_path / "bad")


def test_load_pt_checkpoint_with_weights_only(tmp_path):
    cfg = {"in_ch": 1, "n_classes": 2, "base": 4, "depth": 2}
    net = create("unet", **cfg).eval()
    torch.save({"state_dict": net.state_dict()}, tmp_path / "weights.pt")
    (tmp_path / "model.json").write_text(json.dumps({"arch": "unet", "arch_config": cfg, "input_size": 32}))
    loaded = load(tmp_path / "weights.pt")
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), net(x))


def test_shipped_name_missing_or_loadable():
    d = shipped_dir("atria")
    if (d / "model.safetensors").exists():
        loaded = load("atria")
        assert loaded.config["task"] == "atria" and "input_size" in loaded.config
    else:
        with pytest.raises(ModelError, match="not installed"):
            load("atria")


def test_half_precision_weights_halve_the_file_and_load_as_float32(tmp_path):
    torch.manual_seed(2)
    cfg = {"in_ch": 1, "n_classes": 5, "base": 8, "depth": 2}
    net = create("unet", **cfg).eval()
    config = {"arch": "unet", "arch_config": cfg, "input_size": 32}
    full, half = save(net, config, tmp_path / "f"), save(net, config, tmp_path / "h", half=True)
    size_f, size_h = (full / "model.safetensors").stat().st_size, (half / "model.safetensors").stat().st_size
    assert size_h < 0.55 * size_f
    loaded = load(half)
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())
    assert json.loads((half / "model.json").read_text())["weights_dtype"] == "float16"
    x = np.random.default_rng(0).normal(size=(2, 1, 32, 32)).astype(np.float32)
    a, b = infer(net, x, precision="fp32"), infer(loaded.model, x, precision="fp32")
    assert np.abs(a - b).max() < 0.01
