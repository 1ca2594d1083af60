"""Opt-in fast inference: BatchNorm folded into the preceding convolution.

In eval mode a BatchNorm is a per-channel affine map, so ``bn(conv(x))`` equals one convolution
with rescaled weights and a bias. Folding removes one full read and write of every activation
per BatchNorm (HRNet has 315 of them) in the forward pass and again in the backward pass that
RGB-/DistMap-BRS and f-BRS run. The result is the same function, but float32 rounding differs
(the weights are rounded once more), so predictions move by about 1e-4 in probability; the
benchmark measures that cost next to the speed. It is never applied silently: the predictor
uses it only when ``PredictorConfig.fast`` is set (CLI ``--fast``, the widget's "Fast
inference" box).
"""

from __future__ import annotations

import copy
import weakref

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .is_model import InteractiveModel


def _last_conv(module: nn.Module) -> tuple[nn.Module, str] | None:
    """The container and name of ``module``'s output convolution, if it ends with one."""
    if isinstance(module, nn.Conv2d):
        return None
    if isinstance(module, nn.Sequential) and len(module) and isinstance(module[-1], nn.Conv2d):
        return module, str(len(module) - 1)
    return None


def _fold(container: nn.Module, conv_name: str, bn_owner: nn.Module, bn_name: str) -> bool:
    conv = container._modules[conv_name]
    bn = bn_owner._modules[bn_name]
    if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)):
        return False
    if conv.out_channels != bn.num_features:
        return False
    container._modules[conv_name] = fuse_conv_bn_eval(conv, bn)
    bn_owner._modules[bn_name] = nn.Identity()
    return True


def _fold_module(module: nn.Module) -> int:
    """Fold every (conv, BN) pair that is adjacent in ``module``; return how many."""
    folded = 0
    if isinstance(module, nn.Sequential):
        names = [n for n, m in module._modules.items() if m is not None]
        for first, second in zip(names[:-1], names[1:], strict=True):
            conv, follower = module._modules[first], module._modules[second]
            if isinstance(conv, nn.Conv2d) and isinstance(follower, nn.BatchNorm2d):
                folded += _fold(module, first, module, second)
            elif (  # conv followed by Sequential(BN, ReLU), as in the OCR head
                isinstance(conv, nn.Conv2d)
                and isinstance(follower, nn.Sequential)
                and len(follower)
                and isinstance(follower[0], nn.BatchNorm2d)
            ):
                folded += _fold(module, first, follower, "0")
    elif pairs := getattr(module, "batchnorm_pairs", ()):  # modules that name their pairs
        for conv_name, bn_name in pairs:
            if module._modules.get(conv_name) is not None:
                folded += _fold(module, conv_name, module, bn_name)
    else:  # residual blocks and stems: attributes convN / bnN
        for name, child in list(module._modules.items()):
            if child is None or not name.startswith("conv"):
                continue
            bn_name = "bn" + name[len("conv") :]
            if not isinstance(module._modules.get(bn_name), nn.BatchNorm2d):
                continue
            if isinstance(child, nn.Conv2d):
                folded += _fold(module, name, module, bn_name)
            elif (inner := _last_conv(child)) is not None:  # deep stem: Sequential(..., conv)
                folded += _fold(inner[0], inner[1], module, bn_name)
    for child in module._modules.values():
        if child is not None:
            folded += _fold_module(child)
    return folded


_FAST_COPIES: weakref.WeakKeyDictionary[InteractiveModel, InteractiveModel] = (
    weakref.WeakKeyDictionary()
)


def fast_inference_model(model: InteractiveModel) -> InteractiveModel:
    """BatchNorm-folded, channels-last copy of ``model``, made once per model and reused.

    Channels-last weights make oneDNN run its NHWC kernels without reordering every activation
    (the layout propagates from the first convolution). The copy lives as long as ``model``.
    """
    fast = _FAST_COPIES.get(model)
    if fast is None:
        fast = fold_batchnorm(model).to(memory_format=torch.channels_last)
        _FAST_COPIES[model] = fast
    device = next(model.parameters()).device
    if next(fast.parameters()).device != device:  # the original moved since the copy was made
        fast.to(device)
    return fast


def fold_batchnorm(model: InteractiveModel) -> InteractiveModel:
    """A frozen eval-mode copy of ``model`` with BatchNorm folded into convolutions."""
    fused = copy.deepcopy(model).eval()
    _fold_module(fused)
    for p in fused.parameters():
        p.requires_grad_(False)
    return fused
