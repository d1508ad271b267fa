"""A plain-torch U-Net with an optional image-level classification head.

Encoder: ``depth`` levels of two 3x3 conv-norm-ReLU blocks, widths ``base * 2**level``, max-pool
between levels. Decoder: bilinear upsampling, concatenation with the skip, two conv blocks. The
optional head pools the bottleneck (mean and max) and predicts ``n_cls`` logits; it routes Doppler
images to their site.

The layers (names, channels, kernels, where pooling, upsampling and concatenation happen) come from
:func:`echoseg.models.unet_spec.unet_spec`, from which the ONNX graph is built too.

Example::

    >>> import torch
    >>> net = UNet(in_ch=2, n_classes=1, base=8, depth=3, n_cls=5).eval()
    >>> out = net(torch.zeros(1, 2, 64, 128))
    >>> tuple(out["seg"].shape), tuple(out["cls"].shape)
    ((1, 1, 64, 128), (1, 5))
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from .unet_spec import NORMS, Block, Conv, Layer, Norm, UNetConfig, UNetSpec, unet_spec

__all__ = ["NORMS", "ConvBlock", "UNet"]

_POOL: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "mean": lambda t: t.mean(dim=(2, 3)), "max": lambda t: t.amax(dim=(2, 3))}


def _conv(spec: Conv) -> nn.Conv2d:
    return nn.Conv2d(spec.cin, spec.cout, spec.kernel, padding=spec.padding, bias=spec.bias)


def _layer(spec: Layer) -> nn.Module:
    if isinstance(spec, Conv):
        return _conv(spec)
    if isinstance(spec, Norm):
        if spec.kind == "batch":
            return nn.BatchNorm2d(spec.ch, eps=spec.eps)
        return nn.GroupNorm(spec.groups, spec.ch, eps=spec.eps)
    return nn.ReLU(inplace=True)


class ConvBlock(nn.Sequential):
    """A spec's :class:`~echoseg.models.unet_spec.Block`: its layers in order, each under its key."""

    def __init__(self, spec: Block) -> None:
        super().__init__(OrderedDict((layer.key, _layer(layer)) for layer in spec.layers))


class UNet(nn.Module):
    """U-Net returning segmentation logits, or a dict {"seg", "cls"} when ``n_cls`` > 0.

    Args:
        in_ch: input channels (1 for atria, 2 for Doppler: image + baseline distance).
        n_classes: segmentation output channels (softmax classes, or 1 for a sigmoid mask).
        base: width of the first level; level k has ``base * 2**k`` channels.
        depth: number of poolings (input sides must be divisible by ``2**depth``).
        n_cls: classes of the image-level head (0: no head).
        norm: "batch" or "group".
    """

    def __init__(self, in_ch: int = UNetConfig.in_ch, n_classes: int = UNetConfig.n_classes,
                 base: int = UNetConfig.base, depth: int = UNetConfig.depth, n_cls: int = UNetConfig.n_cls,
                 norm: str = UNetConfig.norm) -> None:
        super().__init__()
        self.spec: UNetSpec = unet_spec(UNetConfig(in_ch, n_classes, base, depth, n_cls, norm))
        self.depth = depth
        self.enc = nn.ModuleList([ConvBlock(stage.block) for stage in self.spec.encoder])
        self.dec = nn.ModuleList([ConvBlock(stage.block) for stage in self.spec.decoder])
        self.out = _conv(self.spec.out)
        head = self.spec.head
        self.head = nn.Linear(head.cin, head.cout) if head is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        """Segmentation logits (N, n_classes, H, W), or {"seg": those, "cls": (N, n_cls) logits}."""
        m = self.spec.multiple
        if x.shape[-1] % m or x.shape[-2] % m:
            raise ValueError(f"input sides must be divisible by {m} (depth {self.depth}), not {tuple(x.shape[-2:])}")
        skips = []
        for stage, block in zip(self.spec.encoder, self.enc):
            x = block(x if stage.pool == 1 else F.max_pool2d(x, stage.pool))
            skips.append(x)
        bottleneck = x
        for dstage, block in zip(self.spec.decoder, self.dec):
            skip = skips[dstage.skip]
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        seg = self.out(x)
        if self.head is None or self.spec.head is None:
            return seg
        pooled = torch.cat([_POOL[p](bottleneck) for p in self.spec.head.pools], dim=1)
        return {"seg": seg, "cls": self.head(pooled)}
