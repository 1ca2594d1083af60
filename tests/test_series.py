"""The folder-annotation workflow: order, moving, where labels go, resuming from the files, and
an output folder that the folder dataset reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from napari_fbrs.io.datasets import open_dataset
from napari_fbrs.io.masks import read_labels, write_labels
from napari_fbrs.series import ImageSeries, default_output_dir, list_images


def _folder(tmp_path: Path, names: list[str]) -> Path:
    folder = tmp_path / "raw"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in names:
        image = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
        Image.fromarray(image).save(folder / name)
    return folder


def _labels(value: int = 1) -> np.ndarray:
    labels = np.zeros((12, 16), np.uint16)
    labels[2:6, 3:9] = value
    return labels


def test_images_are_listed_in_natural_order_without_label_files(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ["img10.png", "img2.png", "img1.jpg", "img2_labels.png"])
    (folder / ".hidden.png").write_bytes(b"")
    (folder / "notes.txt").write_text("x")
    assert [p.name for p in list_images(folder)] == ["img1.jpg", "img2.png", "img10.png"]
    assert [p.name for p in list_images(str(folder / "img1*"))] == ["img1.jpg", "img10.png"]
    assert default_output_dir(folder) == folder.resolve().parent / "raw_annotations"
    with pytest.raises(FileNotFoundError):
        ImageSeries.open(tmp_path / "missing")


def test_saved_output_folder_is_a_folder_dataset(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ["a.png", "b.png", "c.png"])
    series = ImageSeries.open(folder)
    out = tmp_path / "raw_annotations"
    assert series.out_dir == out and series.index == 0 and series.describe() == "1 / 3  a.png"
    assert series.save_labels(_labels(1)) == out / "labels" / "a.tif"
    assert series.next() and series.current.name == "b.png"
    assert series.save_labels(np.zeros((12, 16), np.uint16)) is None  # nothing to save
    assert not (out / "images" / "b.png").exists()
    series.next()
    labels = _labels(1).astype(np.uint32)
    labels[8:11, 10:15] = 70000  # beyond PNG's range: TIFF keeps it
    series.save_labels(labels)
    assert series.annotated() == [True, False, True]
    assert sorted(p.name for p in (out / "images").iterdir()) == ["a.png", "c.png"]
    dataset = open_dataset("folder", out)
    assert dataset.sample_names() == ["a#1", "c#1", "c#70000"]
    np.testing.assert_array_equal(read_labels(out / "labels" / "c.tif"), labels)
    np.testing.assert_array_equal(
        dataset.load_instances(0)[0], np.asarray(Image.open(folder / "a.png"))
    )


def test_reopening_resumes_at_the_first_image_without_labels(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ["a.png", "b.png", "c.png", "d.png"])
    series = ImageSeries.open(folder, tmp_path / "out")
    series.save_labels(_labels())
    series.go_to(2)
    series.save_labels(_labels())
    again = ImageSeries.open(folder, tmp_path / "out", skip_annotated=True)
    assert again.index == 1 and again.annotated() == [True, False, True, False]
    assert again.next() and again.current.name == "d.png"  # c is skipped
    assert not again.next() and again.current.name == "d.png"  # at the end: no move
    assert again.previous(skip_annotated=False) and again.current.name == "c.png"
    np.testing.assert_array_equal(again.load_labels(), _labels())
    assert again.load_labels(1) is None
    assert again.describe(0) == "1 / 4  a.png  (annotated)"


def test_erasing_every_label_is_saved_and_unmarks_the_image(tmp_path: Path) -> None:
    series = ImageSeries.open(_folder(tmp_path, ["a.png"]), tmp_path / "out")
    series.save_labels(_labels())
    assert series.is_annotated()
    assert series.save_labels(np.zeros((12, 16), np.uint16)) is not None
    assert not series.is_annotated() and series.first_unannotated() == 0


def test_labels_beside_the_images(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ["a.png", "b.tif"])
    series = ImageSeries.open(folder, beside=True)
    assert series.out_dir is None
    assert series.save_labels(_labels()) == folder / "a_labels.tif"
    again = ImageSeries.open(folder, beside=True)
    assert len(again) == 2 and again.index == 1  # a_labels.tif is no image; b is next
    with pytest.raises(ValueError, match="not both"):
        ImageSeries.open(folder, tmp_path / "out", beside=True)


def test_an_existing_label_file_of_another_name_is_reused(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ["a.png"])
    out = tmp_path / "out"
    (out / "labels").mkdir(parents=True)
    write_labels(out / "labels" / "a.png", _labels(3).astype(np.uint8))
    series = ImageSeries.open(folder, out)
    assert series.is_annotated() and series.labels_path() == out / "labels" / "a.png"
    series.save_labels(_labels(5).astype(np.uint8))
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["a.png"]
    assert read_labels(out / "labels" / "a.png").max() == 5


def test_input_folder_inside_the_output_layout_is_not_copied(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    Image.fromarray(np.zeros((12, 16), np.uint8)).save(root / "images" / "x.png")
    series = ImageSeries.open(root / "images", root)
    series.save_labels(_labels())
    assert sorted(p.name for p in (root / "images").iterdir()) == ["x.png"]
    assert (root / "labels" / "x.tif").is_file()


def test_same_names_from_two_folders_are_refused_for_one_output(tmp_path: Path) -> None:
    for sub in ("one", "two"):
        (tmp_path / sub).mkdir()
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / sub / "a.png")
    with pytest.raises(ValueError, match="share the name"):
        ImageSeries.open(str(tmp_path / "*" / "a.png"), tmp_path / "out")
    assert len(ImageSeries.open(str(tmp_path / "*" / "a.png"), beside=True)) == 2
