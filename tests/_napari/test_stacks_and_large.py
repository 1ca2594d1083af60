"""Issue 15 in the viewer: local clicks on a large (lazy) image, propagation through a stack."""

from __future__ import annotations

import numpy as np
import pytest

from napari_fbrs._napari.layers import CLICKS_LAYER
from napari_fbrs.synthetic import synthetic_nuclei_stack

from .helpers import click, messages, own_labels, wait_idle

pytestmark = pytest.mark.gui


class DiskModel:
    """A stand-in predictor: a disk of radius 30 px around each positive click, so the object
    is local (a random network predicts ~0.5 everywhere and the window would grow to all)."""

    uses_prev_mask = False

    def __init__(self, model, config, device) -> None:  # noqa: ANN001
        from napari_fbrs.inference.engine.predictor import ClickStats

        self.config, self.last, self.image = config, ClickStats(), None

    @property
    def prob_thresh(self) -> float:
        return self.config.prob_thresh

    def set_image(self, image) -> None:  # noqa: ANN001
        self.image = np.asarray(image)

    def predict(self, clicks):  # noqa: ANN001, ANN201
        rows, cols = np.indices(self.image.shape[:2])
        probs = np.zeros(self.image.shape[:2], np.float32)
        for c in clicks:
            if c.positive:
                probs[(rows - c.row) ** 2 + (cols - c.col) ** 2 <= 900] = 0.9
        return probs

    def set_previous_mask(self, probs) -> None:  # noqa: ANN001
        pass

    def get_state(self) -> None:
        return None

    def set_state(self, state) -> None:  # noqa: ANN001
        pass

    def reset(self) -> None:
        pass


def test_a_click_on_a_large_lazy_image_reads_and_predicts_only_a_window(
    open_widget, qtbot, monkeypatch
) -> None:
    da = pytest.importorskip("dask.array")
    from napari_fbrs.inference.engine import factory

    monkeypatch.setattr(factory, "Predictor", DiskModel)
    big = da.zeros((3000, 3000), dtype=np.uint8, chunks=500) + 20
    reads: list[tuple[slice, ...]] = []
    original = big.__class__.__getitem__

    def counting(self, key):  # noqa: ANN001, ANN202
        reads.append(key)
        return original(self, key)

    monkeypatch.setattr(big.__class__, "__getitem__", counting)
    viewer, image, widget = open_widget(big, contrast_limits=(0, 255))
    assert widget.compute.local_window.value == 512  # on by default for large images
    click(viewer.layers[CLICKS_LAYER], (1500, 1500), True)
    wait_idle(qtbot, widget, timeout=120_000)
    state = widget.controller.state
    assert state.map is not None and not state.map.covers_image
    (r0, c0), (h, w) = state.map.origin, state.map.probs.shape
    assert r0 <= 1500 < r0 + h and c0 <= 1500 < c0 + w and h * w < 3000 * 3000 / 4
    windows = [k for k in reads if isinstance(k, tuple) and len(k) == 2]
    assert windows and all(
        (k[0].stop - k[0].start) * (k[1].stop - k[1].start) < 3000 * 3000 / 4
        for k in windows
        if isinstance(k[0], slice) and k[0].stop is not None
    )
    widget.controller.finish_object()
    wait_idle(qtbot, widget)
    assert own_labels(viewer).data.shape == (3000, 3000)


@pytest.fixture
def nuclei_stack():  # noqa: ANN201
    return synthetic_nuclei_stack((10, 96, 96), count=2, seed=4)


def test_propagate_writes_one_id_over_the_slices_as_one_undo_step(
    open_widget, qtbot, nuclei_stack, notifications
) -> None:
    image, gt = nuclei_stack
    viewer, layer, widget = open_widget(image)
    z = int(np.argmax((gt == 1).sum(axis=(1, 2))))
    viewer.dims.set_current_step(0, z)
    r, c = np.argwhere(gt[z] == 1).mean(axis=0).astype(int)
    click(viewer.layers[CLICKS_LAYER], (z, r, c), True)
    wait_idle(qtbot, widget)
    widget.propagation.max_slices.value = 2
    widget.propagate_button.native.click()
    wait_idle(qtbot, widget, timeout=120_000)
    labels = own_labels(viewer)
    ids = set(np.unique(labels.data)) - {0}
    assert len(ids) == 1
    (label,) = ids
    slices = sorted(set(np.nonzero(labels.data == label)[0]))
    assert z in slices and len(slices) <= 5  # 2 slices each way at most
    assert "slices" in widget.status.text() and "Z:" in widget.status.text()
    assert widget.controller.clicks == 0  # the object is done
    labels.undo()  # the whole propagated object is one step of napari's undo
    assert not labels.data.any()
    assert not messages(notifications, "error")


def test_the_propagation_panel_and_the_command_line_build_the_same_config() -> None:
    """The stop rules' spin boxes reach the config, as the CLI flags do."""
    import argparse

    from napari_fbrs._napari.settings import PropagationSettings
    from napari_fbrs.cli.stack import add_stack_options, propagation_config
    from napari_fbrs.inference.stacks.propagation import PropagationConfig

    panel = PropagationSettings()
    assert panel.to_config() == PropagationConfig()
    panel.min_contrast.value = 0.35
    panel.min_iou.value = 0.5
    parser = argparse.ArgumentParser()
    add_stack_options(parser)
    args = parser.parse_args(["--propagate-min-contrast", "0.35", "--propagate-min-iou", "0.5"])
    assert panel.to_config() == propagation_config(args)
    assert panel.to_config().min_contrast_ratio == pytest.approx(0.35)
    panel.min_contrast.value = 0.0
    assert panel.to_config().min_contrast_ratio == 0.0  # the rule off


def test_nothing_to_propagate_on_a_single_image_says_so(open_widget, qtbot) -> None:
    viewer, _, widget = open_widget(np.zeros((40, 40), np.uint8))
    wait_idle(qtbot, widget)
    widget.propagate_button.native.click()
    wait_idle(qtbot, widget)
    assert "Nothing to propagate" in widget.status.text()
    click(viewer.layers[CLICKS_LAYER], (20, 20), True)
    wait_idle(qtbot, widget)
    widget.propagate_button.native.click()
    wait_idle(qtbot, widget)
    assert "single plane" in widget.status.text()
