"""One table of architectures, and architecture detection from a state_dict.

Each entry says how to build the network; its key signature (every state_dict key with its
shape) is derived from the built module on the ``meta`` device, so the table cannot drift from
the code. :func:`detect_arch` compares a checkpoint's keys and shapes with every signature and
accepts exactly one full match; ``num_batches_tracked`` counters are ignored because the
MXNet-converted ResNet checkpoints were released without them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

import torch

from .is_model import DeepLabModel, HRNetModel, InteractiveModel, LiteModel

IGNORED_SUFFIX = "num_batches_tracked"


@dataclass(frozen=True)
class ArchSpec:
    """How to build one released architecture."""

    name: str
    family: str
    description: str
    build: Callable[[], InteractiveModel]


ARCHITECTURES: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in (
        ArchSpec(
            "resnet34_dh128",
            "deeplab",
            "ResNet-34 v1b + DeepLabV3+ (128 ch)",
            lambda: DeepLabModel("resnet34", 128, aspp_dropout=0.2),
        ),
        ArchSpec(
            "resnet50_dh128",
            "deeplab",
            "ResNet-50 v1s + DeepLabV3+ (128 ch)",
            lambda: DeepLabModel("resnet50", 128, aspp_dropout=0.2),
        ),
        ArchSpec(
            "resnet101_dh256",
            "deeplab",
            "ResNet-101 v1s + DeepLabV3+ (256 ch)",
            lambda: DeepLabModel("resnet101", 256, aspp_dropout=0.5),
        ),
        ArchSpec("hrnet18_ocr64", "hrnet", "HRNetV2-W18 + OCR (64)", lambda: HRNetModel(18, 64)),
        ArchSpec(
            "hrnet32_ocr128", "hrnet", "HRNetV2-W32 + OCR (128)", lambda: HRNetModel(32, 128)
        ),
        ArchSpec(
            "hrnet18s_ocr64",
            "hrnet",
            "HRNetV2-W18-small + OCR (64); supported, never released",
            lambda: HRNetModel(18, 64, small=True),
        ),
        ArchSpec(
            "efficientnet_lite0_fpn96",
            "efficientnet",
            "EfficientNet-Lite0 + FPN (96), previous mask as input; CPU-fast, the built-in model",
            lambda: LiteModel("lite0", 96),
        ),
        ArchSpec(
            "efficientnet_lite0_fpn96_disk",
            "efficientnet",
            "EfficientNet-Lite0 + FPN (96), click disks (radius 5) beside the distance maps, "
            "previous mask as input",
            lambda: LiteModel("lite0", 96, disk_radius=5.0),
        ),
    )
}


class UnknownArchitectureError(ValueError):
    """The state_dict matches no registered architecture."""


def build_model(arch: str) -> InteractiveModel:
    """A freshly initialised model of ``arch`` in eval mode."""
    try:
        spec = ARCHITECTURES[arch]
    except KeyError:
        raise UnknownArchitectureError(
            f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}"
        ) from None
    return spec.build().eval()


@cache
def key_signature(arch: str) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` of ``arch``'s state_dict, without ``num_batches_tracked`` keys."""
    with torch.device("meta"):
        model = ARCHITECTURES[arch].build()
    return {
        k: tuple(v.shape) for k, v in model.state_dict().items() if not k.endswith(IGNORED_SUFFIX)
    }


@dataclass(frozen=True)
class SignatureDiff:
    """How a state_dict differs from one architecture's signature."""

    arch: str
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    wrong_shape: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]

    @property
    def matches(self) -> bool:
        return not (self.missing or self.unexpected or self.wrong_shape)

    @property
    def size(self) -> int:
        return len(self.missing) + len(self.unexpected) + len(self.wrong_shape)

    def describe(self, limit: int = 8) -> str:
        parts = []
        for label, items in (
            ("missing keys", self.missing),
            ("unexpected keys", self.unexpected),
            ("wrong shapes", [f"{k} {got} (expected {exp})" for k, got, exp in self.wrong_shape]),
        ):
            if items:
                shown = ", ".join(list(items)[:limit])
                more = f" and {len(items) - limit} more" if len(items) > limit else ""
                parts.append(f"{len(items)} {label}: {shown}{more}")
        return "; ".join(parts) if parts else "exact match"


def compare_signature(state_dict: Mapping[str, object], arch: str) -> SignatureDiff:
    expected = key_signature(arch)
    given = {k: v for k, v in state_dict.items() if not k.endswith(IGNORED_SUFFIX)}
    missing = tuple(k for k in expected if k not in given)
    unexpected = tuple(k for k in given if k not in expected)
    wrong = tuple(
        (k, tuple(getattr(given[k], "shape", ())), expected[k])
        for k in expected
        if k in given and tuple(getattr(given[k], "shape", ())) != expected[k]
    )
    return SignatureDiff(arch, missing, unexpected, wrong)


def detect_arch(state_dict: Mapping[str, object]) -> str:
    """Name of the one architecture whose keys and shapes ``state_dict`` matches exactly."""
    diffs = [compare_signature(state_dict, arch) for arch in ARCHITECTURES]
    for diff in diffs:
        if diff.matches:
            return diff.arch
    closest = min(diffs, key=lambda d: d.size)
    raise UnknownArchitectureError(
        f"the weights match none of the f-BRS architectures ({', '.join(ARCHITECTURES)}); "
        f"closest is {closest.arch}: {closest.describe()}"
    )
