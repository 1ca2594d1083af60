"""Labelled stacks: the synthetic nuclei stack, slice folders and linking objects across slices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from napari_fbrs.io.images import ImageError
from napari_fbrs.synthetic import link_slices, read_slice_folder, synthetic_nuclei_stack
from tests.conftest import require_shared


def test_synthetic_stack_has_3d_labels_consistent_across_slices() -> None:
    image, labels = synthetic_nuclei_stack((12, 64, 64), count=4, seed=3)
    assert image.shape == labels.shape == (12, 64, 64)
    assert image.dtype == np.uint16 and labels.dtype == np.int32
    assert sorted(np.unique(labels[labels > 0]).tolist()) == [1, 2, 3, 4]
    for nucleus in range(1, 5):
        planes = np.flatnonzero((labels == nucleus).any(axis=(1, 2)))
        assert 4 <= len(planes) < 12  # several slices, but not the whole stack
        assert np.array_equal(planes, np.arange(planes[0], planes[-1] + 1))  # no gaps
        areas = [(labels[z] == nucleus).sum() for z in planes]
        middle = int(np.argmax(areas))
        assert areas[0] < areas[middle] and areas[-1] < areas[middle]  # shrinks to the poles
    inside = image[labels > 0].astype(float)
    assert np.median(inside) > 5 * np.median(image[labels == 0])


def test_synthetic_stack_is_seeded_and_drifts() -> None:
    a = synthetic_nuclei_stack((10, 48, 48), count=2, seed=1, drift=2.0)
    b = synthetic_nuclei_stack((10, 48, 48), count=2, seed=1, drift=2.0)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    labels = a[1]
    planes = np.flatnonzero((labels == 1).any(axis=(1, 2)))
    centres = [np.argwhere(labels[z] == 1).mean(axis=0) for z in (planes[1], planes[-2])]
    assert np.linalg.norm(centres[1] - centres[0]) > 0.5  # the centre moves between slices


def test_link_slices_follows_overlapping_objects_and_splits_new_ones() -> None:
    per_slice = np.zeros((3, 10, 10), dtype=np.int32)
    per_slice[0, 1:5, 1:5] = 7  # object A ...
    per_slice[1, 2:6, 1:5] = 2  # ... moves down one row (IoU 0.6), another id on this slice
    per_slice[2, 2:6, 2:6] = 9
    per_slice[0, 6:9, 6:9] = 3  # object B, only on slice 0
    per_slice[1, 7:9, 7:9] = 4  # small, IoU 4/9 with B: linked at 0.4, not at 0.5
    linked = link_slices(per_slice, min_iou=0.5)
    a = linked[0, 2, 2]
    assert a > 0 and linked[1, 3, 2] == a and linked[2, 3, 3] == a
    assert linked[0, 7, 7] != linked[1, 8, 8] and linked[1, 8, 8] > 0
    assert len(np.unique(linked[linked > 0])) == 3
    assert link_slices(per_slice, min_iou=0.4)[1, 8, 8] == link_slices(per_slice, 0.4)[0, 7, 7]
    assert np.array_equal(linked > 0, per_slice > 0)


def test_read_slice_folder_orders_slices_numerically(tmp_path: Path) -> None:
    for n in (0, 2, 10):
        (tmp_path / "images").mkdir(exist_ok=True)
        (tmp_path / "labels").mkdir(exist_ok=True)
        Image.fromarray(np.full((4, 5), n, np.uint8)).save(tmp_path / "images" / f"{n}.png")
        Image.fromarray(np.full((4, 5), n + 1, np.uint16)).save(tmp_path / "labels" / f"{n}.png")
    images, labels = read_slice_folder(tmp_path)
    assert images.shape == labels.shape == (3, 4, 5)
    assert images[:, 0, 0].tolist() == [0, 2, 10] and labels[:, 0, 0].tolist() == [1, 3, 11]
    assert read_slice_folder(tmp_path, count=2)[0].shape[0] == 2
    (tmp_path / "labels" / "10.png").unlink()
    with pytest.raises(ImageError, match="10.png"):
        read_slice_folder(tmp_path)


def test_isbi_em_slices_form_3d_objects() -> None:
    root = require_shared("datasets", "ISBI_EM")
    images, labels = read_slice_folder(root, count=4)
    assert images.shape == (4, 512, 512) and images.dtype == np.uint8
    linked = link_slices(labels, min_iou=0.3)
    ids, first = np.unique(linked[linked > 0], return_index=True)
    spans = [np.unique(np.nonzero(linked == k)[0]).size for k in ids[:40]]
    assert max(spans) == 4  # some cells run through all four slices
    assert np.array_equal(linked > 0, labels > 0)
