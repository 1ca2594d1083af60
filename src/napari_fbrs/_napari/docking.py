"""Closing a dock widget the ways napari closes it.

A dock is closed either as a window (``closeEvent``) or by napari re-parenting its widget to
``None`` when the user closes the dock; both must release the widget's listeners and workers
exactly once through its ``close_plugin``.
"""

from __future__ import annotations

from qtpy.QtCore import QEvent
from qtpy.QtWidgets import QWidget


class ClosesWithDock(QWidget):
    """A QWidget whose ``close_plugin`` runs when its window or its napari dock closes."""

    _docked: bool = False

    def close_plugin(self) -> None:
        raise NotImplementedError

    def closeEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt override
        self.close_plugin()
        super().closeEvent(event)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ParentChange:
            if self.parent() is not None:
                self._docked = True
            elif self._docked:
                self.close_plugin()
        return super().event(event)
