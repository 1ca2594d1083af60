"""Click satisfaction: does the prediction after a click put the clicked pixel on its side?"""

from __future__ import annotations

import numpy as np
import pytest

from napari_fbrs.evaluation.metrics import satisfaction_curve
from napari_fbrs.evaluation.noc import EvalSettings, evaluate_sample
from napari_fbrs.evaluation.results import EvaluationResult, SampleResult


def test_curve_counts_only_objects_that_made_the_kth_click():
    curve = satisfaction_curve([[True, False, True], [True, True], [False]], max_clicks=4)
    assert curve[0] == pytest.approx(2 / 3)
    assert curve[1] == pytest.approx(1 / 2)
    assert curve[2] == pytest.approx(1.0)
    assert curve[3] is None


class _Sample:
    name = "square"
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), dtype=np.int32)
    mask[8:24, 8:24] = 1


class _StubbornPredictor:
    """Always predicts the same left half of the square: later clicks are ignored."""

    def set_image(self, image: np.ndarray) -> None:
        self.shape = image.shape[:2]

    def predict(self, clicks):
        probs = np.zeros(self.shape, dtype=np.float32)
        probs[8:24, 8:16] = 1.0
        return probs


def test_a_predictor_that_ignores_clicks_is_unsatisfied_after_the_first():
    settings = EvalSettings(max_clicks=3, full_curve=True)
    result = evaluate_sample(_Sample(), _StubbornPredictor(), settings)
    # click 1 at the object's innermost pixel (15, 15, first in row-major order) lies in the
    # predicted half; the next clicks go to the missed right half, which the map never covers
    assert result.clicks[0][:2] == (15, 15)
    assert result.satisfied == [True, False, False]
    assert len(result.satisfied) == len(result.clicks)


def test_satisfied_flags_survive_the_json_round_trip_and_old_files_still_read():
    settings = EvalSettings(max_clicks=2, full_curve=True)
    samples = [
        SampleResult("a", [(1, 1, True), (2, 2, False)], [0.5, 0.7], 0.1, [True, False]),
        SampleResult("b", [(3, 3, True), (4, 4, True)], [0.6, 0.8], 0.1, [True, True]),
    ]
    result = EvaluationResult("d", "m", settings, samples, 1.0)
    data = result.to_dict()
    assert data["summary"]["click_satisfaction"] == [1.0, 0.5]
    again = EvaluationResult.from_dict(data)
    assert again.samples[0].satisfied == [True, False]
    for s in data["samples"]:
        del s["satisfied"]
    old = EvaluationResult.from_dict(data)
    assert old.satisfaction_curve() is None
    assert old.to_dict()["summary"]["click_satisfaction"] is None
