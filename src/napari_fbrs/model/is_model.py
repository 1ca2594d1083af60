"""The interactive-segmentation network: image + click maps in, object logits out.

The f-BRS families (DeepLab, HRNet) share the input stage: the normalised RGB image and the
two click distance maps are mixed by a small 1x1 network (``rgb_conv``) into a 3-channel tensor
that the backbone takes. The EfficientNet-Lite family (:class:`LiteModel`) keeps the RGB image
as its ImageNet-pretrained stem expects it and adds the click maps, plus the previous
prediction, through their own small convolution after the stem.

Every class names the points where f-BRS inserts its per-channel scale and bias, and splits the
forward pass there (:meth:`features_for_brs` / :meth:`logits_from_features`), so that
predictors never reach into the architecture's internals. The "network input" that
:meth:`mix_maps` returns and :meth:`backbone_logits` takes is whatever the family needs; the
predictor only passes it along (RGB-/DistMap-BRS add their bias before :meth:`mix_maps`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .deeplab import SKIP_CHANNELS, DeepLabV3Plus, SepConvHead
from .dist_maps import ClickMaps, DistMaps
from .efficientnet import STEM_CHANNELS, FPNDecoder, LiteEncoder
from .hrnet import HRNetOCR

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORM_RADIUS = 260.0


@dataclass
class BRSFeatures:
    """Features at an f-BRS insertion point plus whatever the rest of the head also needs."""

    features: torch.Tensor
    skip: torch.Tensor | tuple[torch.Tensor, ...] | None = None


def _click_mixer() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(5, 8, 1),
        nn.LeakyReLU(negative_slope=0.2),
        nn.BatchNorm2d(8),
        nn.Conv2d(8, 3, 1),
    )


class InteractiveModel(nn.Module):
    """Shared input handling; subclasses provide the backbone-specific parts."""

    family: str = ""
    #: Whether the network takes the previous prediction as an input (``prev_mask``).
    uses_prev_mask: bool = False

    def __init__(self, norm_radius: float = NORM_RADIUS) -> None:
        super().__init__()
        self.dist_maps = DistMaps(norm_radius)
        # Not persistent: checkpoints carry only learned tensors.
        self.register_buffer(
            "mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def normalize(self, image: torch.Tensor) -> torch.Tensor:
        """uint8 or 0..255 RGB ``[B, 3, H, W]`` -> ImageNet-normalised float32."""
        return image.to(torch.float32).div(255).sub(self.mean).div(self.std)

    def mix_clicks(
        self, image: torch.Tensor, points: torch.Tensor, prev_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Network input from a normalised image, encoded clicks and the previous prediction."""
        return self.mix_maps(image, self.dist_maps(image, points), prev_mask)

    def mix_maps(
        self, image: torch.Tensor, dmaps: torch.Tensor, prev_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Network input from a normalised image and precomputed (or offset) click maps."""
        raise NotImplementedError

    # -- to be provided by subclasses -------------------------------------------------------
    brs_variants: dict[str, str] = {}

    def backbone_logits(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def brs_channels(self, point: str) -> int:
        raise NotImplementedError

    def features_for_brs(self, x: torch.Tensor, point: str) -> BRSFeatures:
        raise NotImplementedError

    def logits_from_features(
        self, feats: BRSFeatures, features: torch.Tensor, point: str
    ) -> torch.Tensor:
        """Finish the forward pass from (possibly scaled and shifted) ``features``."""
        raise NotImplementedError

    def insertion_point(self, variant: str) -> str:
        """Map an f-BRS variant letter (A, B, C) to this model's insertion point."""
        return self.brs_variants[variant]

    def forward(
        self, image: torch.Tensor, points: torch.Tensor, prev_mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """``image``: normalised ``[B, 3, H, W]``; returns logits at input resolution.

        ``prev_mask`` (``[B, 1, H, W]`` probabilities) is used by models with
        :attr:`uses_prev_mask` (``None`` there means no previous prediction) and must be
        ``None`` for the others.
        """
        x = self.mix_clicks(image, points, prev_mask)
        logits = self.backbone_logits(x)
        return {"instances": _resize(logits, image)}


class RGBMixModel(InteractiveModel):
    """The f-BRS input stage: image and click maps mixed into the backbone's 3 channels."""

    def __init__(self, norm_radius: float = NORM_RADIUS) -> None:
        super().__init__(norm_radius)
        self.rgb_conv = _click_mixer()

    def mix_maps(
        self, image: torch.Tensor, dmaps: torch.Tensor, prev_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if prev_mask is not None:
            raise ValueError(f"{type(self).__name__} takes no previous mask")
        return self.rgb_conv(torch.cat((image, dmaps), dim=1))


def _resize(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=True)


class DeepLabModel(RGBMixModel):
    """ResNet + DeepLabV3+ (``feature_extractor``) with a separable-conv head (``head``)."""

    family = "deeplab"
    brs_variants = {"A": "after_c4", "B": "after_aspp", "C": "after_deeplab"}

    def __init__(
        self, backbone: str, channels: int, aspp_dropout: float, norm_radius: float = NORM_RADIUS
    ) -> None:
        super().__init__(norm_radius)
        self.feature_extractor = DeepLabV3Plus(backbone, channels, aspp_dropout)
        self.head = SepConvHead(1, channels, channels // 2)

    def backbone_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.feature_extractor(x))

    def brs_channels(self, point: str) -> int:
        fe = self.feature_extractor
        return {
            "after_c4": fe.aspp_in_channels,
            "after_aspp": fe.ch + SKIP_CHANNELS,
            "after_deeplab": fe.ch,
        }[point]

    def features_for_brs(self, x: torch.Tensor, point: str) -> BRSFeatures:
        fe = self.feature_extractor
        if point == "after_deeplab":
            return BRSFeatures(fe(x))
        c4, skip = fe.encode(x)
        if point == "after_c4":
            return BRSFeatures(c4, skip)
        return BRSFeatures(fe.fuse(c4, skip))

    def logits_from_features(
        self, feats: BRSFeatures, features: torch.Tensor, point: str
    ) -> torch.Tensor:
        fe = self.feature_extractor
        if point == "after_c4":
            assert feats.skip is not None
            features = fe.head(fe.fuse(features, feats.skip))
        elif point == "after_aspp":
            features = fe.head(features)
        return self.head(features)


class HRNetModel(RGBMixModel):
    """HRNetV2 + OCR (``feature_extractor``); the OCR classifier is the head."""

    family = "hrnet"
    # f-BRS-B has no separate insertion point on HRNet; the original maps it to A.
    brs_variants = {"A": "A", "B": "A", "C": "C"}

    def __init__(
        self, width: int, ocr_width: int, small: bool = False, norm_radius: float = NORM_RADIUS
    ) -> None:
        super().__init__(norm_radius)
        self.feature_extractor = HRNetOCR(width, ocr_width, small)

    def backbone_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_extractor(x)[0]

    def forward_with_aux(
        self, image: torch.Tensor, points: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Main and auxiliary (OCR soft-region) logits, both at input resolution; for training."""
        logits, aux = self.feature_extractor(self.mix_clicks(image, points))
        return {"instances": _resize(logits, image), "instances_aux": _resize(aux, image)}

    def brs_channels(self, point: str) -> int:
        fe = self.feature_extractor
        return {"A": fe.trunk_channels, "C": 2 * fe.ocr_width}[point]

    def features_for_brs(self, x: torch.Tensor, point: str) -> BRSFeatures:
        fe = self.feature_extractor
        feats = fe.trunk(x)
        if point == "C":
            feats = fe.ocr_features(feats)[0]
        return BRSFeatures(feats)

    def logits_from_features(
        self, feats: BRSFeatures, features: torch.Tensor, point: str
    ) -> torch.Tensor:
        fe = self.feature_extractor
        if point == "A":
            features = fe.ocr_features(features)[0]
        return fe.cls_head(features)


class LiteModel(InteractiveModel):
    """EfficientNet-Lite encoder + FPN decoder, with the previous prediction as an input.

    The pretrained stem sees the plain normalised RGB image; the click maps and the previous
    probability map go through ``maps_conv`` (to the stem's resolution and width), scaled by
    ``maps_scale`` (small at initialisation, so training starts from undisturbed ImageNet
    features) and added to the stem output. The network input that :meth:`mix_maps` builds is
    simply the channels stacked: RGB, two distance maps, with ``disk_radius`` > 0 two click
    disks of that radius (release 3: a late click near earlier ones must still be heard), and
    the previous mask.
    """

    family = "efficientnet"
    uses_prev_mask = True
    brs_variants = {"A": "after_encoder", "B": "after_fusion", "C": "after_decoder"}

    def __init__(
        self,
        variant: str = "lite0",
        width: int = 64,
        output_stride: int = 32,
        norm_radius: float = NORM_RADIUS,
        disk_radius: float = 0.0,
    ) -> None:
        super().__init__(norm_radius)
        self.disk_radius = float(disk_radius)
        maps = 3
        if disk_radius > 0:
            self.dist_maps = ClickMaps(norm_radius, disk_radius)
            maps = 5
        self.backbone = LiteEncoder(variant, output_stride)
        self.maps_conv = nn.Sequential(
            nn.Conv2d(maps, 16, 1),
            nn.LeakyReLU(negative_slope=0.2),
            nn.Conv2d(16, STEM_CHANNELS, 3, stride=2, padding=1),
        )
        self.maps_scale = nn.Parameter(torch.tensor(0.05))
        self.decoder = FPNDecoder(self.backbone.channels, width)
        self.classifier = nn.Conv2d(width, 1, 1)

    def mix_maps(
        self, image: torch.Tensor, dmaps: torch.Tensor, prev_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if prev_mask is None:
            prev_mask = image.new_zeros((image.shape[0], 1, *image.shape[2:]))
        return torch.cat((image, dmaps, prev_mask.to(image.dtype)), dim=1)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encoder features at strides 4, 8, 16, 32 from the stacked network input."""
        stem = self.backbone.stem(x[:, :3])
        stem = stem + self.maps_scale * self.maps_conv(x[:, 3:])
        return self.backbone.stages(stem)

    def backbone_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.decoder.refine(self.decoder.fuse(self.encode(x))))

    def brs_channels(self, point: str) -> int:
        if point == "after_encoder":
            return self.backbone.channels[3]
        if point in ("after_fusion", "after_decoder"):
            return self.decoder.width
        raise KeyError(point)

    def features_for_brs(self, x: torch.Tensor, point: str) -> BRSFeatures:
        taps = self.encode(x)
        if point == "after_encoder":
            return BRSFeatures(taps[3], tuple(taps[:3]))
        fused = self.decoder.fuse(taps)
        if point == "after_fusion":
            return BRSFeatures(fused)
        return BRSFeatures(self.decoder.refine(fused))

    def logits_from_features(
        self, feats: BRSFeatures, features: torch.Tensor, point: str
    ) -> torch.Tensor:
        if point == "after_encoder":
            assert isinstance(feats.skip, tuple)
            features = self.decoder.fuse([*feats.skip, features])
        if point in ("after_encoder", "after_fusion"):
            features = self.decoder.refine(features)
        return self.classifier(features)
