"""The one normalisation policy: layouts, intensities and file reading."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_fbrs.io import images
from napari_fbrs.io.images import ImageError, load_rgb, read_image, to_model_rgb
from tests.conftest import require_shared


def _grey(values, dtype) -> np.ndarray:
    return np.array([values], dtype=dtype)


def _channel0(rgb: np.ndarray) -> list:
    return rgb[..., 0].ravel().tolist()


# -- layout ------------------------------------------------------------------------------------


def test_uint8_rgb_is_unchanged_copy_and_contiguous():
    data = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    out = to_model_rgb(data)
    assert out.dtype == np.uint8 and out.shape == (5, 7, 3)
    np.testing.assert_array_equal(out, data)
    assert out.flags.c_contiguous
    assert not np.shares_memory(out, data)


def test_non_contiguous_input_gives_contiguous_output():
    data = np.random.default_rng(1).integers(0, 256, (6, 4, 3), dtype=np.uint8)
    view = data[::-1, ::2]
    out = to_model_rgb(view)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, view)


def test_rgba_drops_alpha():
    data = np.zeros((2, 3, 4), dtype=np.uint8)
    data[..., 0], data[..., 1], data[..., 2], data[..., 3] = 10, 20, 30, 7
    out = to_model_rgb(data)
    assert out.shape == (2, 3, 3)
    assert out[0, 0].tolist() == [10, 20, 30]


def test_grey_is_replicated_to_three_channels():
    data = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = to_model_rgb(data)
    assert out.shape == (3, 4, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], data)


def test_rgb_flag_forces_the_layout():
    colour = np.full((4, 5, 3), 9, dtype=np.uint8)
    assert to_model_rgb(colour, rgb=True).shape == (4, 5, 3)
    assert to_model_rgb(np.zeros((4, 5), np.uint8), rgb=False).shape == (4, 5, 3)
    assert to_model_rgb(colour, rgb=np.True_).shape == (4, 5, 3)
    with pytest.raises(ImageError, match=r"rgb=False needs a 2-D grey image.*\(4, 5, 3\)"):
        to_model_rgb(colour, rgb=False)
    with pytest.raises(ImageError, match=r"rgb=True needs .*\(4, 5\)"):
        to_model_rgb(np.zeros((4, 5), np.uint8), rgb=True)
    with pytest.raises(ImageError, match=r"rgb=True needs .*\(4, 5, 2\)"):
        to_model_rgb(np.zeros((4, 5, 2), np.uint8), rgb=True)


@pytest.mark.parametrize(
    "shape",
    [(4, 5, 2), (4, 5, 1), (3, 4, 5), (2, 4, 5, 3), (7,), (0, 5), (4, 0, 3)],
    ids=["two-channel", "one-channel-axis", "z-stack", "rgb-stack", "1-d", "empty", "empty-rgb"],
)
def test_unsupported_layouts_are_refused_with_the_shape(shape):
    with pytest.raises(ImageError) as info:
        to_model_rgb(np.zeros(shape, dtype=np.uint8))
    message = str(info.value)
    assert str(shape) in message
    if 0 not in shape:
        assert "pass one 2-D slice or one channel" in message


def test_non_numeric_dtype_is_refused():
    with pytest.raises(ImageError, match="complex128"):
        to_model_rgb(np.zeros((3, 3), dtype=np.complex128))


# -- intensities without contrast limits ---------------------------------------------------


def test_uint16_uses_min_and_max():
    out = to_model_rgb(_grey([100, 150, 200, 125], np.uint16))
    # (x - 100) * 255 / 100: 0, 127.5 -> 128 (nearest, ties to even), 255, 63.75 -> 64
    assert _channel0(out) == [0, 128, 255, 64]


def test_signed_integers_use_min_and_max():
    out = to_model_rgb(_grey([-100, 0, 100], np.int16))
    assert _channel0(out) == [0, 128, 255]


def test_one_range_for_all_channels_keeps_colour_balance():
    data = np.zeros((1, 2, 3), dtype=np.uint16)
    data[0, 1] = [1000, 500, 0]
    out = to_model_rgb(data)
    assert out[0, 0].tolist() == [0, 0, 0]
    assert out[0, 1].tolist() == [255, 128, 0]


def test_float_ignores_nan_and_inf_for_the_range_and_maps_them_to_zero():
    data = np.array([[np.nan, 0.0, 0.25], [1.0, np.inf, -np.inf]], dtype=np.float32)
    out = to_model_rgb(data)
    assert out[..., 0].tolist() == [[0, 0, 64], [255, 0, 0]]


def test_all_nan_and_constant_images_become_zeros():
    assert not to_model_rgb(np.full((3, 3), np.nan)).any()
    assert not to_model_rgb(np.full((3, 3), 7, dtype=np.uint16)).any()
    assert not to_model_rgb(np.full((3, 3, 3), 0.5, dtype=np.float64)).any()


def test_bool_becomes_0_and_255():
    out = to_model_rgb(np.array([[True, False]]))
    assert _channel0(out) == [255, 0]
    assert to_model_rgb(np.ones((2, 2), dtype=bool)).min() == 255


# -- explicit contrast limits --------------------------------------------------------------


def test_contrast_limits_map_linearly_and_clip():
    data = _grey([0, 1000, 1250, 1500, 2000, 3000], np.uint16)
    out = to_model_rgb(data, contrast_limits=(1000, 2000))
    assert _channel0(out) == [0, 0, 64, 128, 255, 255]


def test_contrast_limits_apply_to_uint8_and_floats():
    data = _grey([0, 50, 75, 100, 255], np.uint8)
    np.testing.assert_array_equal(to_model_rgb(data, contrast_limits=(0, 255))[..., 0], data)
    assert _channel0(to_model_rgb(data, contrast_limits=(50, 100))) == [0, 0, 128, 255, 255]
    floats = _grey([-1.0, 0.0, 0.5, 1.0, 2.0, np.nan], np.float64)
    assert _channel0(to_model_rgb(floats, contrast_limits=[0.0, 1.0])) == [0, 0, 128, 255, 255, 0]


def test_equal_contrast_limits_threshold_at_lo():
    out = to_model_rgb(_grey([4, 5, 6, 100], np.uint16), contrast_limits=(5, 5))
    assert _channel0(out) == [0, 0, 255, 255]


@pytest.mark.parametrize("limits", [(2.0, 1.0), (np.nan, 1.0), (0.0, np.inf), (1.0,), "ab"])
def test_bad_contrast_limits_are_refused(limits):
    with pytest.raises(ImageError, match="contrast_limits"):
        to_model_rgb(np.zeros((2, 2), np.uint16), contrast_limits=limits)


def test_blockwise_rescale_matches_whole_image(monkeypatch):
    data = np.random.default_rng(2).normal(size=(37, 11, 3))
    data[3, 4, 1] = np.nan
    expected = to_model_rgb(data)
    monkeypatch.setattr(images, "_BLOCK_PIXELS", 50)  # 1 row of 33 values per block
    np.testing.assert_array_equal(to_model_rgb(data), expected)
    assert expected.max() == 255 and expected.min() == 0


# -- files ---------------------------------------------------------------------------------


def test_png_round_trip(tmp_path):
    data = np.random.default_rng(3).integers(0, 256, (6, 9, 3), dtype=np.uint8)
    path = tmp_path / "rgb.png"
    Image.fromarray(data).save(path)
    np.testing.assert_array_equal(read_image(path), data)
    np.testing.assert_array_equal(load_rgb(path), data)


def test_tif_round_trip_and_uppercase_suffix(tmp_path):
    data = np.array([[0, 1000], [2000, 4000]], dtype=np.uint16)
    path = tmp_path / "grey.TIF"
    tifffile.imwrite(path, data)
    raw = read_image(path)
    assert raw.dtype == np.uint16
    np.testing.assert_array_equal(raw, data)
    assert load_rgb(path)[..., 2].tolist() == [[0, 64], [128, 255]]


def test_load_rgb_names_the_file_for_a_stack(tmp_path):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.zeros((3, 4, 5), dtype=np.uint8), photometric="minisblack")
    with pytest.raises(ImageError, match=r"stack\.tif.*\(3, 4, 5\).*one 2-D slice"):
        load_rgb(path)


def test_missing_file_is_named(tmp_path):
    path = tmp_path / "nothing.png"
    with pytest.raises(ImageError, match=r"nothing\.png: no such image file"):
        read_image(path)


# imageio tries its legacy plugins on an undecodable file; one of them warns about itself.
@pytest.mark.filterwarnings("ignore:The legacy `DICOM` plugin:DeprecationWarning")
@pytest.mark.parametrize("name", ["broken.png", "broken.jpg", "broken.tif"])
def test_corrupt_file_is_named(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"this is not an image at all" * 10)
    with pytest.raises(ImageError, match=rf"{name.replace('.', '[.]')}: cannot read the image"):
        read_image(path)


def test_empty_file_is_named(tmp_path):
    path = tmp_path / "empty.png"
    path.touch()
    with pytest.raises(ImageError, match=r"empty\.png: the file is empty"):
        load_rgb(path)


@pytest.mark.reference
def test_sheep_matches_the_reference_decoding():
    reference = require_shared("reference")
    expected = np.load(reference / "sheep_inputs.npz")["image_rgb"]
    np.testing.assert_array_equal(load_rgb(reference / "sheep.jpg"), expected)
