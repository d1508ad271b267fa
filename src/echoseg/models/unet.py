"""A plain-torch U-Net with an optional image-level classification head.

Encoder: ``depth`` levels of two 3x3 conv-norm-ReLU blocks, widths ``base * 2**level``, max-pool
between levels. Decoder: bilinear upsampling, concatenation with the skip, two conv blocks. The
optional head pools the bottleneck (mean and max) and predicts ``n_cls`` logits; it routes Doppler
images to their site.

Example::

    >>> import torch
    >>> net = UNet(in_ch=2, n_classes=1, base=8, depth=3, n_cls=5).eval()
    >>> out = net(torch.zeros(1, 2, 64, 128))
    >>> tuple(out["seg"].shape), tuple(out["cls"].shape)
    ((1, 1, 64, 128), (1, 5))
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

NORMS = ("batch", "group")


def _norm(kind: str, ch: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "group":
        return nn.GroupNorm(min(8, ch), ch)
    raise ValueError(f"norm must be one of {', '.join(NORMS)}, not {kind!r}")


class ConvBlock(nn.Sequential):
    """Two 3x3 convolutions, each followed by normalisation and ReLU."""

    def __init__(self, cin: int, cout: int, norm: str) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), _norm(norm, cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), _norm(norm, cout), nn.ReLU(inplace=True),
        )


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

    def __init__(self, in_ch: int = 1, n_classes: int = 5, base: int = 16, depth: int = 4, n_cls: int = 0,
                 norm: str = "batch") -> None:
        super().__init__()
        if depth < 1 or base < 1:
            raise ValueError(f"depth and base must be >= 1, not {depth} and {base}")
        widths = [base * 2 ** k for k in range(depth + 1)]
        self.depth = depth
        self.enc = nn.ModuleList([ConvBlock(in_ch, widths[0], norm)] +
                                 [ConvBlock(widths[k - 1], widths[k], norm) for k in range(1, depth + 1)])
        self.dec = nn.ModuleList([ConvBlock(widths[k + 1] + widths[k], widths[k], norm)
                                  for k in reversed(range(depth))])
        self.out = nn.Conv2d(widths[0], n_classes, 1)
        self.head = nn.Linear(2 * widths[-1], n_cls) if n_cls > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        m = 2 ** self.depth
        if x.shape[-1] % m or x.shape[-2] % m:
            raise ValueError(f"input sides must be divisible by {m} (depth {self.depth}), not {tuple(x.shape[-2:])}")
        skips = []
        for k, block in enumerate(self.enc):
            x = block(x if k == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        bottleneck = x
        for block, skip in zip(self.dec, reversed(skips[:-1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        seg = self.out(x)
        if self.head is None:
            return seg
        pooled = torch.cat([bottleneck.mean(dim=(2, 3)), bottleneck.amax(dim=(2, 3))], dim=1)
        return {"seg": seg, "cls": self.head(pooled)}
