"""Saving the labels layer with napari's own save: .tif (napari) and .png (this plugin)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from napari_fbrs._napari.writer import write_labels_png

LABELS = np.zeros((30, 40), dtype=np.int32)
LABELS[2:10, 3:20] = 1
LABELS[12:25, 5:15] = 2
LABELS[20:28, 30:38] = 300


@pytest.mark.gui
@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_saving_the_labels_layer_round_trips_the_ids(make_napari_viewer, tmp_path, suffix):
    viewer = make_napari_viewer()
    layer = viewer.add_labels(LABELS.copy(), name="f-BRS labels")
    path = tmp_path / f"labels{suffix}"
    written = viewer.layers.save(str(path), selected=True)
    assert written == [str(path)]
    if suffix == ".tif":
        back = tifffile.imread(path)
    else:
        with PILImage.open(path) as image:
            back = np.array(image)
    np.testing.assert_array_equal(back, LABELS)
    # and through the layer's own save (File > Save Selected Layers does the same)
    again = tmp_path / f"again{suffix}"
    assert layer.save(str(again)) == [str(again)]
    assert again.stat().st_size > 0


def test_png_writer_refuses_what_png_cannot_hold(tmp_path) -> None:
    with pytest.raises(ValueError, match="PNG"):
        write_labels_png(str(tmp_path / "big.png"), np.full((4, 4), 70000, np.int32), {})
    with pytest.raises(ValueError, match="2-D"):
        write_labels_png(str(tmp_path / "stack.png"), np.zeros((2, 4, 4), np.uint8), {})
    assert not list(tmp_path.iterdir())  # nothing half-written
