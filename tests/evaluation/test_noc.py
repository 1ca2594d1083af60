"""The NoC loop: stopping, full curves, carried-forward mIoU, errors, and the real predictor."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from napari_fbrs.evaluation.noc import (
    EvalSettings,
    EvaluationResult,
    SampleResult,
    evaluate_dataset,
)
from napari_fbrs.inference.engine.clicks import Click

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class FakeSample:
    name: str
    image: np.ndarray
    mask: np.ndarray


class FakeDataset:
    """Follows the ``io.datasets.InstanceDataset`` interface."""

    def __init__(self, name: str, samples: Sequence[FakeSample]) -> None:
        self.name = name
        self._samples = list(samples)

    def __len__(self) -> int:
        return len(self._samples)

    def __getitem__(self, index: int) -> FakeSample:
        return self._samples[index]

    def sample_names(self) -> list[str]:
        return [s.name for s in self._samples]


# Every fake image holds a 10 x 10 object (100 px); pixel (0, 0) of the image says which one.
OBJECT = (slice(3, 13), slice(3, 13))


def _sample(index: int) -> FakeSample:
    image = np.zeros((16, 16, 3), dtype=np.uint8)
    image[0, 0, 0] = index
    mask = np.zeros((16, 16), dtype=np.int8)
    mask[OBJECT] = 1
    return FakeSample(f"object{index}", image, mask)


class ScheduledPredictor:
    """An oracle whose IoU after click k is ``schedule[k - 1]`` (the last value repeats).

    It predicts the first ``round(100 * iou)`` object pixels in row-major order, so the IoU is
    exact and there are no false positives.
    """

    def __init__(self, schedules: dict[int, list[float]]) -> None:
        self.schedules = schedules
        self.images: list[int] = []
        self.calls: list[int] = []
        self._current: list[float] = []

    def set_image(self, image: np.ndarray) -> None:
        key = int(image[0, 0, 0])
        self.images.append(key)
        self._current = self.schedules[key]
        self._clicks_seen = 0

    def predict(self, clicks: Sequence[Click]) -> np.ndarray:
        assert len(clicks) == self._clicks_seen + 1  # all clicks so far, one more each time
        self._clicks_seen = len(clicks)
        self.calls.append(len(clicks))
        value = self._current[min(len(clicks), len(self._current)) - 1]
        probs = np.zeros((16, 16), dtype=np.float32)
        obj = probs[OBJECT].reshape(-1)
        obj[: round(100 * value)] = 1.0
        probs[OBJECT] = obj.reshape(10, 10)
        return probs


SCHEDULES = {
    0: [0.5, 0.85, 1.0],  # NoC 2 / 2 / 3
    1: [0.0, 0.8, 0.8, 0.95],  # NoC 2 / 4 / 4
    2: [0.3],  # never: 5 / 5 / 5
    3: [0.0, 0.0, 0.0, 0.0, 0.9],  # reaches 0.8..0.9 at the last click: 5 / 5 / 5
}


def _run(settings: EvalSettings, **kw: object) -> tuple[EvaluationResult, ScheduledPredictor]:
    predictor = ScheduledPredictor(SCHEDULES)
    dataset = FakeDataset("fake", [_sample(i) for i in range(4)])
    kw.setdefault("progress", False)
    return evaluate_dataset(dataset, predictor, settings, **kw), predictor  # type: ignore[arg-type]


def test_samples_stop_at_the_strictest_threshold() -> None:
    result, predictor = _run(EvalSettings(max_clicks=5))
    assert predictor.images == [0, 1, 2, 3]
    assert [len(s.ious) for s in result.samples] == [3, 4, 5, 5]
    assert result.samples[0].ious == pytest.approx([0.5, 0.85, 1.0])
    assert result.samples[1].ious == pytest.approx([0.0, 0.8, 0.8, 0.95])
    assert result.num_clicks == 17 and len(predictor.calls) == 17
    assert [s.name for s in result.samples] == ["object0", "object1", "object2", "object3"]
    assert result.noc(0.8) == pytest.approx(14 / 4)
    assert result.noc(0.85) == pytest.approx(16 / 4)
    assert result.noc(0.9) == pytest.approx(17 / 4)
    assert [result.failures(t) for t in (0.8, 0.85, 0.9)] == [2, 2, 2]
    # Carried forward: object0 keeps 1.0 and object1 keeps 0.95 after they stopped.
    expected = np.mean(
        [
            [0.5, 0.85, 1.0, 1.0, 1.0],
            [0.0, 0.8, 0.8, 0.95, 0.95],
            [0.3] * 5,
            [0.0, 0.0, 0.0, 0.0, 0.9],
        ],
        axis=0,
    )
    np.testing.assert_allclose(result.miou_curve(), expected)
    with pytest.raises(ValueError, match="NoC@0.95 cannot be read"):
        result.noc(0.95)


def test_lower_target_stops_earlier() -> None:
    result, _ = _run(EvalSettings(max_clicks=5, iou_thresholds=(0.8,)))
    assert [len(s.ious) for s in result.samples] == [2, 2, 5, 5]
    assert not result.has_threshold(0.85)


def test_full_curve_runs_every_sample_to_max_clicks() -> None:
    result, _ = _run(EvalSettings(max_clicks=5, full_curve=True))
    assert [len(s.ious) for s in result.samples] == [5, 5, 5, 5]
    assert result.samples[0].ious == pytest.approx([0.5, 0.85, 1.0, 1.0, 1.0])
    assert result.noc(0.9) == pytest.approx(17 / 4)
    assert result.noc(0.95) == pytest.approx((3 + 4 + 5 + 5) / 4)  # now readable
    assert result.failures(0.95) == 2


def test_clicks_are_recorded_and_the_first_is_the_innermost_point() -> None:
    result, _ = _run(EvalSettings(max_clicks=5))
    first = [s.clicks[0] for s in result.samples]
    assert first == [(7, 7, True)] * 4  # 10 x 10 object at rows/cols 3..12
    # object3 predicts nothing for four clicks: four distinct positive clicks.
    clicks3 = result.samples[3].clicks
    assert len(clicks3) == 5 and len(set(clicks3)) == 5
    assert all(isinstance(v, int) for c in clicks3 for v in c[:2])


def test_max_samples_takes_the_first_samples() -> None:
    result, predictor = _run(EvalSettings(max_clicks=5, max_samples=2))
    assert predictor.images == [0, 1]
    assert len(result.samples) == 2


def test_seconds_per_click_times_only_predict() -> None:
    result, _ = _run(EvalSettings(max_clicks=5))
    assert all(s.seconds >= 0 for s in result.samples)
    assert result.seconds_per_click == pytest.approx(
        sum(s.seconds for s in result.samples) / result.num_clicks
    )
    assert result.elapsed >= sum(s.seconds for s in result.samples)


def test_progress_bar_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    _run(EvalSettings(max_clicks=5), progress=True, method="oracle")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "fake [oracle]" in captured.err and "4/4" in captured.err
    _run(EvalSettings(max_clicks=5), progress=False)
    assert capsys.readouterr().err == ""


def test_to_dict_is_json_ready_and_round_trips() -> None:
    result, _ = _run(EvalSettings(max_clicks=5), method="oracle")
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["dataset"] == "fake" and data["method"] == "oracle"
    assert data["settings"]["iou_thresholds"] == [0.8, 0.85, 0.9]
    assert data["summary"]["noc"] == pytest.approx({"0.8": 3.5, "0.85": 4.0, "0.9": 4.25})
    assert data["summary"]["failures"] == {"0.8": 2, "0.85": 2, "0.9": 2}
    assert data["summary"]["num_samples"] == 4 and data["summary"]["num_clicks"] == 17
    assert data["samples"][0]["clicks"][0] == [7, 7, True]
    assert data["samples"][1]["ious"] == pytest.approx([0.0, 0.8, 0.8, 0.95])
    again = EvaluationResult.from_dict(data)
    assert again.settings == result.settings
    assert again.samples == result.samples
    with pytest.raises(ValueError, match="not a napari-fbrs-evaluation result"):
        EvaluationResult.from_dict({"format": "other"})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_clicks": 0}, "max_clicks must be a positive integer"),
        ({"iou_thresholds": ()}, "at least one threshold"),
        ({"iou_thresholds": (0.8, 1.5)}, r"IoU threshold 1.5 must lie in \(0, 1\]"),
        ({"pred_thresh": 1.0}, r"pred_thresh 1.0 must lie in \[0, 1\)"),
        ({"max_samples": 0}, "max_samples must be None or at least 1"),
    ],
)
def test_settings_reject_bad_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EvalSettings(**kwargs)  # type: ignore[arg-type]


def test_settings_store_thresholds_as_float_tuple() -> None:
    settings = EvalSettings(iou_thresholds=[0.8, 1])  # type: ignore[arg-type]
    assert settings.iou_thresholds == (0.8, 1.0) and settings.stop_iou == 1.0


def test_bad_samples_are_named() -> None:
    predictor = ScheduledPredictor(SCHEDULES)
    empty = FakeSample("empty.png", np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.int8))
    with pytest.raises(ValueError, match="'empty.png'.*no object pixel"):
        evaluate_dataset(FakeDataset("d", [empty]), predictor, EvalSettings(), progress=False)
    mismatch = FakeSample("odd.png", np.zeros((4, 5, 3), np.uint8), np.ones((4, 4), np.int8))
    with pytest.raises(ValueError, match=r"'odd.png': image \(4, 5, 3\) and mask \(4, 4\)"):
        evaluate_dataset(FakeDataset("d", [mismatch]), predictor, EvalSettings(), progress=False)
    with pytest.raises(ValueError, match="dataset 'none' has no samples"):
        evaluate_dataset(FakeDataset("none", []), predictor, EvalSettings(), progress=False)


def test_wrong_prediction_shape_is_reported() -> None:
    class Wrong:
        def set_image(self, image: np.ndarray) -> None:
            pass

        def predict(self, clicks: Sequence[Click]) -> np.ndarray:
            return np.zeros((3, 3), dtype=np.float32)

    with pytest.raises(ValueError, match=r"'object0': the predictor returned shape \(3, 3\)"):
        evaluate_dataset(FakeDataset("d", [_sample(0)]), Wrong(), EvalSettings(), progress=False)


def test_sample_result_is_plain_data() -> None:
    s = SampleResult("a", [(1, 2, True)], [0.5], 0.1)
    assert s.clicks == [(1, 2, True)] and s.ious == [0.5]


# -- the real predictor ------------------------------------------------------------------------
def _synthetic_samples() -> list[FakeSample]:
    rng = np.random.default_rng(0)
    samples = []
    for index, (rows, cols) in enumerate(
        [(slice(10, 30), slice(12, 40)), (slice(0, 20), slice(30, 64))]
    ):
        image = rng.integers(0, 60, size=(48, 64, 3), dtype=np.uint8)
        image[rows, cols] = 200
        mask = np.zeros((48, 64), dtype=np.int8)
        mask[rows, cols] = 1
        mask[rows.start + 1, cols.start + 1] = -1  # one ignore pixel
        samples.append(FakeSample(f"synthetic{index}.png", image, mask))
    return samples


def test_real_predictor_end_to_end(tiny_model: torch.nn.Module, tmp_path: Path) -> None:
    from napari_fbrs.evaluation.report import read_json, write_json
    from napari_fbrs.inference.engine.config import eval_preset
    from napari_fbrs.inference.engine.predictor import Predictor

    config = eval_preset("NoBRS").with_changes(zoom_in=None)
    predictor = Predictor(tiny_model, config, device="cpu")
    settings = EvalSettings(max_clicks=3, full_curve=True)
    dataset = FakeDataset("synthetic", _synthetic_samples())
    result = evaluate_dataset(dataset, predictor, settings, method="NoBRS", progress=False)

    assert [s.name for s in result.samples] == ["synthetic0.png", "synthetic1.png"]
    for sample, expected_first in zip(
        result.samples, [(19, 21, True), (9, 39, True)], strict=True
    ):
        assert len(sample.ious) == 3 and len(sample.clicks) == 3
        assert all(0.0 <= v <= 1.0 for v in sample.ious)
        assert sample.clicks[0] == expected_first
        assert sample.seconds > 0
    assert result.miou_curve().shape == (3,)
    assert result.num_clicks == 6 and result.seconds_per_click > 0

    path = write_json(result, tmp_path / "out" / "results.json")
    data = json.loads(path.read_text())
    assert data["method"] == "NoBRS" and data["settings"]["max_clicks"] == 3
    assert [len(s["ious"]) for s in data["samples"]] == [3, 3]
    assert data["samples"][1]["clicks"][0] == [9, 39, True]
    again = read_json(path)
    assert again.samples == result.samples
    np.testing.assert_allclose(again.miou_curve(), result.miou_curve())


def test_predictor_errors_say_which_sample() -> None:
    class Broken:
        def set_image(self, image: np.ndarray) -> None:
            pass

        def predict(self, clicks: Sequence[Click]) -> np.ndarray:
            raise RuntimeError("out of memory")

    dataset = FakeDataset("d", [_sample(0), _sample(1)])
    with pytest.raises(RuntimeError, match="out of memory") as info:
        evaluate_dataset(dataset, Broken(), EvalSettings(), progress=False)
    if hasattr(info.value, "__notes__"):
        assert info.value.__notes__ == ["while evaluating sample 0 ('object0')"]


# -- worker processes --------------------------------------------------------------------------
class BrokenOnSecond(ScheduledPredictor):
    """Fails on the object whose image says 1 (module level, so it pickles to workers)."""

    def set_image(self, image: np.ndarray) -> None:
        super().set_image(image)
        self.key = int(image[0, 0, 0])

    def predict(self, clicks: Sequence[Click]) -> np.ndarray:
        if self.key == 1:
            raise RuntimeError("out of memory in a worker")
        return super().predict(clicks)


SCHEDULES_MANY = {i: SCHEDULES[i % 4] for i in range(10)}


def _many() -> FakeDataset:
    return FakeDataset("many", [_sample(i) for i in range(10)])


def test_workers_give_the_serial_result_in_dataset_order() -> None:
    settings = EvalSettings(max_clicks=5)
    serial = evaluate_dataset(
        _many(), ScheduledPredictor(SCHEDULES_MANY), settings, progress=False
    )
    parallel = evaluate_dataset(
        _many(), ScheduledPredictor(SCHEDULES_MANY), settings, progress=False, workers=2
    )
    assert [s.name for s in parallel.samples] == [f"object{i}" for i in range(10)]
    for a, b in zip(serial.samples, parallel.samples, strict=True):
        assert (a.name, a.clicks, a.ious) == (b.name, b.clicks, b.ious)
    assert [len(s.ious) for s in parallel.samples] == [3, 4, 5, 5, 3, 4, 5, 5, 3, 4]
    assert parallel.noc(0.9) == pytest.approx(serial.noc(0.9)) == pytest.approx(41 / 10)
    assert parallel.settings == settings


def test_stopping_workers_keeps_a_first_n_prefix() -> None:
    polls: list[int] = []

    def stop() -> bool:
        polls.append(1)
        return True  # asked right after the first object comes back

    settings = EvalSettings(max_clicks=5)
    result = evaluate_dataset(
        _many(),
        ScheduledPredictor(SCHEDULES_MANY),
        settings,
        progress=False,
        should_stop=stop,
        workers=2,
    )
    done = len(result.samples)
    assert polls == [1]  # polled once; after that only objects already running finish
    assert 1 <= done < 10
    assert [s.name for s in result.samples] == [f"object{i}" for i in range(done)]
    assert result.settings.max_samples == done


def test_worker_errors_say_which_sample_and_reach_the_caller() -> None:
    with pytest.raises(RuntimeError, match="out of memory in a worker") as info:
        evaluate_dataset(
            _many(), BrokenOnSecond(SCHEDULES_MANY), EvalSettings(), progress=False, workers=2
        )
    if hasattr(info.value, "__notes__"):
        assert info.value.__notes__ == ["while evaluating sample 1 ('object1')"]


@pytest.mark.parametrize("workers", [0, -1, True])
def test_workers_must_be_a_positive_integer(workers: object) -> None:
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        evaluate_dataset(
            _many(),
            ScheduledPredictor(SCHEDULES_MANY),
            EvalSettings(),
            progress=False,
            workers=workers,  # type: ignore[arg-type]
        )


@pytest.mark.usefixtures("one_torch_thread")  # workers then get one thread each too
def test_real_predictor_in_workers_matches_serial(tiny_model: torch.nn.Module) -> None:
    from napari_fbrs.inference.engine.config import eval_preset
    from napari_fbrs.inference.engine.predictor import Predictor

    config = eval_preset("f-BRS-B").with_changes(zoom_in=None)  # small and quick
    settings = EvalSettings(max_clicks=3, full_curve=True)
    dataset = FakeDataset("synthetic", _synthetic_samples())
    serial = evaluate_dataset(
        dataset, Predictor(tiny_model, config, "cpu"), settings, progress=False
    )
    parallel = evaluate_dataset(
        dataset, Predictor(tiny_model, config, "cpu"), settings, progress=False, workers=2
    )
    assert [s.name for s in parallel.samples] == ["synthetic0.png", "synthetic1.png"]
    for a, b in zip(serial.samples, parallel.samples, strict=True):
        assert a.clicks == b.clicks
        assert a.ious == pytest.approx(b.ious, abs=1e-6)
