"""Dataset readers on tiny datasets built on the fly, their errors, and the shared data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from scipy.io import savemat
from scipy.sparse import csc_matrix

from napari_fbrs.io import datasets
from napari_fbrs.io.datasets import (
    DATASET_KINDS,
    DatasetError,
    InstanceDataset,
    Sample,
    open_dataset,
)
from napari_fbrs.io.images import load_rgb, to_model_rgb
from tests.conftest import require_shared

H, W = 6, 8


def _rgb(seed: int, shape: tuple[int, int] = (H, W)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def _save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".tif", ".tiff"):
        colour = array.ndim == 3 and array.shape[-1] == 3
        tifffile.imwrite(path, array, photometric="rgb" if colour else "minisblack")
    else:
        Image.fromarray(array).save(path)
    return path


def _grabcut_mask(ignore: bool = True) -> np.ndarray:
    raw = np.zeros((H, W), dtype=np.uint8)
    raw[1:4, 2:6] = 255
    raw[4, 2:6] = 128 if ignore else 0
    raw[0, 0] = 100  # below 128: background
    raw[5, 7] = 200  # above 128: object
    return raw


def _grabcut_expected() -> np.ndarray:
    expected = np.zeros((H, W), dtype=np.int8)
    expected[1:4, 2:6] = 1
    expected[4, 2:6] = -1
    expected[5, 7] = 1
    return expected


def _instances() -> np.ndarray:
    labels = np.zeros((H, W), dtype=np.int32)
    labels[0:2, 0:3] = 1
    labels[3:6, 4:8] = 3  # ids need not be consecutive
    return labels


def make_grabcut(root: Path) -> Path:
    for name, seed in (("c.bmp", 1), ("a.png", 2), ("b.JPG", 3)):
        _save(root / "data_GT" / name, _rgb(seed))
    _save(root / "boundary_GT" / "a.bmp", _grabcut_mask())
    _save(root / "boundary_GT" / "b.bmp", _grabcut_mask())
    rgb_mask = np.zeros((H, W, 3), dtype=np.uint8)
    rgb_mask[..., 0] = _grabcut_mask()
    rgb_mask[..., 1] = 255  # only channel 0 counts
    _save(root / "boundary_GT" / "c.png", rgb_mask)
    (root / "data_GT" / "notes.txt").write_text("not an image")
    return root


def make_davis(root: Path) -> Path:
    for name, seed in (("frame1.jpg", 4), ("frame2.png", 5)):
        _save(root / "img" / name, _rgb(seed))
    two_objects = np.zeros((H, W, 3), dtype=np.uint8)
    two_objects[0, 0:2, 0] = 200  # object 1 drawn red
    two_objects[5, 6:8, 1] = 10  # object 2 drawn dark green
    _save(root / "gt" / "frame1.png", two_objects)
    rgba = np.zeros((H, W, 4), dtype=np.uint8)
    rgba[..., 3] = 255  # opaque alpha is no object
    rgba[2, 3, 2] = 255
    _save(root / "gt" / "frame2.png", rgba)
    return root


def make_sbd(root: Path) -> Path:
    segs = {"2008_000002": _instances(), "2008_000001": _instances() % 2}
    segs["2008_000003"] = np.where(_instances() > 0, 2, 0)
    for seed, (stem, seg) in enumerate(segs.items()):
        _save(root / "img" / f"{stem}.jpg", _rgb(seed))
        ids = [k for k in np.unique(seg) if k > 0]
        boundaries = np.empty((len(ids), 1), dtype=object)
        for row, k in enumerate(ids):
            boundaries[row, 0] = csc_matrix((seg == k).astype(np.float64))
        (root / "inst").mkdir(exist_ok=True)
        struct = {
            "Segmentation": seg.astype(np.uint8),
            "Boundaries": boundaries,
            "Categories": np.arange(1, len(ids) + 1, dtype=np.uint8).reshape(-1, 1),
        }
        savemat(root / "inst" / f"{stem}.mat", {"GTinst": struct})
    (root / "val.txt").write_text("2008_000002\n2008_000001\n")
    (root / "train.txt").write_text("2008_000003\n")
    return root


def make_folder(root: Path) -> Path:
    grey16 = np.arange(H * W, dtype=np.uint16).reshape(H, W) * 100
    _save(root / "images" / "a.tif", grey16)
    _save(root / "images" / "b.png", _rgb(6))
    big = _instances()
    big[big == 3] = 70000  # napari saves int32 labels as tif; ids above uint16 survive
    _save(root / "labels" / "a.tif", big)
    _save(root / "labels" / "b_labels.png", (_instances() > 0).astype(np.uint8) * 5)
    return root


def make_dsb(root: Path, split: str = "val") -> Path:
    _save(root / split / "images" / "0abc.png", _rgb(7)[..., 0])  # grey PNG
    _save(root / split / "images" / "1def.png", _rgb(8))
    _save(root / split / "labels" / "0abc.png", _instances().astype(np.uint16))
    _save(root / split / "labels" / "1def.png", np.zeros((H, W), np.uint16))  # no nucleus
    return root


# -- formats -------------------------------------------------------------------------------


def test_grabcut_samples_names_and_masks(tmp_path):
    ds = open_dataset("grabcut", make_grabcut(tmp_path))
    assert isinstance(ds, InstanceDataset) and ds.name == "grabcut" and ds.root == tmp_path
    assert len(ds) == ds.num_images() == 3
    assert ds.sample_names() == ["a.png", "b.JPG", "c.bmp"]
    assert ds.image_name(1) == "b.JPG"
    for index, name in enumerate(ds.sample_names()):
        sample = ds[index]
        assert isinstance(sample, Sample) and sample.name == name
        assert sample.mask.dtype == np.int8 and sample.image.dtype == np.uint8
        np.testing.assert_array_equal(sample.mask, _grabcut_expected())
        np.testing.assert_array_equal(sample.image, load_rgb(tmp_path / "data_GT" / name))
    image, labels = ds.load_instances(2)
    assert labels.dtype == np.int32 and image.shape == (H, W, 3)
    np.testing.assert_array_equal(labels, _grabcut_expected())
    np.testing.assert_array_equal(image, _rgb(1))


def test_berkeley_reads_channel_0_of_rgb_masks(tmp_path):
    root = tmp_path
    _save(root / "images" / "x.png", _rgb(9))
    rgb_mask = np.zeros((H, W, 3), dtype=np.uint8)
    rgb_mask[..., 0] = _grabcut_mask()
    rgb_mask[..., 2] = 255
    _save(root / "masks" / "x.png", rgb_mask)
    ds = open_dataset("berkeley", root)
    assert ds.name == "berkeley" and ds.sample_names() == ["x.png"]
    np.testing.assert_array_equal(ds[0].mask, _grabcut_expected())


@pytest.mark.parametrize("kind", ["davis", "coco_mval"])
def test_davis_and_coco_use_the_union_of_all_objects(tmp_path, kind):
    ds = open_dataset(kind, make_davis(tmp_path))
    assert ds.name == kind and len(ds) == 2
    assert ds.sample_names() == ["frame1.jpg", "frame2.png"]
    union = np.zeros((H, W), dtype=np.int8)
    union[0, 0:2] = union[5, 6:8] = 1
    np.testing.assert_array_equal(ds[0].mask, union)
    single = np.zeros((H, W), dtype=np.int8)
    single[2, 3] = 1
    np.testing.assert_array_equal(ds[1].mask, single)
    np.testing.assert_array_equal(ds[1].image, _rgb(5))


def test_sbd_every_instance_is_a_sample(tmp_path):
    root = make_sbd(tmp_path)
    ds = open_dataset("sbd", root)
    assert ds.name == "sbd" and ds.split == "val" and ds.num_images() == 2
    assert ds.sample_names() == ["2008_000001#1", "2008_000002#1", "2008_000002#3"]
    assert len(ds) == 3
    assert ds.image_name(0) == "2008_000001.jpg"
    sample = ds[2]
    expected = (_instances() == 3).astype(np.int8)
    np.testing.assert_array_equal(sample.mask, expected)
    np.testing.assert_array_equal(sample.image, load_rgb(root / "img" / "2008_000002.jpg"))
    _, labels = ds.load_instances(1)
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels, _instances())
    train = open_dataset("sbd", root, split="train")
    assert train.sample_names() == ["2008_000003#2"]


def test_dsb2018_every_nucleus_is_a_sample(tmp_path):
    root = make_dsb(make_dsb(tmp_path, "val"), "train")
    ds = open_dataset("dsb2018", root)
    assert ds.name == "dsb2018" and ds.split == "val" and ds.root == root
    assert ds.num_images() == 2 and len(ds) == 2  # the second image has no nucleus
    assert ds.sample_names() == ["0abc#1", "0abc#3"]
    np.testing.assert_array_equal(ds[1].mask, (_instances() == 3).astype(np.int8))
    np.testing.assert_array_equal(ds[0].image, np.repeat(_rgb(7)[..., :1], 3, axis=2))
    assert open_dataset("dsb2018", root, split="train").split == "train"
    direct = open_dataset("dsb2018", root / "val")
    assert direct.sample_names() == ds.sample_names()


def test_folder_of_napari_labels(tmp_path):
    root = make_folder(tmp_path)
    ds = open_dataset("folder", root)
    assert ds.name == "folder" and ds.num_images() == 2
    assert ds.sample_names() == ["a#1", "a#70000", "b#5"]
    image, labels = ds.load_instances(0)
    grey16 = tifffile.imread(root / "images" / "a.tif")
    np.testing.assert_array_equal(image, to_model_rgb(grey16))
    assert image[0, 0].tolist() == [0, 0, 0] and image[-1, -1].tolist() == [255, 255, 255]
    assert labels.dtype == np.int32 and int(labels.max()) == 70000
    np.testing.assert_array_equal(ds[1].mask, (_instances() == 3).astype(np.int8))
    np.testing.assert_array_equal(ds[2].mask, (_instances() > 0).astype(np.int8))


def test_folder_with_splits(tmp_path):
    make_folder(tmp_path / "train")
    ds = open_dataset("folder", tmp_path, split="train")
    assert ds.split == "train" and len(ds) == 3
    with pytest.raises(DatasetError, match=r"no folder .*val for split 'val'"):
        open_dataset("folder", tmp_path, split="val")


def test_load_instances_keeps_the_ignore_label(tmp_path):
    ds = open_dataset("grabcut", make_grabcut(tmp_path))
    _, labels = ds.load_instances(0)
    assert set(np.unique(labels).tolist()) == {-1, 0, 1}


# -- sequence behaviour and the one-image cache ---------------------------------------------


def test_indexing_and_iteration(tmp_path):
    ds = open_dataset("sbd", make_sbd(tmp_path))
    assert ds[-1].name == ds[2].name == "2008_000002#3"
    assert ds[np.int64(0)].name == "2008_000001#1"
    with pytest.raises(IndexError):
        ds[3]
    with pytest.raises(IndexError):
        ds[-4]
    with pytest.raises(IndexError):
        ds.load_instances(2)
    assert [s.name for s in ds] == ds.sample_names()


def test_consecutive_samples_decode_an_image_once(tmp_path, monkeypatch):
    ds = open_dataset("folder", make_folder(tmp_path))
    calls: list[Path] = []

    def counting_load_rgb(path, *limit):
        calls.append(Path(path))
        return load_rgb(path, *limit)

    monkeypatch.setattr(datasets, "load_rgb", counting_load_rgb)
    names = [ds[i].name for i in range(len(ds))]
    ds.load_instances(1)
    assert names == ["a#1", "a#70000", "b#5"]
    assert [p.name for p in calls] == ["a.tif", "b.png"]


def test_returned_arrays_are_copies(tmp_path):
    ds = open_dataset("folder", make_folder(tmp_path))
    first = ds[0]
    first.image[:] = 7
    image, labels = ds.load_instances(0)
    labels[:] = 9
    assert not np.array_equal(ds[1].image, first.image)
    assert ds.load_instances(0)[1].max() == 70000


# -- errors --------------------------------------------------------------------------------


def test_unknown_kind_and_unexpected_split(tmp_path):
    with pytest.raises(DatasetError, match=r"unknown dataset kind 'voc'.*grabcut"):
        open_dataset("voc", tmp_path)
    with pytest.raises(DatasetError, match="grabcut datasets have no splits"):
        open_dataset("grabcut", make_grabcut(tmp_path), split="val")
    with pytest.raises(DatasetError, match=r"split must be one of \('train', 'val'\)"):
        open_dataset("sbd", make_sbd(tmp_path / "sbd"), split="test")


@pytest.mark.parametrize("kind", DATASET_KINDS)
def test_missing_root_is_named(tmp_path, kind):
    with pytest.raises(DatasetError, match=r"dataset root .*absent does not exist"):
        open_dataset(kind, tmp_path / "absent")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetError, match=r"dataset root .*file is not a folder"):
        open_dataset(kind, tmp_path / "file")


@pytest.mark.parametrize(
    ("kind", "folder"),
    [
        ("grabcut", "boundary_GT"),
        ("berkeley", "images"),
        ("davis", "gt"),
        ("sbd", "inst"),
        ("folder", "labels"),
    ],
)
def test_missing_subfolder_is_named(tmp_path, kind, folder):
    (tmp_path / "data_GT").mkdir()
    _save(tmp_path / "data_GT" / "a.png", _rgb(0))
    _save(tmp_path / "img" / "a.png", _rgb(0))
    _save(tmp_path / "images" / "a.png", _rgb(0))
    (tmp_path / "val.txt").write_text("a\n")
    if kind == "berkeley":
        (tmp_path / "images" / "a.png").unlink()
        (tmp_path / "images").rmdir()
    with pytest.raises(DatasetError, match=rf"missing folder .*{folder}$"):
        open_dataset(kind, tmp_path)


def test_dsb2018_root_without_split_or_images(tmp_path):
    with pytest.raises(DatasetError, match=r"holds neither val/images nor images/"):
        open_dataset("dsb2018", tmp_path)


def test_empty_dataset(tmp_path):
    root = make_grabcut(tmp_path)
    for path in (root / "data_GT").iterdir():
        if path.suffix != ".txt":
            path.unlink()
    (root / "data_GT" / ".hidden.png").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"no images found in .*data_GT"):
        open_dataset("grabcut", root)
    (root / "val.txt").write_text("\n")
    (root / "img").mkdir()
    (root / "inst").mkdir()
    with pytest.raises(DatasetError, match=r"sbd dataset: no images found in .*val\.txt"):
        open_dataset("sbd", root)


def test_image_without_mask_is_named(tmp_path):
    root = make_grabcut(tmp_path)
    (root / "boundary_GT" / "b.bmp").unlink()
    with pytest.raises(DatasetError, match=r"1 image\(s\) in .*data_GT have no mask .*: b\.JPG"):
        open_dataset("grabcut", root)
    folder = make_folder(tmp_path / "folder")
    (folder / "labels" / "b_labels.png").unlink()
    with pytest.raises(DatasetError, match=r"no label file <stem>\[_labels\].*: b\.png"):
        open_dataset("folder", folder)


def test_ambiguous_files_are_refused(tmp_path):
    root = make_folder(tmp_path)
    _save(root / "labels" / "a_labels.png", np.zeros((H, W), np.uint8))
    with pytest.raises(DatasetError, match=r"a\.tif: several label files .*a\.tif, a_labels\.png"):
        open_dataset("folder", root)
    _save(root / "images" / "a.png", _rgb(0))
    with pytest.raises(DatasetError, match=r"two images share the stem 'a'"):
        open_dataset("folder", root)


def test_sbd_missing_files_are_named(tmp_path):
    root = make_sbd(tmp_path)
    (root / "val.txt").write_text("2008_000001\n2008_000009\n")
    with pytest.raises(DatasetError, match=r"2 file\(s\) listed in .*val\.txt are missing: .*"):
        open_dataset("sbd", root)
    (root / "val.txt").unlink()
    with pytest.raises(DatasetError, match=r"missing split file .*val\.txt"):
        open_dataset("sbd", root)


def test_mismatched_sizes_name_both_files(tmp_path):
    root = make_grabcut(tmp_path)
    _save(root / "boundary_GT" / "a.bmp", np.zeros((H + 1, W), np.uint8))
    ds = open_dataset("grabcut", root)
    with pytest.raises(DatasetError, match=r"image .*a\.png is 6x8 but .*a\.bmp is 7x8"):
        ds[0]
    assert ds[1].name == "b.JPG"  # the other samples still work


# imageio tries its legacy plugins on an undecodable file; one of them warns about itself.
@pytest.mark.filterwarnings("ignore:The legacy `DICOM` plugin:DeprecationWarning")
def test_unreadable_image_is_named(tmp_path):
    root = make_grabcut(tmp_path)
    (root / "data_GT" / "a.png").write_bytes(b"garbage" * 30)
    ds = open_dataset("grabcut", root)
    assert len(ds) == 3  # found when read, not when listed
    with pytest.raises(DatasetError, match=r"grabcut dataset: .*a\.png: cannot read the image"):
        ds[0]


def test_unreadable_labels_are_named_while_counting(tmp_path):
    root = make_dsb(tmp_path)
    (root / "val" / "labels" / "1def.png").write_bytes(b"garbage" * 30)
    ds = open_dataset("dsb2018", root)
    with pytest.raises(DatasetError, match=r"1def\.png: cannot read the label image"):
        len(ds)


def test_bad_sbd_mat_files_are_named(tmp_path):
    root = make_sbd(tmp_path)
    (root / "inst" / "2008_000001.mat").write_bytes(b"not a mat file" * 10)
    with pytest.raises(DatasetError, match=r"2008_000001\.mat: cannot read the \.mat file"):
        open_dataset("sbd", root).sample_names()
    savemat(root / "inst" / "2008_000001.mat", {"GTcls": {"Segmentation": np.ones((H, W))}})
    with pytest.raises(DatasetError, match=r"2008_000001\.mat: no GTinst\.Segmentation field"):
        len(open_dataset("sbd", root))


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.full((H, W), -1, np.int16), r"label ids must lie in 0\.\.2147483647, found -1\.\.-1"),
        (np.zeros((2, H, W), np.uint16), r"label image of shape \(2, 6, 8\) is not 2-D"),
        (np.zeros((H, W), np.float32), r"a label image must hold integers"),
    ],
    ids=["negative", "stack", "float"],
)
def test_bad_label_images_are_named(tmp_path, labels, message):
    root = make_folder(tmp_path)
    (root / "labels" / "b_labels.png").unlink()
    _save(root / "labels" / "b.tif", labels)
    with pytest.raises(DatasetError, match=rf"folder dataset: .*b\.tif: {message}"):
        open_dataset("folder", root).sample_names()


# -- the shared data (../shared/datasets) --------------------------------------------------


def test_shared_grabcut(datasets_dir):
    ds = open_dataset("grabcut", datasets_dir / "GrabCut")
    assert len(ds) == ds.num_images() == 50
    assert sum(name.endswith(".JPG") for name in ds.sample_names()) == 4
    for sample in ds:
        assert set(np.unique(sample.mask).tolist()) <= {-1, 0, 1}
        assert sample.image.shape[:2] == sample.mask.shape


@pytest.mark.reference
def test_shared_grabcut_sheep_matches_the_reference(datasets_dir, reference_dir):
    ds = open_dataset("grabcut", datasets_dir / "GrabCut")
    sample = ds[ds.sample_names().index("sheep.jpg")]
    reference = np.load(reference_dir / "sheep_inputs.npz")
    np.testing.assert_array_equal(sample.image, reference["image_rgb"])
    np.testing.assert_array_equal(sample.mask, reference["gt_mask"])


def test_shared_dsb2018_val(datasets_dir):
    ds = open_dataset("dsb2018", datasets_dir / "DSB2018")
    assert ds.split == "val" and ds.num_images() == 100
    assert len(ds) == 4677
    per_image = [name.split("#")[0] for name in ds.sample_names()]
    for image_index in (0, 1):
        image, labels = ds.load_instances(image_index)
        stem = Path(ds.image_name(image_index)).stem
        assert image.shape[:2] == labels.shape
        assert per_image.count(stem) == len(np.unique(labels)) - 1 == labels.max()


def test_shared_coco_mval_train(datasets_dir):
    root = require_shared("datasets", "COCO_MVal_train")
    ds = open_dataset("coco_mval", root)
    assert len(ds) == 300
    names = ds.sample_names()
    assert "baseball bat01_000000203931.jpg" in names
    grey = ds[names.index("skateboard02_000000431848.jpg")]
    assert grey.image.shape[2] == 3
    assert np.array_equal(grey.image[..., 0], grey.image[..., 2])
    assert set(np.unique(grey.mask).tolist()) == {0, 1}


def test_one_list_of_dataset_kinds_for_readers_recipes_and_the_cli() -> None:
    import argparse

    from napari_fbrs.cli import evaluate as cli_evaluate
    from napari_fbrs.io import datasets
    from napari_fbrs.io.kinds import DATASET_KINDS
    from napari_fbrs.training import toml_values

    assert set(datasets._READERS) == set(DATASET_KINDS)  # a reader for every kind
    assert toml_values.DATASET_KINDS is DATASET_KINDS
    parser = argparse.ArgumentParser()
    cli_evaluate.add_parser(parser.add_subparsers())
    choices = next(
        a
        for a in parser._subparsers._group_actions[0].choices["evaluate"]._actions
        if a.dest == "dataset"
    ).choices
    assert tuple(choices) == DATASET_KINDS


def test_a_tail_split_holds_out_the_last_images_by_name(tmp_path):
    import numpy as np
    from PIL import Image

    from napari_fbrs.io.datasets import DatasetError, open_dataset

    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    for index in range(5):
        Image.fromarray(np.full((8, 8, 3), index, np.uint8)).save(tmp_path / f"images/{index}.png")
        label = np.zeros((8, 8), np.uint16)
        label[2:5, 2:5] = 1
        Image.fromarray(label).save(tmp_path / f"labels/{index}.png")
    held = open_dataset("folder", tmp_path, "last-2")
    rest = open_dataset("folder", tmp_path, "all-but-last-2")
    assert len(held) == 2
    assert len(held) + len(rest) == len(open_dataset("folder", tmp_path))
    assert {s.name for s in held}.isdisjoint({s.name for s in rest})
    import pytest

    with pytest.raises(DatasetError, match="needs more than 5"):
        open_dataset("folder", tmp_path, "last-5")


def test_a_tail_split_inside_a_split_folder_holds_out_its_last_images(tmp_path):
    from PIL import Image

    from napari_fbrs.io.datasets import DatasetError, open_dataset

    for split, count in (("train", 5), ("val", 3)):
        (tmp_path / split / "images").mkdir(parents=True)
        (tmp_path / split / "labels").mkdir()
        for index in range(count):
            image = np.full((8, 8, 3), index, np.uint8)
            Image.fromarray(image).save(tmp_path / split / f"images/{split}{index}.png")
            label = np.zeros((8, 8), np.uint16)
            label[1:3, 1:3] = 1
            label[5:7, 5:7] = 2
            Image.fromarray(label).save(tmp_path / split / f"labels/{split}{index}.png")
    held = open_dataset("dsb2018", tmp_path, "train/last-2")
    rest = open_dataset("dsb2018", tmp_path, "train/all-but-last-2")
    assert held.sample_names() == ["train3#1", "train3#2", "train4#1", "train4#2"]
    assert len(rest) == 6 and all(
        n.startswith(("train0", "train1", "train2")) for n in rest.sample_names()
    )
    assert len(open_dataset("dsb2018", tmp_path, "val/last-1")) == 2
    assert len(open_dataset("dsb2018", tmp_path, "last-1")) == 2  # the default split, val
    with pytest.raises(DatasetError, match="no folder"):
        open_dataset("dsb2018", tmp_path, "test/last-1")
    with pytest.raises(DatasetError, match="needs more than 5"):
        open_dataset("dsb2018", tmp_path, "train/last-5")
