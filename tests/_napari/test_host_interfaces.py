"""The controller provides every member of the narrow interfaces its helpers are typed with.

Propagation, the series panel and "Segment everything" see the controller only through
``PropagationHost``, ``SeriesHost`` and ``SegmentAllHost``; a member renamed in the controller must
fail here, not at a user's click.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_fbrs._napari.propagation import PropagationHost
from napari_fbrs._napari.segment_all import SegmentAllHost
from napari_fbrs._napari.series_panel import LabelsOfImages, SeriesHost

pytestmark = pytest.mark.gui


def _members(protocol: type) -> set[str]:
    own = {"__init__", "__module__", "__doc__", "__dict__", "__weakref__", "__annotations__"}
    names: set[str] = set()
    for cls in protocol.__mro__:  # its own members and those of the interfaces it extends
        if cls.__module__.startswith("napari_fbrs"):
            names |= set(vars(cls)) | set(getattr(cls, "__annotations__", {}))
    return {n for n in names if not n.startswith("_") and n not in own}


@pytest.mark.parametrize("protocol", [PropagationHost, SeriesHost, SegmentAllHost])
def test_the_controller_has_every_member_of_each_host_interface(open_widget, protocol) -> None:
    _, _, widget = open_widget(np.zeros((32, 32), np.uint8))
    controller = widget.controller
    members = _members(protocol)
    assert len(members) >= 8
    missing = sorted(n for n in members if not hasattr(controller, n))
    assert missing == []
    layers_missing = [n for n in _members(LabelsOfImages) if not hasattr(controller.layers, n)]
    assert layers_missing == []
