"""Starting weights: an ImageNet backbone file is copied where names and shapes match."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from napari_fbrs.model.checkpoint import CheckpointError
from napari_fbrs.model.registry import build_model
from napari_fbrs.training.model_init import load_backbone_weights


def test_backbone_weights_are_copied_after_prefix_stripping(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("resnet34_dh128")
    conv1 = "conv1.weight"
    layer = "layer1.0.bn1.running_mean"
    file_state = {
        f"module.{conv1}": torch.full((64, 3, 7, 7), 0.25),
        f"module.{layer}": torch.full((64,), 3.0),
        "module.fc.weight": torch.zeros(1000, 512),  # a classifier: no such layer here
        "module.layer1.0.conv1.weight": torch.zeros(5, 5),  # wrong shape: skipped
    }
    path = tmp_path / "imagenet.pth"
    torch.save(file_state, path)
    before = model.feature_extractor.backbone.layer1[0].conv1.weight.clone()
    assert load_backbone_weights(model, path) == 2
    backbone = model.feature_extractor.backbone
    assert torch.all(backbone.conv1.weight == 0.25)
    assert torch.all(backbone.layer1[0].bn1.running_mean == 3.0)
    assert torch.equal(backbone.layer1[0].conv1.weight, before)


def test_a_file_with_nothing_matching_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(10, 4)}, path)
    with pytest.raises(CheckpointError, match="none of its 1 tensors"):
        load_backbone_weights(build_model("hrnet18s_ocr64"), path)
