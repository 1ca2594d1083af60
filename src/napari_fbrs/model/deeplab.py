"""DeepLabV3+ decoder on a dilated ResNet, and the separable-convolution output head.

Module and attribute names reproduce the official checkpoint keys
(``feature_extractor.aspp.concurent.*``, ``feature_extractor.head.block.*``,
``head.layers.*``). The decoder is split into the three stages f-BRS can optimise after:
``c4`` (variant A), the ASPP output concatenated with the projected ``c1`` (variant B) and the
decoder output (variant C).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .resnet import RESNETS, DilatedResNet

SKIP_CHANNELS = 32
ATROUS_RATES = (12, 24, 36)


class SeparableConv2d(nn.Module):
    """Depthwise 3x3 + pointwise 1x1 convolution, then BatchNorm and ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class SepConvHead(nn.Module):
    """Two separable convolutions and a 1x1 classifier: the model's logit head."""

    def __init__(self, num_outputs: int, in_channels: int, mid_channels: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            SeparableConv2d(in_channels, mid_channels),
            SeparableConv2d(mid_channels, mid_channels),
            nn.Conv2d(mid_channels, num_outputs, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class _DecoderBlock(nn.Module):
    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            SeparableConv2d(in_channels, channels),
            SeparableConv2d(channels, channels),
            nn.Conv2d(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class _SkipProjection(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.skip_project = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip_project(x)


class _ImagePooling(nn.Module):
    """ASPP branch that pools the whole map to one vector and broadcasts it back."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.gap = nn.Sequential(
            nn.AdaptiveAvgPool2d((1, 1)),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Bilinear upsampling of a 1x1 map is a broadcast; expand() gives the same numbers.
        return self.gap(x).expand(-1, -1, x.shape[2], x.shape[3])


def _conv_bn_relu(
    in_channels: int, out_channels: int, kernel: int, dilation: int = 1
) -> nn.Sequential:
    padding = dilation if kernel == 3 else 0
    return nn.Sequential(
        nn.Conv2d(
            in_channels, out_channels, kernel, padding=padding, dilation=dilation, bias=False
        ),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1x1, three dilated 3x3 and an image-pooling branch."""

    def __init__(self, in_channels: int, channels: int, dropout: float) -> None:
        super().__init__()
        self.concurent = nn.ModuleList(
            [_conv_bn_relu(in_channels, channels, 1)]
            + [_conv_bn_relu(in_channels, channels, 3, rate) for rate in ATROUS_RATES]
            + [_ImagePooling(in_channels, channels)]
        )
        project: list[nn.Module] = [
            nn.Conv2d(5 * channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
        ]
        if dropout > 0:
            project.append(nn.Dropout(dropout))
        self.project = nn.Sequential(*project)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(x) for branch in self.concurent], dim=1))


class DeepLabV3Plus(nn.Module):
    """ResNet backbone + ASPP + decoder. ``forward`` returns the decoder features."""

    def __init__(self, backbone: str, channels: int, aspp_dropout: float) -> None:
        super().__init__()
        spec = RESNETS[backbone]
        self.ch = channels
        self.aspp_in_channels = spec.c4_channels
        self.backbone = DilatedResNet(spec)
        self.head = _DecoderBlock(channels + SKIP_CHANNELS, channels)
        self.skip_project = _SkipProjection(spec.c1_channels, SKIP_CHANNELS)
        self.aspp = ASPP(spec.c4_channels, channels, aspp_dropout)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Backbone pass: ``(c4, projected c1)``; the inputs of f-BRS variant A."""
        c1, _, _, c4 = self.backbone(x)
        return c4, self.skip_project(c1)

    def fuse(self, c4: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """ASPP on ``c4``, upsampled and concatenated with ``skip``: f-BRS variant B input."""
        x = self.aspp(c4)
        x = F.interpolate(x, size=skip.shape[2:], mode="bilinear", align_corners=True)
        return torch.cat((x, skip), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c4, skip = self.encode(x)
        return self.head(self.fuse(c4, skip))
