"""The training loop on a synthetic folder dataset: learning, checkpoints, exact resume, init."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_fbrs.model.checkpoint import CheckpointError, load_checkpoint
from napari_fbrs.training.config import TrainConfig, load_recipe
from napari_fbrs.training.model_init import is_backbone, load_backbone_weights
from napari_fbrs.training.trainer import Trainer, train

from . import write_folder_dataset, write_tiny_recipe


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: the CI machine has 2 shared cores, and OpenMP threads that
    wait for each other on a busy machine make a step many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> TrainConfig:
    folder = tmp_path_factory.mktemp("tiny")
    root = write_folder_dataset(folder / "data", num_images=4)
    return load_recipe(write_tiny_recipe(folder, root), ["validation.zoom_in=false"])


def _no_validation(config: TrainConfig) -> TrainConfig:
    return config.with_changes("validation", every_epochs=0)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def tiny_run(tiny_config: TrainConfig, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("run") / "out"
    return out, train(tiny_config, out, progress=False)


def test_loss_decreases_on_a_fixed_batch(tiny_config: TrainConfig, tmp_path: Path) -> None:
    trainer = Trainer(tiny_config, tmp_path, progress=False)
    batch = next(iter(trainer.loader(0)))
    losses = [trainer.run_step(batch)["loss"] for _ in range(10)]
    assert trainer.step == 10
    assert all(np.isfinite(losses))
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3]), losses


def test_outline_weight_reaches_the_training_loss(
    tiny_config: TrainConfig, tmp_path: Path
) -> None:
    config = tiny_config.with_changes("loss", outline_weight=4.0, outline_width=1)
    trainer = Trainer(config, tmp_path, progress=False)
    assert (trainer.focal.outline_weight, trainer.focal.outline_width) == (4.0, 1)
    assert Trainer(tiny_config, tmp_path / "plain", progress=False).focal.outline_weight == 0.0
    seen: list[torch.Tensor] = []
    trainer.focal.register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
    parts = trainer.run_step(next(iter(trainer.loader(0))))
    assert len(seen) == 1 and np.isfinite(parts["loss"])
    assert parts["instance"] == pytest.approx(float(seen[0].mean()), rel=1e-6)


def test_a_run_writes_logs_and_checkpoints(tiny_run) -> None:
    out, summary = tiny_run
    assert summary.steps == 4 and summary.epochs_completed == 1
    assert summary.last_checkpoint == out / "last.pth"
    assert summary.best_checkpoint == out / "best.pth"
    assert (out / "epoch_001.pth").is_file()
    assert summary.best_metric is not None and 1.0 <= summary.best_metric <= 2.0
    assert summary.images_per_second > 0 and np.isfinite(summary.mean_loss)
    rows = _rows(out / "train_log.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert {"lr", "loss", "instance", "aux", "images_per_s"} <= set(rows[0])
    (val,) = _rows(out / "val_log.csv")
    assert float(val["noc@90"]) == summary.best_metric
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["arch"] == "hrnet18s_ocr64"


def test_checkpoints_are_safe_and_load_for_prediction(tiny_run) -> None:
    from napari_fbrs.inference.engine.clicks import Click
    from napari_fbrs.inference.engine.config import BRSMode, PredictorConfig
    from napari_fbrs.inference.engine.predictor import Predictor

    out, summary = tiny_run
    raw = torch.load(out / "last.pth", map_location="cpu", weights_only=True)
    state = raw["training_state"]
    assert state["step"] == 4 and state["world_size"] == 1
    assert state["optimizer"]["state"] and len(state["rng"]) == 1
    assert raw["meta"]["config"]["train"]["batch_size"] == 2
    assert raw["meta"]["metrics"]["noc@90"] == summary.best_metric

    loaded = load_checkpoint(out / "best.pth")
    assert loaded.arch == "hrnet18s_ocr64" and not loaded.official_layout
    assert loaded.meta["step"] == 4 and loaded.meta["epoch"] == 1
    assert "training_state" not in torch.load(out / "best.pth", weights_only=True)
    last = load_checkpoint(out / "last.pth").model.state_dict()
    best = loaded.model.state_dict()
    assert all(torch.equal(value, best[key]) for key, value in last.items())

    config = PredictorConfig(mode=BRSMode.NoBRS, zoom_in=None, with_flip=False)
    predictor = Predictor(loaded.model, config)
    image = np.random.default_rng(0).integers(0, 255, size=(64, 96, 3), dtype=np.uint8)
    predictor.set_image(image)
    probs = predictor.predict([Click(30, 40, True)])
    assert probs.shape == (64, 96) and probs.dtype == np.float32
    assert np.isfinite(probs).all() and 0 <= probs.min() and probs.max() <= 1


def test_an_existing_run_is_not_overwritten(tiny_run, tiny_config: TrainConfig) -> None:
    out, _ = tiny_run
    with pytest.raises(FileExistsError, match="already holds a run"):
        train(tiny_config, out, progress=False)


def test_resume_continues_exactly(tiny_config: TrainConfig, tmp_path: Path) -> None:
    config = _no_validation(tiny_config)
    straight = train(config, tmp_path / "straight", progress=False)
    assert straight.steps == 4
    stopped = train(
        config.with_changes("train", max_steps=2), tmp_path / "resumed", progress=False
    )
    assert stopped.steps == 2 and stopped.epochs_completed == 0
    resumed = train(config, tmp_path / "resumed", resume=True, progress=False)
    assert resumed.steps == 4

    a = torch.load(tmp_path / "straight" / "last.pth", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "last.pth", weights_only=True)
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    opt_a, opt_b = a["training_state"]["optimizer"], b["training_state"]["optimizer"]
    for index, slot in opt_a["state"].items():
        assert torch.equal(slot["exp_avg"], opt_b["state"][index]["exp_avg"])
    assert torch.equal(a["training_state"]["rng"][0]["cpu"], b["training_state"]["rng"][0]["cpu"])
    rows = _rows(tmp_path / "resumed" / "train_log.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    losses_a = [r["loss"] for r in _rows(tmp_path / "straight" / "train_log.csv")]
    assert losses_a == [r["loss"] for r in rows]
    # every file of the run is shared like any other (umask 022 -> 0644), also after --resume
    umask = os.umask(0o022)
    os.umask(umask)
    for name in ("train_log.csv", "last.pth", "config.json"):
        assert (tmp_path / "resumed" / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_resume_and_init_errors(tiny_config: TrainConfig, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(tiny_config, tmp_path / "empty", resume=True, progress=False)
    with pytest.raises(ValueError, match="init is only for a new run"):
        train(tiny_config, tmp_path / "x", resume=True, init="a.pth", progress=False)


def test_init_loads_a_checkpoint_strictly(
    tiny_config: TrainConfig, tiny_checkpoint: Path, tiny_model, tmp_path: Path
) -> None:
    auto = tiny_config.with_changes("model", arch="auto")
    trainer = Trainer(auto, tmp_path, init=tiny_checkpoint, progress=False)
    assert trainer.arch == "hrnet18s_ocr64" and trainer.init_path == str(tiny_checkpoint)
    started = trainer.model.state_dict()
    for key, value in tiny_model.state_dict().items():
        assert torch.equal(value, started[key]), key

    with pytest.raises(ValueError, match='"auto"'):
        Trainer(auto, tmp_path, progress=False)
    with pytest.raises(CheckpointError, match="holds hrnet18s_ocr64 weights"):
        Trainer(
            tiny_config.with_changes("model", arch="hrnet18_ocr64"),
            tmp_path,
            init=tiny_checkpoint,
            progress=False,
        )


def test_frozen_backbone_does_not_change(tiny_config: TrainConfig, tmp_path: Path) -> None:
    config = tiny_config.with_changes("model", freeze_backbone=True)
    trainer = Trainer(config, tmp_path, progress=False)
    assert [g["name"] for g in trainer.optimizer.param_groups] == ["head"]
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    batch = next(iter(trainer.loader(0)))
    for _ in range(2):
        trainer.run_step(batch)
    after = trainer.model.state_dict()
    backbone = [k for k in before if is_backbone(trainer.model, k)]
    head = [k for k in before if not is_backbone(trainer.model, k)]
    assert backbone and head
    assert all(torch.equal(before[k], after[k]) for k in backbone)  # BN statistics too
    assert any(not torch.equal(before[k], after[k]) for k in head)


def test_backbone_weights_are_matched_by_name(tiny_config: TrainConfig, tmp_path: Path) -> None:
    from napari_fbrs.model.registry import build_model

    torch.manual_seed(1)
    source = build_model("hrnet18s_ocr64").feature_extractor
    imagenet = {f"module.{k}": v for k, v in source.state_dict().items() if "ocr" not in k}
    imagenet["module.classifier.weight"] = torch.zeros(1000, 2048)
    path = tmp_path / "imagenet.pth"
    torch.save(imagenet, path)
    config = tiny_config.with_changes("model", backbone_weights=str(path))
    trainer = Trainer(config, tmp_path, progress=False)
    own = trainer.model.feature_extractor.state_dict()
    assert torch.equal(own["conv1.weight"], source.state_dict()["conv1.weight"])
    assert torch.equal(
        own["stage4.0.fuse_layers.0.1.0.weight"],
        source.state_dict()["stage4.0.fuse_layers.0.1.0.weight"],
    )

    unrelated = tmp_path / "unrelated.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, unrelated)
    with pytest.raises(CheckpointError, match="none of its 1 tensors"):
        load_backbone_weights(trainer.model, unrelated)


def test_bad_batch_settings_are_explained(tiny_config: TrainConfig, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="smaller than train.batch_size"):
        Trainer(tiny_config.with_changes("train", batch_size=16), tmp_path, progress=False)
    with pytest.raises(ValueError, match="at least 2"):
        Trainer(tiny_config.with_changes("train", batch_size=1), tmp_path, progress=False)


def test_worker_processes_do_not_change_the_result(
    tiny_config: TrainConfig, tmp_path: Path
) -> None:
    """Every item is seeded by (seed, epoch, position), not by the process that builds it."""
    results = []
    for workers in (0, 2):
        config = (
            _no_validation(tiny_config)
            .with_changes("data", num_workers=workers)
            .with_changes("train", max_steps=2)
        )
        train(config, tmp_path / f"workers{workers}", progress=False)
        results.append(torch.load(tmp_path / f"workers{workers}" / "last.pth", weights_only=True))
    a, b = (r["state_dict"] for r in results)
    assert all(torch.equal(a[k], b[k]) for k in a)
