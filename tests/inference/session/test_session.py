"""The UI-free session: one owner of the object (clicks, threshold, undo/redo, finishing)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.engine.config import ZoomInConfig, eval_preset
from napari_fbrs.inference.engine.maps import ProbabilityMap
from napari_fbrs.inference.engine.predictor import ClickStats, Predictor
from napari_fbrs.inference.session.interactive import (
    ImageContext,
    InteractiveSession,
    next_label_id,
    plan_paint,
)


class DiskPredictor:
    """A stand-in predictor: probability 0.8 inside a disk around each positive click."""

    prob_thresh = 0.5

    def __init__(self, radius: float = 6.0) -> None:
        self.last = ClickStats()
        self.radius = radius
        self.calls = 0
        self.shape = (0, 0)
        self.resets = 0
        self.images = 0

    def set_image(self, image: np.ndarray) -> None:
        self.shape = image.shape[:2]
        self.images += 1

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.shape

    def predict_map(self, clicks) -> ProbabilityMap:  # noqa: ANN001
        self.calls += 1
        rows, cols = np.mgrid[0 : self.shape[0], 0 : self.shape[1]]
        probs = np.full(self.shape, 0.1, np.float32)
        for c in clicks:
            inside = (rows - c.row) ** 2 + (cols - c.col) ** 2 <= self.radius**2
            probs[inside] = 0.8 if c.positive else 0.1
        return ProbabilityMap.whole(probs)

    def get_state(self) -> int:
        return self.calls

    def set_state(self, state: int) -> None:
        pass

    def reset(self) -> None:
        self.resets += 1


@pytest.fixture
def session() -> InteractiveSession:
    s = InteractiveSession(DiskPredictor(), prob_thresh=0.5)  # type: ignore[arg-type]
    s.set_image(np.zeros((40, 50, 3), np.uint8))
    return s


def _apply(labels: np.ndarray, finished) -> None:  # noqa: ANN001
    labels[finished.plan.indices] = finished.plan.label_id


def test_finish_assigns_new_ids_without_overwriting(session: InteractiveSession) -> None:
    labels = np.zeros((40, 50), np.uint16)
    labels[0, 0] = 7
    session.add_click(Click(20, 20, True))
    done = session.finish(labels)
    assert done.plan is not None and done.plan.label_id == 8
    _apply(labels, done)
    session.add_click(Click(18, 25, True))  # overlaps object 8
    second = session.finish(labels)
    assert second.plan.label_id == 9 and second.plan.kept_pixels > 0
    _apply(labels, second)
    assert (labels == 8).sum() == done.plan.num_pixels
    assert second.state.clicks == () and second.state.map is None
    assert second.state.object_id > done.state.object_id


def test_ids_stay_unique_when_plans_are_applied_later(session: InteractiveSession) -> None:
    """The widget applies a plan on the Qt thread after the worker has moved on."""
    labels = np.zeros((40, 50), np.int32)
    session.add_click(Click(10, 10, True))
    first = session.finish(labels)
    session.add_click(Click(30, 40, True))
    second = session.finish(labels)  # the first plan is not applied yet
    assert (first.plan.label_id, second.plan.label_id) == (1, 2)


def test_finish_into_a_stack_plane_gives_full_indices(session: InteractiveSession) -> None:
    labels = np.zeros((3, 40, 50), np.int32)
    labels[0, 5, 5] = 4  # another slice: ids are unique over the whole stack
    session.add_click(Click(20, 20, True))
    done = session.finish(labels, slice_index=(2,))
    _apply(labels, done)
    assert done.plan.label_id == 5
    assert set(np.unique(np.nonzero(labels == 5)[0])) == {2}


def test_overwrite_option_paints_over(session: InteractiveSession) -> None:
    labels = np.zeros((40, 50), np.uint8)
    labels[15:25, 15:45] = 3  # covered far less than half: overwritten, not replaced
    session.add_click(Click(20, 20, True))
    done = session.finish(labels, overwrite=True)
    _apply(labels, done)
    assert done.plan.kept_pixels == 0 and (labels == 4).sum() == done.plan.num_pixels


def test_undo_and_redo_restore_clicks_and_map(session: InteractiveSession) -> None:
    first = session.add_click(Click(10, 10, True))
    second = session.add_click(Click(30, 30, True))
    state = session.undo()
    assert state.clicks == (Click(10, 10, True),) and state.can_redo
    np.testing.assert_array_equal(state.probs, first.probs)
    redone = session.redo()
    assert redone.clicks == second.clicks and not redone.can_redo
    np.testing.assert_array_equal(redone.probs, second.probs)
    session.undo()
    assert session.undo().map is None and not session.state.can_undo
    assert session.undo().clicks == ()  # nothing left: no change
    session.add_click(Click(5, 5, True))
    assert not session.state.can_redo  # a new click forgets what was undone


def test_threshold_changes_the_mask_without_predicting(session: InteractiveSession) -> None:
    session.add_click(Click(20, 20, True))
    calls = session.predictor.calls  # type: ignore[union-attr]
    assert session.set_threshold(0.5).mask().sum() > 0
    assert session.set_threshold(0.9).mask().sum() == 0
    assert session.predictor.calls == calls  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="outside 0..1"):
        session.set_threshold(1.5)


def test_click_outside_changes_nothing(session: InteractiveSession) -> None:
    session.add_click(Click(5, 5, True))
    with pytest.raises(ValueError, match="outside"):
        session.add_click(Click(-1, 5, True))
    assert session.clicks == (Click(5, 5, True),) and session.state.can_undo


def test_finish_with_nothing_says_why(session: InteractiveSession) -> None:
    done = session.finish(np.zeros((40, 50), np.uint8))
    assert done.plan is None and "no prediction" in done.reason
    session.add_click(Click(20, 20, True))
    session.set_threshold(0.95)
    assert "empty at threshold 0.95" in session.finish(np.zeros((40, 50), np.uint8)).reason


def test_plan_paint_checks_shape_and_overflow() -> None:
    assert next_label_id(np.zeros((2, 2), np.int32)) == 1
    with pytest.raises(ValueError, match="differ in shape"):
        plan_paint(np.zeros((2, 2), np.uint8), np.ones((3, 3), bool), 1)
    with pytest.raises(OverflowError):
        plan_paint(np.full((2, 2), 255, np.uint8), np.ones((2, 2), bool), 256)


def test_a_windowed_map_is_painted_at_its_origin() -> None:
    labels = np.zeros((20, 30), np.int32)
    mask = np.ones((3, 4), bool)
    plan = plan_paint(labels, mask, 1, origin=(5, 7))
    labels[plan.indices] = 1
    assert np.argwhere(labels).min(axis=0).tolist() == [5, 7]
    assert labels.sum() == 12


def _recording_factory() -> tuple[list[DiskPredictor], Any]:
    """A predictor factory that records every predictor it makes."""
    made: list[DiskPredictor] = []

    def factory(model, config, device) -> DiskPredictor:  # noqa: ANN001
        made.append(DiskPredictor())
        return made[-1]

    return made, factory


def test_start_object_reuses_the_prepared_image_until_something_changes() -> None:
    made, factory = _recording_factory()
    session = InteractiveSession(predictor_factory=factory)
    with pytest.raises(RuntimeError, match="no model"):
        session.start_object(ImageContext("a", lambda: np.zeros((8, 9, 3))))
    model = object()
    session.use_model(model)
    session.use_settings("config-1", "cpu")
    loads: list[str] = []

    def context(key: str) -> ImageContext:
        return ImageContext(key, lambda: loads.append(key) or np.zeros((8, 9, 3)))

    session.start_object(context("a"))
    session.add_click(Click(2, 2, True))
    state = session.start_object(context("a"))  # same image and settings: reused
    assert state.clicks == () and len(made) == 1 and loads == ["a"]
    session.use_settings("config-2", "cpu")  # other settings: a new predictor
    session.start_object(context("a"))
    session.start_object(context("b"))  # another image
    assert len(made) == 3 and loads == ["a", "a", "b"]


def test_forgetting_an_owner_drops_its_prepared_image_and_only_its() -> None:
    made, factory = _recording_factory()
    session = InteractiveSession(predictor_factory=factory)
    session.use_model(object())
    session.use_settings("config", "cpu")
    image_a = ImageContext(("a", 1), lambda: np.zeros((8, 9, 3)), owner="layer-a")
    session.start_object(image_a)
    session.add_click(Click(2, 2, True))
    assert session.forget("layer-b").clicks  # another layer: nothing happens
    assert session.predictor is made[0]
    state = session.forget("layer-a")  # its layer was removed: predictor and object go
    assert session.predictor is None and state.clicks == () and state.map is None
    session.start_object(image_a)  # the same key again is prepared afresh
    assert len(made) == 2


@pytest.fixture
def real_session(tiny_model):  # noqa: ANN201
    torch.set_num_threads(1)
    config = eval_preset("f-BRS-B").with_changes(
        zoom_in=ZoomInConfig(target_size=64, min_crop_size=16)
    )

    def make(history_bytes: int) -> InteractiveSession:
        session = InteractiveSession(
            Predictor(tiny_model, config), prob_thresh=0.49, history_bytes=history_bytes
        )
        rng = np.random.default_rng(1)
        session.set_image(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8))
        return session

    return make


CLICKS = [Click(20, 20, True), Click(5, 50, False), Click(30, 30, True), Click(10, 40, False)]


def test_undo_then_same_click_reproduces_the_map_with_a_real_predictor(real_session) -> None:
    session = real_session(2**30)
    for c in CLICKS[:3]:
        before = session.add_click(c)
    session.undo()
    np.testing.assert_array_equal(session.add_click(CLICKS[2]).probs, before.probs)


def test_a_bounded_history_replays_dropped_snapshots_exactly(real_session) -> None:
    """With room for one snapshot only, every undo but the last is a replay; the maps are the
    same as with an unbounded history."""
    unbounded, bounded = real_session(2**30), real_session(1)
    states = [unbounded.add_click(c) for c in CLICKS]
    for c in CLICKS:
        bounded.add_click(c)
    kept = [s for s in bounded._history.undo if s.predictor is not None]
    assert len(kept) == 1  # the newest only
    for expected in reversed(states[:-1]):
        got = bounded.undo()
        assert got.clicks == expected.clicks
        np.testing.assert_array_equal(got.probs, expected.probs)
    assert bounded.undo().map is None


def test_a_finish_that_paints_nothing_uses_no_id(session: InteractiveSession) -> None:
    """Issue 22, defect 7: ids come from what the labels hold, nothing is skipped."""
    labels = np.zeros((40, 50), np.int32)
    labels[10:30, 10:30] = 1
    session.add_click(Click(20, 20, True))  # inside object 1: every pixel already labelled
    nothing = session.finish(labels)
    assert nothing.plan is None and "already had a label" in nothing.reason
    session.add_click(Click(20, 40, True))
    done = session.finish(labels)
    assert done.plan is not None and done.plan.label_id == 2


def test_the_next_id_follows_the_labels_after_an_undo(session: InteractiveSession) -> None:
    """Issue 22, defect 7: napari's undo of object 2, then the next object is 2 again."""
    labels = np.zeros((40, 50), np.int32)
    for at in ((10, 10), (30, 40)):
        session.add_click(Click(*at, True))
        done = session.finish(labels)
        _apply(labels, done)
        session.release(labels, done.plan.label_id)  # the widget applied it
    assert labels.max() == 2
    labels[labels == 2] = 0  # napari's labels undo
    session.add_click(Click(30, 40, True))
    assert session.finish(labels).plan.label_id == 2


def test_an_object_covering_most_of_a_label_replaces_it(session: InteractiveSession) -> None:
    """Issue 22, defect 5: the same id, the old pixels outside the new object cleared."""
    labels = np.zeros((40, 50), np.int32)
    labels[14:27, 14:27] = 3  # the old object: a square a bit larger than the new disk
    labels[0:3, 0:3] = 5
    session.add_click(Click(20, 20, True))
    mask = session.state.mask()
    done = session.finish(labels)
    plan = done.plan
    assert plan is not None and plan.label_id == 3 and plan.replaced == 3
    plan.apply_to(labels)
    np.testing.assert_array_equal(labels == 3, mask)
    assert (labels == 5).sum() == 9 and set(np.unique(labels)) == {0, 3, 5}


def test_a_small_overlap_keeps_the_old_label(session: InteractiveSession) -> None:
    labels = np.zeros((40, 50), np.int32)
    labels[20:40, 0:50] = 3  # the disk touches a large label: far less than half of it
    session.add_click(Click(14, 20, True))
    plan = session.finish(labels).plan
    assert plan is not None and plan.label_id == 4 and plan.replaced is None
