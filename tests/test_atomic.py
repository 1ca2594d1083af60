"""One atomic writer for every file: whole files only, the user's permissions (umask)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from napari_fbrs.atomic import atomic_path, atomic_write_bytes, atomic_write_text, current_umask


@pytest.fixture
def umask():
    """Set a umask for the test (restored after)."""
    before = os.umask(0o022)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _writers(tiny_model) -> dict[str, Callable[[Path], Path]]:  # noqa: ANN001
    from napari_fbrs.cli.common import write_npz
    from napari_fbrs.io.masks import write_labels, write_mask
    from napari_fbrs.model.checkpoint import save_checkpoint

    mask = np.zeros((8, 9), dtype=bool)
    mask[2:5, 3:6] = True

    def npz(path: Path) -> Path:
        write_npz(path, probs=np.zeros((1, 8, 9), np.float32))
        return path

    return {
        "mask.png": lambda p: write_mask(p, mask),
        "mask.tif": lambda p: write_mask(p, mask),
        "labels.tif": lambda p: write_labels(p, mask.astype(np.uint16) * 7),
        "probs.npz": npz,
        "model.pth": lambda p: save_checkpoint(p, tiny_model, "hrnet18s_ocr64"),
        "config.json": lambda p: atomic_write_text(p, "{}\n"),
    }


@pytest.mark.parametrize(
    "name", ["mask.png", "mask.tif", "labels.tif", "probs.npz", "model.pth", "config.json"]
)
def test_every_writer_honours_the_umask(tmp_path: Path, umask, tiny_model, name: str) -> None:
    write = _writers(tiny_model)[name]
    umask(0o022)
    assert _mode(write(tmp_path / name)) == 0o644
    umask(0o077)
    assert _mode(write(tmp_path / ("private_" + name))) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "private_" + name])


def test_current_umask_reads_without_changing(umask) -> None:
    umask(0o027)
    assert current_umask() == 0o027
    assert current_umask() == 0o027


def test_overwriting_keeps_the_files_own_mode(tmp_path: Path, umask) -> None:
    path = tmp_path / "a.txt"
    atomic_write_text(path, "one")
    path.chmod(0o640)
    atomic_write_text(path, "two")
    assert path.read_text() == "two" and _mode(path) == 0o640


def test_a_failure_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    atomic_write_bytes(path, b"old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(path) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_a_directory_or_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError, match="is a directory"):
        atomic_write_text(tmp_path, "x")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_write_text(tmp_path / "nope" / "x.txt", "x")
