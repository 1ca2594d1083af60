"""Recipe values that cannot work are refused with the key named, and the split-up config module
keeps its public names."""

from __future__ import annotations

import math

import pytest

from napari_fbrs.training import config, data_config, loop_config
from napari_fbrs.training.toml_values import RecipeError, coerce, parse_text

PUBLIC = [
    "DATASET_KINDS", "OPTIMIZERS", "SCHEDULES", "SECTIONS", "AugmentConfig", "CheckpointConfig",
    "DataConfig", "LoggingConfig", "LossConfig", "ModelConfig", "RecipeError", "SamplerConfig",
    "ScheduleConfig", "TrainConfig", "TrainParams", "ValidationConfig", "load_recipe",
    "parse_source",
]  # fmt: skip


def test_config_keeps_every_public_name_of_the_single_module():
    for name in PUBLIC:
        assert hasattr(config, name), name
    assert config.DataConfig is data_config.DataConfig
    assert config.TrainParams is loop_config.TrainParams
    assert set(config.SECTIONS) == {
        "model", "data", "sampler", "augment", "loss", "train", "schedule", "validation",
        "checkpoint", "logging",
    }  # fmt: skip


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "NaN", "1e400"])
def test_set_text_must_be_a_finite_number(text):
    with pytest.raises(RecipeError, match=rf"--set train.lr={text}: '{text}' is not a finite"):
        parse_text(text, float, f"--set train.lr={text}")


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_toml_values_must_be_finite(value):
    with pytest.raises(RecipeError, match=r"recipe.toml: train.lr: expected a finite number"):
        coerce(value, float, "recipe.toml: train.lr")
    with pytest.raises(RecipeError, match="finite"):
        coerce([1.0, value], tuple[float, ...], "recipe.toml: augment.scale_range")


def test_sections_built_in_python_refuse_non_finite_and_huge_values():
    with pytest.raises(RecipeError, match="train.lr must be a positive finite number, got nan"):
        config.TrainParams(lr=math.nan)
    with pytest.raises(RecipeError, match="train.lr must be a positive finite number, got inf"):
        config.TrainParams(lr=math.inf)
    with pytest.raises(RecipeError, match="data.crop_size .* 8 to 2048 pixels"):
        config.DataConfig(crop_size=(1_000_000, 1_000_000))
    with pytest.raises(RecipeError, match="loss.aux_weight must be >= 0, got nan"):
        config.LossConfig(aux_weight=math.nan)
    assert config.DataConfig(crop_size=(2048, 8)).crop_size == (2048, 8)


def test_outline_loss_settings_are_checked():
    with pytest.raises(RecipeError, match="loss.outline_weight must be >= 0"):
        config.LossConfig(outline_weight=-1.0)
    with pytest.raises(RecipeError, match="loss.outline_width must be 1-16 pixels, got 0"):
        config.LossConfig(outline_width=0)
    with pytest.raises(RecipeError, match="loss.outline_width must be an integer"):
        config.LossConfig(outline_width=2.5)  # type: ignore[arg-type]
    loss = config.LossConfig(outline_weight=2.0, outline_width=3)
    assert (loss.outline_weight, loss.outline_width) == (2.0, 3)
