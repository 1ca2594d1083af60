"""The f-BRS fine-tune dock widget, headless: layers in, a new checkpoint out and offered."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_fbrs._napari import model_choice
from napari_fbrs._napari.finetune_data import layer_pairs
from napari_fbrs._napari.finetune_widget import FROM_FOLDER
from napari_fbrs.model.checkpoint import load_checkpoint
from napari_fbrs.training.finetune import (
    FinetuneSettings,
    LabelledImage,
    Verdict,
    write_finetune_folder,
)

from .helpers import messages, wait_settled

PLUGIN = "napari-fbrs"
FINETUNE = "f-BRS fine-tune"
SEGMENT = "f-BRS interactive segmentation"


def discs(shape: tuple[int, ...] = (96, 96), count: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    rows, cols = np.indices(shape[-2:])
    labels = np.zeros(shape, np.int32)
    for k in range(1, count + 1):
        r, c = rng.uniform(10, shape[-2] - 10, size=2)
        plane = (rows - r) ** 2 + (cols - c) ** 2 < 49
        labels[..., plane] = k
    image = (rng.integers(0, 500, shape) + 3000 * (labels > 0)).astype(np.uint16)
    return image, labels


@pytest.fixture
def small_run(monkeypatch):
    """Shrink the run (crop 64, batch 2, one held-out object) so that it trains in seconds."""
    import torch

    from napari_fbrs._napari import finetune_widget

    torch.set_num_threads(1)
    tiny = FinetuneSettings(batch_size=2, crop_size=64, validation_samples=1, max_clicks=5)
    monkeypatch.setattr(finetune_widget, "SETTINGS", tiny)


def verdict_will_be(monkeypatch, verdict: Verdict) -> None:
    """Whatever a tiny run measures, the comparison says ``verdict``."""
    from napari_fbrs.training import finetune

    monkeypatch.setattr(finetune, "compare_noc", lambda before, after, objects: verdict)


def test_layer_pairs_take_labelled_planes_with_the_layer_contrast(make_napari_viewer) -> None:
    viewer = make_napari_viewer()
    image, labels = discs((3, 64, 64))
    labels[1] = 0  # an unlabelled plane is skipped
    img = viewer.add_image(image, contrast_limits=(0, 4000))
    lab = viewer.add_labels(labels)
    items = layer_pairs(img, lab)
    assert [item.name for item in items] == ["image_0", "image_2"]
    assert items[0].image.shape == (64, 64, 3) and items[0].image.dtype == np.uint8
    assert items[0].image[labels[0] > 0].min() >= 3000 * 255 // 4000 - 1
    with pytest.raises(ValueError, match="do not cover"):
        layer_pairs(img, viewer.add_labels(np.zeros((64, 64), np.int32)))


@pytest.mark.gui
def test_finetune_from_layers_offers_a_checkpoint_that_loads(
    make_napari_viewer, qtbot, tmp_path, tiny_checkpoint, small_run, notifications, monkeypatch
) -> None:
    verdict_will_be(monkeypatch, Verdict.BETTER)
    viewer = make_napari_viewer()
    image, labels = discs((160, 96), count=8)
    viewer.add_image(image, name="cells")
    viewer.add_labels(labels, name="my labels")
    _, segment = viewer.window.add_plugin_dock_widget(PLUGIN, SEGMENT)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    widget.image_choice.value = viewer.layers["cells"]
    widget.labels_choice.value = viewer.layers["my labels"]
    widget.model_file.value = tiny_checkpoint
    widget.iterations.value = 2
    output = tmp_path / "mine.pth"
    widget.output.value = output

    worker = widget.start()
    assert worker is not None and not widget.start_button.enabled
    qtbot.waitUntil(lambda: widget.result is not None, timeout=240_000)
    qtbot.waitUntil(lambda: widget.start_button.enabled, timeout=30_000)
    result = widget.result
    assert result.checkpoint == output and result.steps == 2
    assert set(result.before) == {"noc@85", "noc@90"} == set(result.after)
    assert "NOC@90" in widget.status.text() and "mine.pth" in widget.status.text()
    assert load_checkpoint(output).arch == "hrnet18s_ocr64"
    assert "Better" in widget.status.text() and not widget.keep_button.enabled
    # the copy of the data and the trainer's files are gone (not asked to keep them)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.pth"]
    # offered in the segmentation widget's chooser, and it loads from there
    offered = model_choice.ModelSource("file", str(output.resolve()))
    assert offered in segment.model_choice.choices
    segment.model_choice.value = offered
    segment.load_button.native.click()
    qtbot.waitUntil(lambda: segment.model_label == "mine.pth", timeout=60_000)
    assert not messages(notifications, "error")


@pytest.mark.gui
def test_finetune_from_a_folder_can_be_cancelled(
    make_napari_viewer, qtbot, tmp_path, tiny_checkpoint, small_run
) -> None:
    items = []
    for seed in range(3):
        image, labels = discs(seed=seed)
        rgb = np.repeat((image // 16).astype(np.uint8)[..., None], 3, axis=2)
        items.append(LabelledImage(f"n{seed}", rgb, labels))
    write_finetune_folder(items, tmp_path / "split")
    folder = tmp_path / "split" / "train"  # a plain images/ + labels/ folder
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    widget.data_source.value = FROM_FOLDER
    assert not widget.folder.native.isHidden() and widget.image_choice.native.isHidden()
    widget.folder.value = folder
    widget.model_file.value = tiny_checkpoint
    widget.iterations.value = 500
    widget.output.value = tmp_path / "cancelled.pth"
    widget._signal.stepped.connect(lambda *_: widget.cancel())
    widget.start()
    qtbot.waitUntil(lambda: widget.result is not None, timeout=240_000)
    assert widget.result.cancelled and widget.result.steps < 500
    assert not Path(tmp_path / "cancelled.pth").exists()
    assert "Cancelled" in widget.status.text()
    assert not (tmp_path / "cancelled_run").exists() and not (tmp_path / "cancelled_data").exists()
    assert "cancelled_run" not in widget.status.text()  # names no folder that does not exist


@pytest.mark.gui
def test_unlabelled_layers_are_refused_with_a_notification(
    make_napari_viewer, tmp_path, notifications
) -> None:
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((64, 64), np.uint8), name="empty")
    viewer.add_labels(np.zeros((64, 64), np.int32), name="nothing")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    widget.output.value = tmp_path / "x.pth"
    assert widget.start() is None
    assert any("hold no objects" in m for m in messages(notifications, "error"))
    assert not (tmp_path / "x.pth").exists()


def _folder_widget(make_napari_viewer, tmp_path, tiny_checkpoint, name: str):  # noqa: ANN001, ANN202
    items = []
    for seed in range(4):
        image, labels = discs(seed=seed)
        rgb = np.repeat((image // 16).astype(np.uint8)[..., None], 3, axis=2)
        items.append(LabelledImage(f"n{seed}", rgb, labels))
    write_finetune_folder(items, tmp_path / "split")
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    widget.data_source.value = FROM_FOLDER
    widget.folder.value = tmp_path / "split" / "train"
    widget.model_file.value = tiny_checkpoint
    widget.output.value = tmp_path / name
    said: list[str] = []
    original = widget._say
    widget._say = lambda text: (said.append(text), original(text))[1]
    return viewer, widget, said


@pytest.mark.gui
def test_the_status_names_each_phase_and_what_it_costs(
    make_napari_viewer, qtbot, tmp_path, tiny_checkpoint, small_run
) -> None:
    viewer, widget, said = _folder_widget(make_napari_viewer, tmp_path, tiny_checkpoint, "p.pth")
    widget.iterations.value = 2
    assert "p_data/" in widget.files.text() and "p_run/" in widget.files.text()
    assert "iteration" in widget.costs.text() and "NoC" in widget.costs.text()
    assert "well under a minute" not in widget.costs.text()
    assert "at most 5 clicks" in widget.costs.text()  # 1 object x 5 clicks (small_run)
    widget.start()
    qtbot.waitUntil(lambda: widget.result is not None, timeout=240_000)
    phases = [t for t in said if t.startswith(("Measuring", "Training", "Saving"))]
    first_step = next(i for i, t in enumerate(phases) if t.startswith("Training: step"))
    assert phases[0].startswith("Measuring NoC with the starting model")  # not "step 1 of 1"
    assert first_step > 0 and "s per iteration" in phases[first_step]
    assert any(t.startswith("Measuring NoC with the fine-tuned model") for t in phases)
    assert widget.result.checkpoint is not None
    assert not (tmp_path / "p_run").exists()  # the trainer's 50 MB files are not left behind
    assert not (tmp_path / "p_data").exists()  # nor the copy of the training data


@pytest.mark.gui
def test_cancel_while_measuring_noc_saves_nothing(
    make_napari_viewer, qtbot, tmp_path, tiny_checkpoint, small_run
) -> None:
    viewer, widget, said = _folder_widget(make_napari_viewer, tmp_path, tiny_checkpoint, "c.pth")
    widget.iterations.value = 1  # the last step used to end the run as a normal one
    widget._signal.phase.connect(lambda phase, n: widget.cancel() if phase == "before" else None)
    widget.start()
    qtbot.waitUntil(lambda: widget.result is not None, timeout=240_000)
    assert widget.result.cancelled and widget.result.steps == 0
    assert not (tmp_path / "c.pth").exists()
    assert "Cancelled" in widget.status.text()
    assert "c_run" not in widget.status.text() and "c_data" not in widget.status.text()
    assert list(tmp_path.glob("c*")) == []


@pytest.mark.gui
def test_closing_the_viewer_during_a_run_stops_it_quietly(
    make_napari_viewer, qtbot, tmp_path, tiny_checkpoint, small_run, capfd
) -> None:
    viewer, widget, said = _folder_widget(make_napari_viewer, tmp_path, tiny_checkpoint, "v.pth")
    widget.iterations.value = 500
    worker = widget.start()
    qtbot.waitUntil(lambda: any(t.startswith("Training: step") for t in said), timeout=240_000)
    viewer.close()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=240_000)
    assert not (tmp_path / "v.pth").exists()
    err = capfd.readouterr().err
    assert "has been deleted" not in err and "Traceback" not in err


@pytest.mark.gui
def test_a_worse_model_stays_out_of_weights_until_keep_anyway(
    make_napari_viewer, qtbot, tmp_path, tiny_checkpoint, small_run, monkeypatch
) -> None:
    verdict_will_be(monkeypatch, Verdict.WORSE)
    viewer, widget, said = _folder_widget(make_napari_viewer, tmp_path, tiny_checkpoint, "w.pth")
    _, segment = viewer.window.add_plugin_dock_widget(PLUGIN, SEGMENT)
    selected = segment.model_choice.value
    widget.iterations.value = 1
    widget.start()
    qtbot.waitUntil(lambda: widget.result is not None, timeout=240_000)
    qtbot.waitUntil(lambda: widget.start_button.enabled, timeout=30_000)
    offered = model_choice.ModelSource("file", str((tmp_path / "w.pth").resolve()))
    text = widget.status.text()
    assert "NOC@85" in text and "->" in text  # before and after are shown
    assert "not added to Weights" in text and "previous model stays selected" in text
    assert offered not in segment.model_choice.choices
    assert segment.model_choice.value == selected and widget.keep_button.enabled
    widget.keep_button.native.click()
    assert offered in segment.model_choice.choices
    assert segment.model_choice.value == selected  # offered, not switched to
    assert "Kept w.pth anyway" in widget.status.text() and not widget.keep_button.enabled


@pytest.mark.gui
@pytest.mark.parametrize("size", [(1280, 800), (1600, 1000), (1920, 1080)])
def test_the_actions_stay_visible_beside_the_segmentation_dock(
    make_napari_viewer, qtbot, size
) -> None:
    """Issue 22, defect 3: opened after the segmentation dock, the buttons were 0 px high."""
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(*size)
    viewer.add_image(np.zeros((64, 64), np.uint8))
    viewer.window.add_plugin_dock_widget(PLUGIN, SEGMENT)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    qtbot.waitUntil(lambda: widget.isVisible(), timeout=10_000)
    wait_settled(qtbot, widget)  # the dock laid out
    for button in (widget.start_button, widget.cancel_button, widget.keep_button):
        native = button.native
        assert native.height() >= native.minimumSizeHint().height() > 0, button.text
        assert not native.visibleRegion().isEmpty(), button.text
