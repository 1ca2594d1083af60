"""The UI-free session: clicks, undo, threshold, finishing objects into labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_fbrs.inference.clicks import Click
from napari_fbrs.inference.config import ZoomInConfig, eval_preset
from napari_fbrs.inference.predictor import Predictor
from napari_fbrs.inference.session import InteractiveSession, next_label_id, plan_paint


class DiskPredictor:
    """A stand-in predictor: probability 0.8 inside a disk around each positive click."""

    def __init__(self, radius: float = 6.0) -> None:
        self.radius = radius
        self.calls = 0
        self.shape = (0, 0)
        self.resets = 0

    def set_image(self, image: np.ndarray) -> None:
        self.shape = image.shape[:2]

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.shape

    def predict(self, clicks):  # noqa: ANN001, ANN201
        self.calls += 1
        rows, cols = np.mgrid[0 : self.shape[0], 0 : self.shape[1]]
        probs = np.full(self.shape, 0.1, np.float32)
        for c in clicks:
            inside = (rows - c.row) ** 2 + (cols - c.col) ** 2 <= self.radius**2
            probs[inside] = 0.8 if c.positive else 0.1
        return probs

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


def test_finish_assigns_new_ids_without_overwriting(session: InteractiveSession) -> None:
    labels = np.zeros((40, 50), np.uint16)
    labels[0:3, 0:3] = 7  # an existing label the user drew
    session.add_click(Click(20, 20, True))
    plan = session.finish_object(labels)
    assert plan is not None and plan.label_id == 8
    assert (labels == 8).sum() == plan.num_pixels > 0
    session.add_click(Click(18, 25, True))  # overlaps object 8
    plan2 = session.finish_object(labels)
    assert plan2 is not None and plan2.label_id == 9 and plan2.kept_pixels > 0
    assert (labels == 7).sum() == 9  # untouched
    assert session.clicks == () and session.probs is None


def test_overwrite_option_paints_over(session: InteractiveSession) -> None:
    labels = np.zeros((40, 50), np.uint8)
    labels[20, 20] = 1
    session.add_click(Click(20, 20, True))
    plan = session.finish_object(labels, overwrite=True)
    assert plan is not None and labels[20, 20] == 2 and plan.kept_pixels == 0


def test_undo_restores_clicks_and_map(session: InteractiveSession) -> None:
    first = session.add_click(Click(10, 10, True)).copy()
    session.add_click(Click(30, 30, True))
    assert session.undo_click()
    assert session.clicks == (Click(10, 10, True),)
    np.testing.assert_array_equal(session.probs, first)
    assert session.undo_click() and session.probs is None
    assert not session.undo_click()


def test_threshold_changes_the_mask_without_predicting(session: InteractiveSession) -> None:
    session.add_click(Click(20, 20, True))
    predictor = session.predictor
    calls = predictor.calls  # type: ignore[attr-defined]
    assert session.mask is not None and session.mask.sum() > 0
    session.prob_thresh = 0.9
    assert session.mask is not None and session.mask.sum() == 0
    assert predictor.calls == calls  # type: ignore[attr-defined]


def test_click_outside_changes_nothing(session: InteractiveSession) -> None:
    session.add_click(Click(5, 5, True))
    with pytest.raises(ValueError, match="outside"):
        session.add_click(Click(-1, 5, True))
    assert session.clicks == (Click(5, 5, True),) and session.can_undo


def test_finish_with_nothing_returns_none(session: InteractiveSession) -> None:
    assert session.finish_object(np.zeros((40, 50), np.uint8)) is None


def test_plan_paint_checks_shape_and_overflow() -> None:
    assert next_label_id(np.zeros((2, 2), np.int32)) == 1
    with pytest.raises(ValueError, match="differ in shape"):
        plan_paint(np.zeros((2, 2), np.uint8), np.ones((3, 3), bool))
    with pytest.raises(OverflowError):
        plan_paint(np.full((2, 2), 255, np.uint8), np.ones((2, 2), bool))


def test_undo_then_same_click_reproduces_the_map_with_a_real_predictor(tiny_model) -> None:
    torch.set_num_threads(1)
    config = eval_preset("f-BRS-B").with_changes(
        zoom_in=ZoomInConfig(target_size=64, min_crop_size=16)
    )
    session = InteractiveSession(Predictor(tiny_model, config), prob_thresh=0.49)
    rng = np.random.default_rng(1)
    session.set_image(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8))
    session.add_click(Click(20, 20, True))
    session.add_click(Click(5, 50, False))
    before = session.add_click(Click(30, 30, True)).copy()
    assert session.undo_click()
    np.testing.assert_array_equal(session.add_click(Click(30, 30, True)), before)
