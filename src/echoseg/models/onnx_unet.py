"""The ONNX graph of a trained :class:`~echoseg.models.unet.UNet`, built from its card and weights.

Needs neither torch nor the onnx package: the weights come as numpy arrays (from safetensors), batch
normalisation is folded into the convolution before it (``w * g / sqrt(v + eps)``, bias
``b - m * g / sqrt(v + eps)``), and the activations :func:`echoseg.models.registry.infer` applies
(sigmoid or softmax over classes, softmax over sites) are part of the graph, so the outputs are the
probabilities the pipeline uses. Bilinear upsampling is ONNX ``Resize`` (linear, half-pixel),
which is torch's ``interpolate(..., align_corners=False)`` at the exact factor 2 the U-Net uses.

Outputs: ``seg`` (N, n_classes, H, W) and, with a site head, ``cls`` (N, n_cls).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import onnx_proto as pb

BN_EPS = 1e-5  # torch.nn.BatchNorm2d's default, which UNet uses


class _Graph:
    def __init__(self, state: Mapping[str, np.ndarray]) -> None:
        self.state = state
        self.nodes: list[bytes] = []
        self.inits: list[bytes] = []

    def init(self, name: str, array: np.ndarray) -> str:
        self.inits.append(pb.tensor(name, array))
        return name

    def op(self, op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        self.nodes.append(pb.node(op, inputs, [out], **attrs))
        return out

    def folded(self, x: str, conv: str, bn: str) -> str:
        s = self.state
        g, b = s[f"{bn}.weight"].astype(np.float64), s[f"{bn}.bias"].astype(np.float64)
        m, v = s[f"{bn}.running_mean"].astype(np.float64), s[f"{bn}.running_var"].astype(np.float64)
        scale = g / np.sqrt(v + BN_EPS)
        w = (s[f"{conv}.weight"].astype(np.float64) * scale[:, None, None, None]).astype(np.float32)
        bias = (b - m * scale).astype(np.float32)
        y = self.op("Conv", [x, self.init(f"{conv}.w", w), self.init(f"{conv}.b", bias)], f"{conv}.y",
                    kernel_shape=list(w.shape[2:]), pads=[w.shape[2] // 2, w.shape[3] // 2] * 2)
        return self.op("Relu", [y], f"{conv}.r")

    def block(self, x: str, prefix: str) -> str:
        """ConvBlock: (conv, bn, relu) x 2 at Sequential indices 0-2 and 3-5."""
        return self.folded(self.folded(x, f"{prefix}.0", f"{prefix}.1"), f"{prefix}.3", f"{prefix}.4")


def expected_shapes(arch_config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Shape of every tensor of a batch-norm UNet's state dict (as torch names them) for ``arch_config``."""
    base, depth = int(arch_config.get("base", 16)), int(arch_config.get("depth", 4))
    in_ch, n_classes = int(arch_config.get("in_ch", 1)), int(arch_config.get("n_classes", 5))
    n_cls = int(arch_config.get("n_cls", 0))
    w = [base * 2 ** k for k in range(depth + 1)]
    shapes: dict[str, tuple[int, ...]] = {}

    def block(prefix: str, cin: int, cout: int) -> None:
        for conv, bn, c in ((0, 1, cin), (3, 4, cout)):
            shapes[f"{prefix}.{conv}.weight"] = (cout, c, 3, 3)
            for t in ("weight", "bias", "running_mean", "running_var"):
                shapes[f"{prefix}.{bn}.{t}"] = (cout,)
            shapes[f"{prefix}.{bn}.num_batches_tracked"] = ()

    for k in range(depth + 1):
        block(f"enc.{k}", in_ch if k == 0 else w[k - 1], w[k])
    for j, k in enumerate(reversed(range(depth))):
        block(f"dec.{j}", w[k + 1] + w[k], w[k])
    shapes["out.weight"], shapes["out.bias"] = (n_classes, w[0], 1, 1), (n_classes,)
    if n_cls:
        shapes["head.weight"], shapes["head.bias"] = (n_cls, 2 * w[-1]), (n_cls,)
    return shapes


def unet_onnx(arch_config: Mapping[str, Any], state: Mapping[str, np.ndarray]) -> bytes:
    """ONNX model bytes for a batch-norm UNet with ``arch_config`` and weights ``state`` (numpy).

    Raises:
        ValueError: the config uses group normalisation (not folded here), or the weights lack a
            tensor, or have one of another shape or name, than ``arch_config`` implies.
    """
    norm = arch_config.get("norm", "batch")
    if norm != "batch":
        raise ValueError(f"only batch-norm U-Nets are exported to ONNX, not norm={norm!r}; use the torch backend")
    depth = int(arch_config.get("depth", 4))
    n_classes = int(arch_config.get("n_classes", 5))
    n_cls = int(arch_config.get("n_cls", 0))
    in_ch = int(arch_config.get("in_ch", 1))
    state = {k: np.asarray(v) for k, v in state.items()}
    want = expected_shapes(arch_config)
    # num_batches_tracked is training bookkeeping the graph does not use: it may be absent
    missing = sorted(k for k in set(want) - set(state) if not k.endswith("num_batches_tracked"))
    wrong = [f"{k} {state[k].shape} (expected {shape})" for k, shape in want.items()
             if k in state and state[k].shape != shape]
    extra = sorted(set(state) - set(want))
    if missing or wrong or extra:
        raise ValueError(f"the weights do not fit UNet {dict(arch_config)}: " + "; ".join(
            ([f"missing tensors {missing[:3]}"] if missing else []) + wrong[:3]
            + ([f"unexpected tensors {extra[:3]}"] if extra else [])))
    g = _Graph(state)
    x, skips = "x", []
    for k in range(depth + 1):
        if k:
            x = g.op("MaxPool", [x], f"pool{k}", kernel_shape=[2, 2], strides=[2, 2])
        x = g.block(x, f"enc.{k}")
        skips.append(x)
    bottleneck = x
    scales = g.init("up_scales", np.array([1, 1, 2, 2], np.float32))
    for j, skip in enumerate(reversed(skips[:-1])):
        up = g.op("Resize", [x, "", scales], f"up{j}", mode="linear",
                  coordinate_transformation_mode="half_pixel")
        x = g.block(g.op("Concat", [up, skip], f"cat{j}", axis=1), f"dec.{j}")
    logits = g.op("Conv", [x, g.init("out.w", state["out.weight"].astype(np.float32)),
                           g.init("out.b", state["out.bias"].astype(np.float32))], "out.y", kernel_shape=[1, 1])
    g.op("Sigmoid" if n_classes == 1 else "Softmax", [logits], "seg", **({} if n_classes == 1 else {"axis": 1}))
    outputs = [pb.value_info("seg", ["N", n_classes, "H", "W"])]
    if n_cls:
        mean = g.op("ReduceMean", [bottleneck], "pool_mean", axes=[2, 3], keepdims=0)
        peak = g.op("ReduceMax", [bottleneck], "pool_max", axes=[2, 3], keepdims=0)
        pooled = g.op("Concat", [mean, peak], "pooled", axis=1)
        site = g.op("Gemm", [pooled, g.init("head.w", state["head.weight"].astype(np.float32)),
                             g.init("head.b", state["head.bias"].astype(np.float32))], "head.y", transB=1)
        g.op("Softmax", [site], "cls", axis=1)
        outputs.append(pb.value_info("cls", ["N", n_cls]))
    inputs = [pb.value_info("x", ["N", in_ch, "H", "W"])]
    return pb.model(pb.graph("echoseg_unet", g.nodes, g.inits, inputs, outputs))
