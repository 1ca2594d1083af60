"""Dilated ResNet v1b/v1s backbones (output stride 8) used by the f-BRS DeepLab models.

The released DeepLab checkpoints were trained from Gluon ResNets: ResNet-34 "v1b" (7x7 stem)
and ResNet-50/101 "v1s" (three 3x3 convolutions in the stem, 128 channels out). Layers 3 and 4
keep stride 1 and use dilation 2 and 4 instead, so ``c4`` sits at 1/8 of the input size.
Parameter names follow the checkpoint layout (``conv1``, ``bn1``, ``layerN.i.convK`` ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        dilation: int = 1,
        second_dilation: int = 1,
        downsample: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(
            in_channels,
            channels,
            3,
            stride=stride,
            padding=dilation,
            dilation=dilation,
            bias=False,
        )
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(
            channels, channels, 3, padding=second_dilation, dilation=second_dilation, bias=False
        )
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class Bottleneck(nn.Module):
    """1x1 - 3x3 - 1x1 bottleneck with 4x expansion (ResNet-50/101, HRNet stage 1)."""

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        dilation: int = 1,
        second_dilation: int = 1,
        downsample: nn.Module | None = None,
    ) -> None:
        super().__init__()
        del second_dilation  # only the 3x3 convolution is dilated in a bottleneck
        out_channels = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(
            channels, channels, 3, stride=stride, padding=dilation, dilation=dilation, bias=False
        )
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


@dataclass(frozen=True)
class ResNetSpec:
    """Depth-defining numbers of one ResNet variant."""

    block: type[BasicBlock] | type[Bottleneck]
    blocks_per_layer: tuple[int, int, int, int]
    deep_stem: bool

    @property
    def c1_channels(self) -> int:
        return 64 * self.block.expansion

    @property
    def c4_channels(self) -> int:
        return 512 * self.block.expansion


RESNETS: dict[str, ResNetSpec] = {
    "resnet34": ResNetSpec(BasicBlock, (3, 4, 6, 3), deep_stem=False),
    "resnet50": ResNetSpec(Bottleneck, (3, 4, 6, 3), deep_stem=True),
    "resnet101": ResNetSpec(Bottleneck, (3, 4, 23, 3), deep_stem=True),
}


def _deep_stem(width: int = 64) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        nn.Conv2d(width, width, 3, padding=1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        nn.Conv2d(width, 2 * width, 3, padding=1, bias=False),
    )


class DilatedResNet(nn.Module):
    """ResNet trunk without the classifier; ``forward`` returns ``(c1, c2, c3, c4)``."""

    def __init__(self, spec: ResNetSpec) -> None:
        super().__init__()
        self.spec = spec
        stem_channels = 128 if spec.deep_stem else 64
        if spec.deep_stem:
            self.conv1: nn.Module = _deep_stem(64)
        else:
            self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)

        self._in_channels = stem_channels
        n1, n2, n3, n4 = spec.blocks_per_layer
        self.layer1 = self._make_layer(64, n1, stride=1, dilation=1)
        self.layer2 = self._make_layer(128, n2, stride=2, dilation=1)
        self.layer3 = self._make_layer(256, n3, stride=1, dilation=2)
        self.layer4 = self._make_layer(512, n4, stride=1, dilation=4)

    def _make_layer(
        self, channels: int, num_blocks: int, stride: int, dilation: int
    ) -> nn.Sequential:
        block = self.spec.block
        out_channels = channels * block.expansion
        downsample = None
        if stride != 1 or self._in_channels != out_channels:
            downsample = nn.Sequential(
                nn.Conv2d(self._in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        # The first block of a dilated layer uses half the dilation in its first 3x3 conv
        # (dilation 4 -> 2, dilation 2 -> 1), the Gluon "v1b" convention.
        first_dilation = 2 if dilation == 4 else 1
        layers = [
            block(
                self._in_channels,
                channels,
                stride,
                dilation=first_dilation,
                second_dilation=dilation,
                downsample=downsample,
            )
        ]
        self._in_channels = out_channels
        for _ in range(1, num_blocks):
            layers.append(
                block(self._in_channels, channels, dilation=dilation, second_dilation=dilation)
            )
        return nn.Sequential(*layers)

    def forward(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c1 = self.layer1(x)
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        c4 = self.layer4(c3)
        return c1, c2, c3, c4
