"""Starting weights and parameter groups for training.

Three ways to start, applied in this order: a fresh Xavier initialisation (what the upstream
recipes used: Gaussian, magnitude 2, averaged fan), optional ImageNet weights for the backbone
only, and optionally a whole interactive-segmentation checkpoint (official or ours, loaded
strictly) for fine-tuning. The backbone is told apart from the interactive head by parameter
name, as upstream did, so that it can get a smaller learning rate or be frozen.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from napari_fbrs.model.checkpoint import CheckpointError, load_into, read_checkpoint
from napari_fbrs.model.is_model import InteractiveModel
from napari_fbrs.model.pretrained import is_packaged_name, packaged_weights_path
from napari_fbrs.model.registry import build_model

from .config import TrainConfig

#: HRNet modules that belong to the interactive / OCR head, not to the ImageNet backbone.
HRNET_HEAD_PARTS = ("aux_head", "cls_head", "conv3x3_ocr", "ocr_distri_head", "ocr_gather_head")
_NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.SyncBatchNorm)


def is_backbone(model: InteractiveModel, name: str) -> bool:
    """Whether parameter / module ``name`` is part of the ImageNet-style backbone."""
    if model.family == "deeplab":
        return name.startswith("feature_extractor.backbone.")
    if model.family == "efficientnet":
        return name.startswith("backbone.")
    if model.family == "hrnet":
        if not name.startswith("feature_extractor."):
            return False
        return not any(f".{part}" in name for part in HRNET_HEAD_PARTS)
    raise ValueError(f"unknown model family {model.family!r}")


def backbone_module(model: InteractiveModel) -> nn.Module:
    """The module whose state_dict an ImageNet backbone checkpoint is matched against."""
    if model.family == "deeplab":
        return model.feature_extractor.backbone  # type: ignore[return-value]
    if model.family == "efficientnet":
        return model.backbone  # type: ignore[return-value]
    return model.feature_extractor  # type: ignore[return-value]


def xavier_init(model: nn.Module, magnitude: float = 2.0) -> None:
    """Gaussian Xavier for weights (std ``sqrt(magnitude / mean(fan_in, fan_out))``), zero biases,
    unit / zero normalisation affine parameters."""
    for module in model.modules():
        if isinstance(module, _NORM_TYPES):
            if module.weight is not None:
                nn.init.ones_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
            continue
        weight = getattr(module, "weight", None)
        if isinstance(weight, nn.Parameter) and weight.dim() >= 2:
            fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(weight)
            with torch.no_grad():
                weight.normal_(0.0, math.sqrt(magnitude / ((fan_in + fan_out) / 2.0)))
        bias = getattr(module, "bias", None)
        if isinstance(bias, nn.Parameter):
            nn.init.zeros_(bias)


_PREFIXES = ("module.", "model.", "backbone.", "feature_extractor.", "encoder.")


def load_backbone_weights(model: InteractiveModel, path: str | os.PathLike[str]) -> int:
    """Copy matching tensors of an ImageNet checkpoint into the backbone; return their number.

    Classification checkpoints carry a classifier and sometimes a wrapper prefix, so keys are
    matched after stripping common prefixes and only name-and-shape matches are copied. A file
    with no matching tensor at all is an error: it is certainly the wrong file.
    """
    if is_packaged_name(str(path)):
        try:
            path = packaged_weights_path(str(path))
        except FileNotFoundError as exc:
            raise CheckpointError(str(exc)) from None
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such backbone weights file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch state_dict ({exc})") from None
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: expected a state_dict, found {type(obj).__name__}")
    target = backbone_module(model)
    own = target.state_dict()
    matched: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            continue
        name = key
        while name not in own and name.startswith(_PREFIXES):
            name = name.split(".", 1)[1]
        if name in own and tuple(own[name].shape) == tuple(value.shape):
            matched[name] = value.to(own[name].dtype)
    if not matched:
        raise CheckpointError(
            f"{path}: none of its {len(obj)} tensors matches the {model.family} backbone "
            "by name and shape"
        )
    # A deliberate partial load (an ImageNet file has a classifier, we have no such layer):
    # copy the matching tensors in place; everything else keeps its initialisation.
    with torch.no_grad():
        for name, value in matched.items():
            own[name].copy_(value)
    return len(matched)


def freeze_backbone(model: InteractiveModel) -> int:
    """Stop gradients into the backbone; return the number of frozen tensors."""
    count = 0
    for name, param in model.named_parameters():
        if is_backbone(model, name):
            param.requires_grad_(False)
            count += 1
    return count


def keep_frozen_norms_in_eval(model: InteractiveModel) -> None:
    """After ``model.train()``: frozen backbone normalisation keeps its running statistics."""
    for name, module in model.named_modules():
        if isinstance(module, _NORM_TYPES) and is_backbone(model, name + "."):
            module.eval()


def parameter_groups(
    model: InteractiveModel, lr: float, backbone_lr_mult: float
) -> list[dict[str, object]]:
    """Two groups, backbone at ``lr * backbone_lr_mult`` and the rest at ``lr``.

    Each group remembers its ``base_lr``; the schedule multiplies it per epoch.
    """
    backbone, head = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (backbone if is_backbone(model, name) else head).append(param)
    groups: list[dict[str, object]] = []
    if backbone:
        base = lr * backbone_lr_mult
        groups.append({"params": backbone, "lr": base, "base_lr": base, "name": "backbone"})
    if head:
        groups.append({"params": head, "lr": lr, "base_lr": lr, "name": "head"})
    if not groups:
        raise ValueError("no trainable parameters (is everything frozen?)")
    return groups


def add_click_disk_inputs(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Release-2 Lite weights -> ``efficientnet_lite0_fpn96_disk`` weights, same behaviour.

    The disk architecture's first map convolution takes five maps (dist +, dist -, disk +,
    disk -, previous mask) instead of three: the two disk columns start at zero, so the grown
    model predicts exactly what the old one did until training teaches it to use the disks.
    """
    out = dict(state_dict)
    old = state_dict["maps_conv.0.weight"]
    if old.shape[1] != 3:
        raise CheckpointError(f"maps_conv.0.weight has {old.shape[1]} inputs, expected 3")
    grown = old.new_zeros((old.shape[0], 5, *old.shape[2:]))
    grown[:, 0:2] = old[:, 0:2]
    grown[:, 4] = old[:, 2]
    out["maps_conv.0.weight"] = grown
    return out


#: Starting a recipe's architecture from a checkpoint of another one: (from, to) -> converter.
ARCH_UPGRADES = {
    ("efficientnet_lite0_fpn96", "efficientnet_lite0_fpn96_disk"): add_click_disk_inputs,
}


def build_training_model(
    config: TrainConfig,
    init_path: str | os.PathLike[str] | None,
    resume_from: Path | None = None,
) -> tuple[str, InteractiveModel]:
    """The architecture and the model with its starting weights (on the CPU).

    The architecture is the resumed checkpoint's, the recipe's, or (``arch = "auto"``) the
    init checkpoint's. Resumed weights are loaded later, with the optimiser state.
    """
    init = read_checkpoint(init_path) if init_path else None
    if resume_from is not None:
        arch = read_checkpoint(resume_from)[0]
        if config.model.arch not in ("auto", arch):
            raise CheckpointError(
                f"{resume_from}: holds {arch} weights but the recipe trains {config.model.arch}"
            )
    elif init is not None:
        arch = init[0]
        upgrade = ARCH_UPGRADES.get((arch, config.model.arch))
        if upgrade is not None:
            arch = config.model.arch
            init = (arch, upgrade(init[1]), *init[2:])
        if config.model.arch not in ("auto", arch):
            raise CheckpointError(
                f"{init_path}: holds {arch} weights but the recipe trains {config.model.arch}; "
                f'set model.arch = "{arch}" (or "auto")'
            )
    elif config.model.arch != "auto":
        arch = config.model.arch
    else:
        raise ValueError(
            f'{config.source}: model.arch = "auto" takes the architecture from the init '
            "checkpoint, but none is given (pass --init PATH or set model.init_checkpoint)"
        )
    model = build_model(arch)
    xavier_init(model)
    if resume_from is None and config.model.backbone_weights:
        load_backbone_weights(model, config.model.backbone_weights)
    if init is not None:
        load_into(model, init[1], arch, str(init_path))  # strict: every key, every shape
    return arch, model
