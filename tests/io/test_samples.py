"""The synthetic nuclei samples and their ground truth."""

from __future__ import annotations

import numpy as np

from napari_fbrs.io.samples import nuclei_image, synthetic_nuclei_with_labels


def test_labels_mark_the_bright_nuclei_of_the_same_image() -> None:
    image, labels = synthetic_nuclei_with_labels((256, 256), count=18, seed=1)
    assert np.array_equal(image, nuclei_image())  # the sample is exactly this image
    assert labels.shape == image.shape and labels.dtype == np.int32
    ids = np.unique(labels[labels > 0])
    assert 10 <= len(ids) <= 18 and ids.max() <= 18  # overlapped nuclei may vanish
    inside, outside = image[labels > 0].astype(float), image[labels == 0].astype(float)
    assert np.median(inside) > 5 * np.median(outside)  # nuclei >= 1500 over a 200 background


def test_stack_labels_are_3d_and_every_nucleus_spans_several_planes() -> None:
    image, labels = synthetic_nuclei_with_labels((12, 64, 64), count=4, seed=2)
    assert labels.shape == image.shape == (12, 64, 64)
    for nucleus in np.unique(labels[labels > 0]):
        planes = np.flatnonzero((labels == nucleus).any(axis=(1, 2)))
        assert len(planes) >= 2
