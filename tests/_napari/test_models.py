"""Models and settings in the widget: loading, failures as notifications, next-object rule."""

from __future__ import annotations

import numpy as np
import pytest

from napari_fbrs._napari import model_choice
from napari_fbrs._napari.layers import CLICKS_LAYER
from napari_fbrs.inference.engine.config import BRSMode
from napari_fbrs.inference.engine.predictor import Predictor
from napari_fbrs.model.weights import CACHE_ENV

from .helpers import click, messages, record_predictors, wait_idle

RGB = np.random.default_rng(7).integers(0, 256, (40, 48, 3), dtype=np.uint8)


def test_model_choices_say_what_is_cached_without_network(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    (tmp_path / "hrnet18_ocr64_sbd.pth").write_bytes(b"placeholder")
    choices = model_choice.model_choices()
    labels = dict((source.name, label) for label, source in choices)
    assert len(labels) == 8
    assert choices[0][1] == model_choice.BUILTIN_SOURCE  # the offline default comes first
    assert labels["hrnet18_ocr64_sbd"] == "hrnet18_ocr64_sbd (SBD, cached)"
    assert labels["resnet34_dh128_sbd"] == "resnet34_dh128_sbd (SBD, download 89 MB)"
    assert model_choice.default_source() == model_choice.BUILTIN_SOURCE


@pytest.mark.gui
def test_a_bad_checkpoint_is_an_error_notification_and_the_widget_keeps_working(
    open_widget, qtbot, tmp_path, tiny_checkpoint, notifications
) -> None:
    viewer, _, widget = open_widget(RGB, rgb=True)
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"this is not a checkpoint")
    widget.load_model_from_path(bad)
    qtbot.waitUntil(lambda: bool(messages(notifications, "error")), timeout=30_000)
    wait_idle(qtbot, widget)
    errors = messages(notifications, "error")
    assert len(errors) == 1 and "broken.pth" in errors[0]
    assert widget.model_label == "tiny"  # the previous model stays in use
    click(viewer.layers[CLICKS_LAYER], (10, 10), True)
    wait_idle(qtbot, widget)
    assert widget.controller.probs is not None

    widget.load_model_from_path(tiny_checkpoint)
    qtbot.waitUntil(lambda: widget.model_label == tiny_checkpoint.name, timeout=60_000)
    assert f"Model: {tiny_checkpoint.name}" in widget.status.text()


@pytest.mark.gui
def test_official_weights_download_in_a_worker(
    open_widget, qtbot, tiny_checkpoint, monkeypatch
) -> None:
    fetched = []

    def fake_download(name: str, progress: bool = True):
        fetched.append(name)
        return tiny_checkpoint

    from napari_fbrs.model import weights

    monkeypatch.setattr(weights, "download_weights", fake_download)
    monkeypatch.setattr(weights, "cached_path", lambda name: None)
    _, _, widget = open_widget(RGB, rgb=True)
    widget.model_choice.value = model_choice.ModelSource("official", "hrnet18_ocr64_sbd")
    widget.load_button.native.click()
    qtbot.waitUntil(lambda: widget.model_label == "hrnet18_ocr64_sbd", timeout=60_000)
    assert fetched == ["hrnet18_ocr64_sbd"]


@pytest.mark.gui
def test_a_failing_prediction_is_a_notification_and_the_next_click_works(
    open_widget, qtbot, monkeypatch, notifications
) -> None:
    original = Predictor.predict
    failures = iter([True])

    def flaky(self, clicks):
        if next(failures, False):
            raise RuntimeError("simulated out of memory")
        return original(self, clicks)

    monkeypatch.setattr(Predictor, "predict", flaky)
    viewer, _, widget = open_widget(RGB, rgb=True)
    layer = viewer.layers[CLICKS_LAYER]
    click(layer, (10, 10), True)
    wait_idle(qtbot, widget)
    assert any("simulated out of memory" in m for m in messages(notifications, "error"))
    assert len(layer.data) == 0 and widget.controller.clicks == 0  # the failed click is gone
    click(layer, (20, 20), True)
    wait_idle(qtbot, widget)
    assert widget.controller.state.clicks[-1].row == 20
    assert widget.controller.probs is not None


@pytest.mark.gui
def test_computation_settings_apply_to_the_next_object(open_widget, qtbot, monkeypatch) -> None:
    made = record_predictors(monkeypatch)
    viewer, _, widget = open_widget(RGB, rgb=True)
    layer = viewer.layers[CLICKS_LAYER]
    click(layer, (10, 10), True)
    wait_idle(qtbot, widget)
    widget.compute.mode.value = "f-BRS-B"
    widget.compute.lbfgs_iters.value = 3
    assert "next object" in widget.status.text()
    click(layer, (30, 30), False)
    wait_idle(qtbot, widget)
    predictor = made[-1]
    assert predictor.config.mode is BRSMode.NoBRS and widget.controller.state.lbfgs_evals == 0

    widget.controller.finish_object()
    click(layer, (20, 20), True)
    click(layer, (5, 40), False)
    wait_idle(qtbot, widget)
    predictor = made[-1]
    assert len(made) == 2  # one predictor per settings: the second object got a new one
    assert predictor.config.mode is BRSMode.fBRS_B and predictor.config.lbfgs.maxfun == 3
    assert widget.controller.state.lbfgs_evals > 0


@pytest.mark.gui
def test_a_checkpoint_written_by_the_trainer_loads_and_predicts(
    open_widget, qtbot, tmp_path
) -> None:
    from napari_fbrs.training.config import load_recipe
    from napari_fbrs.training.trainer import train
    from tests.training import TINY_RECIPE, write_folder_dataset

    data = write_folder_dataset(tmp_path / "data", num_images=2)
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY_RECIPE.format(root=data.as_posix()))
    config = load_recipe(recipe, ["train.max_steps=1", "validation.every_epochs=0"])
    summary = train(config, tmp_path / "run", progress=False)
    assert summary.last_checkpoint is not None

    viewer, _, widget = open_widget(RGB, rgb=True)
    widget.load_model_from_path(summary.last_checkpoint)
    qtbot.waitUntil(lambda: widget.model_label == summary.last_checkpoint.name, timeout=60_000)
    click(viewer.layers[CLICKS_LAYER], (10, 10), True)
    wait_idle(qtbot, widget)
    assert widget.controller.probs is not None
    assert widget.controller.probs.shape == RGB.shape[:2]


@pytest.mark.gui
@pytest.mark.parametrize("mode", ["NoBRS", "f-BRS-B", "RGB-BRS"])
def test_the_panel_and_the_command_line_build_the_same_predictor_settings(mode: str) -> None:
    """One translation from user settings to PredictorConfig, used by both."""
    import argparse

    from napari_fbrs._napari.settings import ComputeSettings
    from napari_fbrs.cli.options import add_predictor_options, predictor_config_from_args

    panel = ComputeSettings()
    panel.mode.value = mode
    panel.lbfgs_iters.value = 7
    parser = argparse.ArgumentParser()
    add_predictor_options(parser)
    args = parser.parse_args(
        ["--mode", mode, "--zoom-in", "--lbfgs-max-iters", "7"]
        + ([] if mode == "NoBRS" else ["--net-clicks", str(panel.net_clicks.value)])
        + ["--zoom-in-target", str(panel.zoom_target.value), "--zoom-in-skip-clicks", "1"]
        + ["--zoom-in-expand", str(panel.zoom_expand.value)]
    )
    assert panel.to_config() == predictor_config_from_args(args)


def test_model_ready_says_next_object_only_if_an_object_had_started(
    open_widget, tiny_model, qtbot
) -> None:
    """A model loaded before the first click of an object (in the worker's order) is that
    object's model: its status must not send the user to the next object."""
    viewer, _image, widget = open_widget(RGB, rgb=True)
    wait_idle(qtbot, widget)
    said: list[str] = []
    widget.controller.status_changed.connect(said.append)
    widget.set_model(tiny_model, "second")
    click(viewer.layers[CLICKS_LAYER], (10, 10), True)  # queued behind the model
    wait_idle(qtbot, widget)
    assert "Model second ready." in said
    said.clear()
    widget.set_model(tiny_model, "third")  # now an object is in progress
    wait_idle(qtbot, widget)
    assert "Model third ready. It applies from the next object on." in said
