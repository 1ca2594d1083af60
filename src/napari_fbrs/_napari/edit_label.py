"""Correct an existing label: Alt+click on it (or *Edit label*, then a click).

The label under the click, in the labels layer objects go into (the chosen one, or the image's
own ``f-BRS labels``), becomes the current object: its pixels are the starting prediction
(``napari_fbrs.inference.session.init_mask``), clicks correct it, and Finish writes it back
with the same id, its old pixels replaced, as one step of napari's labels undo. The click that
picks the label is not an object click: the clicks layer's point is diverted here and removed
(``ClickInput.divert``).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from napari.layers import Image, Labels, Points
from napari.utils.notifications import show_info

from napari_fbrs._napari import layers as L
from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.session.init_mask import mask_of_label, start_from_mask


class EditHost(Protocol):
    """What the editor needs of the controller."""

    viewer: Any
    target: Labels | None
    input: Any  # ClickInput: its ``divert`` hook
    layers: Any  # PluginLayers: ``existing_labels(image)``

    def refuse(self, message: str) -> bool: ...

    def say(self, message: str) -> None: ...

    def start_prompted(
        self, image: Image, slice_index: tuple[int, ...], make_start: Any, message: str
    ) -> bool: ...


class LabelEditor:
    """Turns "this label" (Alt+click, or Edit label + click) into an object start."""

    def __init__(self, host: EditHost) -> None:
        self.host = host

    def arm(self) -> None:
        """The next click on the image picks the label to edit (the Edit label button)."""
        self.host.input.divert = self.pick
        self.host.say("Click a label to edit it (or Alt+click a label at any time).")

    def alt_press(self, layer: Points, event: Any) -> None:
        """Clicks-layer mouse callback: Alt + left click picks a label instead of clicking."""
        modifiers = getattr(event, "modifiers", None) or ()
        if event.button == 1 and any(m == "Alt" for m in modifiers):
            self.host.input.divert = self.pick
            layer.feature_defaults = {"positive": True}

    def labels_for(self, image: Image) -> Labels | None:
        """The layer whose labels can be edited for ``image`` (None: there is none)."""
        host = self.host
        labels = host.target if host.target is not None else host.layers.existing_labels(image)
        return labels if labels is not None and labels in host.viewer.layers else None

    def pick(self, image: Image, slice_index: tuple[int, ...], click: Click) -> bool:
        """Start editing the label under ``click`` (refused with a message when none)."""
        host = self.host
        labels = self.labels_for(image)
        if labels is None:
            return host.refuse("No labels to edit: choose a labels layer under Labels.")
        try:
            L.check_target(labels, image)
        except ValueError as exc:
            return host.refuse(str(exc))
        row, col = int(click.row), int(click.col)
        label_id = int(np.asarray(labels.data[(*slice_index, row, col)]))
        if label_id == 0:
            return host.refuse(f"No label at ({row}, {col}) in {labels.name!r}: nothing to edit.")
        data = labels.data

        def make_start(predictor: Any) -> Any:
            plane = np.asarray(data[slice_index]) if slice_index else np.asarray(data)
            mask = mask_of_label(plane, label_id)
            return start_from_mask(mask, predictor.uses_prev_mask, label_id)

        message = (
            f"Editing label {label_id} of {labels.name!r}: click to correct it; Finish (C) "
            f"writes it back as label {label_id}."
        )
        started = host.start_prompted(image, slice_index, make_start, message)
        if started:
            show_info(f"f-BRS: Editing label {label_id}")
        return started
