"""Window sources: every window normalised with one mapping; lazy data read only where asked."""

from __future__ import annotations

import numpy as np
import pytest

from napari_fbrs.io.images import ImageError, to_model_rgb
from napari_fbrs.io.planes import plane_source, stack_from_planes, stack_source


class CountingArray:
    """A lazy array stand-in that records which windows were read."""

    def __init__(self, data: np.ndarray) -> None:
        self.data, self.reads = data, []
        self.shape, self.dtype = data.shape, data.dtype

    def __getitem__(self, key):  # noqa: ANN001, ANN204
        self.reads.append(key)
        return self.data[key]


def test_numpy_windows_match_the_whole_image_normalisation() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(100, 4000, (30, 40), dtype=np.uint16)
    source = plane_source(image)
    whole = to_model_rgb(image)
    assert source.shape == (30, 40) and source.contrast_limits == (image.min(), image.max())
    np.testing.assert_array_equal(source.read(slice(0, 30), slice(0, 40)), whole)
    np.testing.assert_array_equal(source.read(slice(5, 9), slice(10, 30)), whole[5:9, 10:30])


def test_uint8_rgb_passes_through_and_rgba_drops_alpha() -> None:
    image = np.random.default_rng(1).integers(0, 256, (8, 9, 4), dtype=np.uint8)
    source = plane_source(image)
    assert source.contrast_limits is None and source.rgb
    np.testing.assert_array_equal(source.read(slice(1, 3), slice(0, 9)), image[1:3, :, :3])


def test_lazy_data_is_read_only_in_the_window_and_needs_limits() -> None:
    lazy = CountingArray(np.arange(100 * 120, dtype=np.uint16).reshape(100, 120))
    with pytest.raises(ImageError, match="contrast_limits"):
        plane_source(lazy)
    source = plane_source(lazy, contrast_limits=(0, 12000))
    out = source.read(slice(10, 20), slice(30, 50))
    assert out.shape == (10, 20, 3) and lazy.reads == [(slice(10, 20), slice(30, 50))]
    expected = to_model_rgb(lazy.data[10:20, 30:50], (0, 12000))
    np.testing.assert_array_equal(out, expected)


def test_pyramid_reads_level_0_and_takes_limits_from_the_coarsest() -> None:
    full = np.linspace(0, 1000, 64 * 64, dtype=np.float32).reshape(64, 64)
    levels = [CountingArray(full), full[::4, ::4]]
    source = plane_source(levels)
    assert source.shape == (64, 64)
    assert source.contrast_limits == (float(full[::4, ::4].min()), float(full[::4, ::4].max()))
    source.read(slice(0, 8), slice(0, 8))
    assert levels[0].reads == [(slice(0, 8), slice(0, 8))]


def test_dask_array_source_if_dask_is_installed() -> None:
    da = pytest.importorskip("dask.array")
    data = da.from_array(np.arange(64 * 64, dtype=np.uint8).reshape(64, 64), chunks=16)
    out = plane_source(data).read(slice(16, 20), slice(0, 4))
    np.testing.assert_array_equal(out[..., 0], np.asarray(data[16:20, 0:4]))


def test_stack_planes_share_one_mapping() -> None:
    stack = np.zeros((3, 5, 6), dtype=np.uint16)
    stack[0] = 100
    stack[2] = 300
    source = stack_source(stack)
    assert len(source) == 3 and source.contrast_limits == (0.0, 300.0)
    assert source.plane(0).read(slice(0, 1), slice(0, 1))[0, 0, 0] == 85  # 100 / 300 * 255
    assert source.plane(2).read(slice(0, 1), slice(0, 1))[0, 0, 0] == 255
    with pytest.raises(IndexError):
        source.plane(3)
    with pytest.raises(ImageError, match="not N x H x W"):
        stack_source(stack[0])


def test_stack_from_planes_needs_limits_for_16_bit() -> None:
    planes = [np.full((4, 4), v, np.uint16) for v in (10, 20)]
    with pytest.raises(ImageError, match="contrast_limits"):
        stack_from_planes(planes.__getitem__, 2)
    source = stack_from_planes(planes.__getitem__, 2, contrast_limits=(0, 20))
    assert source.plane(1).read(slice(0, 2), slice(0, 2)).shape == (2, 2, 3)
