"""The opt-in fast path: BatchNorm folding keeps the function, up to float32 rounding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.engine.config import eval_preset
from napari_fbrs.inference.engine.predictor import Predictor
from napari_fbrs.model.dist_maps import encode_points
from napari_fbrs.model.fusion import fast_inference_model, fold_batchnorm
from napari_fbrs.model.registry import ARCHITECTURES, build_model

# BatchNorms that cannot be folded into a preceding convolution: rgb_conv's (after a LeakyReLU)
# and, in DeepLab, none other; in HRNet the OCR gather has none either.
# EfficientNet-Lite mixes its click maps without BatchNorm, so every BatchNorm folds.
EXPECTED_LEFT = {"deeplab": 1, "hrnet": 1, "efficientnet": 0}


def _randomise_batchnorm(model: nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            module.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_folding_keeps_the_function(arch: str) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = build_model(arch)
    _randomise_batchnorm(model, 1)
    fused = fold_batchnorm(model)
    left = sum(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert left == EXPECTED_LEFT[ARCHITECTURES[arch].family]
    assert not any(p.requires_grad for p in fused.parameters())
    image = torch.randn(1, 3, 64, 80)
    points = encode_points([[(30.0, 40.0)]], [[(5.0, 5.0)]], num_slots=1)
    with torch.no_grad():
        expected = model.eval()(image, points)["instances"]
        got = fused(image, points)["instances"]
    scale = expected.abs().max().item()
    assert torch.allclose(got, expected, atol=1e-4 * max(1.0, scale), rtol=1e-4)
    # the original is untouched
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) > left


def test_fast_copy_is_made_once_and_follows_the_device(tiny_model) -> None:
    first = fast_inference_model(tiny_model)
    assert fast_inference_model(tiny_model) is first
    assert first is not tiny_model
    conv = next(m for m in first.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_fast_predictor_is_close_to_the_exact_one(tiny_model) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    clicks = [Click(20, 30, True), Click(5, 5, False)]
    maps = []
    for fast in (False, True):
        config = eval_preset("f-BRS-C").with_changes(zoom_in=None, fast=fast)
        predictor = Predictor(tiny_model, config)
        predictor.set_image(image)
        predictor.predict(clicks[:1])
        maps.append(predictor.predict(clicks))
    assert np.abs(maps[0] - maps[1]).max() < 1e-3
