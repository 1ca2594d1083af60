"""A new run's output folder, and taking back what a run that failed early put there.

A run that fails before its first checkpoint (a bad dataset, a model that does not fit, an
out-of-memory error at the first step) used to leave a folder holding only ``config.json``
and empty logs: it looks like a run but holds nothing to resume or use. :class:`RunFolder`
records what existed before the run, so that :meth:`RunFolder.undo` removes exactly what the
run created (entries inside the folder, the folder itself and any parent folders it had to
make), never a file that was there before.
"""

from __future__ import annotations

import shutil
from pathlib import Path


class RunFolder:
    """Snapshot of ``out_dir`` taken before a run starts writing into it."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        exists = self.out_dir.is_dir()
        self._existing = {p.name for p in self.out_dir.iterdir()} if exists else set()
        created: list[Path] = []
        folder = self.out_dir
        while not folder.exists():
            created.append(folder)  # deepest first
            if folder.parent == folder:
                break
            folder = folder.parent
        self._created_dirs = created

    def undo(self) -> list[Path]:
        """Remove what appeared since the snapshot; return the paths removed.

        Best effort: a path that cannot be removed is left (the run's own error is the one
        to report).
        """
        removed: list[Path] = []
        if self.out_dir.is_dir():
            for entry in sorted(self.out_dir.iterdir()):
                if entry.name in self._existing:
                    continue
                try:
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()
                except OSError:
                    continue
                removed.append(entry)
        for folder in self._created_dirs:
            try:
                folder.rmdir()  # only if empty
            except OSError:
                break
            removed.append(folder)
        return removed
