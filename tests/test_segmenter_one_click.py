"""``Segmenter`` in one-click-per-object mode (issue 24): set_labels, click, undo, finish()."""

from __future__ import annotations

import numpy as np
import pytest

import napari_fbrs
from napari_fbrs.io.samples import synthetic_nuclei_with_labels

#: Centres (the deepest pixel) of four separate nuclei of the sample -> their ground-truth id.
CENTRES = {(43, 159): 16, (202, 45): 8, (152, 191): 9, (128, 130): 10}
#: Measured with the built-in model (release 2): IoU 0.916, 0.932, 0.949, 0.936.
MIN_IOU = 0.88


@pytest.fixture(scope="module")
def nuclei():
    return synthetic_nuclei_with_labels((256, 256), count=18, seed=1)


@pytest.fixture(scope="module")
def segmenter():
    return napari_fbrs.Segmenter(mode="NoBRS", one_click_per_object=True)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_one_click_on_each_nucleus_gives_one_label_each(segmenter, nuclei):
    image, truth = nuclei
    segmenter.set_image(image)
    labels = np.zeros(image.shape, np.int32)
    segmenter.set_labels(labels)
    assert segmenter.one_click_per_object and segmenter.labels is labels
    for count, (row, col) in enumerate(CENTRES):
        segmenter.click(row, col)
        assert labels.max() == count  # the previous nucleus was finished by this click
        assert len(segmenter.clicks) == 1
    assert segmenter.finish() == len(CENTRES)  # the last one, into the same labels
    assert sorted(np.unique(labels)) == list(range(len(CENTRES) + 1))
    for label_id, truth_id in enumerate(CENTRES.values(), start=1):
        assert _iou(labels == label_id, truth == truth_id) > MIN_IOU, label_id


def test_clicks_on_the_object_and_negative_clicks_correct_it(segmenter, nuclei):
    image, _ = nuclei
    segmenter.set_image(image)
    labels = np.zeros(image.shape, np.int32)
    segmenter.set_labels(labels)
    mask = segmenter.click(202, 45)
    assert mask[204, 47]
    segmenter.click(204, 47)  # on the object
    segmenter.click(10, 10, positive=False)  # negative, anywhere
    assert len(segmenter.clicks) == 3 and not labels.any()


def test_undo_of_the_finishing_click_restores_object_and_labels_exactly(segmenter, nuclei):
    image, _ = nuclei
    segmenter.set_image(image)
    labels = np.zeros(image.shape, np.int32)
    labels[:4, :4] = 9
    segmenter.set_labels(labels)
    segmenter.click(202, 45)
    before = segmenter.click(200, 40)
    probs = segmenter.probabilities.copy()
    kept = labels.copy()
    segmenter.click(152, 191)  # finishes the first nucleus as label 10
    assert (labels == 10).sum() > 500
    mask = segmenter.undo()
    assert np.array_equal(labels, kept)
    assert np.array_equal(mask, before) and np.array_equal(segmenter.probabilities, probs)
    assert len(segmenter.clicks) == 2
    segmenter.click(152, 191)  # the same id again: the undone one was freed
    assert labels.max() == 10


def test_the_mode_needs_labels_and_plain_mode_is_unchanged(nuclei):
    image, _ = nuclei
    seg = napari_fbrs.Segmenter(mode="NoBRS")
    assert not seg.one_click_per_object
    seg.set_image(image)
    with pytest.raises(RuntimeError, match="set_labels"):
        seg.finish()
    seg.one_click_per_object = True
    with pytest.raises(RuntimeError, match="set_labels"):
        seg.click(202, 45)
    with pytest.raises(ValueError, match="shape"):
        seg.set_labels(np.zeros((10, 10), np.int32))
    with pytest.raises(TypeError, match="integer"):
        seg.set_labels(np.zeros(image.shape, np.float32))
    seg.one_click_per_object = False
    seg.click(202, 45)
    seg.click(152, 191)  # outside, but the mode is off: a correction
    assert len(seg.clicks) == 2
    labels = np.zeros(image.shape, np.int32)
    assert seg.finish(labels) == 1  # finish(labels) works as before


def test_the_readme_one_click_example_runs_as_written(nuclei):
    """The README's "One click per object (Python)" block, with the image of the first one."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("### One click per object (Python)", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {"np": np, "napari_fbrs": napari_fbrs, "image": nuclei[0]}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
    assert sorted(np.unique(namespace["labels"])) == [0, 1, 2, 3]


def test_a_same_object_click_outside_the_mask_corrects_instead_of_finishing(segmenter, nuclei):
    """same_object=True (the widget's Shift+click): a positive click outside the current mask
    adds to the current object; the same click without it would finish the object."""
    image, _ = nuclei
    segmenter.set_image(image)
    labels = np.zeros(image.shape, np.int32)
    segmenter.set_labels(labels)
    first = segmenter.click(202, 45)
    assert not first[152, 191]  # the second nucleus lies outside the first mask
    mask = segmenter.click(152, 191, same_object=True)
    assert not labels.any()  # nothing finished
    assert len(segmenter.clicks) == 2 and [c.positive for c in segmenter.clicks] == [True, True]
    assert mask[152, 191]  # the click was honoured as part of this object
    segmenter.click(43, 159)  # a plain positive click outside: finishes as before
    assert labels.max() == 1 and len(segmenter.clicks) == 1
    assert (labels == 1)[152, 191] and (labels == 1)[202, 45]
