"""Propagation through a stack: seeding from the previous slice, stop rules, range, progress
and cancel, re-propagation from a corrected slice, and painting one label id."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.engine.config import eval_preset
from napari_fbrs.inference.engine.predictor import Predictor
from napari_fbrs.inference.stacks.propagation import (
    PropagationConfig,
    SeedConfig,
    SliceMask,
    StopReason,
    judge,
    paint_indices,
    propagate,
    repropagate,
)
from napari_fbrs.inference.stacks.seeding import segment_slice
from napari_fbrs.io.planes import stack_source
from napari_fbrs.synthetic import synthetic_nuclei_stack


class ThresholdOracle:
    """Sees only the window image it is given: the bright components under positive clicks,
    where they are nearer a positive click than a negative one (so a negative click splits
    touching nuclei, as a model would). Records every click list."""

    uses_prev_mask = False
    prob_thresh = 0.5

    def __init__(self, level: float = 80.0) -> None:
        self.level, self.calls, self.image = level, [], None

    def set_image(self, image: np.ndarray) -> None:
        self.image = np.asarray(image)

    def predict(self, clicks) -> np.ndarray:  # noqa: ANN001
        self.calls.append(tuple(clicks))
        components, _ = ndimage.label(self.image[..., 0] > self.level)
        ids = {components[int(c.row), int(c.col)] for c in clicks if c.positive} - {0}
        keep = np.isin(components, list(ids))
        rows, cols = np.indices(keep.shape)

        def nearest(positive: bool) -> np.ndarray:
            d = [np.hypot(rows - c.row, cols - c.col) for c in clicks if c.positive is positive]
            return np.min(d, axis=0) if d else np.full(keep.shape, np.inf)

        return (keep & (nearest(True) < nearest(False))).astype(np.float32)

    def set_previous_mask(self, probs) -> None:  # noqa: ANN001
        raise AssertionError("not a previous-mask model")


@pytest.fixture(scope="module")
def nuclei() -> tuple[np.ndarray, np.ndarray]:
    return synthetic_nuclei_stack((14, 96, 96), count=3, seed=4)


def _start(labels: np.ndarray, nucleus: int) -> int:
    return int(np.argmax((labels == nucleus).sum(axis=(1, 2))))


def _iou_3d(result, gt: np.ndarray) -> float:  # noqa: ANN001
    pred = np.zeros(gt.shape, dtype=bool)
    for z, item in result.masks.items():
        pred[z] = item.full(gt.shape[1:])
    return float((pred & gt).sum() / (pred | gt).sum())


def test_an_object_is_followed_through_the_stack_until_it_vanishes(nuclei) -> None:
    image, labels = nuclei
    gt = labels == 1
    start = _start(labels, 1)
    result = propagate(ThresholdOracle(), stack_source(image), start, gt[start])
    present = np.flatnonzero(gt.any(axis=(1, 2)))
    assert result.start == start and result.indices[0] <= present[0] + 1
    assert result.indices == list(range(result.indices[0], result.indices[-1] + 1))
    assert result.indices[-1] >= present[-1] - 1
    assert _iou_3d(result, gt) > 0.8
    for step in (1, -1):
        stop = result.stops[step]
        assert stop.reason in (StopReason.VANISHED, StopReason.SHRANK, StopReason.END)
        if stop.index is not None:
            assert stop.index not in result.masks and stop.index == (
                result.indices[-1] + 1 if step > 0 else result.indices[0] - 1
            )
    assert result.predictions >= len(result.masks) - 1


def test_one_direction_and_the_range_limit(nuclei) -> None:
    image, labels = nuclei
    start = _start(labels, 2)
    mask = labels[start] == 2
    up = propagate(ThresholdOracle(), stack_source(image), start, mask, direction=1)
    assert min(up.indices) == start and list(up.stops) == [1]
    near = propagate(
        ThresholdOracle(), stack_source(image), start, mask, PropagationConfig(max_slices=2)
    )
    assert near.indices == list(range(start - 2, start + 3))
    assert {s.reason for s in near.stops.values()} == {StopReason.RANGE}


def test_progress_reports_every_slice_and_false_cancels(nuclei) -> None:
    image, labels = nuclei
    start = _start(labels, 1)
    seen: list[tuple[int, int, int]] = []
    result = propagate(
        ThresholdOracle(), stack_source(image), start, labels[start] == 1,
        on_slice=lambda i, d, t: seen.append((i, d, t)),
    )  # fmt: skip
    assert [d for _, d, _ in seen] == list(range(1, len(seen) + 1))
    assert seen[-1][1] == seen[-1][2]  # totals shrink when a direction stops early
    assert seen[0][2] == len(image) - 1
    calls: list[int] = []
    cancelled = propagate(
        ThresholdOracle(), stack_source(image), start, labels[start] == 1,
        on_slice=lambda i, d, t: calls.append(i) or d < 2,
    )  # fmt: skip
    assert len(calls) == 2 and cancelled.cancelled
    assert cancelled.indices == sorted([start, *calls])
    assert all(s.reason is StopReason.CANCELLED for s in cancelled.stops.values())
    assert len(result.masks) > len(cancelled.masks)


def test_repropagate_keeps_the_slices_before_the_correction(nuclei) -> None:
    image, labels = nuclei
    start = _start(labels, 1)
    stack = stack_source(image)
    first = propagate(ThresholdOracle(), stack, start, labels[start] == 1)
    k = start + 2
    corrected = SliceMask.from_full(ndimage.binary_erosion(labels[k] == 1, iterations=2))
    oracle = ThresholdOracle()
    again = repropagate(oracle, stack, first, k, corrected)
    assert again.masks[k] is corrected
    for z in first.indices:
        if z < k:
            assert again.masks[z] is first.masks[z]  # untouched, the same objects
    assert again.stops[-1] == first.stops[-1] and again.start == start
    assert len(oracle.calls) >= 1  # only the slices after k were recomputed
    assert max(again.indices) == max(first.indices)
    both = repropagate(ThresholdOracle(), stack, first, start, labels[start] == 1)
    assert both.indices == first.indices


def test_corrective_clicks_go_where_the_prediction_leaks() -> None:
    """A predictor that always adds a far blob: the second click is negative, inside it."""

    class Leaky:
        uses_prev_mask = False
        prob_thresh = 0.5

        def __init__(self) -> None:
            self.calls = []

        def set_image(self, image) -> None:  # noqa: ANN001
            self.shape = image.shape[:2]

        def predict(self, clicks):  # noqa: ANN001, ANN202
            self.calls.append(tuple(clicks))
            out = np.zeros(self.shape, np.float32)
            out[40:60, 40:60] = 1  # the object
            if not any(not c.positive for c in clicks):
                out[0:30, 0:30] = 1  # the leak, until a negative click lands in it
            return out

        def set_previous_mask(self, probs) -> None:  # noqa: ANN001
            pass

    previous = np.zeros((100, 100), bool)
    previous[40:60, 40:60] = True
    plane = stack_source(np.zeros((1, 100, 100), np.uint8)).plane(0)
    leaky = Leaky()
    config = SeedConfig(target_size=100, min_window=100)
    found, used = segment_slice(leaky, plane, SliceMask.from_full(previous), config)
    assert used == 2 and len(leaky.calls) == 2
    seed, negative = leaky.calls[1]
    assert seed.positive and 40 <= seed.row < 60 and 40 <= seed.col < 60
    assert not negative.positive and negative.row < 30 and negative.col < 30
    assert found.box.origin == (40, 40) and found.area == 400  # the leak is gone


def test_judge_names_each_stop_reason() -> None:
    def square(r0: int, size: int) -> SliceMask:
        return SliceMask(np.ones((size, size), bool), (r0, r0))

    config = PropagationConfig(min_area=5, min_area_ratio=0.5, max_area_ratio=2.0, min_iou=0.5)
    previous = square(10, 10)
    assert judge(square(10, 10), previous, config) is None
    assert judge(SliceMask(np.ones((2, 2), bool), (0, 0)), previous, config) is StopReason.VANISHED
    assert judge(square(10, 6), previous, config) is StopReason.SHRANK
    assert judge(square(10, 15), previous, config) is StopReason.GREW
    assert judge(square(15, 10), previous, config) is StopReason.CHANGED


def test_paint_indices_write_one_id_and_keep_other_labels(nuclei) -> None:
    image, labels = nuclei
    start = _start(labels, 1)
    result = propagate(ThresholdOracle(), stack_source(image), start, labels[start] == 1)
    out = np.zeros(labels.shape, np.uint16)
    out[start, :, :5] = 9
    index = paint_indices(out, result)
    out[index] = 4
    assert set(np.unique(out).tolist()) <= {0, 4, 9} and (out == 9).sum() == 96 * 5
    painted = sorted(set(np.nonzero(out == 4)[0].tolist()))
    assert painted == result.indices
    assert paint_indices(out, result, overwrite=True)[0].size == sum(
        m.area for m in result.masks.values()
    )


def test_a_random_model_runs_and_reads_only_windows(tiny_model) -> None:
    torch.set_num_threads(1)
    reads: list[tuple] = []

    class Lazy:
        shape, dtype = (5, 300, 300), np.dtype(np.uint8)

        def __getitem__(self, key):  # noqa: ANN001, ANN204
            reads.append(key)
            return np.full((300, 300), 50, np.uint8)[key] if isinstance(key, tuple) else Plane()

    class Plane:
        shape, dtype = (300, 300), np.dtype(np.uint8)

        def __getitem__(self, key):  # noqa: ANN001, ANN204
            reads.append(key)
            return np.full((300, 300), 50, np.uint8)[key]

    mask = np.zeros((300, 300), bool)
    mask[140:160, 140:160] = True
    predictor = Predictor(tiny_model, eval_preset("NoBRS").with_changes(zoom_in=None))
    config = PropagationConfig(seed=SeedConfig(target_size=48, min_window=40, max_clicks=2))
    result = propagate(predictor, stack_source(Lazy()), 2, mask, config)
    assert 2 in result.masks and set(result.stops) == {1, -1}
    windows = [k for k in reads if isinstance(k, tuple)]
    assert windows and all((k[0].stop - k[0].start) < 300 for k in windows)


def test_errors_are_clear(nuclei) -> None:
    image, labels = nuclei
    with pytest.raises(ValueError, match="empty"):
        propagate(ThresholdOracle(), stack_source(image), 3, np.zeros(labels.shape[1:], bool))
    with pytest.raises(IndexError):
        propagate(ThresholdOracle(), stack_source(image), 99, labels[3] > 0)
    with pytest.raises(ValueError, match="direction"):
        propagate(ThresholdOracle(), stack_source(image), 3, labels[3] > 0, direction=2)
    with pytest.raises(ValueError, match="max_slices"):
        PropagationConfig(max_slices=0)
    assert isinstance(Click(1, 1, True), Click)


def test_models_with_a_previous_mask_input_get_the_previous_slice(nuclei) -> None:
    image, labels = nuclei
    start = _start(labels, 1)

    class PrevMaskOracle(ThresholdOracle):
        uses_prev_mask = True

        def set_previous_mask(self, probs) -> None:  # noqa: ANN001
            assert probs.shape == self.image.shape[:2]
            self.prev.append(probs)

    oracle = PrevMaskOracle()
    oracle.prev = []
    result = propagate(oracle, stack_source(image), start, labels[start] == 1, direction=1)
    assert len(oracle.prev) == len(result.masks)  # one per slice tried (the rejected included)
    first = oracle.prev[0]
    assert first.max() == 1.0 and 0.02 < first.mean() < 0.5  # the start mask, zoomed in


class EchoPredictor:
    """The failure the faded rule is for: a previous-mask model that keeps predicting the mask
    it was given, whatever the image shows (so area and overlap never change)."""

    uses_prev_mask = True
    prob_thresh = 0.5

    def __init__(self) -> None:
        self.prev = None

    def set_image(self, image) -> None:  # noqa: ANN001
        pass

    def set_previous_mask(self, probs) -> None:  # noqa: ANN001
        self.prev = np.asarray(probs, np.float32)

    def predict(self, clicks) -> np.ndarray:  # noqa: ANN001
        return self.prev


def _fading_stack(last: int, colour: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A noisy 12-slice stack with a bright disc on slices 0..``last`` only, and the disc."""
    rng = np.random.default_rng(0)
    shape = (12, 80, 80, 3) if colour else (12, 80, 80)
    image = rng.normal(60.0, 6.0, shape)
    rows, cols = np.indices((80, 80))
    disc = (rows - 40) ** 2 + (cols - 38) ** 2 <= 12**2
    if colour:  # only the red channel shows it
        image[: last + 1, disc, 0] += 120.0
    else:
        image[: last + 1, disc] += 120.0
    return np.clip(image, 0, 255).astype(np.uint8), disc


@pytest.mark.parametrize("colour", [False, True])
def test_a_blob_predicted_where_the_object_has_faded_stops_the_direction(colour) -> None:
    image, disc = _fading_stack(last=6, colour=colour)
    stack = stack_source(image, contrast_limits=(0, 255), rgb=colour)
    config = PropagationConfig(seed=SeedConfig(max_clicks=1))
    result = propagate(EchoPredictor(), stack, 2, disc, config)
    assert result.indices == list(range(0, 7))  # every slice the disc is on, none after
    assert result.stops[1].reason is StopReason.FADED and result.stops[1].index == 7
    assert result.stops[-1].reason is StopReason.END


def test_the_faded_rule_off_keeps_the_old_behaviour() -> None:
    image, disc = _fading_stack(last=6)
    stack = stack_source(image, contrast_limits=(0, 255))
    seed = SeedConfig(max_clicks=1)
    off = propagate(
        EchoPredictor(), stack, 2, disc, PropagationConfig(min_contrast_ratio=0, seed=seed)
    )
    assert off.indices == list(range(12))  # past the object, to the end of the stack
    assert {s.reason for s in off.stops.values()} == {StopReason.END}
    with pytest.raises(ValueError, match="min_contrast_ratio"):
        PropagationConfig(min_contrast_ratio=1.5)


def test_contrast_is_near_one_on_an_object_and_near_zero_on_background() -> None:
    from napari_fbrs.inference.stacks.fading import MIN_REFERENCE, contrast, faded
    from napari_fbrs.inference.windows.sources import RGBSource

    image, disc = _fading_stack(last=0)
    mask = SliceMask.from_full(disc)
    grey = stack_source(image, contrast_limits=(0, 255))
    assert contrast(grey.plane(0), mask) > 0.8
    assert contrast(grey.plane(5), mask) < 0.2
    flat = RGBSource(np.full((80, 80, 3), 50, np.uint8))
    assert contrast(flat, mask) == 0.0
    assert faded(0.1, 0.9, 0.2) and not faded(0.3, 0.9, 0.2)
    assert not faded(0.0, 0.9, 0.0)  # off
    assert not faded(0.0, MIN_REFERENCE / 2, 0.2)  # nothing to lose on the start slice
