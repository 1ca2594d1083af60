"""Augmentation: shapes, label integrity, geometry that keeps image and labels together."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_fbrs.training.augment import (
    augment,
    flip,
    jitter_colour,
    object_ids,
    rotate90,
    scaled_crop,
)
from napari_fbrs.training.config import AugmentConfig


def _pair(height: int = 40, width: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """An image whose red channel equals the label id * 40, so geometry can be checked."""
    labels = np.zeros((height, width), dtype=np.int32)
    labels[5:15, 5:20] = 1
    labels[20:35, 30:55] = 2
    labels[0:3, :] = -1
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[..., 0] = np.where(labels > 0, labels * 40, 0)
    image[..., 1] = np.arange(width, dtype=np.uint8)[None, :]
    image[..., 2] = np.arange(height, dtype=np.uint8)[:, None]
    return image, labels


def test_unit_scale_crop_is_an_exact_window() -> None:
    image, labels = _pair()
    rng = np.random.default_rng(0)
    for _ in range(20):
        crop_image, crop_labels = scaled_crop(image, labels, 1.0, (16, 24), rng)
        top, left = int(crop_image[0, 0, 2]), int(crop_image[0, 0, 1])
        assert np.array_equal(crop_image, image[top : top + 16, left : left + 24])
        assert np.array_equal(crop_labels, labels[top : top + 16, left : left + 24])


def test_upscaling_repeats_label_pixels() -> None:
    image, labels = _pair()
    crop_image, crop_labels = scaled_crop(image, labels, 2.0, (80, 120), np.random.default_rng(0))
    assert crop_labels.shape == (80, 120) and crop_labels.dtype == np.int32
    assert np.array_equal(crop_labels, np.kron(labels, np.ones((2, 2), dtype=np.int32)))
    assert crop_image.shape == (80, 120, 3) and crop_image.dtype == np.uint8


def test_small_images_are_zero_padded_around_the_centre() -> None:
    image, labels = _pair(20, 30)
    crop_image, crop_labels = scaled_crop(image, labels, 1.0, (40, 50), np.random.default_rng(0))
    assert crop_labels.shape == (40, 50)
    assert np.array_equal(crop_labels[10:30, 10:40], labels)
    assert not crop_labels[:10].any() and not crop_image[:10].any()
    assert not crop_labels[:, :10].any() and not crop_image[:, 40:].any()


@pytest.mark.parametrize("scale", [0.6, 0.75, 1.0, 1.3])
def test_labels_keep_their_ids_and_follow_the_image(scale: float) -> None:
    image, labels = _pair()
    rng = np.random.default_rng(1)
    for _ in range(10):
        crop_image, crop_labels = scaled_crop(image, labels, scale, (32, 32), rng)
        assert set(np.unique(crop_labels)) <= {-1, 0, 1, 2}
        # Where the 3x3 neighbourhood holds one label, bilinear sampling mixes nothing else,
        # so the red channel must still encode exactly the label under it.
        # (The crop's own border is excluded: what lies beyond it is unknown.)
        lowest = ndimage.minimum_filter(crop_labels, 3, mode="constant", cval=-9)
        uniform = lowest == ndimage.maximum_filter(crop_labels, 3)
        inner = uniform & (crop_labels >= 0)
        assert inner.sum() > 100
        assert np.array_equal(crop_image[..., 0][inner], crop_labels[inner] * 40)


def test_flip_and_rotation_move_image_and_labels_together() -> None:
    image, labels = _pair()
    rng = np.random.default_rng(2)
    for op in (flip, rotate90):
        for _ in range(8):
            moved_image, moved_labels = op(image, labels, rng)
            assert np.array_equal(
                moved_image[..., 0], np.where(moved_labels > 0, moved_labels * 40, 0)
            )


def test_colour_jitter_stays_uint8_and_keeps_shape() -> None:
    image, _ = _pair()
    config = AugmentConfig(brightness_contrast_prob=1.0, rgb_shift_prob=1.0)
    out = jitter_colour(image, config, np.random.default_rng(3))
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert not np.array_equal(out, image)
    unchanged = jitter_colour(
        image,
        AugmentConfig(brightness_contrast_prob=0.0, rgb_shift_prob=0.0),
        np.random.default_rng(3),
    )
    assert np.array_equal(unchanged, image)


def test_augment_returns_crops_with_an_object() -> None:
    image, labels = _pair()
    config = AugmentConfig()
    rng = np.random.default_rng(4)
    for _ in range(20):
        crop_image, crop_labels = augment(image, labels, config, (24, 24), rng, min_object_area=20)
        assert crop_image.shape == (24, 24, 3) and crop_image.dtype == np.uint8
        assert crop_labels.shape == (24, 24) and crop_labels.dtype == np.int32
        assert crop_image.flags.c_contiguous and crop_labels.flags.c_contiguous
        assert object_ids(crop_labels, 20)


def test_augment_is_seeded() -> None:
    image, labels = _pair()
    a = augment(image, labels, AugmentConfig(), (24, 24), np.random.default_rng(5))
    b = augment(image, labels, AugmentConfig(), (24, 24), np.random.default_rng(5))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_augment_rejects_bad_input() -> None:
    image, labels = _pair()
    with pytest.raises(ValueError, match="uint8"):
        augment(image.astype(np.float32), labels, AugmentConfig(), (8, 8), np.random.default_rng())
    with pytest.raises(ValueError, match="do not match"):
        augment(image, labels[1:], AugmentConfig(), (8, 8), np.random.default_rng())


def test_object_ids_by_area() -> None:
    labels = np.zeros((10, 10), dtype=np.int32)
    labels[:2, :2] = 4
    labels[5:, 5:] = 2
    labels[9, 0] = -1
    assert object_ids(labels) == [2, 4]
    assert object_ids(labels, min_area=5) == [2]
    assert object_ids(np.zeros((3, 3), dtype=np.int32)) == []


def test_object_zoom_fills_the_crop_with_one_enlarged_object() -> None:
    from napari_fbrs.training.augment import object_window

    labels = np.zeros((400, 300), np.int32)
    labels[100:110, 200:216] = 3  # a 10 x 16 "nucleus"
    config = AugmentConfig(object_zoom_prob=1.0, object_zoom_expand=(2.0, 2.0))
    rng = np.random.default_rng(0)
    scale, centre = object_window(labels, config, (64, 64), rng)
    assert scale == pytest.approx(64 / 32)  # longer side 16 x expand 2 fills the crop
    assert abs(centre[0] - 104.5) <= 3.2 and abs(centre[1] - 207.5) <= 3.2
    image = np.zeros((400, 300, 3), np.uint8)
    image[labels > 0] = 200
    config = AugmentConfig(
        object_zoom_prob=1.0, object_zoom_expand=(2.0, 2.0), flip_prob=0, rotate90_prob=0
    )
    crop, crop_labels = augment(image, labels, config, (64, 64), np.random.default_rng(1))
    area = int((crop_labels == 3).sum())
    assert 0.5 * 20 * 32 <= area <= 1.5 * 20 * 32  # the 10 x 16 box became about 20 x 32
    assert object_window(np.zeros((8, 8), np.int32), config, (64, 64), rng) is None


def test_object_zoom_settings_are_checked() -> None:
    from napari_fbrs.training.toml_values import RecipeError

    with pytest.raises(RecipeError, match="object_zoom_expand"):
        AugmentConfig(object_zoom_expand=(0.5, 2.0))
    with pytest.raises(RecipeError, match="object_zoom_prob"):
        AugmentConfig(object_zoom_prob=1.5)
