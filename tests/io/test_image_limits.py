"""Issue 16: every reader checks the pixel count from the header before decoding, and a
dataset can be checked whole before a long run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_fbrs.io import images
from napari_fbrs.io.datasets import DatasetError, open_dataset
from napari_fbrs.io.images import (
    DEFAULT_MAX_PIXELS,
    ImageError,
    image_shape,
    pixel_count,
    read_image,
)
from napari_fbrs.io.masks import read_labels


def test_pixel_count_ignores_a_colour_axis_and_counts_planes():
    assert pixel_count((20000, 20000)) == 400_000_000
    assert pixel_count((48, 64, 3)) == pixel_count((48, 64, 4)) == 3072
    assert pixel_count((5, 48, 64)) == 15360
    assert pixel_count((48, 64, 2)) == 6144  # two channels are not colour: counted
    assert DEFAULT_MAX_PIXELS == 100_000_000


def test_image_shape_reads_headers(tmp_path):
    png = tmp_path / "a.png"
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(png)
    grey = tmp_path / "g.png"
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(grey)
    stack = tmp_path / "s.tif"
    tifffile.imwrite(stack, np.zeros((3, 30, 40), np.uint16), photometric="minisblack")
    gif = tmp_path / "anim.gif"
    frames = [Image.fromarray(np.full((30, 40), v, np.uint8)) for v in (0, 100, 200)]
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    assert image_shape(png) == (30, 40, 3)
    assert image_shape(grey) == (30, 40)
    assert image_shape(stack) == (3, 30, 40)
    assert image_shape(gif) == (3, 30, 40)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".jpg"])
def test_over_the_limit_is_refused_without_decoding(tmp_path, monkeypatch, suffix):
    path = tmp_path / f"img{suffix}"
    array = np.zeros((30, 40, 3), np.uint8)
    if suffix == ".tif":
        tifffile.imwrite(path, array, photometric="rgb")
    else:
        Image.fromarray(array).save(path)

    def no_decoding(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("decoded")

    import skimage.io

    monkeypatch.setattr(skimage.io, "imread", no_decoding)
    monkeypatch.setattr(tifffile, "imread", no_decoding)
    with pytest.raises(ImageError, match=r"img\.\w+: the image is 30 x 40 x 3 = 1,200 pixels"):
        read_image(path, max_pixels=1199)


def test_zero_lifts_our_limit_and_pillows(tmp_path, monkeypatch):
    path = tmp_path / "img.png"
    data = np.arange(30 * 40, dtype=np.uint32).reshape(30, 40).astype(np.uint8)
    Image.fromarray(data).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow now calls 1,200 px a bomb
    with pytest.raises(Image.DecompressionBombError):
        Image.open(path)
    np.testing.assert_array_equal(read_image(path, max_pixels=0), data)
    np.testing.assert_array_equal(read_image(path), data)  # our limit is the one that counts
    assert Image.MAX_IMAGE_PIXELS == 100  # restored
    with pytest.raises(ImageError, match="more than the limit of 1,000"):
        read_image(path, max_pixels=1000)


def test_label_files_have_the_limit_too(tmp_path):
    path = tmp_path / "labels.png"
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(path)
    assert read_labels(path).shape == (30, 40)
    with pytest.raises(ImageError, match=r"labels\.png: the image is 30 x 40 = 1,200 pixels"):
        read_labels(path, max_pixels=1000)
    bad = tmp_path / "bad.png"
    bad.write_text("not a png")
    with pytest.raises(ImageError, match=r"bad\.png: cannot read the label image"):
        read_labels(bad)


def _folder(root: Path, stems: str = "abc") -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for stem in stems:
        Image.fromarray(np.zeros((8, 10, 3), np.uint8)).save(root / "images" / f"{stem}.png")
        labels = np.zeros((8, 10), np.uint8)
        labels[2:5, 3:7] = 1
        Image.fromarray(labels).save(root / "labels" / f"{stem}.png")
    return root


def test_validate_decodes_what_the_run_needs_once(tmp_path, monkeypatch):
    from napari_fbrs.io import datasets

    dataset = open_dataset("folder", _folder(tmp_path / "d"))
    calls: list[str] = []
    real = datasets.load_rgb

    def counting(path, *limit):  # noqa: ANN001
        calls.append(Path(path).name)
        return real(path, *limit)

    monkeypatch.setattr(datasets, "load_rgb", counting)
    assert dataset.validate(max_samples=2) == 2
    assert calls == ["a.png", "b.png"]
    assert dataset.validate() == 3
    assert dataset._cache is None  # nothing decoded is kept
    assert [p.name for p in dataset.files()] == ["a.png", "b.png", "c.png"] * 2


def test_validate_names_the_first_bad_file(tmp_path):
    root = _folder(tmp_path / "d")
    Image.fromarray(np.zeros((9, 10, 3), np.uint8)).save(root / "images" / "b.png")
    dataset = open_dataset("folder", root)
    assert dataset.validate(max_samples=1) == 1
    with pytest.raises(DatasetError, match=r"images/b\.png is 9x10 but .*labels/b\.png is 8x10"):
        dataset.validate()


def test_open_dataset_passes_the_limit_to_its_readers(tmp_path):
    dataset = open_dataset("folder", _folder(tmp_path / "d"), max_pixels=50)
    assert dataset.max_pixels == 50
    with pytest.raises(DatasetError, match="more than the limit of 50"):
        len(dataset)  # counting the objects reads the label files
    assert open_dataset("folder", tmp_path / "d").max_pixels == images.DEFAULT_MAX_PIXELS
