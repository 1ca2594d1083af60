"""Finding a dataset's files: the folders, the image list, and each image's partner file.

Every reader of :mod:`napari_fbrs.io.datasets` lists its files with these functions when it is
opened, so a missing folder, a missing partner file or an ambiguous name is found before any
pixel is read, with a :class:`DatasetError` naming the file or folder.
"""

from __future__ import annotations

import os
from pathlib import Path

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")


class DatasetError(ValueError):
    """A dataset cannot be read; the message names the offending file or folder."""


def check_root(root: str | os.PathLike[str]) -> Path:
    path = Path(root).expanduser()
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        raise DatasetError(f"dataset root {path} {what}")
    return path


def check_dir(path: Path) -> Path:
    if not path.is_dir():
        raise DatasetError(f"missing folder {path}")
    return path


def visible_files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Visible files of ``folder`` whose suffix (any case) is in ``suffixes``, sorted by name."""
    return sorted(
        (
            p
            for p in folder.iterdir()
            if p.suffix.lower() in suffixes and not p.name.startswith(".")
        ),
        key=lambda p: p.name,
    )


def list_images(folder: Path) -> list[Path]:
    images = visible_files(check_dir(folder), IMAGE_SUFFIXES)
    if not images:
        raise DatasetError(f"no images found in {folder} (looked for {', '.join(IMAGE_SUFFIXES)})")
    seen: dict[str, Path] = {}
    for path in images:
        if path.stem in seen:
            raise DatasetError(
                f"two images share the stem {path.stem!r}: {seen[path.stem]}, {path}"
            )
        seen[path.stem] = path
    return images


def match_files(
    images: list[Path], folder: Path, suffixes: tuple[str, ...], what: str, alt_tail: str = ""
) -> list[Path]:
    """For every image the one file of ``folder`` with its stem (or ``stem + alt_tail``)."""
    by_stem: dict[str, list[Path]] = {}
    for path in visible_files(check_dir(folder), suffixes):
        by_stem.setdefault(path.stem, []).append(path)
    matched: list[Path] = []
    missing: list[str] = []
    for image in images:
        names = [image.stem] + ([image.stem + alt_tail] if alt_tail else [])
        candidates = [p for name in names for p in by_stem.get(name, [])]
        if len(candidates) > 1:
            listed = ", ".join(p.name for p in candidates)
            raise DatasetError(f"{image}: several {what} files in {folder} match it: {listed}")
        if candidates:
            matched.append(candidates[0])
        else:
            missing.append(image.name)
    if missing:
        pattern = "<stem>" + (f"[{alt_tail}]" if alt_tail else "") + "{" + "|".join(suffixes) + "}"
        more = " ..." if len(missing) > 5 else ""
        raise DatasetError(
            f"{len(missing)} image(s) in {images[0].parent} have no {what} file {pattern} "
            f"in {folder}: {', '.join(missing[:5])}{more}"
        )
    return matched


def require_files(paths: list[Path], context: str) -> None:
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        more = " ..." if len(missing) > 5 else ""
        raise DatasetError(
            f"{len(missing)} file(s) {context} are missing: {', '.join(missing[:5])}{more}"
        )
