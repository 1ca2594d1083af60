"""Interactive-segmentation datasets behind one reader interface.

Every reader turns a folder into a sequence of :class:`Sample` objects (one object to segment
each) and into per-image instance maps for training (:meth:`InstanceDataset.load_instances`).
Images go through :func:`napari_fbrs.io.images.load_rgb`, the normalisation the widget and the
CLI use, so a model is evaluated and trained on exactly the pixels it sees interactively.

Order and names are deterministic: files in sorted file-name order, the samples of one image
consecutive with instance ids ascending. A dataset with one object per image names its samples
by the image file (``sheep.jpg``); a dataset with several names them ``<stem>#<id>``.

Formats (``root`` is the folder given to :func:`open_dataset`):

* ``sbd``: ``img/<stem>.jpg``, ``inst/<stem>.mat`` (``GTinst.Segmentation``), the stems listed in
  ``train.txt`` / ``val.txt`` (split, default ``val``); every instance is a sample.
* ``grabcut`` (``data_GT/`` + ``boundary_GT/``) and ``berkeley`` (``images/`` + ``masks/``):
  mask channel 0; 128 is the ignore band (-1), above 128 object, the rest background.
* ``davis`` and ``coco_mval``: ``img/`` + ``gt/``; the mask is the union of all objects (maximum
  over the colour channels, above 0), one sample per image, as the original evaluation reads it.
* ``dsb2018``: ``<split>/images/<id>.png`` + ``<split>/labels/<id>.png`` (split default ``val``;
  a root holding ``images/`` and ``labels/`` itself is accepted too); every nucleus a sample.
* ``folder``: ``images/`` + ``labels/`` (``<stem>.tif|.tiff|.png`` or ``<stem>_labels.<ext>``,
  label images as napari saves a labels layer), optionally under ``<split>/``; every id a sample.

Folders, file pairs and stems are checked when a dataset is opened; pixels are read on demand
(datasets with several objects per image read every label file once, on first use, to count
their samples). :meth:`InstanceDataset.validate` decodes every file the first N samples need,
so that a long evaluation finds a foreign, truncated or ill-shaped file before its first
object instead of after an hour. Every reader refuses files above ``max_pixels`` pixels from
their header (:data:`napari_fbrs.io.images.DEFAULT_MAX_PIXELS`; ``open_dataset(...,
max_pixels=0)`` lifts it).
Every failure is a :class:`DatasetError` naming the file or folder. One decoded image is kept,
so consecutive samples of the same image decode its files once.
"""

from __future__ import annotations

import operator
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_fbrs.io.dataset_files import (
    IMAGE_SUFFIXES,
    DatasetError,
    check_dir,
    check_root,
    list_images,
    match_files,
    require_files,
)
from napari_fbrs.io.images import DEFAULT_MAX_PIXELS, ImageError, load_rgb, read_image
from napari_fbrs.io.kinds import DATASET_KINDS
from napari_fbrs.io.masks import LABEL_SUFFIXES, read_labels

_INT32_MAX = int(np.iinfo(np.int32).max)


@dataclass(frozen=True)
class Sample:
    """One object: ``mask`` is int8 with 1 object, 0 background, -1 ignore."""

    name: str
    image: np.ndarray
    mask: np.ndarray


class InstanceDataset:
    """Base reader: subclasses list image files and decode their instance maps."""

    name = "instances"
    one_object_per_image = False
    #: Largest image or label file decoded, in pixels (0 = no limit); set by open_dataset.
    max_pixels = DEFAULT_MAX_PIXELS

    def __init__(self, root: Path, images: list[Path], labels: list[Path]) -> None:
        self.root = root
        self._images = images
        self._labels = labels
        self._samples: list[tuple[int, int]] | None = None
        self._cache: tuple[int, np.ndarray, np.ndarray] | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, images={self.num_images()})"

    def __len__(self) -> int:
        return len(self._sample_index())

    def __getitem__(self, index: int) -> Sample:
        samples = self._sample_index()
        position = operator.index(index)
        if not -len(samples) <= position < len(samples):
            raise IndexError(f"sample {index} out of range for {len(samples)} samples")
        image_index, instance_id = samples[position]
        image, labels = self._load(image_index)
        if self.one_object_per_image:
            mask = labels.astype(np.int8)
        else:
            mask = np.where(labels == instance_id, 1, np.where(labels < 0, -1, 0))
            mask = mask.astype(np.int8)
        return Sample(self._sample_name(image_index, instance_id), image.copy(), mask)

    def sample_names(self) -> list[str]:
        return [self._sample_name(i, k) for i, k in self._sample_index()]

    def files(self) -> list[Path]:
        """Every image and label file of the dataset (the CLI never writes over them)."""
        return [*self._images, *self._labels]

    def num_images(self) -> int:
        return len(self._images)

    def image_name(self, image_index: int) -> str:
        return self._images[image_index].name

    def validate(self, max_samples: int | None = None) -> int:
        """Decode every image and label file the first ``max_samples`` samples use (all when
        None) and check that they fit together; return the number of images checked.

        Raises the :class:`DatasetError` that reading the first bad file would raise later
        (it names the file). Files are decoded one at a time and dropped, so memory stays at
        one image.
        """
        samples = self._sample_index()
        chosen = samples if max_samples is None else samples[:max_samples]
        images = sorted({image_index for image_index, _ in chosen})
        for image_index in images:
            self._load(image_index)
        self._cache = None
        return len(images)

    def load_instances(self, image_index: int) -> tuple[np.ndarray, np.ndarray]:
        """``(image (H, W, 3) uint8, labels (H, W) int32)``: 0 background, k > 0, -1 ignore."""
        image, labels = self._load(image_index)
        return image.copy(), labels.copy()

    # -- subclass hook -------------------------------------------------------------------------

    def _decode_labels(self, path: Path) -> np.ndarray:
        """Read ``path`` into an int32 2-D label map; may raise ImageError or DatasetError."""
        raise NotImplementedError

    # -- shared machinery ----------------------------------------------------------------------

    def _sample_name(self, image_index: int, instance_id: int) -> str:
        if self.one_object_per_image:
            return self._images[image_index].name
        return f"{self._images[image_index].stem}#{instance_id}"

    def _sample_index(self) -> list[tuple[int, int]]:
        if self._samples is None:
            if self.one_object_per_image:
                self._samples = [(i, 1) for i in range(len(self._images))]
            else:
                self._samples = [
                    (i, int(k))
                    for i in range(len(self._images))
                    for k in np.unique(self._read_labels(i))
                    if k > 0
                ]
        return self._samples

    def _read_labels(self, image_index: int) -> np.ndarray:
        if self._cache is not None and self._cache[0] == image_index:
            return self._cache[2]
        path = self._labels[image_index]
        try:
            labels = self._decode_labels(path)
        except ImageError as exc:
            raise DatasetError(f"{self.name} dataset: {exc}") from exc
        if labels.ndim != 2:
            raise DatasetError(
                f"{self.name} dataset: {path}: a mask or label image must be 2-D, "
                f"got shape {labels.shape}"
            )
        return labels

    def _load(self, image_index: int) -> tuple[np.ndarray, np.ndarray]:
        if image_index < 0 or image_index >= len(self._images):
            raise IndexError(f"image {image_index} out of range for {len(self._images)} images")
        if self._cache is not None and self._cache[0] == image_index:
            return self._cache[1], self._cache[2]
        image_path = self._images[image_index]
        try:
            image = load_rgb(image_path, self.max_pixels)
        except ImageError as exc:
            raise DatasetError(f"{self.name} dataset: {exc}") from exc
        labels = self._read_labels(image_index)
        if image.shape[:2] != labels.shape:
            raise DatasetError(
                f"{self.name} dataset: image {image_path} is {image.shape[0]}x{image.shape[1]} "
                f"but {self._labels[image_index]} is {labels.shape[0]}x{labels.shape[1]} "
                "(rows x columns)"
            )
        self._cache = (image_index, image, labels)
        return image, labels


class GrabCutDataset(InstanceDataset):
    """``data_GT/`` + ``boundary_GT/``: 128 is an uncertain band, ignored in clicks and IoU."""

    name = "grabcut"
    one_object_per_image = True
    folders = ("data_GT", "boundary_GT")

    def __init__(self, root: str | os.PathLike[str]) -> None:
        base = check_root(root)
        images = list_images(base / self.folders[0])
        masks = match_files(images, base / self.folders[1], IMAGE_SUFFIXES, "mask")
        super().__init__(base, images, masks)

    def _decode_labels(self, path: Path) -> np.ndarray:
        raw = _first_channel(read_image(path, self.max_pixels))
        labels = np.zeros(raw.shape, dtype=np.int32)
        labels[raw > 128] = 1
        labels[raw == 128] = -1
        return labels


class BerkeleyDataset(GrabCutDataset):
    """GrabCut semantics in ``images/`` + ``masks/`` (masks may be RGB PNGs)."""

    name = "berkeley"
    folders = ("images", "masks")


class DavisDataset(InstanceDataset):
    """``img/`` + ``gt/``: the union of all objects is the one object of an image."""

    name = "davis"
    one_object_per_image = True

    def __init__(self, root: str | os.PathLike[str]) -> None:
        base = check_root(root)
        images = list_images(base / "img")
        masks = match_files(images, base / "gt", IMAGE_SUFFIXES, "mask")
        super().__init__(base, images, masks)

    def _decode_labels(self, path: Path) -> np.ndarray:
        raw = read_image(path, self.max_pixels)
        if raw.ndim == 3:
            raw = raw[..., :3].max(axis=2)  # colour channels only: an opaque alpha is no object
        return (raw > 0).astype(np.int32)


class CocoMValDataset(DavisDataset):
    name = "coco_mval"


class SBDDataset(InstanceDataset):
    """Semantic Boundaries Dataset: every instance of ``GTinst.Segmentation`` is a sample."""

    name = "sbd"
    splits = ("train", "val")

    def __init__(self, root: str | os.PathLike[str], split: str | None = None) -> None:
        base = check_root(root)
        self.split = "val" if split is None else split
        if self.split not in self.splits:
            raise DatasetError(f"sbd dataset: split must be one of {self.splits}, not {split!r}")
        listing = base / f"{self.split}.txt"
        image_dir, inst_dir = check_dir(base / "img"), check_dir(base / "inst")
        if not listing.is_file():
            raise DatasetError(f"sbd dataset: missing split file {listing}")
        try:
            lines = [line.strip() for line in listing.read_text(encoding="utf-8").splitlines()]
        except (OSError, UnicodeDecodeError) as exc:
            raise DatasetError(f"sbd dataset: cannot read {listing} ({exc})") from exc
        stems = sorted({line for line in lines if line})
        if not stems:
            raise DatasetError(f"sbd dataset: no images found in {listing}")
        images = [image_dir / f"{stem}.jpg" for stem in stems]
        insts = [inst_dir / f"{stem}.mat" for stem in stems]
        require_files(images + insts, f"listed in {listing}")
        super().__init__(base, images, insts)

    def _decode_labels(self, path: Path) -> np.ndarray:
        from scipy.io import loadmat

        try:
            mat = loadmat(path, squeeze_me=True, struct_as_record=False)
        except Exception as exc:  # scipy raises many types for truncated or foreign files
            raise DatasetError(f"sbd dataset: {path}: cannot read the .mat file ({exc})") from exc
        try:
            segmentation = np.asarray(mat["GTinst"].Segmentation)
        except (KeyError, AttributeError):
            raise DatasetError(f"sbd dataset: {path}: no GTinst.Segmentation field") from None
        if segmentation.dtype.kind not in "biuf":
            raise DatasetError(f"sbd dataset: {path}: GTinst.Segmentation is not numeric")
        return segmentation.astype(np.int32)


_TAIL_SPLIT = re.compile(r"(all-but-)?last-([1-9][0-9]*)")


def tail_split(split: str) -> tuple[bool, int] | None:
    """``"last-N"`` -> (True, N): the last N images by file name; ``"all-but-last-N"`` ->
    (False, N): the others. Lets a recipe hold out part of a training folder for its own
    learning curve without copying files (``"train/last-N"`` does it inside a split folder,
    e.g. DSB2018's). None for any other split name."""
    match = _TAIL_SPLIT.fullmatch(split)
    if match is None:
        return None
    return match.group(1) is None, int(match.group(2))


class FolderDataset(InstanceDataset):
    """The user's own data: ``images/`` + ``labels/`` as napari saves a labels layer."""

    name = "folder"
    default_split: str | None = None

    def __init__(self, root: str | os.PathLike[str], split: str | None = None) -> None:
        base = check_root(root)
        self.split = split
        folder_split, tail = split, None
        if split is not None and not (base / split).is_dir():
            # "last-N", or "SUB/last-N" for the last N images of the split folder SUB
            head, _, last = split.rpartition("/")
            tail = tail_split(last)
            if tail is not None:
                folder_split = head or None
        folder = self._resolve_split(base, folder_split)
        images = list_images(folder / "images")
        if tail is not None:  # a validation split carved from a training folder, by name
            keep_tail, count = tail
            if count >= len(images):
                raise DatasetError(
                    f"{self.name} dataset: split {split!r} needs more than {count} images, "
                    f"{folder / 'images'} has {len(images)}"
                )
            images = images[-count:] if keep_tail else images[:-count]
        labels = match_files(images, folder / "labels", LABEL_SUFFIXES, "label", "_labels")
        super().__init__(base, images, labels)

    def _resolve_split(self, base: Path, split: str | None) -> Path:
        """``root/<split>`` when a split is asked for (or the default exists), else ``root``."""
        if split is not None:
            if not (base / split).is_dir():
                raise DatasetError(
                    f"{self.name} dataset: no folder {base / split} for split {split!r}"
                )
            return base / split
        if self.default_split is not None and (base / self.default_split).is_dir():
            self.split = self.default_split
            return base / self.default_split
        if not (base / "images").is_dir() and self.default_split is not None:
            raise DatasetError(
                f"{self.name} dataset: {base} holds neither {self.default_split}/images "
                "nor images/"
            )
        return base

    def _decode_labels(self, path: Path) -> np.ndarray:
        raw = read_labels(path, self.max_pixels)
        if raw.ndim != 2:
            raise DatasetError(
                f"{self.name} dataset: {path}: label image of shape {raw.shape} is not 2-D; "
                "save one 2-D labels image per image"
            )
        if raw.size and (raw.min() < 0 or raw.max() > _INT32_MAX):
            raise DatasetError(
                f"{self.name} dataset: {path}: label ids must lie in 0..{_INT32_MAX}, "
                f"found {raw.min()}..{raw.max()}"
            )
        return raw.astype(np.int32)


class DSB2018Dataset(FolderDataset):
    """Kaggle DSB2018 nuclei as in ../shared/datasets: uint16 instance-label PNGs."""

    name = "dsb2018"
    default_split = "val"


_READERS: dict[str, type[InstanceDataset]] = {
    "sbd": SBDDataset,
    "grabcut": GrabCutDataset,
    "berkeley": BerkeleyDataset,
    "davis": DavisDataset,
    "coco_mval": CocoMValDataset,
    "dsb2018": DSB2018Dataset,
    "folder": FolderDataset,
}


def open_dataset(
    kind: str,
    root: str | os.PathLike[str],
    split: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> InstanceDataset:
    """Open ``root`` as a dataset of ``kind`` (one of :data:`DATASET_KINDS`); its readers
    refuse files above ``max_pixels`` pixels (0 = no limit)."""
    reader = _READERS.get(kind)
    if reader is None:
        raise DatasetError(f"unknown dataset kind {kind!r}; choose one of {DATASET_KINDS}")
    if issubclass(reader, (SBDDataset, FolderDataset)):
        dataset = reader(root, split)
    elif split is not None:
        raise DatasetError(f"{kind} datasets have no splits, got split={split!r}")
    else:
        dataset = reader(root)
    dataset.max_pixels = max_pixels
    return dataset


def _first_channel(raw: np.ndarray) -> np.ndarray:
    if raw.dtype == np.bool_:
        raw = raw.astype(np.uint8) * np.uint8(255)
    return raw[..., 0] if raw.ndim == 3 else raw
