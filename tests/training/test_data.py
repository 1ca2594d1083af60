"""The training Dataset: item layout, determinism, epoch order over ranks, sample weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from napari_fbrs.training.config import AugmentConfig, DataConfig, SamplerConfig, load_recipe
from napari_fbrs.training.data import (
    ClickDataset,
    build_click_dataset,
    epoch_keys,
    load_sample_scores,
    sample_weights,
)
from tests.conftest import require_shared

from . import RECIPES_DIR, write_folder_dataset


class _Source:
    """Three 48 x 64 images with two rectangles each (ids 3 and 7) and an ignore corner."""

    def num_images(self) -> int:
        return 3

    def image_name(self, i: int) -> str:
        return f"im{i}.png"

    def load_instances(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.zeros((48, 64), dtype=np.int32)
        labels[5 + i : 20 + i, 5:25] = 3
        labels[25:45, 30 + i : 60] = 7
        labels[:4, :4] = -1
        image = np.full((48, 64, 3), 30, dtype=np.uint8)
        image[labels == 3] = (200, 50, 50)
        image[labels == 7] = (50, 200, 50)
        return image, labels


def _dataset(**data: object) -> ClickDataset:
    config = DataConfig(kind="folder", crop_size=(32, 48), min_object_area=10, **data)
    return ClickDataset(
        _Source(), config, SamplerConfig(num_max_points=5), AugmentConfig(), seed=3
    )


def test_item_layout() -> None:
    dataset = _dataset()
    assert len(dataset) == 3
    item, info = dataset.build(0, 1)
    assert item["image"].dtype == torch.uint8 and item["image"].shape == (3, 32, 48)
    assert item["points"].dtype == torch.float64 and item["points"].shape == (10, 2)
    assert item["mask"].dtype == torch.float32 and item["mask"].shape == (1, 32, 48)
    assert set(torch.unique(item["mask"]).tolist()) <= {-1.0, 0.0, 1.0}
    assert info.image_index == 1  # epoch_len == num_images: position is the image
    mask = item["mask"][0]
    positive, negative = item["points"][:5], item["points"][5:]
    used_pos = positive[positive[:, 0] >= 0].long()
    used_neg = negative[negative[:, 0] >= 0].long()
    assert len(used_pos) >= 1
    assert (positive[len(used_pos) :] == -1).all()  # padding after the clicks
    assert (mask[used_pos[:, 0], used_pos[:, 1]] == 1).all()
    assert (mask[used_neg[:, 0], used_neg[:, 1]] == 0).all()


def test_items_are_determined_by_seed_epoch_and_position() -> None:
    a, b = _dataset(), _dataset()
    first, _ = a.build(2, 1)
    again, _ = b.build(2, 1)
    other, _ = a.build(3, 1)
    for key in first:
        assert torch.equal(first[key], again[key])
    assert not all(torch.equal(first[k], other[k]) for k in first)
    assert torch.equal(a[(2, 1)]["points"], first["points"])


def test_epoch_len_draws_images_at_random() -> None:
    dataset = _dataset(epoch_len=20)
    assert len(dataset) == 20
    drawn = {dataset.build(0, p)[1].image_index for p in range(20)}
    assert drawn == {0, 1, 2}


def test_epoch_keys_split_an_epoch_over_ranks() -> None:
    dataset = _dataset(epoch_len=12)
    alone = epoch_keys(dataset, 1, seed=5)
    assert sorted(p for _, p in alone) == list(range(12))
    assert all(e == 1 for e, _ in alone)
    assert alone != epoch_keys(dataset, 2, seed=5)  # reshuffled every epoch
    assert alone == epoch_keys(dataset, 1, seed=5)
    ranks = [epoch_keys(dataset, 1, seed=5, rank=r, world_size=3) for r in range(3)]
    assert all(len(keys) == 4 for keys in ranks)
    assert sorted(p for keys in ranks for _, p in keys) == list(range(12))
    assert epoch_keys(dataset, 1, seed=5, skip=5) == alone[5:]


def test_sample_scores_and_weights(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.write_text("name,score\nim0.png,0.9\nim1.png,0.5\nim2.png,0.0\nextra.png,1\n")
    scores = load_sample_scores(path, ["im0.png", "im1.png", "im2.png"])
    assert scores.tolist() == [0.9, 0.5, 0.0]
    weights = sample_weights(scores, 1.0)
    assert weights == pytest.approx(np.array([0.1, 0.5, 1.0]) / 1.6)
    with pytest.raises(ValueError, match="no score for 1 of 2 images.*'im9.png'"):
        load_sample_scores(path, ["im0.png", "im9.png"])
    bad = tmp_path / "bad.csv"
    bad.write_text("name,score\nim0.png,high\n")
    with pytest.raises(ValueError, match=r"bad\.csv:2: score 'high'"):
        load_sample_scores(bad, ["im0.png"])
    with pytest.raises(ValueError, match="cannot read"):
        load_sample_scores(tmp_path / "missing.csv", ["im0.png"])


def test_weighted_dataset_prefers_hard_images(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.write_text("name,score\nim0.png,0.99\nim1.png,0.99\nim2.png,0.0\n")
    config = DataConfig(kind="folder", crop_size=(32, 48), epoch_len=60, sample_scores=str(path))
    dataset = build_click_dataset(
        config, SamplerConfig(), AugmentConfig(), seed=0, source=_Source()
    )
    drawn = [dataset.build(0, p)[1].image_index for p in range(60)]
    assert drawn.count(2) > 50


def test_folder_dataset_through_io(tmp_path: Path) -> None:
    root = write_folder_dataset(tmp_path / "data", num_images=2)
    config = DataConfig(kind="folder", root=str(root), crop_size=(64, 96), min_object_area=10)
    dataset = build_click_dataset(config, SamplerConfig(), AugmentConfig(), seed=0)
    assert len(dataset) == 2
    item, info = dataset.build(0, 0)
    assert item["image"].shape == (3, 64, 96) and len(info.object_ids) == 1
    assert (item["mask"] == 1).sum() >= 10


def test_missing_dataset_folder_is_a_clear_error(tmp_path: Path) -> None:
    config = DataConfig(kind="folder", root=str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="nowhere"):
        build_click_dataset(config, SamplerConfig(), AugmentConfig(), seed=0)


@pytest.mark.parametrize(
    ("recipe", "folder"),
    [("dsb2018_hrnet18s.toml", "DSB2018"), ("coco_hrnet18s.toml", "COCO_MVal_train")],
)
def test_shared_dataset_recipes_build_items(recipe: str, folder: str) -> None:
    require_shared("datasets", folder)
    config = load_recipe(RECIPES_DIR / recipe)
    dataset = build_click_dataset(config.data, config.sampler, config.augment, seed=0)
    item, info = dataset.build(0, 0)
    height, width = config.data.crop_size
    assert item["image"].shape == (3, height, width)
    assert info.object_ids and (item["mask"] == 1).sum() >= config.data.min_object_area


def test_extra_sources_join_datasets_and_keep_names_unique(tmp_path) -> None:
    from napari_fbrs.training.config import load_recipe
    from napari_fbrs.training.data import ConcatSource, open_training_source
    from napari_fbrs.training.finetune import LabelledImage, write_finetune_folder

    def item(name: str, value: int) -> LabelledImage:
        labels = np.zeros((40, 40), np.int32)
        labels[5:20, 5:20] = 1
        return LabelledImage(name, np.full((40, 40, 3), value, np.uint8), labels)

    write_finetune_folder([item("a", 10), item("b", 20), item("c", 30)], tmp_path / "one")
    write_finetune_folder([item("d", 40), item("e", 50)], tmp_path / "two")
    recipe = tmp_path / "mix.toml"
    recipe.write_text(
        '[data]\nkind = "folder"\nroot = "one"\nsplit = "train"\n'
        'extra_sources = ["folder:two:train", "folder:one:val"]\n'
    )
    config = load_recipe(recipe)
    assert config.data.extra_sources == (
        f"folder:{tmp_path / 'two'}:train",
        f"folder:{tmp_path / 'one'}:val",
    )
    source = open_training_source(config.data)
    assert isinstance(source, ConcatSource)
    assert source.num_images() == 2 + 1 + 1
    names = [source.image_name(i) for i in range(source.num_images())]
    assert len(set(names)) == 4 and names[2].startswith("1/")
    assert source.load_instances(2)[0][0, 0, 0] == 40  # first image of the second dataset
    assert source.load_instances(3)[0][0, 0, 0] == 30  # the held-out image of the first
    with pytest.raises(IndexError):
        source.load_instances(4)


@pytest.mark.parametrize("spec", ["folder", "folder:", ":root", "a:b:c:d"])
def test_malformed_extra_sources_are_refused(spec) -> None:
    from napari_fbrs.training.config import DataConfig
    from napari_fbrs.training.toml_values import RecipeError

    with pytest.raises(RecipeError, match="extra_sources"):
        DataConfig(extra_sources=(spec,))
