"""Click encoding: distance maps computed in torch."""

from __future__ import annotations

import numpy as np
import torch

from napari_fbrs.model.dist_maps import distance_maps, encode_points


def _expected(clicks: list[tuple[float, float]], h: int, w: int, radius: float) -> np.ndarray:
    if not clicks:
        return np.full((h, w), np.tanh(2 * np.sqrt(1e6)))
    rows, cols = np.mgrid[0:h, 0:w]
    d2 = np.min([((rows - r) / radius) ** 2 + ((cols - c) / radius) ** 2 for r, c in clicks], 0)
    return np.tanh(2 * np.sqrt(d2))


def test_encode_points_pads_with_minus_one() -> None:
    points = encode_points([[(1.0, 2.0)]], [[(3.0, 4.0), (5.0, 6.0)]], num_slots=3)
    assert points.shape == (1, 6, 2)
    assert points.dtype == torch.float64
    assert points[0].tolist() == [[1, 2], [-1, -1], [-1, -1], [3, 4], [5, 6], [-1, -1]]


def test_distance_maps_match_the_formula() -> None:
    pos, neg = [(3.0, 4.0), (10.5, 2.25)], [(0.0, 15.0)]
    points = encode_points([pos], [neg], num_slots=2)
    maps = distance_maps(points, 12, 16, norm_radius=5.0)
    assert maps.shape == (1, 2, 12, 16) and maps.dtype == torch.float32
    np.testing.assert_allclose(maps[0, 0].numpy(), _expected(pos, 12, 16, 5.0), atol=1e-6)
    np.testing.assert_allclose(maps[0, 1].numpy(), _expected(neg, 12, 16, 5.0), atol=1e-6)
    assert maps[0, 0, 3, 4] == 0 and maps[0, 1, 0, 15] == 0


def test_empty_sign_saturates_to_one() -> None:
    points = encode_points([[(2.0, 2.0)]], [[]], num_slots=1)
    maps = distance_maps(points, 5, 5, norm_radius=260.0)
    assert torch.all(maps[0, 1] == 1.0)


def test_batch_entries_are_independent() -> None:
    points = encode_points([[(1.0, 1.0)], [(4.0, 4.0)]], [[], [(0.0, 0.0)]], num_slots=1)
    maps = distance_maps(points, 6, 6, norm_radius=260.0)
    assert maps[0, 0, 1, 1] == 0 and maps[1, 0, 4, 4] == 0
    assert maps[0, 1].min() == 1.0 and maps[1, 1, 0, 0] == 0
