"""Averaging two checkpoints of one lineage (the way release 3 was made)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from napari_fbrs.model.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from napari_fbrs.model.registry import build_model
from napari_fbrs.training.model_init import add_click_disk_inputs
from napari_fbrs.training.weight_average import average_checkpoints, average_state_dicts

REPO = Path(__file__).resolve().parents[2]


def _random_model(arch: str, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model(arch)
    for p in model.parameters():
        p.data.normal_(0, 0.05)
    return model


def test_the_average_lies_alpha_of_the_way_from_the_first_to_the_second():
    a = {"w": torch.tensor([0.0, 2.0]), "n": torch.tensor(3)}
    b = {"w": torch.tensor([4.0, 6.0]), "n": torch.tensor(7)}
    mixed = average_state_dicts(a, b, 0.25)
    assert mixed["w"].tolist() == [1.0, 3.0]
    assert mixed["n"].item() == 7  # counters come from the second
    assert average_state_dicts(a, b, 0.0)["w"].tolist() == [0.0, 2.0]
    assert average_state_dicts(a, b, 1.0)["w"].tolist() == [4.0, 6.0]


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_alpha_outside_zero_one_is_refused(alpha):
    with pytest.raises(ValueError, match="alpha"):
        average_state_dicts({"w": torch.zeros(1)}, {"w": torch.zeros(1)}, alpha)


def test_different_keys_or_shapes_are_refused():
    with pytest.raises(CheckpointError, match="different weights"):
        average_state_dicts({"w": torch.zeros(1)}, {"v": torch.zeros(1)}, 0.5)
    with pytest.raises(CheckpointError, match="shape"):
        average_state_dicts({"w": torch.zeros(1)}, {"w": torch.zeros(2)}, 0.5)


def test_release_2_is_grown_to_the_disk_architecture_and_averaged(tmp_path):
    old = _random_model("efficientnet_lite0_fpn96", 0)
    new = _random_model("efficientnet_lite0_fpn96_disk", 1)
    first = save_checkpoint(tmp_path / "r2.pth", old, "efficientnet_lite0_fpn96")
    second = save_checkpoint(tmp_path / "r3.pth", new, "efficientnet_lite0_fpn96_disk")
    out = average_checkpoints(first, second, 0.5, tmp_path / "mix.pth", half=False)
    arch, state, meta, _ = read_checkpoint(out)
    assert arch == "efficientnet_lite0_fpn96_disk"
    grown = add_click_disk_inputs(old.state_dict())
    key = "maps_conv.0.weight"
    expected = 0.5 * grown[key] + 0.5 * new.state_dict()[key]
    assert torch.allclose(state[key], expected)
    # the disk inputs (channels 2-3) start at zero in release 2: half of release 3's
    assert torch.allclose(state[key][:, 2:4], 0.5 * new.state_dict()[key][:, 2:4])
    assert meta["weight_average"] == {"first": "r2.pth", "second": "r3.pth", "alpha": 0.5}


def test_the_default_export_is_float16(tmp_path):
    model = _random_model("efficientnet_lite0_fpn96_disk", 2)
    a = save_checkpoint(tmp_path / "a.pth", model, "efficientnet_lite0_fpn96_disk")
    out = average_checkpoints(a, a, 0.3, tmp_path / "mix.pth")
    state = read_checkpoint(out)[1]
    assert state["maps_conv.0.weight"].dtype == torch.float16
    expected = model.state_dict()["maps_conv.0.weight"].half()
    assert torch.equal(state["maps_conv.0.weight"], expected)


def test_unrelated_architectures_are_refused(tmp_path, tiny_checkpoint):
    model = _random_model("efficientnet_lite0_fpn96_disk", 3)
    b = save_checkpoint(tmp_path / "b.pth", model, "efficientnet_lite0_fpn96_disk")
    with pytest.raises(CheckpointError, match="no way to average"):
        average_checkpoints(tiny_checkpoint, b, 0.5, tmp_path / "mix.pth")
    assert not (tmp_path / "mix.pth").exists()


def test_the_recipe_script_writes_the_average(tmp_path):
    model = _random_model("efficientnet_lite0_fpn96_disk", 4)
    a = save_checkpoint(tmp_path / "a.pth", model, "efficientnet_lite0_fpn96_disk")
    script = REPO / "training" / "average_checkpoints.py"
    out = tmp_path / "mix.pth"
    done = subprocess.run(
        [sys.executable, str(script), str(a), str(a), "--alpha", "0.5", "--output", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert read_checkpoint(out)[2]["weight_average"]["alpha"] == 0.5
    bad = subprocess.run(
        [sys.executable, str(script), str(a), str(a), "--alpha", "2", "--output", str(out)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "alpha" in bad.stderr.strip().splitlines()[-1]
