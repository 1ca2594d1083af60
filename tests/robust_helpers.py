"""Helpers for the robustness tests: read-only folders that bind root too, and a full disk.

CI runs as root, for whom ``chmod 0o500`` changes nothing: root may write anywhere. A test that
only chmods would then test nothing, so :func:`make_read_only` checks with ``os.access``
whether the permission binds and, when it does not, makes the kernel's refusal happen anyway:
``os.open`` with ``O_CREAT`` (every new file: ``tempfile.mkstemp``, the atomic writer, the
probes) and ``os.mkdir`` of a path inside the folder raise ``PermissionError`` exactly as the
kernel would for an ordinary user.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest


def _inside(path: Any, folder: Path) -> bool:
    try:
        return Path(os.fsdecode(path)).resolve().parent == folder.resolve()
    except (TypeError, ValueError):
        return False


def make_read_only(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make ``folder`` refuse new files and folders, for any user; returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o500)
    if not os.access(folder, os.W_OK):  # an ordinary user: the kernel refuses by itself
        return folder
    real_open, real_mkdir = os.open, os.mkdir

    def denied(path: Any) -> PermissionError:
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))

    def guarded_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT and _inside(path, folder):
            raise denied(path)
        return real_open(path, flags, *args, **kwargs)

    def guarded_mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        if _inside(path, folder):
            raise denied(path)
        real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)
    monkeypatch.setattr(os, "mkdir", guarded_mkdir)
    return folder


def restore_writable(folder: Path) -> None:
    """Undo the chmod so that pytest can delete the temporary folder."""
    if folder.exists():
        folder.chmod(0o700)


def no_space(filename: Any = None) -> OSError:
    """The error a write raises on a full disk (with the file name the OS saw)."""
    name = None if filename is None else os.fsdecode(filename)
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), name)


def leftovers(folder: Path) -> list[str]:
    """Hidden files in ``folder``: temporary files a failed write must not leave."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))
