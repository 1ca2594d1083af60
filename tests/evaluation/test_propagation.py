"""Evaluating propagation on a labelled stack: 3-D IoU, clicks per object, corrections and the
per-slice baseline, with an oracle predictor on the synthetic nuclei stack."""

from __future__ import annotations

import numpy as np
import pytest

from napari_fbrs.evaluation.propagation import (
    PropagationEvalSettings,
    evaluate_propagation,
    iou_3d,
)
from napari_fbrs.io.planes import stack_source
from napari_fbrs.synthetic import link_slices, read_slice_folder, synthetic_nuclei_stack
from tests.conftest import require_shared
from tests.inference.stacks.test_propagation import ThresholdOracle


@pytest.fixture(scope="module")
def nuclei() -> tuple[np.ndarray, np.ndarray]:
    return synthetic_nuclei_stack((14, 96, 96), count=3, seed=4)


def test_iou_3d_counts_missing_slices_as_misses() -> None:
    gt = np.zeros((3, 4, 4), bool)
    gt[:, 1:3, 1:3] = True
    full = {z: gt[z] for z in range(3)}
    assert iou_3d(full, gt) == 1.0
    assert iou_3d({0: gt[0]}, gt) == pytest.approx(1 / 3)
    assert iou_3d({0: gt[0], 1: np.ones((4, 4), bool)}, gt) == pytest.approx(8 / (4 + 16 + 4))


def test_propagation_needs_fewer_clicks_than_every_slice(nuclei) -> None:
    image, labels = nuclei
    settings = PropagationEvalSettings(target_iou=0.8, max_clicks=3, corrections=1)
    seen = []
    result = evaluate_propagation(
        ThresholdOracle(), stack_source(image), labels, settings, name="synthetic",
        on_object=seen.append,
    )  # fmt: skip
    assert [o.label for o in result.objects] == [1, 2, 3] and seen == result.objects
    for item in result.objects:
        present = np.flatnonzero((labels == item.label).any(axis=(1, 2)))
        assert item.slices == len(present) and item.start in present
        assert item.start_clicks == 1 and item.start_iou >= 0.8
        assert item.iou_3d > 0.75 and item.propagated >= item.slices - 2
        assert item.per_slice_clicks is not None and item.per_slice_clicks >= item.slices
        assert item.corrected_clicks is not None and item.corrected_clicks >= item.start_clicks
        assert item.corrected_iou_3d is not None and item.corrected_iou_3d >= item.iou_3d - 0.05
        assert set(item.stops) == {"+1", "-1"}
    summary = result.summary()
    assert summary["objects"] == 3 and summary["clicks"] == 1.0
    assert summary["per_slice_clicks"] > 5 * summary["clicks"]
    assert result.to_dict()["summary"] == summary


def test_object_selection_and_a_failed_start(nuclei) -> None:
    image, labels = nuclei

    class Blind(ThresholdOracle):
        def predict(self, clicks):  # noqa: ANN001, ANN202
            return np.zeros(self.image.shape[:2], np.float32)

    settings = PropagationEvalSettings(max_clicks=2, per_slice=False, max_objects=1)
    result = evaluate_propagation(Blind(), stack_source(image), labels, settings)
    (item,) = result.objects
    assert item.start_clicks == 2 and item.iou_3d == 0.0 and item.propagated == 0
    assert item.per_slice_clicks is None
    with pytest.raises(ValueError, match="Z, H, W"):
        evaluate_propagation(Blind(), stack_source(image), labels[0], settings)


def test_isbi_em_objects_can_be_evaluated() -> None:
    root = require_shared("datasets", "ISBI_EM")
    images, per_slice = read_slice_folder(root, count=3)
    labels = link_slices(per_slice, min_iou=0.3)
    crop = (slice(None), slice(0, 96), slice(0, 96))
    settings = PropagationEvalSettings(max_clicks=1, per_slice=False, min_slices=3, max_objects=2)
    result = evaluate_propagation(
        ThresholdOracle(level=128), stack_source(images[crop]), labels[crop], settings
    )
    assert len(result.objects) == 2 and all(o.slices == 3 for o in result.objects)
    assert all(0.0 <= o.iou_3d <= 1.0 for o in result.objects)
