"""The "Segment everything" button: objects into the labels as one undo step, existing
labels kept, Cancel stops."""

from __future__ import annotations

import numpy as np
import pytest

from napari_fbrs.evaluation.instances import score_instances
from napari_fbrs.io.samples import synthetic_nuclei_with_labels

from .helpers import own_labels, wait_idle

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def builtin_model():
    from napari_fbrs.model.checkpoint import load_checkpoint
    from napari_fbrs.model.weights import resolve_checkpoint

    return load_checkpoint(resolve_checkpoint("default")).model


@pytest.fixture
def nuclei_widget(open_widget, builtin_model, qtbot):  # noqa: ANN001, ANN201
    image, truth = synthetic_nuclei_with_labels((256, 256), count=18, seed=1)
    viewer, layer, widget = open_widget(image)
    widget.set_model(builtin_model, "built-in")
    wait_idle(qtbot, widget)
    return viewer, widget, truth


def test_button_paints_objects_in_one_undo_step(nuclei_widget, qtbot) -> None:  # noqa: ANN001
    viewer, widget, truth = nuclei_widget
    widget.segment_all.min_area.value = 30
    widget.segment_all.start_button.clicked.emit()
    wait_idle(qtbot, widget, timeout=300_000)
    labels = own_labels(viewer)
    data = np.asarray(labels.data)
    assert data.max() >= 5
    assert score_instances(truth, data.astype(np.int32)).found >= 0.5
    assert np.bincount(data.ravel())[1:].min() >= 30
    assert "Segment everything:" in widget.controller.message
    assert not widget.controller.segment_everything.running
    labels.undo()  # one step takes every object back
    assert not np.asarray(labels.data).any()


def test_existing_labels_are_kept(nuclei_widget, qtbot) -> None:  # noqa: ANN001
    viewer, widget, truth = nuclei_widget
    target = viewer.add_labels(np.where(truth == 3, 9, 0).astype(np.int32), name="mine")
    widget.labels_choice.value = target
    widget.segment_all.start_button.clicked.emit()
    wait_idle(qtbot, widget, timeout=300_000)
    data = np.asarray(target.data)
    assert (data[truth == 3] == 9).all()
    assert data.max() > 9  # new objects after the existing id


def test_cancel_stops_and_paints_nothing(nuclei_widget, qtbot) -> None:  # noqa: ANN001
    viewer, widget, _ = nuclei_widget
    widget.segment_all.start_button.clicked.emit()
    assert widget.controller.segment_everything.running
    widget.segment_all.cancel_button.clicked.emit()
    wait_idle(qtbot, widget, timeout=300_000)
    assert "cancelled" in widget.controller.message
    assert not widget.controller.segment_everything.running
    painted = [x for x in viewer.layers if x.name.startswith("f-BRS labels [")]
    assert all(not np.asarray(x.data).any() for x in painted)
