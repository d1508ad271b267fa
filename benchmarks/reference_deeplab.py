"""The reference system's segmentation network, in plain torch, for speed comparisons only.

DeepLabV3 on a ResNet-50 backbone with output stride 8: the last two stages keep their
resolution and dilate their 3x3 convolutions instead (stage 3: dilation 1 in its first block,
2 after; stage 4: 2 in its first block, 4 after), the stride sits on the 3x3 convolution of a
bottleneck (ResNet v1.5), and the head is ASPP (1x1, three 3x3 atrous branches at rates 12/24/36
and image pooling, 256 channels each) -> 1x1 projection -> 3x3 conv -> 1x1 classifier, upsampled
bilinearly to the input size. One output class, no auxiliary head: about 39.6 M parameters.
Weights are random; nothing is downloaded.

Example::

    >>> import torch
    >>> net = deeplabv3_resnet50(n_classes=1).eval()
    >>> round(sum(p.numel() for p in net.parameters()) / 1e6, 1)
    39.6
    >>> tuple(net(torch.zeros(1, 3, 64, 96)).shape)
    (1, 1, 64, 96)
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

STAGES = ((64, 3), (128, 4), (256, 6), (512, 3))  # (bottleneck width, blocks) of ResNet-50
EXPANSION = 4
ASPP_RATES = (12, 24, 36)
ASPP_CH = 256


def _conv_bn_relu(cin: int, cout: int, k: int, dilation: int = 1) -> nn.Sequential:
    pad = dilation * (k // 2)
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=pad, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (stride, dilation) -> 1x1 expand, plus a (projected) shortcut."""

    def __init__(self, cin: int, width: int, stride: int, dilation: int) -> None:
        super().__init__()
        cout = width * EXPANSION
        self.reduce = nn.Sequential(nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.spatial = nn.Sequential(nn.Conv2d(width, width, 3, stride=stride, padding=dilation, dilation=dilation,
                                               bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        self.expand = nn.Sequential(nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
                         if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.expand(self.spatial(self.reduce(x))) + self.shortcut(x), inplace=True)


class Backbone(nn.Module):
    """ResNet-50 trunk with output stride 8 (stages 3 and 4 dilated instead of strided)."""

    def __init__(self, in_ch: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_ch, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1))
        stages, cin, dilation = [], 64, 1
        for k, (width, n_blocks) in enumerate(STAGES):
            dilate = k >= 2  # stages 3 and 4 trade their stride 2 for dilation
            first_dilation = dilation
            stride = 1 if k == 0 or dilate else 2
            if dilate:
                dilation *= 2
            blocks = [Bottleneck(cin, width, stride, first_dilation)]
            cin = width * EXPANSION
            blocks += [Bottleneck(cin, width, 1, dilation) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.out_ch = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: parallel 1x1, atrous 3x3 and image-pooling branches, projected."""

    def __init__(self, cin: int, rates: tuple[int, ...] = ASPP_RATES, ch: int = ASPP_CH) -> None:
        super().__init__()
        self.branches = nn.ModuleList([_conv_bn_relu(cin, ch, 1)] + [_conv_bn_relu(cin, ch, 3, r) for r in rates])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, ch, 1, bias=False), nn.BatchNorm2d(ch),
                                  nn.ReLU(inplace=True))
        self.project = nn.Sequential(_conv_bn_relu(ch * (len(rates) + 2), ch, 1), nn.Dropout(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [b(x) for b in self.branches]
        feats.append(F.interpolate(self.pool(x), size=x.shape[-2:], mode="bilinear", align_corners=False))
        return self.project(torch.cat(feats, dim=1))


class DeepLabV3(nn.Module):
    """Backbone -> ASPP -> 3x3 conv -> 1x1 classifier -> bilinear upsampling to the input size."""

    def __init__(self, in_ch: int = 3, n_classes: int = 1) -> None:
        super().__init__()
        self.backbone = Backbone(in_ch)
        self.head = nn.Sequential(ASPP(self.backbone.out_ch), _conv_bn_relu(ASPP_CH, ASPP_CH, 3),
                                  nn.Conv2d(ASPP_CH, n_classes, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.head(self.backbone(x))
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)


def deeplabv3_resnet50(n_classes: int = 1, in_ch: int = 3, seed: int = 0) -> DeepLabV3:
    """A randomly initialised DeepLabV3-ResNet50 (output stride 8), seeded for repeatability."""
    torch.manual_seed(seed)
    return DeepLabV3(in_ch=in_ch, n_classes=n_classes)
