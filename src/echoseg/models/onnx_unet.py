"""The ONNX graph of a trained :class:`~echoseg.models.unet.UNet`, built from its card and weights.

Needs neither torch nor the onnx package: the layers come from the same description the torch
module is built from (:func:`~echoseg.models.unet_spec.unet_spec`), the weights as numpy arrays
(from safetensors). Batch normalisation is folded into the convolution before it
(``w * g / sqrt(v + eps)``, bias ``b - m * g / sqrt(v + eps)``), and the activations
:func:`echoseg.models.registry.infer` applies (sigmoid or softmax over classes, softmax over sites)
are part of the graph, so the outputs are the probabilities the pipeline uses. Bilinear upsampling
is ONNX ``Resize`` (linear, half-pixel), which is torch's ``interpolate(..., align_corners=False)``
at the exact factor the U-Net uses.

Outputs: ``seg`` (N, n_classes, H, W) and, with a site head, ``cls`` (N, n_cls).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import numpy as np

from . import onnx_proto as pb
from .unet_spec import Block, Conv, Head, Norm, UNetSpec, unet_spec

_REDUCE = {"mean": "ReduceMean", "max": "ReduceMax"}


class _Graph:
    """Nodes and initialisers of the graph being built, and the weights they come from."""

    def __init__(self, state: Mapping[str, np.ndarray]) -> None:
        self.state = state
        self.nodes: list[bytes] = []
        self.inits: list[bytes] = []
        self.scales: dict[int, str] = {}

    def init(self, name: str, array: np.ndarray) -> str:
        """Add an initialiser; return its name."""
        self.inits.append(pb.tensor(name, array))
        return name

    def op(self, op: str, inputs: list[str], out: str, **attrs: Any) -> str:
        """Add a node with one output ``out``; return ``out``."""
        self.nodes.append(pb.node(op, inputs, [out], **attrs))
        return out

    def folded(self, x: str, conv: Conv, bn: Norm) -> str:
        """The convolution ``conv`` with the batch norm ``bn`` after it folded in."""
        s = self.state
        g, b = s[f"{bn.name}.weight"].astype(np.float64), s[f"{bn.name}.bias"].astype(np.float64)
        m, v = s[f"{bn.name}.running_mean"].astype(np.float64), s[f"{bn.name}.running_var"].astype(np.float64)
        scale = g / np.sqrt(v + bn.eps)
        w = (s[f"{conv.name}.weight"].astype(np.float64) * scale[:, None, None, None]).astype(np.float32)
        bias = b - m * scale
        if conv.bias:
            bias = bias + s[f"{conv.name}.bias"].astype(np.float64) * scale
        return self._conv(x, conv, w, bias.astype(np.float32))

    def _conv(self, x: str, conv: Conv, w: np.ndarray, b: np.ndarray) -> str:
        pads = {"pads": [conv.padding] * 4} if conv.padding else {}
        return self.op("Conv", [x, self.init(f"{conv.name}.w", w), self.init(f"{conv.name}.b", b)], f"{conv.name}.y",
                       kernel_shape=[conv.kernel] * 2, **pads)

    def block(self, x: str, block: Block) -> str:
        """A block's layers in order, each batch norm folded into the convolution just before it."""
        conv: Conv | None = None
        owner = block.name  # the layer whose output ``x`` is: names the ReLU's output
        for layer in block.layers:
            if conv is not None and not isinstance(layer, Norm):
                raise ValueError(f"{conv.name} is not followed by a batch norm, which ONNX export needs")
            if isinstance(layer, Conv):
                conv = layer
            elif isinstance(layer, Norm):
                if conv is None or layer.kind != "batch":
                    raise ValueError(f"{layer.name}: only batch norms right after a convolution are folded")
                x, owner, conv = self.folded(x, conv, layer), conv.name, None
            else:
                x = self.op("Relu", [x], f"{owner}.r")
        if conv is not None:
            raise ValueError(f"{conv.name} is not followed by a batch norm, which ONNX export needs")
        return x

    def upsample(self, x: str, factor: int, out: str) -> str:
        """Bilinear (half-pixel) upsampling of NCHW ``x`` by ``factor``."""
        if factor not in self.scales:
            name = "up_scales" if not self.scales else f"up_scales{factor}"
            self.scales[factor] = self.init(name, np.array([1, 1, factor, factor], np.float32))
        return self.op("Resize", [x, "", self.scales[factor]], out, mode="linear",
                       coordinate_transformation_mode="half_pixel")

    def conv(self, x: str, conv: Conv) -> str:
        """A plain convolution with bias (no norm)."""
        s = self.state
        return self._conv(x, conv, s[f"{conv.name}.weight"].astype(np.float32), s[f"{conv.name}.bias"].astype(np.float32))

    def head(self, bottleneck: str, head: Head) -> str:
        """Site probabilities: pooled bottleneck, linear layer, softmax."""
        pools = [self.op(_REDUCE[p], [bottleneck], f"pool_{p}", axes=[2, 3], keepdims=0) for p in head.pools]
        pooled = self.op("Concat", pools, "pooled", axis=1)
        w = self.init(f"{head.name}.w", self.state[f"{head.name}.weight"].astype(np.float32))
        b = self.init(f"{head.name}.b", self.state[f"{head.name}.bias"].astype(np.float32))
        site = self.op("Gemm", [pooled, w, b], f"{head.name}.y", transB=1)
        return self.op("Softmax", [site], "cls", axis=1)


def expected_shapes(arch_config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Shape of every tensor of a UNet's state dict (as torch names them) for ``arch_config``."""
    return unet_spec(arch_config).state_shapes()


def _check_state(spec: UNetSpec, state: Mapping[str, np.ndarray]) -> None:
    """Raise ValueError naming missing, misshapen or unexpected tensors."""
    want = spec.state_shapes()
    # num_batches_tracked is training bookkeeping the graph does not use: it may be absent
    missing = sorted(k for k in set(want) - set(state) if not k.endswith("num_batches_tracked"))
    wrong = [f"{k} {state[k].shape} (expected {shape})" for k, shape in want.items()
             if k in state and state[k].shape != shape]
    extra = sorted(set(state) - set(want))
    if missing or wrong or extra:
        raise ValueError(f"the weights do not fit UNet {asdict(spec.config)}: " + "; ".join(
            ([f"missing tensors {missing[:3]}"] if missing else []) + wrong[:3]
            + ([f"unexpected tensors {extra[:3]}"] if extra else [])))


def unet_onnx(arch_config: Mapping[str, Any], state: Mapping[str, np.ndarray]) -> bytes:
    """ONNX model bytes for a batch-norm UNet with ``arch_config`` and weights ``state`` (numpy).

    Raises:
        ValueError: the config is invalid or uses group normalisation (not folded here), or the
            weights lack a tensor, or have one of another shape or name, than ``arch_config`` implies.
    """
    spec = unet_spec(arch_config)
    if spec.config.norm != "batch":
        raise ValueError(f"only batch-norm U-Nets are exported to ONNX, not norm={spec.config.norm!r}; "
                         "use the torch backend")
    state = {k: np.asarray(v) for k, v in state.items()}
    _check_state(spec, state)
    g = _Graph(state)
    x, skips = "x", []
    for k, stage in enumerate(spec.encoder):
        if stage.pool > 1:
            x = g.op("MaxPool", [x], f"pool{k}", kernel_shape=[stage.pool] * 2, strides=[stage.pool] * 2)
        x = g.block(x, stage.block)
        skips.append(x)
    bottleneck = x
    for j, dstage in enumerate(spec.decoder):
        up = g.upsample(x, dstage.up, f"up{j}")
        x = g.block(g.op("Concat", [up, skips[dstage.skip]], f"cat{j}", axis=1), dstage.block)
    logits = g.conv(x, spec.out)
    g.op("Sigmoid" if spec.seg_activation == "sigmoid" else "Softmax", [logits], "seg",
         **({} if spec.seg_activation == "sigmoid" else {"axis": 1}))
    outputs = [pb.value_info("seg", ["N", spec.out.cout, "H", "W"])]
    if spec.head is not None:
        g.head(bottleneck, spec.head)
        outputs.append(pb.value_info("cls", ["N", spec.head.cout]))
    inputs = [pb.value_info("x", ["N", spec.config.in_ch, "H", "W"])]
    return pb.model(pb.graph("echoseg_unet", g.nodes, g.inits, inputs, outputs))
