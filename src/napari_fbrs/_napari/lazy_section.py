"""A folded part of the dock whose widgets are made when it is first unfolded.

Issue 22 (defect 13): opening the dock must not block napari for more than 100 ms. Most of
the panel's widgets sit in folded sections (computation settings, stack propagation, image
series, segment everything) that many sessions never open, and each magicgui widget costs a
few milliseconds to make: made at once they were most of the dock's construction time. A
``LazySection`` shows only its title until the user unfolds it (or code asks for its
content), and makes its content then.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from qtpy.QtWidgets import QWidget
from superqt import QCollapsible


class LazySection(QCollapsible):
    """A ``QCollapsible`` that calls ``build`` once, when first expanded or ``ensure_built``."""

    def __init__(self, title: str, build: Callable[[], Sequence[QWidget]]) -> None:
        super().__init__(title)
        self._build = build
        self._built = False

    @property
    def built(self) -> bool:
        return self._built

    def ensure_built(self) -> None:
        """Make the content now (idempotent)."""
        if self._built:
            return
        self._built = True  # before building: a builder that reads the content must not recurse
        for widget in self._build():
            self.addWidget(widget)

    def expand(self, animate: bool = True) -> None:
        """Unfold; the content is made first, so the section opens to its full height."""
        self.ensure_built()
        super().expand(animate)
