"""``Segmenter.set_mask`` / ``edit_label`` / ``box`` (issue 24, items 1 and 4)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import napari_fbrs
from napari_fbrs.evaluation.clicker import next_click
from napari_fbrs.io.samples import synthetic_nuclei_with_labels


@pytest.fixture(scope="module")
def nuclei():
    return synthetic_nuclei_with_labels((256, 256), count=18, seed=1)


@pytest.fixture(scope="module")
def segmenter(nuclei):
    seg = napari_fbrs.Segmenter(mode="NoBRS")
    seg.set_image(nuclei[0])
    return seg


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_set_mask_is_the_mask_until_a_click_then_clicks_correct_it(segmenter, nuclei):
    _, truth = nuclei
    gt = truth == 2
    init = ndimage.binary_erosion(gt, iterations=3)
    returned = segmenter.set_mask(init.astype(np.uint8))
    assert returned.dtype == bool and np.array_equal(returned, init)
    assert np.array_equal(segmenter.mask, init) and segmenter.clicks == ()
    click = next_click(gt.astype(np.int8), init, np.ones(gt.shape, bool))
    mask = segmenter.click(click.row, click.col, click.positive)
    assert _iou(mask, gt) > max(_iou(init, gt), 0.85)
    assert np.array_equal(segmenter.undo(), init)


def test_edit_label_then_finish_keeps_the_id_and_replaces_the_old_pixels(segmenter, nuclei):
    _, truth = nuclei
    labels = truth.copy()
    gt = truth == 2
    labels[gt & ~ndimage.binary_erosion(gt, iterations=3)] = 0  # an eroded label 2
    before = labels.copy()
    assert np.array_equal(segmenter.edit_label(labels, 2), before == 2)
    click = next_click(gt.astype(np.int8), before == 2, np.ones(gt.shape, bool))
    mask = segmenter.click(click.row, click.col, click.positive)
    assert segmenter.finish(labels) == 2
    assert labels.max() == before.max()  # no new id
    assert np.array_equal(labels == 2, mask & ((before == 0) | (before == 2)))
    assert _iou(labels == 2, gt) > _iou(before == 2, gt)
    others = (before != 0) & (before != 2)
    assert np.array_equal(labels[others], before[others])
    assert segmenter.mask is None  # the next object starts from nothing


def test_set_mask_and_edit_label_refuse_bad_input(segmenter, nuclei):
    _, truth = nuclei
    with pytest.raises(ValueError, match="shape"):
        segmenter.set_mask(np.ones((10, 10), bool))
    with pytest.raises(ValueError, match="empty"):
        segmenter.set_mask(np.zeros(truth.shape, bool))
    with pytest.raises(ValueError, match="not binary"):
        segmenter.set_mask(truth)
    with pytest.raises(ValueError, match="not in the label image"):
        segmenter.edit_label(truth, 999)


def test_box_segments_a_nucleus_and_clicks_correct_it(segmenter, nuclei):
    _, truth = nuclei
    gt = truth == 9
    rows, cols = np.nonzero(gt)
    mask = segmenter.box(rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)
    assert mask.dtype == bool and mask.shape == gt.shape
    assert _iou(mask, gt) > 0.8 and np.array_equal(segmenter.mask, mask)
    assert not mask[: rows.min()].any() and not mask[rows.max() + 1 :].any()
    corrected = segmenter.click(int(rows.mean()), int(cols.mean()))
    assert _iou(corrected, gt) > 0.8 and len(segmenter.clicks) == 1
    with pytest.raises(ValueError, match="zero area"):
        segmenter.box(10, 10, 10, 20)
    with pytest.raises(ValueError, match="outside"):
        segmenter.box(0, 0, 300, 20)


def test_the_readme_prompt_example_runs_after_the_first_one():
    """The README's two "From Python" blocks, executed in order as they stand."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("## From Python", 1)[1].split("\n## ", 1)[0]
    blocks = [part.split("```", 1)[0] for part in section.split("```python\n")[1:]]
    assert len(blocks) >= 2  # the first example, this one (then one click, segment all)
    namespace: dict = {}
    for code in blocks[:2]:
        exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
    labels, new_id, mask = namespace["labels"], namespace["new_id"], namespace["mask"]
    assert labels.max() == new_id == 1
    assert mask.dtype == bool and mask[203, 45]
