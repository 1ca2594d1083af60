"""Corrective clicks simulated from the model's own errors, and training with them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from napari_fbrs.model.dist_maps import PAD_COORD
from napari_fbrs.training.config import load_recipe
from napari_fbrs.training.iterative import add_clicks, corrective_clicks, error_click
from napari_fbrs.training.trainer import Trainer

from . import write_folder_dataset, write_tiny_recipe


def _square_target() -> np.ndarray:
    target = np.zeros((40, 50), dtype=np.int8)
    target[10:30, 10:30] = 1
    return target


def test_a_missed_object_gets_a_positive_click_deep_inside_it() -> None:
    target = _square_target()
    probs = np.zeros(target.shape, dtype=np.float32)
    for seed in range(20):
        row, col, positive = error_click(probs, target, np.random.default_rng(seed))
        assert positive
        # deeper than half the largest depth (10): at least 5 px from the square's edges
        assert 14 <= row <= 25 and 14 <= col <= 25, (row, col)


def test_a_false_detection_larger_than_the_miss_gets_a_negative_click() -> None:
    target = _square_target()
    probs = np.zeros(target.shape, dtype=np.float32)
    probs[10:30, 10:30] = 1.0
    probs[12:16, 12:16] = 0.0  # a small miss inside the object
    probs[5:35, 33:48] = 0.9  # a large false detection beside it
    row, col, positive = error_click(probs, target, np.random.default_rng(0))
    assert not positive
    assert 5 <= row < 35 and 33 <= col < 48


def test_ignore_pixels_are_never_errors_and_a_perfect_mask_needs_no_click() -> None:
    target = _square_target()
    target[:, 40:] = -1
    probs = (target == 1).astype(np.float32)
    probs[:, 40:] = 1.0  # "wrong" only where the target is ignored
    assert error_click(probs, target, np.random.default_rng(0)) is None


def test_add_clicks_appends_one_slot_per_sign_and_keeps_the_others() -> None:
    points = torch.tensor(
        [[[1.0, 2.0], [PAD_COORD, PAD_COORD], [3.0, 4.0], [PAD_COORD, PAD_COORD]]] * 2,
        dtype=torch.float64,
    )
    out = add_clicks(points, [(5.0, 6.0, True), None])
    assert out.shape == (2, 6, 2)
    assert out[0, :3].tolist() == [[1, 2], [PAD_COORD, PAD_COORD], [5, 6]]
    assert out[0, 3:].tolist() == [[3, 4], [PAD_COORD, PAD_COORD], [PAD_COORD, PAD_COORD]]
    assert out[1, 2].tolist() == [PAD_COORD, PAD_COORD]  # no click for the second sample


def test_corrective_clicks_reads_a_batch() -> None:
    target = torch.from_numpy(_square_target()).float()[None, None].repeat(2, 1, 1, 1)
    probs = torch.zeros_like(target)
    probs[1] = target[1]
    clicks = corrective_clicks(probs, target, np.random.default_rng(0))
    assert clicks[0] is not None and clicks[0][2] and clicks[1] is None


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_training_with_corrective_clicks_feeds_the_previous_prediction(tmp_path: Path) -> None:
    root = write_folder_dataset(tmp_path / "data", num_images=2)
    recipe = write_tiny_recipe(tmp_path, root, "")
    lite = 'arch = "efficientnet_lite0_fpn96"'
    text = recipe.read_text().replace('arch = "hrnet18s_ocr64"', lite)
    recipe.write_text(text + "\n[loss]\naux_weight = 0.0\n")
    config = load_recipe(
        recipe,
        ["sampler.next_clicks_max=2", "validation.every_epochs=0", "train.channels_last=true"],
    )
    trainer = Trainer(config, tmp_path / "out", progress=False)
    batch = next(iter(trainer.loader(0)))
    seen: list[tuple[int, float]] = []
    original = trainer.net.forward

    def spy(image, points, prev_mask=None):  # noqa: ANN001, ANN202
        seen.append((points.shape[1], float(prev_mask.abs().sum())))
        return original(image, points, prev_mask)

    trainer.net.forward = spy  # type: ignore[method-assign]
    rounds_seen = set()
    for _ in range(6):
        seen.clear()
        result = trainer.run_step(batch)
        assert np.isfinite(result["loss"])
        rounds = len(seen) - 1  # no-grad rounds before the training forward
        rounds_seen.add(rounds)
        slots = [s for s, _ in seen]
        assert slots == [slots[0] + 2 * r for r in range(rounds + 1)]  # one slot per sign each
        assert seen[0][1] == 0.0  # the first prediction starts from an empty mask
        if rounds:
            assert seen[-1][1] > 0  # later ones see the previous prediction
    assert rounds_seen <= {0, 1, 2} and len(rounds_seen) > 1
    assert trainer.model.training


def test_the_same_step_draws_the_same_corrective_clicks(tmp_path: Path) -> None:
    root = write_folder_dataset(tmp_path / "data", num_images=2)
    recipe = write_tiny_recipe(tmp_path, root, "")
    config = load_recipe(recipe, ["sampler.next_clicks_max=2", "validation.every_epochs=0"])
    outs = []
    for run in range(2):
        torch.manual_seed(0)
        trainer = Trainer(config, tmp_path / f"out{run}", progress=False)
        batch = next(iter(trainer.loader(0)))
        image, points, target = batch["image"], batch["points"], batch["mask"]
        trainer.step = 3
        outs.append(trainer.simulate_clicks(image, points, target)[0])
    assert torch.equal(outs[0], outs[1])


def test_cpu_bf16_steps_keep_float32_weights_and_say_when_they_cannot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """train.cpu_bf16: the step runs under bfloat16 autocast where the CPU has it natively,
    the weights and the loss stay float32 and finite; elsewhere float32, and the log says so."""
    from napari_fbrs.training import precision

    root = write_folder_dataset(tmp_path / "data", num_images=2)
    recipe = write_tiny_recipe(tmp_path, root, "")
    lite = 'arch = "efficientnet_lite0_fpn96"'
    text = recipe.read_text().replace('arch = "hrnet18s_ocr64"', lite)
    recipe.write_text(text + "\n[loss]\naux_weight = 0.0\n")
    overrides = ["sampler.next_clicks_max=2", "validation.every_epochs=0", "train.cpu_bf16=true"]
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    trainer = Trainer(load_recipe(recipe, overrides), tmp_path / "bf16", progress=False)
    assert trainer.autocast_dtype == torch.bfloat16
    dtypes: list[torch.dtype] = []
    original = trainer.net.forward

    def spy(image, points, prev_mask=None):  # noqa: ANN001, ANN202
        out = original(image, points, prev_mask)
        dtypes.append(out["instances"].dtype)
        return out

    trainer.net.forward = spy  # type: ignore[method-assign]
    before = [p.detach().clone() for p in trainer.model.parameters()]
    result = trainer.run_step(next(iter(trainer.loader(0))))
    assert np.isfinite(result["loss"])
    assert dtypes and set(dtypes) == {torch.bfloat16}  # every forward, corrective ones too
    params = list(trainer.model.parameters())
    assert all(p.dtype == torch.float32 for p in params)
    assert any(not torch.equal(a, b) for a, b in zip(before, params, strict=True))  # learnt

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    capsys.readouterr()
    plain = Trainer(load_recipe(recipe, overrides), tmp_path / "fp32", progress=False)
    assert plain.autocast_dtype is None
    assert "no native bfloat16" in capsys.readouterr().err
