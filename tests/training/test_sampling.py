"""The training click sampler: where clicks land and how many there are."""

from __future__ import annotations

import numpy as np
import pytest

from napari_fbrs.training.config import SamplerConfig
from napari_fbrs.training.sampling import (
    ClickSampler,
    border_band,
    count_probabilities,
    eroded,
)


def _scene() -> np.ndarray:
    """Three rectangles on a 60 x 80 background with an ignore strip on the right."""
    labels = np.zeros((60, 80), dtype=np.int32)
    labels[10:30, 10:30] = 1
    labels[35:55, 10:40] = 2
    labels[5:25, 45:70] = 3
    labels[:, 76:] = -1
    return labels


def _cell(labels: np.ndarray, point: tuple[float, float]) -> int:
    r, c = point
    assert float(r).is_integer() and float(c).is_integer()
    return int(labels[int(r), int(c)])


def test_count_probabilities_decrease_geometrically() -> None:
    p = count_probabilities(5, 0.7)
    assert p.sum() == pytest.approx(1.0)
    assert np.allclose(p[1:] / p[:-1], 0.7)


def test_border_band_and_erosion() -> None:
    mask = np.zeros((40, 40), dtype=bool)
    mask[10:30, 10:30] = True  # area 400: band radius ceil(0.1 * 20) = 2
    band = border_band(mask, 0.1)
    assert not (band & mask).any()
    assert band[8, 8] and band[31, 31] and not band[7, 20] and not band[20, 32]
    inner = eroded(mask, 3)
    assert inner.sum() == 14 * 14 and inner[13, 13] and not inner[12, 20]
    # The image border does not erode: a mask touching it keeps its border pixels.
    corner = np.zeros((40, 40), dtype=bool)
    corner[:20, :20] = True
    assert eroded(corner, 3).sum() == 17 * 17 and eroded(corner, 3)[0, 0]
    assert eroded(np.ones((10, 10), dtype=bool), 2).all()


def test_clicks_land_inside_and_outside_the_object() -> None:
    labels = _scene()
    sampler = ClickSampler(SamplerConfig(num_max_points=6, merge_objects_prob=0.0))
    rng = np.random.default_rng(1)
    for _ in range(200):
        sample = sampler.sample(labels, [1, 2, 3], rng)
        (chosen,) = sample.object_ids
        assert sample.mask.dtype == np.int8 and sample.mask.shape == labels.shape
        assert np.array_equal(sample.mask == 1, labels == chosen)
        assert np.array_equal(sample.mask == -1, labels == -1)
        assert 1 <= len(sample.positive) <= 6 and 0 <= len(sample.negative) <= 6
        assert all(_cell(labels, p) == chosen for p in sample.positive)
        assert all(_cell(labels, p) not in (chosen, -1) for p in sample.negative)


def test_negative_sources() -> None:
    labels = _scene()
    mask = labels == 1
    band = border_band(mask, 0.1)
    seen = set()
    for source, key in (("bg", "negative_bg_prob"), ("other", "negative_other_prob")):
        probs = {"negative_bg_prob": 0.0, "negative_other_prob": 0.0}
        probs[key] = 1.0
        config = SamplerConfig(merge_objects_prob=0.0, negative_border_prob=0.0, **probs)
        sampler = ClickSampler(config)
        rng = np.random.default_rng(2)
        for _ in range(100):
            sample = sampler.sample(labels, [1, 2, 3], rng)
            values = {_cell(labels, p) for p in sample.negative}
            if source == "other":
                assert values <= {1, 2, 3} - set(sample.object_ids)
            else:
                seen |= values
    assert 0 in seen  # background clicks do happen
    sampler = ClickSampler(
        SamplerConfig(
            merge_objects_prob=0.0,
            negative_bg_prob=0.0,
            negative_other_prob=0.0,
            negative_border_prob=1.0,
        )
    )
    rng = np.random.default_rng(3)
    for _ in range(100):
        sample = sampler.sample(labels, [1], rng)
        assert all(band[int(r), int(c)] for r, c in sample.negative)


def test_click_counts_follow_prob_gamma() -> None:
    labels = _scene()
    sampler = ClickSampler(SamplerConfig(num_max_points=4, prob_gamma=0.5, merge_objects_prob=0))
    rng = np.random.default_rng(4)
    counts = np.bincount(
        [len(sampler.sample(labels, [1, 2, 3], rng).positive) for _ in range(2000)],
        minlength=5,
    )
    assert counts[0] == 0
    frequencies = counts[1:] / counts.sum()
    assert np.allclose(frequencies, count_probabilities(4, 0.5), atol=0.04)


def test_merged_objects_each_get_a_click() -> None:
    labels = _scene()
    config = SamplerConfig(num_max_points=5, merge_objects_prob=1.0, max_num_merged_objects=3)
    sampler = ClickSampler(config)
    rng = np.random.default_rng(5)
    sizes = set()
    for _ in range(100):
        sample = sampler.sample(labels, [1, 2, 3], rng)
        sizes.add(len(sample.object_ids))
        assert 2 <= len(sample.object_ids) <= 3
        assert np.array_equal(sample.mask == 1, np.isin(labels, sample.object_ids))
        clicked = {_cell(labels, p) for p in sample.positive}
        assert clicked == set(sample.object_ids)
        assert len(sample.positive) <= 5
    assert sizes == {2, 3}


def test_no_objects_gives_an_empty_target_and_negative_clicks_only() -> None:
    labels = _scene()
    sampler = ClickSampler(SamplerConfig())
    rng = np.random.default_rng(6)
    for _ in range(20):
        sample = sampler.sample(labels, [], rng)
        assert sample.positive == [] and sample.object_ids == ()
        assert not (sample.mask == 1).any()
        assert all(_cell(labels, p) == 0 for p in sample.negative)


def test_same_seed_same_sample() -> None:
    labels = _scene()
    sampler = ClickSampler(SamplerConfig())
    a = sampler.sample(labels, [1, 2, 3], np.random.default_rng(7))
    b = sampler.sample(labels, [1, 2, 3], np.random.default_rng(7))
    assert a.positive == b.positive and a.negative == b.negative
    assert np.array_equal(a.mask, b.mask)
