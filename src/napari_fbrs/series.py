"""A series of images annotated one after another: the folder-annotation workflow's core.

The series is a folder (or a glob pattern) of images in natural order (``img2`` before
``img10``), a current position, and where each image's labels are saved:

* **Output folder** (the default, ``<folder>_annotations`` beside the input folder): the
  ``folder`` dataset layout, ``OUT/labels/<stem>.tif`` plus a copy of the image as
  ``OUT/images/<name>``, made when its labels are first saved. ``napari-fbrs evaluate
  --dataset folder --root OUT`` and the fine-tune widget read it as it is, and since an image is
  copied only once it has labels, every image there has its label file (which the folder
  dataset requires). When the input folder already is ``OUT/images``, nothing is copied.
* **Beside the images** (``beside=True``): ``<stem>_labels.tif`` next to each image.

Labels are written with :func:`napari_fbrs.io.masks.write_labels` (atomic; TIFF keeps every
integer dtype and id exactly). An existing label file of another accepted name
(``<stem>.png``, ``<stem>_labels.tiff``, ...) is read and overwritten in place, so an image
never ends up with two label files.

Resuming needs nothing but the files: an image is *annotated* when its label file exists and
holds at least one non-zero id, and a series opens at the first image that is not. Nothing is
written until labels are saved, and no state file is kept. No Qt here: the widget calls
:meth:`ImageSeries.save_labels` before it moves on.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
from pathlib import Path

import numpy as np

from napari_fbrs.atomic import atomic_path
from napari_fbrs.io.datasets import IMAGE_SUFFIXES
from napari_fbrs.io.images import read_image
from napari_fbrs.io.masks import LABEL_SUFFIXES, read_labels, write_labels

LABELS_TAIL = "_labels"
LABELS_SUFFIX = ".tif"
_GLOB_CHARS = re.compile(r"[*?\[]")


def default_output_dir(source: str | os.PathLike[str]) -> Path:
    """``<folder>_annotations`` beside the input folder (or beside a glob's first folder)."""
    folder = Path(source)
    if _GLOB_CHARS.search(str(source)):
        folder = Path(_GLOB_CHARS.split(str(source))[0]).parent
    folder = folder.expanduser().resolve()
    return folder.parent / f"{folder.name}_annotations"


def list_images(source: str | os.PathLike[str]) -> list[Path]:
    """The images of a folder or a glob pattern, in natural order; label files and hidden
    files are not images."""
    text = os.fspath(source)
    if _GLOB_CHARS.search(text):
        paths = [Path(p) for p in glob.glob(os.path.expanduser(text), recursive=True)]
    else:
        folder = Path(text).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such folder")
        paths = list(folder.iterdir())
    images = [
        p
        for p in paths
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not p.name.startswith(".")
        and not p.stem.endswith(LABELS_TAIL)
    ]
    return sorted(images, key=_natural_key)


def _natural_key(path: Path) -> list[object]:
    parts = re.split(r"(\d+)", str(path))
    return [int(p) if p.isdigit() else p.lower() for p in parts]


class ImageSeries:
    """Images, the current one, and where their labels go (see the module docstring)."""

    def __init__(
        self,
        images: list[Path],
        out_dir: str | os.PathLike[str] | None,
        skip_annotated: bool = False,
    ) -> None:
        if not images:
            raise ValueError("the series holds no images")
        self.images = [Path(p) for p in images]
        self.out_dir = None if out_dir is None else Path(out_dir).expanduser()
        self.skip_annotated = skip_annotated
        if self.out_dir is not None:
            seen: dict[str, Path] = {}
            for path in self.images:
                if path.stem in seen:
                    raise ValueError(
                        f"two images share the name {path.stem!r} ({seen[path.stem]}, {path}): "
                        "their labels would overwrite each other in one output folder"
                    )
                seen[path.stem] = path
        self._annotated: dict[Path, tuple[tuple[int, int], bool]] = {}
        first = self.first_unannotated()
        self.index = 0 if first is None else first

    @classmethod
    def open(
        cls,
        source: str | os.PathLike[str],
        out_dir: str | os.PathLike[str] | None = None,
        beside: bool = False,
        skip_annotated: bool = False,
    ) -> ImageSeries:
        """The series of a folder or glob; labels in ``out_dir`` (default
        :func:`default_output_dir`) or, with ``beside``, next to each image."""
        if beside and out_dir is not None:
            raise ValueError("choose an output folder or labels beside the images, not both")
        images = list_images(source)
        if not images:
            raise FileNotFoundError(
                f"{source}: no images found (looked for {', '.join(IMAGE_SUFFIXES)})"
            )
        target = None if beside else Path(out_dir or default_output_dir(source))
        return cls(images, target, skip_annotated)

    # -- position --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.images)

    @property
    def current(self) -> Path:
        return self.images[self.index]

    def go_to(self, index: int) -> Path:
        if not 0 <= index < len(self.images):
            raise IndexError(f"image {index} is outside the series of {len(self.images)}")
        self.index = index
        return self.current

    def next(self, skip_annotated: bool | None = None) -> bool:
        """Move to the next image (the next not yet annotated with ``skip_annotated``);
        False, and no move, when there is none."""
        return self._move(1, skip_annotated)

    def previous(self, skip_annotated: bool | None = None) -> bool:
        return self._move(-1, skip_annotated)

    def _move(self, step: int, skip_annotated: bool | None) -> bool:
        skip = self.skip_annotated if skip_annotated is None else skip_annotated
        index = self.index + step
        while 0 <= index < len(self.images):
            if not (skip and self.is_annotated(index)):
                self.index = index
                return True
            index += step
        return False

    def first_unannotated(self) -> int | None:
        return next((i for i in range(len(self.images)) if not self.is_annotated(i)), None)

    def describe(self, index: int | None = None) -> str:
        """``"3 / 10  cat.png  (annotated)"``: a status line for the widget."""
        i = self.index if index is None else index
        mark = "  (annotated)" if self.is_annotated(i) else ""
        return f"{i + 1} / {len(self.images)}  {self.images[i].name}{mark}"

    # -- files -------------------------------------------------------------------------------
    def labels_path(self, index: int | None = None) -> Path:
        """Where the labels of an image are (or will be) saved."""
        image = self.images[self.index if index is None else index]
        existing = self._existing_labels(image)
        if existing is not None:
            return existing
        if self.out_dir is None:
            return image.with_name(image.stem + LABELS_TAIL + LABELS_SUFFIX)
        return self.out_dir / "labels" / (image.stem + LABELS_SUFFIX)

    def _existing_labels(self, image: Path) -> Path | None:
        if self.out_dir is None:
            folder, stems = image.parent, [image.stem + LABELS_TAIL]
        else:
            folder, stems = self.out_dir / "labels", [image.stem, image.stem + LABELS_TAIL]
        names = [s + x for s in stems for x in LABEL_SUFFIXES]
        found = [folder / n for n in names if (folder / n).is_file()]
        if len(found) > 1:
            listed = ", ".join(p.name for p in found)
            raise ValueError(f"{image.name}: several label files in {folder}: {listed}")
        return found[0] if found else None

    def is_annotated(self, index: int | None = None) -> bool:
        """The label file exists and holds an object (cached until the file changes)."""
        path = self.labels_path(index)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return False
        key = (stat.st_mtime_ns, stat.st_size)
        cached = self._annotated.get(path)
        if cached is None or cached[0] != key:
            cached = (key, bool(np.any(read_labels(path))))
            self._annotated[path] = cached
        return cached[1]

    def annotated(self) -> list[bool]:
        return [self.is_annotated(i) for i in range(len(self.images))]

    def load_image(self, index: int | None = None) -> np.ndarray:
        return read_image(self.images[self.index if index is None else index])

    def load_labels(self, index: int | None = None) -> np.ndarray | None:
        """The saved labels of an image (to continue where the user left), or None."""
        path = self.labels_path(index)
        return read_labels(path) if path.is_file() else None

    def save_labels(self, labels: np.ndarray, index: int | None = None) -> Path | None:
        """Save an image's labels (atomic); in an output folder also copy the image there.

        Labels without any object are written only over an existing file (the user erased
        them); otherwise nothing is written and None is returned. The labels are written
        before the image is copied, so a crash between the two never leaves an image without
        labels in ``images/``.
        """
        i = self.index if index is None else index
        labels = np.asarray(labels)
        path = self.labels_path(i)
        if not labels.any() and not path.is_file():
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        write_labels(path, labels)
        if self.out_dir is not None:
            self._copy_image(self.images[i])
        return path

    def _copy_image(self, image: Path) -> None:
        assert self.out_dir is not None
        target = self.out_dir / "images" / image.name
        if target.exists() and target.resolve() == image.resolve():
            return  # the input folder is the output's images/
        source = image.stat()
        if target.is_file():
            have = target.stat()
            if (have.st_size, have.st_mtime_ns) == (source.st_size, source.st_mtime_ns):
                return  # copied before (the copy keeps the image's modification time)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            shutil.copyfile(image, tmp)
            os.utime(tmp, ns=(source.st_atime_ns, source.st_mtime_ns))
