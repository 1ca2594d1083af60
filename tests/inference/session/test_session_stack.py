"""The session on a stack: propagating the current or the last finished object as one id,
and a correction on another slice re-propagating it with the same id."""

from __future__ import annotations

import numpy as np
import pytest

from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.engine.maps import ProbabilityMap
from napari_fbrs.inference.session.interactive import ImageContext, InteractiveSession
from napari_fbrs.io.planes import stack_source
from napari_fbrs.synthetic import synthetic_nuclei_stack
from tests.inference.stacks.test_propagation import ThresholdOracle


class OraclePredictor(ThresholdOracle):
    """The threshold oracle with the session's predictor protocol."""

    def __init__(self) -> None:
        from napari_fbrs.inference.engine.predictor import ClickStats

        super().__init__()
        self.state = 0
        self.last = ClickStats()

    @property
    def image_shape(self) -> tuple[int, int]:
        return tuple(self.image.shape[:2])

    def predict_map(self, clicks) -> ProbabilityMap:  # noqa: ANN001
        return ProbabilityMap.whole(self.predict(clicks))

    def get_state(self) -> int:
        return self.state

    def set_state(self, state: int) -> None:
        self.state = state

    def reset(self) -> None:
        pass

    def set_previous_mask(self, probs) -> None:  # noqa: ANN001
        pass


@pytest.fixture
def setup():  # noqa: ANN201
    image, gt = synthetic_nuclei_stack((12, 96, 96), count=2, seed=4)
    stack = stack_source(image)
    session = InteractiveSession(predictor_factory=lambda m, c, d: OraclePredictor())
    session.use_model(object())
    session.use_settings("settings", "cpu")
    return image, gt, stack, session


def _click_on(session, stack, gt, z):  # noqa: ANN001, ANN202
    plane = stack.plane(z)
    rgb = plane.read(slice(None), slice(None))
    session.start_object(ImageContext(("img", z), lambda: rgb))
    r, c = np.argwhere(gt[z] == 1).mean(axis=0).astype(int)
    return session.add_click(Click(int(r), int(c), True))


def _apply(labels, plan) -> None:  # noqa: ANN001
    labels[plan.indices] = plan.values


def test_the_current_object_becomes_one_id_over_the_slices_it_reaches(setup) -> None:
    image, gt, stack, session = setup
    z = int(np.argmax((gt == 1).sum(axis=(1, 2))))
    _click_on(session, stack, gt, z)
    labels = np.zeros(gt.shape, np.int32)
    labels[0, 0, 0] = 7  # ids are unique over the whole stack
    done = session.propagate(labels, stack, (z,))
    _apply(labels, done.plan)
    assert done.plan.label_id == 8 and done.state.clicks == ()
    painted = sorted(set(np.nonzero(labels == 8)[0]))
    assert painted == done.result.indices and z in painted and len(painted) > 3
    inter = ((labels == 8) & (gt == 1)).sum()
    assert inter / ((labels == 8) | (gt == 1)).sum() > 0.7


def test_a_finished_object_propagates_with_its_own_id(setup) -> None:
    image, gt, stack, session = setup
    z = int(np.argmax((gt == 2).sum(axis=(1, 2))))
    plane = stack.plane(z).read(slice(None), slice(None))
    session.start_object(ImageContext(("img", z), lambda: plane))
    r, c = np.argwhere(gt[z] == 2).mean(axis=0).astype(int)
    session.add_click(Click(int(r), int(c), True))
    labels = np.zeros(gt.shape, np.int32)
    finished = session.finish(labels, (z,))
    labels[finished.plan.indices] = finished.plan.label_id
    done = session.propagate(labels, stack, (z,))  # no current object: the finished one
    _apply(labels, done.plan)
    assert done.plan.label_id == finished.plan.label_id
    assert len(set(np.nonzero(labels == done.plan.label_id)[0])) > 3


def test_a_correction_on_another_slice_repropagates_with_the_same_id(setup) -> None:
    image, gt, stack, session = setup
    z = int(np.argmax((gt == 1).sum(axis=(1, 2))))
    _click_on(session, stack, gt, z)
    labels = np.zeros(gt.shape, np.int32)
    first = session.propagate(labels, stack, (z,))
    _apply(labels, first.plan)
    k = max(first.result.indices) - 1
    _click_on(session, stack, gt, k)  # the user corrects slice k
    again = session.propagate(labels, stack, (k,))
    _apply(labels, again.plan)
    assert again.plan.label_id == first.plan.label_id  # the same object
    kept = [i for i in first.result.indices if i < k]
    assert all((labels[i] == first.plan.label_id).any() for i in kept)  # before k: kept
    ids = set(np.unique(labels)) - {0}
    assert ids == {first.plan.label_id}


def test_nothing_to_propagate_says_so(setup) -> None:
    image, gt, stack, session = setup
    done = session.propagate(np.zeros(gt.shape, np.int32), stack, (3,))
    assert done.plan is None and "nothing to propagate" in done.reason
