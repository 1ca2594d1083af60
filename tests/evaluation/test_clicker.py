"""The simulated clicker on hand-made masks where the right click is known."""

from __future__ import annotations

import numpy as np
import pytest

from napari_fbrs.evaluation.clicker import SimulatedClicker, next_click
from napari_fbrs.inference.engine.clicks import Click
from tests.conftest import require_shared


def _empty(gt: np.ndarray) -> np.ndarray:
    return np.zeros(gt.shape, dtype=bool)


def _first_click(gt: np.ndarray) -> Click:
    return SimulatedClicker(gt).make_next_click(_empty(gt))


def test_first_click_on_a_square_is_its_centre() -> None:
    gt = np.zeros((11, 11), dtype=np.int8)
    gt[2:9, 2:9] = 1  # 7 x 7, centre (5, 5)
    click = _first_click(gt)
    assert click == Click(5, 5, True)
    assert isinstance(click.row, int) and isinstance(click.col, int)


def test_image_border_counts_as_boundary() -> None:
    # A 5-row band touching the top border: rows 0..4, cols 2..12.
    # With the 1 px zero frame the depth of row r is min(r + 1, 5 - r): row 2 is deepest (3);
    # without the frame the top row would be infinitely deep and the click would go to row 4.
    gt = np.zeros((10, 15), dtype=np.int8)
    gt[0:5, 2:13] = 1
    assert _first_click(gt) == Click(2, 4, True)


def test_object_filling_the_whole_image_clicks_its_centre() -> None:
    gt = np.ones((5, 5), dtype=np.int8)
    assert _first_click(gt) == Click(2, 2, True)


def test_ties_go_to_the_first_pixel_in_row_major_order() -> None:
    # A 4 x 6 rectangle (rows 2..5, cols 2..7): depth 2 at rows 3-4 and cols 3-6.
    gt = np.zeros((10, 10), dtype=np.int8)
    gt[2:6, 2:8] = 1
    assert _first_click(gt) == Click(3, 3, True)
    # Two equal squares: the upper-left one wins.
    gt = np.zeros((12, 12), dtype=np.int8)
    gt[7:10, 1:4] = 1
    gt[1:4, 7:10] = 1
    assert _first_click(gt) == Click(2, 8, True)


def test_equal_false_negative_and_false_positive_depths_give_a_negative_click() -> None:
    gt = np.zeros((12, 12), dtype=np.int8)
    gt[1:4, 1:4] = 1  # missed object, depth 2 at (2, 2)
    pred = np.zeros(gt.shape, dtype=bool)
    pred[7:10, 7:10] = True  # false positive, depth 2 at (8, 8)
    clicker = SimulatedClicker(gt)
    assert clicker.make_next_click(pred) == Click(8, 8, False)
    # One pixel deeper on the false-negative side makes it positive.
    gt[1:6, 1:6] = 1
    assert SimulatedClicker(gt).make_next_click(pred) == Click(3, 3, True)


def test_tie_between_a_missed_strip_and_a_false_positive_ring() -> None:
    gt = np.zeros((20, 20), dtype=np.int8)
    gt[2:17, 2:17] = 1
    pred = np.ones(gt.shape, dtype=bool)  # the object plus a ring around it
    pred[2:17, 2:5] = False  # a missed strip 3 px wide: depth 2 at col 3
    # The ring is 2 px wide at the top/left (depth 1, the frame counts) and 3 px at the
    # bottom/right (depth 2); the first depth-2 ring pixel in row-major order is (1, 18),
    # since (1, 17) lies 1.41 px from the object corner. Equal depths -> negative.
    assert SimulatedClicker(gt).make_next_click(pred) == Click(1, 18, False)
    # Widen the missed part to cols 2..11: depth 5, first at (6, 6); now positive.
    pred[2:17, 2:12] = False
    assert SimulatedClicker(gt).make_next_click(pred) == Click(6, 6, True)


def test_ignore_pixels_are_neither_object_nor_background() -> None:
    gt = np.zeros((12, 20), dtype=np.int8)
    gt[4:7, 2:5] = 1  # small object, depth 2 at (5, 3)
    gt[1:11, 8:19] = -1  # a big ignore region
    pred = np.zeros(gt.shape, dtype=bool)
    pred[1:11, 8:19] = True  # predicted inside the ignore region only
    # Ignored: the prediction there is no error, the missed object gets a positive click.
    assert next_click(gt, pred, np.ones(gt.shape, bool)) == Click(5, 3, True)
    # If -1 were not the ignore label, the big region (rows 1..10, cols 8..18) would be a
    # false positive of depth 5, first reached at (5, 12).
    assert next_click(gt, pred, np.ones(gt.shape, bool), ignore_label=99) == Click(5, 12, False)


def test_ignore_band_acts_as_boundary_of_the_object() -> None:
    gt = np.zeros((11, 11), dtype=np.int8)
    gt[1:10, 1:10] = 1
    gt[1:10, 1:4] = -1  # the left third of the object is ignored
    # Remaining object: rows 1..9, cols 4..9 -> depth 3 first at (3, 6).
    assert _first_click(gt) == Click(3, 6, True)


def test_a_clicked_pixel_is_never_chosen_twice() -> None:
    gt = np.zeros((11, 11), dtype=np.int8)
    gt[2:9, 2:9] = 1  # depth 4 at the centre, depth 3 on the 8 pixels around it
    clicker = SimulatedClicker(gt)
    empty = _empty(gt)
    clicks = [clicker.make_next_click(empty) for _ in range(9)]
    expected = [(5, 5)] + [(r, c) for r in (4, 5, 6) for c in (4, 5, 6) if (r, c) != (5, 5)]
    assert [(c.row, c.col) for c in clicks] == expected
    assert all(c.positive for c in clicks)
    assert clicker.clicks == clicks and len(clicker) == 9
    # The tenth goes to depth 2, first in row-major order.
    assert clicker.make_next_click(empty) == Click(3, 3, True)


def test_no_error_left_gives_upstreams_negative_click_at_the_origin() -> None:
    gt = np.zeros((6, 6), dtype=np.int8)
    gt[2:4, 2:4] = 1
    perfect = gt == 1
    assert SimulatedClicker(gt).make_next_click(perfect) == Click(0, 0, False)


def test_next_click_is_pure() -> None:
    gt = np.zeros((7, 7), dtype=np.int8)
    gt[1:6, 1:6] = 1
    not_clicked = np.ones(gt.shape, dtype=bool)
    before = (gt.copy(), not_clicked.copy())
    assert next_click(gt, _empty(gt), not_clicked) == Click(3, 3, True)
    np.testing.assert_array_equal(gt, before[0])
    np.testing.assert_array_equal(not_clicked, before[1])
    not_clicked[3, 3] = False
    assert next_click(gt, _empty(gt), not_clicked) == Click(2, 2, True)


def test_shape_errors_name_the_array() -> None:
    gt = np.zeros((4, 5), dtype=np.int8)
    with pytest.raises(ValueError, match=r"pred_mask has shape \(5, 4\)"):
        next_click(gt, np.zeros((5, 4), bool), np.ones((4, 5), bool))
    with pytest.raises(ValueError, match="gt must be a 2-D"):
        SimulatedClicker(np.zeros((2, 3, 4)))


@pytest.mark.reference
def test_reproduces_upstream_clicks_on_grabcut_sheep() -> None:
    """The five clicks of ../shared/reference were made by upstream's ``Clicker``.

    Its proxy predictions were disks of radius 120 px painted around the clicks so far, in
    click order (positive 1, negative 0); replaying that must give the same clicks, which
    also exercises the GrabCut ignore band.
    """
    gt = np.load(require_shared("reference", "sheep_inputs.npz"))["gt_mask"]
    assert (gt == -1).any()
    expected = [(255, 240, 1), (236, 327, 0), (248, 252, 1), (227, 332, 0), (246, 255, 1)]
    rows, cols = np.mgrid[: gt.shape[0], : gt.shape[1]]
    clicker = SimulatedClicker(gt)
    pred = np.zeros(gt.shape, dtype=bool)
    for _ in expected:
        clicker.make_next_click(pred)
        for click in clicker.clicks:
            pred[(rows - click.row) ** 2 + (cols - click.col) ** 2 <= 120**2] = click.positive
    assert [(c.row, c.col, int(c.positive)) for c in clicker.clicks] == expected
