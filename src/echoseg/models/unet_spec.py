"""The U-Net's layers as plain data: the one description that both the torch module
(:class:`~echoseg.models.unet.UNet`) and the ONNX graph (:func:`~echoseg.models.onnx_unet.unet_onnx`)
are built from, so the two cannot drift apart. Pure Python: importing it does not import torch.

Every layer carries its torch state-dict name (``enc.0.0`` is the first convolution of the first
encoder block), so the spec also gives the expected state dict (:meth:`UNetSpec.state_shapes`).

Example::

    >>> spec = unet_spec({"in_ch": 2, "n_classes": 1, "base": 8, "depth": 3, "n_cls": 5})
    >>> [stage.block.cout for stage in spec.encoder], spec.multiple
    ([8, 16, 32, 64], 8)
    >>> spec.state_shapes()["dec.0.0.weight"], spec.head.cin
    ((32, 96, 3, 3), 128)
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from math import prod
from typing import Any

NORMS = ("batch", "group")
NORM_EPS = 1e-5  # torch's default for BatchNorm2d and GroupNorm, which UNet uses
GROUPS = 8  # group norm: min(GROUPS, channels) groups
POOLS = ("mean", "max")  # the site head's pooling of the bottleneck over H and W

Shapes = dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class UNetConfig:
    """The keyword arguments of :class:`~echoseg.models.unet.UNet` (a model card's ``arch_config``),
    with their defaults.

    Raises:
        ValueError: ``depth`` or ``base`` below 1, or an unknown ``norm``.
    """

    in_ch: int = 1
    n_classes: int = 5
    base: int = 16
    depth: int = 4
    n_cls: int = 0
    norm: str = "batch"

    def __post_init__(self) -> None:
        if self.depth < 1 or self.base < 1:
            raise ValueError(f"depth and base must be >= 1, not {self.depth} and {self.base}")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}, not {self.norm!r}")

    @classmethod
    def from_mapping(cls, arch_config: Mapping[str, Any]) -> UNetConfig:
        """The config of an ``arch_config`` mapping (absent keys take the defaults).

        Raises:
            ValueError: a key UNet does not take, or an invalid value (see the class).
        """
        unknown = sorted(set(arch_config) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"UNet takes no argument(s) {', '.join(unknown)}")
        return cls(**arch_config)


@dataclass(frozen=True)
class Conv:
    """A stride-1 2-D convolution with a square ``kernel``, zero-padded to keep the size."""

    name: str
    cin: int
    cout: int
    kernel: int
    bias: bool

    @property
    def key(self) -> str:
        """The name inside its parent module."""
        return self.name.rpartition(".")[2]

    @property
    def padding(self) -> int:
        """Zero padding on each side."""
        return self.kernel // 2

    def shapes(self) -> Shapes:
        """This layer's state-dict tensors in torch's order."""
        out: Shapes = {f"{self.name}.weight": (self.cout, self.cin, self.kernel, self.kernel)}
        if self.bias:
            out[f"{self.name}.bias"] = (self.cout,)
        return out


@dataclass(frozen=True)
class Norm:
    """Batch normalisation (folded into the convolution before it for ONNX) or group normalisation."""

    name: str
    ch: int
    kind: str
    eps: float = NORM_EPS

    @property
    def key(self) -> str:
        """The name inside its parent module."""
        return self.name.rpartition(".")[2]

    @property
    def groups(self) -> int:
        """Number of groups of a group norm."""
        return min(GROUPS, self.ch)

    def shapes(self) -> Shapes:
        """This layer's state-dict tensors in torch's order (parameters, then buffers)."""
        out: Shapes = {f"{self.name}.weight": (self.ch,), f"{self.name}.bias": (self.ch,)}
        if self.kind == "batch":
            out.update({f"{self.name}.running_mean": (self.ch,), f"{self.name}.running_var": (self.ch,),
                        f"{self.name}.num_batches_tracked": ()})
        return out


@dataclass(frozen=True)
class ReLU:
    """A ReLU (no tensors)."""

    name: str

    @property
    def key(self) -> str:
        """The name inside its parent module."""
        return self.name.rpartition(".")[2]

    def shapes(self) -> Shapes:
        """No tensors."""
        return {}


Layer = Conv | Norm | ReLU


@dataclass(frozen=True)
class Block:
    """A sequence of layers (a torch ``nn.Sequential`` named ``name``, each layer under its ``key``)."""

    name: str
    layers: tuple[Layer, ...]

    @property
    def cin(self) -> int:
        """Input channels (of the first convolution)."""
        return next(layer.cin for layer in self.layers if isinstance(layer, Conv))

    @property
    def cout(self) -> int:
        """Output channels (of the last convolution)."""
        return [layer.cout for layer in self.layers if isinstance(layer, Conv)][-1]


@dataclass(frozen=True)
class EncoderStage:
    """Max-pool by ``pool`` (kernel = stride; 1: no pooling), then ``block``; the output is a skip."""

    block: Block
    pool: int


@dataclass(frozen=True)
class DecoderStage:
    """Upsample by ``up`` (bilinear, half-pixel: torch's ``align_corners=False``) to the size of
    encoder stage ``skip``'s output, concatenate [upsampled, skip] on channels, then ``block``."""

    block: Block
    skip: int
    up: int


@dataclass(frozen=True)
class Head:
    """Image-level classifier: the bottleneck (last encoder output) pooled over H and W by each of
    ``pools`` ("mean", "max"), concatenated on channels, then a linear layer ``name``."""

    name: str
    pools: tuple[str, ...]
    cin: int
    cout: int

    def shapes(self) -> Shapes:
        """The linear layer's state-dict tensors in torch's order."""
        return {f"{self.name}.weight": (self.cout, self.cin), f"{self.name}.bias": (self.cout,)}


@dataclass(frozen=True)
class UNetSpec:
    """A U-Net: ``encoder`` stages, ``decoder`` stages, the 1x1 ``out`` convolution (segmentation
    logits, activated by :attr:`seg_activation`) and the optional site ``head`` (softmax)."""

    config: UNetConfig
    encoder: tuple[EncoderStage, ...]
    decoder: tuple[DecoderStage, ...]
    out: Conv
    head: Head | None

    def __post_init__(self) -> None:
        _check_channels(self)

    @property
    def multiple(self) -> int:
        """What input sides must be divisible by (the product of the poolings)."""
        return prod(stage.pool for stage in self.encoder)

    @property
    def seg_activation(self) -> str:
        """The segmentation activation: "sigmoid" for one output channel (a mask), else "softmax"."""
        return "sigmoid" if self.out.cout == 1 else "softmax"

    @property
    def blocks(self) -> tuple[Block, ...]:
        """The encoder's blocks, then the decoder's."""
        return tuple(s.block for s in self.encoder) + tuple(s.block for s in self.decoder)

    def state_shapes(self) -> Shapes:
        """Every tensor of the torch state dict, name to shape, in torch's order."""
        shapes: Shapes = {}
        for block in self.blocks:
            for layer in block.layers:
                shapes.update(layer.shapes())
        shapes.update(self.out.shapes())
        if self.head is not None:
            shapes.update(self.head.shapes())
        return shapes


def _check_channels(spec: UNetSpec) -> None:
    """Raise ValueError where a layer's input channels are not what feeds it."""
    feeds = [(spec.config.in_ch, spec.encoder[0].block)]
    feeds += [(a.block.cout, b.block) for a, b in zip(spec.encoder, spec.encoder[1:])]
    prev = spec.encoder[-1].block.cout
    for stage in spec.decoder:
        feeds.append((prev + spec.encoder[stage.skip].block.cout, stage.block))
        prev = stage.block.cout
    for cin, block in feeds:
        for layer in block.layers:
            got = layer.cin if isinstance(layer, Conv) else layer.ch if isinstance(layer, Norm) else cin
            if got != cin:
                raise ValueError(f"{layer.name} takes {got} channels but is fed {cin}")
            cin = layer.cout if isinstance(layer, Conv) else cin
    if spec.out.cin != prev:
        raise ValueError(f"{spec.out.name} takes {spec.out.cin} channels but is fed {prev}")
    if spec.head is not None and spec.head.cin != len(spec.head.pools) * spec.encoder[-1].block.cout:
        raise ValueError(f"{spec.head.name} takes {spec.head.cin} features, not {len(spec.head.pools)} poolings "
                         f"of {spec.encoder[-1].block.cout} channels")


def conv_block(name: str, cin: int, cout: int, norm: str, n_convs: int = 2) -> Block:
    """``n_convs`` x (3x3 convolution without bias, ``norm``, ReLU) at indices 3i, 3i + 1, 3i + 2."""
    layers: list[Layer] = []
    for i in range(n_convs):
        layers += [Conv(f"{name}.{3 * i}", cin if i == 0 else cout, cout, 3, bias=False),
                   Norm(f"{name}.{3 * i + 1}", cout, norm), ReLU(f"{name}.{3 * i + 2}")]
    return Block(name, tuple(layers))


def unet_spec(arch_config: Mapping[str, Any] | UNetConfig | None = None) -> UNetSpec:
    """The layers of the U-Net of ``arch_config`` (a card's ``arch_config`` or a :class:`UNetConfig`).

    Encoder: ``depth + 1`` blocks ``enc.k`` of width ``base * 2**k``, max-pooled by 2 before all but
    the first. Decoder: blocks ``dec.j`` (j = 0 at the deepest level) after upsampling by 2 and
    concatenating the skip of the same level. Then the 1x1 convolution ``out`` and, with ``n_cls``
    > 0, the linear ``head`` on the mean- and max-pooled bottleneck.

    Raises:
        ValueError: an invalid config (see :class:`UNetConfig`).
    """
    cfg = arch_config if isinstance(arch_config, UNetConfig) else UNetConfig.from_mapping(arch_config or {})
    widths = [cfg.base * 2 ** k for k in range(cfg.depth + 1)]
    encoder = tuple(EncoderStage(conv_block(f"enc.{k}", widths[k - 1] if k else cfg.in_ch, widths[k], cfg.norm),
                                 pool=2 if k else 1) for k in range(cfg.depth + 1))
    decoder = tuple(DecoderStage(conv_block(f"dec.{j}", widths[k + 1] + widths[k], widths[k], cfg.norm), skip=k, up=2)
                    for j, k in enumerate(reversed(range(cfg.depth))))
    head = Head("head", POOLS, len(POOLS) * widths[-1], cfg.n_cls) if cfg.n_cls > 0 else None
    return UNetSpec(cfg, encoder, decoder, Conv("out", widths[0], cfg.n_classes, 1, bias=True), head)
