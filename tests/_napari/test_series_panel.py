"""Annotating a folder image after image: labels saved as the user moves on, resumable,
readable as a folder dataset; and the ``annotate-folder`` command."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_fbrs._napari.launch import open_series
from napari_fbrs.cli import main
from napari_fbrs.io.datasets import open_dataset

from .helpers import click, wait_idle

pytestmark = pytest.mark.gui


@pytest.fixture
def folder(tmp_path):  # noqa: ANN201
    rng = np.random.default_rng(0)
    images = tmp_path / "cells"
    images.mkdir()
    for i in range(3):
        data = rng.integers(0, 60, (48, 64), dtype=np.uint8)
        data[10:30, 20:40] = 200
        tifffile.imwrite(images / f"img{i + 1}.tif", data)
    return images


def _annotate_one(widget, qtbot) -> None:  # noqa: ANN001
    c = widget.controller
    click(c.clicks_layer, (20, 30), True)
    wait_idle(qtbot, widget)
    c.set_threshold(float(np.percentile(c.probs, 70)))
    wait_idle(qtbot, widget)
    c.finish_object()
    wait_idle(qtbot, widget)


def test_labels_are_saved_on_next_and_the_work_resumes(
    make_napari_viewer, qtbot, folder, tiny_model, tmp_path
) -> None:
    out = tmp_path / "annotations"
    widget = open_series(str(folder), str(out), beside=False, skip_annotated=True, run=False)
    widget.set_model(tiny_model, "tiny")
    wait_idle(qtbot, widget)
    panel = widget.series
    assert panel.series.current.name == "img1.tif" and panel.image.name == "img1.tif"
    _annotate_one(widget, qtbot)
    panel.move(1)
    assert (out / "labels" / "img1.tif").is_file()  # saved when moving on
    assert (out / "images" / "img1.tif").is_file()
    assert panel.series.current.name == "img2.tif" and "1 of 3 annotated" in panel.where.text()
    assert widget.controller.image is panel.image  # the widget follows the series
    widget.viewer.close()

    again = open_series(str(folder), str(out), beside=False, skip_annotated=True, run=False)
    assert again.series.series.current.name == "img2.tif"  # resumes at the first not done
    dataset = open_dataset("folder", out)
    assert len(dataset) >= 1  # evaluate --dataset folder and fine-tuning read it as it is
    saved = tifffile.imread(out / "labels" / "img1.tif")
    assert saved.shape == (48, 64) and saved.max() == 1
    again.viewer.close()


def test_each_image_of_the_series_has_one_labels_layer(
    make_napari_viewer, qtbot, folder, tiny_model, tmp_path
) -> None:
    from napari.layers import Labels

    widget = open_series(str(folder), str(tmp_path / "o"), False, False, run=False)
    widget.set_model(tiny_model, "tiny")
    wait_idle(qtbot, widget)
    panel = widget.series
    for _ in range(2):
        _annotate_one(widget, qtbot)
        panel.move(1)
        wait_idle(qtbot, widget)
    _annotate_one(widget, qtbot)
    preview = widget.controller.layers.preview
    labels = [x for x in widget.viewer.layers if isinstance(x, Labels) and x is not preview]
    assert labels == [panel.labels_layer], [x.name for x in widget.viewer.layers]
    assert panel.labels_layer.name == "f-BRS labels [img3.tif]"
    assert panel.beside.text.endswith("(<name>_labels.tif)")  # the file name as it is written
    widget.viewer.close()


def test_moving_on_with_an_object_in_progress_is_refused(
    make_napari_viewer, qtbot, folder, tiny_model, tmp_path
) -> None:
    widget = open_series(str(folder), str(tmp_path / "o"), False, True, run=False)
    widget.set_model(tiny_model, "tiny")
    wait_idle(qtbot, widget)
    click(widget.controller.clicks_layer, (20, 30), True)
    wait_idle(qtbot, widget)
    widget.series.move(1)
    assert widget.series.series.current.name == "img1.tif"
    assert "Finish (C) or reset (X)" in widget.status.text()
    widget.viewer.close()


def test_annotate_folder_checks_the_folder_before_opening_a_window(tmp_path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["annotate-folder", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "no images found" in err and err.count("\n") == 1
