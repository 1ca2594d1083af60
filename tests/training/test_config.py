"""Recipes: every shipped recipe parses, mistakes are errors that name key and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from napari_fbrs.training.config import (
    DATASET_KINDS,
    SECTIONS,
    RecipeError,
    ScheduleConfig,
    TrainConfig,
    load_recipe,
)

from . import RECIPES_DIR

RECIPES = sorted(RECIPES_DIR.glob("*.toml"))


def test_the_expected_recipes_ship() -> None:
    names = {p.name for p in RECIPES}
    assert {
        "sbd_hrnet18_ocr64.toml",
        "sbd_resnet34_dh128.toml",
        "dsb2018_hrnet18s.toml",
        "coco_hrnet18s.toml",
        "finetune_folder.toml",
    } <= names


@pytest.mark.parametrize("path", RECIPES, ids=[p.name for p in RECIPES])
def test_every_recipe_parses(path: Path) -> None:
    config = load_recipe(path)
    assert isinstance(config, TrainConfig)
    assert config.source == str(path.resolve())
    assert len(config.data.crop_size) == 2
    # Paths are stored resolved, relative to the recipe file.
    assert Path(config.data.root).is_absolute()
    plain = config.to_dict()
    assert set(plain) == set(SECTIONS) | {"source"}


def test_upstream_values_in_the_sbd_recipes() -> None:
    hrnet = load_recipe(RECIPES_DIR / "sbd_hrnet18_ocr64.toml")
    resnet = load_recipe(RECIPES_DIR / "sbd_resnet34_dh128.toml")
    assert hrnet.model.arch == "hrnet18_ocr64" and resnet.model.arch == "resnet34_dh128"
    assert hrnet.data.crop_size == resnet.data.crop_size == (320, 480)
    assert (hrnet.train.batch_size, resnet.train.batch_size) == (32, 28)
    for c in (hrnet, resnet):
        assert c.train.optimizer == "adam" and c.train.lr == 5e-4
        assert c.train.betas == (0.9, 0.999) and c.train.eps == 1e-8
        assert c.train.epochs == 120 and c.schedule.milestones == (100,)
        assert c.schedule.gamma == 0.1
        assert c.sampler.num_max_points == 10 and c.sampler.prob_gamma == 0.7
        assert c.sampler.merge_objects_prob == 0.15
        assert c.data.min_object_area == 80 and c.augment.scale_range == (0.75, 1.25)
        assert c.loss.focal_alpha == 0.5 and c.loss.focal_gamma == 2.0
        assert c.data.sample_weight_gamma == 1.25
        assert c.model.backbone_weights is None
    assert (hrnet.loss.aux_weight, resnet.loss.aux_weight) == (0.4, 0.0)
    # resnet34 composes the hrnet recipe: the base's data section is inherited.
    assert resnet.data == hrnet.data


def test_finetune_recipe_takes_the_architecture_from_the_checkpoint() -> None:
    config = load_recipe(RECIPES_DIR / "finetune_folder.toml")
    assert config.model.arch == "auto"
    assert config.data.kind == "folder"
    # the built-in model's rate, for the decoder only: the encoder stays frozen (issue 22)
    assert config.train.lr <= 5e-4 and config.train.epochs <= 20
    assert config.model.freeze_backbone


def test_dataset_kinds_agree_with_io() -> None:
    from napari_fbrs.io.datasets import DATASET_KINDS as IO_KINDS

    assert tuple(DATASET_KINDS) == tuple(IO_KINDS)


def _write(tmp_path: Path, text: str, name: str = "r.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[train]\nlearning_rate = 0.1\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert "train.learning_rate" in str(info.value)
    assert str(path) in str(info.value)


def test_unknown_section_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "[optimiser]\nlr = 0.1\n")
    with pytest.raises(RecipeError, match="unknown key 'optimiser'"):
        load_recipe(path)


def test_wrongly_typed_value_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, '[train]\nbatch_size = "many"\n')
    with pytest.raises(RecipeError, match=r"train\.batch_size: expected int"):
        load_recipe(path)


def test_invalid_value_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[data]\ncrop_size = [320]\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert str(path) in str(info.value) and "data.crop_size" in str(info.value)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[train\n")
    with pytest.raises(RecipeError, match="not valid TOML"):
        load_recipe(path)


def test_missing_recipe_file(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="no such recipe file"):
        load_recipe(tmp_path / "nope.toml")


def test_overrides_are_typed_by_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "[train]\nlr = 0.1\n")
    config = load_recipe(
        path,
        [
            "train.batch_size=6",
            "train.lr=1e-4",
            "train.amp=false",
            "model.arch=resnet34_dh128",
            "data.crop_size=64,96",
            "train.betas=[0.8, 0.9]",
            "data.split=none",
            "validation.iou_thresholds=0.5,0.9",
        ],
    )
    assert config.train.batch_size == 6 and isinstance(config.train.batch_size, int)
    assert config.train.lr == 1e-4 and isinstance(config.train.lr, float)
    assert config.train.amp is False
    assert config.model.arch == "resnet34_dh128"
    assert config.data.crop_size == (64, 96)
    assert config.train.betas == (0.8, 0.9)
    assert config.data.split is None
    assert config.validation.iou_thresholds == (0.5, 0.9)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.batch_size=two", "not a valid int"),
        ("train.amp=maybe", "not a valid bool"),
        ("train.nope=1", "unknown key train.nope"),
        ("nope.lr=1", "unknown section 'nope'"),
        ("train.lr", "expected section.key=value"),
        ("lr=1", "expected section.key=value"),
    ],
)
def test_bad_overrides_are_errors(tmp_path: Path, override: str, message: str) -> None:
    path = _write(tmp_path, "")
    with pytest.raises(RecipeError, match=message) as info:
        load_recipe(path, [override])
    assert "--set" in str(info.value)


def test_override_values_are_validated(tmp_path: Path) -> None:
    path = _write(tmp_path, "")
    with pytest.raises(RecipeError, match="sum to 1"):
        load_recipe(path, ["sampler.negative_bg_prob=0.5"])


def test_paths_relative_to_recipe_and_overrides_relative_to_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    path = _write(recipes, '[data]\nroot = "../data"\n[model]\nbackbone_weights = "w.pth"\n')
    config = load_recipe(path)
    assert config.data.root == str(tmp_path / "data")
    assert config.model.backbone_weights == str(recipes / "w.pth")
    monkeypatch.chdir(tmp_path)
    config = load_recipe(path, ["data.root=elsewhere", "model.backbone_weights="])
    assert config.data.root == str(tmp_path / "elsewhere")
    assert config.model.backbone_weights is None


def test_one_level_of_composition(tmp_path: Path) -> None:
    _write(tmp_path, '[train]\nlr = 0.5\nbatch_size = 3\n[data]\nroot = "d"\n', "base.toml")
    sub = tmp_path / "sub"
    sub.mkdir()
    path = _write(sub, 'base = "../base.toml"\n[train]\nbatch_size = 5\n')
    config = load_recipe(path)
    assert config.train.lr == 0.5  # from the base
    assert config.train.batch_size == 5  # the recipe wins
    assert config.data.root == str(tmp_path / "d")  # relative to the base file

    _write(tmp_path, 'base = "base.toml"\n', "middle.toml")
    deeper = _write(tmp_path, 'base = "middle.toml"\n', "deep.toml")
    with pytest.raises(RecipeError, match="only one level of composition"):
        load_recipe(deeper)


def test_unknown_key_in_the_base_names_the_base(tmp_path: Path) -> None:
    base = _write(tmp_path, "[train]\nspeed = 1\n", "base.toml")
    path = _write(tmp_path, 'base = "base.toml"\n')
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert str(base) in str(info.value) and "train.speed" in str(info.value)


def test_to_dict_holds_only_plain_values() -> None:
    def check(value: object) -> None:
        if isinstance(value, dict):
            for v in value.values():
                check(v)
        elif isinstance(value, list):
            for v in value:
                check(v)
        else:
            assert value is None or isinstance(value, (str, int, float, bool)), value

    check(load_recipe(RECIPES_DIR / "sbd_hrnet18_ocr64.toml").to_dict())


def test_schedule_factors() -> None:
    multistep = ScheduleConfig(kind="multistep", milestones=(2, 4), gamma=0.1)
    assert [multistep.factor(e, 6) for e in range(6)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01]
    )
    cosine = ScheduleConfig(kind="cosine", min_factor=0.0)
    assert cosine.factor(0, 10) == pytest.approx(1.0)
    assert cosine.factor(5, 10) == pytest.approx(0.5)
    assert ScheduleConfig(kind="constant").factor(99, 100) == 1.0
    with pytest.raises(RecipeError, match="unknown schedule"):
        ScheduleConfig(kind="poly")


def test_readme_documents_every_key() -> None:
    import dataclasses

    text = (RECIPES_DIR / "README.md").read_text()
    missing = [
        f"{name}.{f.name}"
        for name, section in SECTIONS.items()
        for f in dataclasses.fields(section)
        if f"`{name}.{f.name}`" not in text
    ]
    assert not missing, missing
