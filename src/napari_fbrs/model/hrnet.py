"""HRNetV2 trunk with an object-contextual-representation (OCR) head.

The trunk keeps four resolutions in parallel (1/4 .. 1/32) and repeatedly exchanges information
between them; its four outputs are upsampled to 1/4 and concatenated. The OCR head turns a
coarse auxiliary prediction into an object descriptor and re-weights every pixel with it.
Attribute names and nesting reproduce the official checkpoint keys
(``feature_extractor.stage3.2.fuse_layers.2.0.1.0.weight`` and so on). ``small=True`` gives
the lighter variant (2 blocks per branch, fewer modules) that the original code supports.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .resnet import BasicBlock, Bottleneck


def _upsample_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=True)


def _conv_bn(
    in_ch: int, out_ch: int, kernel: int, stride: int = 1, relu: bool = True
) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_ch),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class MultiResolutionModule(nn.Module):
    """Residual blocks on every branch followed by an all-to-all fusion of the branches."""

    def __init__(self, channels: list[int], blocks_per_branch: int) -> None:
        super().__init__()
        n = len(channels)
        self.num_branches = n
        self.branches = nn.ModuleList(
            nn.Sequential(*[BasicBlock(c, c) for _ in range(blocks_per_branch)]) for c in channels
        )
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(self._fusion_path(channels, src, dst) for src in range(n))
            for dst in range(n)
        )
        self.relu = nn.ReLU(inplace=True)

    @staticmethod
    def _fusion_path(channels: list[int], src: int, dst: int) -> nn.Module | None:
        if src == dst:
            return None
        if src > dst:  # lower resolution: 1x1 projection, upsampled in forward()
            return _conv_bn(channels[src], channels[dst], 1, relu=False)
        # higher resolution: a chain of stride-2 3x3 convolutions, ReLU between them
        steps = dst - src
        chain = [_conv_bn(channels[src], channels[src], 3, stride=2) for _ in range(steps - 1)]
        chain.append(_conv_bn(channels[src], channels[dst], 3, stride=2, relu=False))
        return nn.Sequential(*chain)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        fused = []
        for dst, paths in enumerate(self.fuse_layers):
            y = xs[0] if dst == 0 else paths[0](xs[0])
            for src in range(1, self.num_branches):
                if src == dst:
                    y = y + xs[src]
                elif src > dst:
                    y = y + _upsample_to(paths[src](xs[src]), xs[dst])
                else:
                    y = y + paths[src](xs[src])
            fused.append(self.relu(y))
        return fused


def _transition(pre: list[int], cur: list[int]) -> nn.ModuleList:
    """Adapt the previous stage's branches and spawn one new, twice-downsampled branch."""
    layers: list[nn.Module | None] = []
    for i, ch in enumerate(cur):
        if i < len(pre):
            layers.append(None if pre[i] == ch else _conv_bn(pre[i], ch, 3))
        else:
            layers.append(nn.Sequential(_conv_bn(pre[-1], ch, 3, stride=2)))
    return nn.ModuleList(layers)


class SpatialGather(nn.Module):
    """Soft object regions: per-class spatial softmax of the auxiliary logits times features."""

    def forward(self, feats: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        b, k = probs.shape[:2]
        probs = F.softmax(probs.reshape(b, k, -1), dim=2)
        feats = feats.reshape(b, feats.shape[1], -1).permute(0, 2, 1)
        return torch.matmul(probs, feats).permute(0, 2, 1).unsqueeze(3)


def _conv_bnrelu(in_ch: int, out_ch: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_ch, out_ch, 1, bias=False),
        nn.Sequential(nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)),
    ]


class ObjectAttention(nn.Module):
    """Attention of every pixel (query) over the object descriptors (keys/values)."""

    def __init__(self, in_channels: int, key_channels: int) -> None:
        super().__init__()
        self.key_channels = key_channels
        self.f_pixel = nn.Sequential(
            *_conv_bnrelu(in_channels, key_channels), *_conv_bnrelu(key_channels, key_channels)
        )
        self.f_object = nn.Sequential(
            *_conv_bnrelu(in_channels, key_channels), *_conv_bnrelu(key_channels, key_channels)
        )
        self.f_down = nn.Sequential(*_conv_bnrelu(in_channels, key_channels))
        self.f_up = nn.Sequential(*_conv_bnrelu(key_channels, in_channels))

    def forward(self, x: torch.Tensor, proxy: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        query = self.f_pixel(x).reshape(b, self.key_channels, -1).permute(0, 2, 1)
        key = self.f_object(proxy).reshape(b, self.key_channels, -1)
        value = self.f_down(proxy).reshape(b, self.key_channels, -1).permute(0, 2, 1)
        sim = (self.key_channels**-0.5) * torch.matmul(query, key)
        sim = F.softmax(sim, dim=-1)
        context = torch.matmul(sim, value).permute(0, 2, 1).contiguous()
        return self.f_up(context.reshape(b, self.key_channels, h, w))


class SpatialOCR(nn.Module):
    """Concatenate the object context with the pixel features and project them back."""

    def __init__(
        self, in_channels: int, key_channels: int, out_channels: int, dropout: float
    ) -> None:
        super().__init__()
        self.object_context_block = ObjectAttention(in_channels, key_channels)
        self.conv_bn_dropout = nn.Sequential(
            nn.Conv2d(2 * in_channels, out_channels, 1, bias=False),
            nn.Sequential(nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)),
            nn.Dropout2d(dropout),
        )

    def forward(self, feats: torch.Tensor, proxy: torch.Tensor) -> torch.Tensor:
        context = self.object_context_block(feats, proxy)
        return self.conv_bn_dropout(torch.cat([context, feats], 1))


class HRNetOCR(nn.Module):
    """HRNetV2-W``width`` + OCR(``ocr_width``). ``forward`` returns ``(logits, aux_logits)``."""

    def __init__(
        self, width: int, ocr_width: int, small: bool = False, num_classes: int = 1
    ) -> None:
        super().__init__()
        self.width = width
        self.ocr_width = ocr_width
        blocks = 2 if small else 4

        self.conv1 = nn.Conv2d(3, 64, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 64, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        stem_out = 64 * Bottleneck.expansion
        self.layer1 = nn.Sequential(
            Bottleneck(64, 64, downsample=_conv_bn(64, stem_out, 1, relu=False)),
            *[Bottleneck(stem_out, 64) for _ in range(blocks - 1)],
        )

        ch2, ch3, ch4 = ([width * 2**i for i in range(n)] for n in (2, 3, 4))
        self.transition1 = _transition([stem_out], ch2)
        self.stage2 = nn.Sequential(MultiResolutionModule(ch2, blocks))
        self.transition2 = _transition(ch2, ch3)
        self.stage3 = nn.Sequential(
            *[MultiResolutionModule(ch3, blocks) for _ in range(3 if small else 4)]
        )
        self.transition3 = _transition(ch3, ch4)
        self.stage4 = nn.Sequential(
            *[MultiResolutionModule(ch4, blocks) for _ in range(2 if small else 3)]
        )

        trunk_channels = sum(ch4)
        mid = 2 * ocr_width
        self.trunk_channels = trunk_channels
        self.conv3x3_ocr = nn.Sequential(
            nn.Conv2d(trunk_channels, mid, 3, padding=1),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
        )
        self.ocr_gather_head = SpatialGather()
        self.ocr_distri_head = SpatialOCR(mid, ocr_width, mid, dropout=0.05)
        self.cls_head = nn.Conv2d(mid, num_classes, 1)
        self.aux_head = nn.Sequential(
            nn.Conv2d(trunk_channels, trunk_channels, 1),
            nn.BatchNorm2d(trunk_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(trunk_channels, num_classes, 1),
        )

    @staticmethod
    def _apply_transition(transition: nn.ModuleList, ys: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for i, layer in enumerate(transition):
            src = ys[i] if i < len(ys) else ys[-1]
            out.append(src if layer is None else layer(src))
        return out

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Multi-resolution features at 1/4 scale: the input of f-BRS variant A."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.layer1(x)
        ys = self.stage2(self._apply_transition(self.transition1, [x]))
        ys = self.stage3(self._apply_transition(self.transition2, ys))
        ys = self.stage4(self._apply_transition(self.transition3, ys))
        return torch.cat([ys[0]] + [_upsample_to(y, ys[0]) for y in ys[1:]], 1)

    def ocr_features(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """OCR-refined features (the input of f-BRS variant C) and the auxiliary logits."""
        aux = self.aux_head(feats)
        feats = self.conv3x3_ocr(feats)
        context = self.ocr_gather_head(feats, aux)
        return self.ocr_distri_head(feats, context), aux

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats, aux = self.ocr_features(self.trunk(x))
        return self.cls_head(feats), aux
