"""Masks and label images: exact round trips, dtype rules, refusals, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_fbrs.io.images import ImageError
from napari_fbrs.io.masks import read_labels, write_labels, write_mask


def _labels(dtype, high: int = 3) -> np.ndarray:
    labels = np.zeros((5, 6), dtype=dtype)
    labels[1:3, 1:3] = 1
    labels[3, 4] = high
    return labels


# -- masks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".tif", ".tiff", ".png", ".PNG"])
@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int64, np.float32])
def test_write_mask_round_trip(tmp_path, suffix, dtype):
    mask = (_labels(np.uint8) == 1).astype(dtype)
    path = write_mask(tmp_path / f"mask{suffix}", mask)
    assert path == tmp_path / f"mask{suffix}" and path.is_file()
    back = read_labels(path)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, mask.astype(np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temp file left


def test_write_mask_refuses_values_other_than_0_and_1(tmp_path):
    with pytest.raises(ValueError, match=r"only 0 and 1, found also \[2\]"):
        write_mask(tmp_path / "m.png", _labels(np.uint8, high=2))
    assert not any(tmp_path.iterdir())


def test_write_mask_3d_only_as_tif(tmp_path):
    stack = np.zeros((2, 3, 4), dtype=bool)
    stack[1, 2, 3] = True
    np.testing.assert_array_equal(read_labels(write_mask(tmp_path / "m.tif", stack)), stack)
    with pytest.raises(ValueError, match=r"PNG holds one 2-D plane.*\(2, 3, 4\)"):
        write_mask(tmp_path / "m.png", stack)


@pytest.mark.parametrize("name", ["mask.jpg", "mask", "mask.npy"])
def test_bad_suffix_is_refused_and_writes_nothing(tmp_path, name):
    with pytest.raises(ValueError, match="unsupported suffix"):
        write_mask(tmp_path / name, np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match="unsupported suffix"):
        write_labels(tmp_path / name, np.zeros((2, 2), np.uint8))
    assert not any(tmp_path.iterdir())


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        write_mask(tmp_path / "nowhere" / "m.png", np.zeros((2, 2), bool))


# -- labels --------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.uint32, np.int64])
def test_labels_tif_keeps_dtype_and_ids(tmp_path, dtype):
    labels = _labels(dtype, high=200)
    if np.iinfo(dtype).max > 70000:
        labels[0, 0] = 70000
    back = read_labels(write_labels(tmp_path / "l.tif", labels))
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, labels)


@pytest.mark.filterwarnings("error:<tifffile.TiffWriter.write>")  # it would store RGB(A)
@pytest.mark.parametrize("shape", [(2, 3, 4), (2, 5, 3)])
def test_labels_tif_keeps_negative_ids_and_3d(tmp_path, shape):
    labels = np.zeros(shape, dtype=np.int16)
    labels[0, 0, 0], labels[-1, -1, -1] = -1, 7
    back = read_labels(write_labels(tmp_path / "l.tiff", labels))
    assert back.dtype == np.int16 and back.shape == shape
    np.testing.assert_array_equal(back, labels)


@pytest.mark.parametrize(
    ("dtype", "high", "stored"),
    [(np.uint8, 255, np.uint8), (np.uint16, 300, np.uint16), (np.int32, 65535, np.uint16)],
)
def test_labels_png_stores_uint8_or_uint16(tmp_path, dtype, high, stored):
    labels = _labels(dtype, high=high)
    back = read_labels(write_labels(tmp_path / "l.png", labels))
    assert back.dtype == np.dtype(stored)
    np.testing.assert_array_equal(back, labels)


def test_bool_labels_become_uint8(tmp_path):
    back = read_labels(write_labels(tmp_path / "l.png", _labels(np.uint8) == 1))
    assert back.dtype == np.uint8 and int(back.sum()) == 4


@pytest.mark.parametrize("high", [65536, -1])
def test_labels_png_refuses_ids_outside_uint16(tmp_path, high):
    with pytest.raises(ValueError, match=r"PNG stores label ids 0\.\.65535.*save as \.tif"):
        write_labels(tmp_path / "l.png", _labels(np.int32, high=high))
    assert not any(tmp_path.iterdir())


def test_labels_must_be_integers(tmp_path):
    with pytest.raises(ValueError, match="labels must be integers, got dtype float64"):
        write_labels(tmp_path / "l.tif", np.zeros((2, 2)))


def test_read_labels_gives_palette_indices(tmp_path):
    indices = _labels(np.uint8, high=2)
    image = Image.fromarray(indices, mode="P")
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    image.save(tmp_path / "palette.png")
    np.testing.assert_array_equal(read_labels(tmp_path / "palette.png"), indices)


def test_read_labels_errors_name_the_file(tmp_path):
    with pytest.raises(ImageError, match=r"absent\.tif: no such label file"):
        read_labels(tmp_path / "absent.tif")
    (tmp_path / "labels.jpg").write_bytes(b"x")
    with pytest.raises(ImageError, match=r"labels\.jpg: label images must be"):
        read_labels(tmp_path / "labels.jpg")
    (tmp_path / "broken.png").write_bytes(b"not a png" * 20)
    with pytest.raises(ImageError, match=r"broken\.png: cannot read the label image"):
        read_labels(tmp_path / "broken.png")
    tifffile.imwrite(tmp_path / "float.tif", np.zeros((2, 2), np.float32))
    with pytest.raises(ImageError, match=r"float\.tif: a label image must hold integers"):
        read_labels(tmp_path / "float.tif")


def test_napari_saved_labels_read_back_exactly(tmp_path):
    """What napari's own File > Save writes for a labels layer (its ``imsave``)."""
    napari_io = pytest.importorskip("napari.utils.io")
    labels = _labels(np.int32, high=70000)
    napari_io.imsave(str(tmp_path / "saved.tif"), labels)
    np.testing.assert_array_equal(read_labels(tmp_path / "saved.tif"), labels)
    small = _labels(np.uint16, high=300)
    napari_io.imsave(str(tmp_path / "saved.png"), small)
    np.testing.assert_array_equal(read_labels(tmp_path / "saved.png"), small)


# -- atomic writes -------------------------------------------------------------------------


def _failing_tiff_writer(path, *args, **kwargs):
    with open(path, "wb") as fh:
        fh.write(b"II*\x00 half a file")
    raise OSError("disk full (simulated)")


def test_failing_write_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr(tifffile, "imwrite", _failing_tiff_writer)
    with pytest.raises(OSError, match="simulated"):
        write_labels(tmp_path / "l.tif", _labels(np.uint16))
    assert not any(tmp_path.iterdir())


def test_failing_write_keeps_the_previous_file(tmp_path, monkeypatch):
    labels = _labels(np.uint16, high=9)
    path = write_labels(tmp_path / "l.tif", labels)
    monkeypatch.setattr(tifffile, "imwrite", _failing_tiff_writer)
    with pytest.raises(OSError, match="simulated"):
        write_mask(path, labels > 0)
    assert [p.name for p in tmp_path.iterdir()] == ["l.tif"]
    np.testing.assert_array_equal(read_labels(path), labels)


def test_failing_png_write_leaves_no_file(tmp_path, monkeypatch):
    def broken_save(self, fp, *args, **kwargs):
        with open(fp, "wb") as fh:
            fh.write(b"\x89PNG half")
        raise OSError("encoder crashed (simulated)")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="simulated"):
        write_mask(tmp_path / "m.png", np.ones((3, 3), bool))
    assert not any(tmp_path.iterdir())
