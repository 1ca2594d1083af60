"""The one way napari-fbrs writes a file: never half-written, with the user's permissions.

Everything the project writes (masks, labels, probability ``.npz``, checkpoints, exported
weights, JSON results, CSV logs, ``config.json``, checksum records) goes through
:func:`atomic_path`: the content is written to a temporary file in the target folder and moved
into place with :func:`os.replace`, so a crash, a full disk or Ctrl+C leaves either the old file
or the new one, never a truncated one, and the temporary file is removed on failure.

``tempfile.mkstemp`` creates private (0600) files; results and models are meant to be shared
like any other file the user makes, so the finished file gets the mode a plain ``open()`` would
give it (``0666`` minus the umask, 0644 by default). A file that is overwritten keeps its own
mode, so a deliberately private file stays private.

This module depends on the standard library only, so that every layer may use it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # portable fallback: read by setting, then restore at once
    os.umask(mask)
    return mask


def _final_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777  # overwriting: keep the file's own permissions
    except OSError:
        return 0o666 & ~current_umask()


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    ``suffix`` (default: ``path``'s own) lets writers that infer the format from the name
    (Pillow, tifffile, numpy) see the right extension. The folder must exist. On any exception
    the temporary file is deleted and the exception propagates; ``path`` is untouched.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a file")
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"{path}: the folder {folder} does not exist")
    fd, name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=suffix if suffix is not None else path.suffix, dir=folder
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _final_mode(path))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, newline: str | None = None) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline=newline) as fh:
        fh.write(text)
    return Path(path)
