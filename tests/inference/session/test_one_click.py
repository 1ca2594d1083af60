"""One click per object in the session: the rule, the auto-finish and its exact undo."""

from __future__ import annotations

import numpy as np
import pytest

from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.session.interactive import InteractiveSession
from napari_fbrs.inference.session.one_click import starts_new_object
from tests.inference.session.test_session import DiskPredictor


def _starts(state, click: Click) -> bool:  # noqa: ANN001
    return starts_new_object(state.map, state.threshold, click)


@pytest.fixture
def session() -> InteractiveSession:
    s = InteractiveSession(DiskPredictor(), prob_thresh=0.5)  # type: ignore[arg-type]
    s.set_image(np.zeros((40, 50, 3), np.uint8))
    return s


def test_the_rule(session: InteractiveSession) -> None:
    assert not _starts(session.state, Click(5, 5, True))  # no object yet
    state = session.add_click(Click(20, 20, True))
    assert not _starts(state, Click(22, 21, True))  # on the object: corrects it
    assert not _starts(state, Click(5, 5, False))  # negative: corrects it
    assert _starts(state, Click(5, 5, True))
    empty = session.add_click(Click(20, 20, False))  # the disk is gone: an empty mask
    assert empty.mask() is not None and not empty.mask().any()
    assert not _starts(empty, Click(5, 5, True))


def test_a_click_outside_finishes_the_object_and_starts_the_next(
    session: InteractiveSession,
) -> None:
    labels = np.zeros((40, 50), np.int32)
    labels[0, 0] = 4
    first = session.click_one_per_object(Click(10, 10, True), labels)
    assert first.finished is None and len(first.state.clicks) == 1
    inside = session.click_one_per_object(Click(12, 11, True), labels)
    assert inside.finished is None and len(inside.state.clicks) == 2
    negative = session.click_one_per_object(Click(30, 40, False), labels)
    assert negative.finished is None and len(negative.state.clicks) == 3
    mask = negative.state.mask()
    outside = session.click_one_per_object(Click(30, 30, True), labels)
    assert outside.finished is not None and outside.finished.plan is not None
    plan = outside.finished.plan
    assert plan.label_id == 5  # the next free id, as Finish
    assert outside.state.clicks == (Click(30, 30, True),)
    plan.apply_to(labels)
    assert np.array_equal(labels == 5, mask & (labels != 4))
    session.release(labels, 5)
    again = session.click_one_per_object(Click(10, 40, True), labels)
    assert again.finished.plan.label_id == 6


def test_undo_of_the_finishing_click_restores_the_object_exactly(
    session: InteractiveSession,
) -> None:
    labels = np.zeros((40, 50), np.int32)
    session.click_one_per_object(Click(10, 10, True), labels)
    before = session.click_one_per_object(Click(12, 13, True), labels).state
    done = session.click_one_per_object(Click(30, 30, True), labels)
    done.finished.plan.apply_to(labels)
    session.click_one_per_object(Click(31, 33, True), labels)  # corrects the second object
    back = session.undo_click()
    assert back.unfinished is None and back.state.clicks == (Click(30, 30, True),)
    undone = session.undo_click()
    assert undone.unfinished is done.finished  # the caller takes its pixels out
    state = undone.state
    assert state.clicks == before.clicks and state.object_id == before.object_id
    assert np.array_equal(state.probs, before.probs) and state.can_undo
    labels[undone.unfinished.plan.all_indices] = 0
    # its id is free again, and the object goes on being edited
    assert session.undo_click().state.clicks == (Click(10, 10, True),)
    redone = session.click_one_per_object(Click(35, 35, True), labels)
    assert redone.finished.plan.label_id == 1


def test_undo_goes_back_through_a_chain_of_objects(session: InteractiveSession) -> None:
    labels = np.zeros((40, 50), np.int32)
    centres = [(8, 8), (8, 30), (30, 8), (30, 30)]
    for row, col in centres:
        done = session.click_one_per_object(Click(row, col, True), labels)
        if done.finished is not None:
            done.finished.plan.apply_to(labels)
    assert labels.max() == 3
    for expected in ((30, 8), (8, 30), (8, 8)):
        undone = session.undo_click()
        labels[undone.unfinished.plan.all_indices] = 0
        assert undone.state.clicks == (Click(*expected, True),)
    assert not labels.any()
    assert session.undo_click().state.clicks == ()


def test_finish_reset_or_a_new_image_end_the_chain(session: InteractiveSession) -> None:
    labels = np.zeros((40, 50), np.int32)
    session.click_one_per_object(Click(8, 8, True), labels)
    session.click_one_per_object(Click(30, 30, True), labels)
    session.finish(labels)
    session.click_one_per_object(Click(8, 40, True), labels)
    assert session.undo_click().unfinished is None  # a plain undo: the chain is gone
    assert session.state.clicks == ()


def test_a_failing_click_changes_nothing(session: InteractiveSession) -> None:
    labels = np.zeros((40, 50), np.int32)
    state = session.click_one_per_object(Click(8, 8, True), labels).state
    with pytest.raises(ValueError, match="outside"):
        session.click_one_per_object(Click(80, 8, True), labels)
    predictor = session.predictor

    def broken(clicks):  # noqa: ANN001, ANN202
        raise RuntimeError("out of memory")

    original, predictor.predict_map = predictor.predict_map, broken
    with pytest.raises(RuntimeError, match="memory"):
        session.click_one_per_object(Click(30, 30, True), labels)
    predictor.predict_map = original
    assert session.state.clicks == state.clicks and session.state.object_id == state.object_id
    done = session.click_one_per_object(Click(30, 30, True), labels)
    assert done.finished.plan.label_id == 1  # the failed click reserved no id


def test_parked_objects_beyond_the_budget_are_recomputed_on_undo() -> None:
    session = InteractiveSession(DiskPredictor(), prob_thresh=0.5, history_bytes=0)  # type: ignore[arg-type]
    session.set_image(np.zeros((40, 50, 3), np.uint8))
    labels = np.zeros((40, 50), np.int32)
    session.click_one_per_object(Click(8, 8, True), labels)
    before = session.click_one_per_object(Click(9, 10, True), labels).state
    session.click_one_per_object(Click(30, 30, True), labels)
    assert all(p.predictor is None for p in session._parked)  # nothing kept but clicks
    state = session.undo_click().state
    assert state.clicks == before.clicks and np.array_equal(state.probs, before.probs)


def test_on_a_stack_the_objects_go_into_their_slice(session: InteractiveSession) -> None:
    labels = np.zeros((3, 40, 50), np.int32)
    labels[0, 5, 5] = 4  # another slice: ids are unique over the stack
    session.click_one_per_object(Click(8, 8, True), labels, (1,))
    done = session.click_one_per_object(Click(30, 30, True), labels, (1,))
    done.finished.plan.apply_to(labels)
    assert done.finished.plan.label_id == 5
    assert set(np.nonzero(labels == 5)[0]) == {1} and labels[1, 8, 8] == 5
    undone = session.undo_click().unfinished
    labels[undone.plan.all_indices] = 0
    assert (labels == 5).sum() == 0 and labels[0, 5, 5] == 4
