"""The random-walker baseline: seeds, probabilities and a synthetic disk."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from napari_fbrs.evaluation.baseline import RandomWalkerPredictor
from napari_fbrs.evaluation.metrics import iou
from napari_fbrs.evaluation.noc import EvalSettings, evaluate_dataset
from napari_fbrs.inference.engine.clicks import Click


def _disk_image(
    shape: tuple[int, int] = (64, 80), centre: tuple[int, int] = (30, 44), radius: int = 14
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    disk = (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2
    image = np.clip(rng.normal(40, 12, size=(*shape, 3)), 0, 255)
    image[disk] = np.clip(rng.normal(210, 12, size=(int(disk.sum()), 3)), 0, 255)
    return image.astype(np.uint8), disk.astype(np.int8)


def test_one_positive_click_segments_a_bright_disk() -> None:
    image, gt = _disk_image()
    predictor = RandomWalkerPredictor()
    predictor.set_image(image)
    probs = predictor.predict([Click(30, 44, True)])
    assert probs.shape == gt.shape and probs.dtype == np.float32
    assert 0.0 <= probs.min() and probs.max() <= 1.0
    assert probs[30, 44] == 1.0 and probs[0, 0] == 0.0
    assert iou(gt, probs > 0.49) > 0.9


def test_seeds_frame_negatives_and_positive_override() -> None:
    predictor = RandomWalkerPredictor()
    predictor.set_image(np.zeros((5, 6, 3), dtype=np.uint8))
    seeds = predictor.seeds([Click(0, 2, True), Click(2, 2, False), Click(3, 3.4, True)])
    expected = np.array(
        [
            [2, 2, 1, 2, 2, 2],
            [2, 0, 0, 0, 0, 2],
            [2, 0, 2, 0, 0, 2],
            [2, 0, 0, 1, 0, 2],
            [2, 2, 2, 2, 2, 2],
        ],
        dtype=np.int32,
    )
    np.testing.assert_array_equal(seeds, expected)
    assert seeds.dtype == np.int32


def test_negative_clicks_cut_the_object() -> None:
    image, gt = _disk_image()
    predictor = RandomWalkerPredictor()
    predictor.set_image(image)
    probs = predictor.predict([Click(30, 44, True), Click(30, 56, False)])
    assert probs[30, 56] == 0.0 and probs[30, 44] == 1.0


def test_without_positive_clicks_nothing_is_predicted() -> None:
    predictor = RandomWalkerPredictor()
    predictor.set_image(np.full((8, 8, 3), 100, dtype=np.uint8))
    probs = predictor.predict([Click(4, 4, False)])
    assert probs.shape == (8, 8) and not probs.any()


def test_fully_seeded_image_returns_the_seeds() -> None:
    predictor = RandomWalkerPredictor()
    predictor.set_image(np.zeros((2, 3, 3), dtype=np.uint8))
    probs = predictor.predict([Click(0, 1, True)])
    np.testing.assert_array_equal(probs, [[0, 1, 0], [0, 0, 0]])


def test_errors() -> None:
    predictor = RandomWalkerPredictor()
    with pytest.raises(RuntimeError, match="set_image"):
        predictor.predict([Click(1, 1, True)])
    with pytest.raises(ValueError, match=r"H x W x 3 RGB image, got shape \(4, 4\)"):
        predictor.set_image(np.zeros((4, 4), dtype=np.uint8))
    predictor.set_image(np.zeros((4, 4, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"click at \(4, 1\) lies outside the 4 x 4 image"):
        predictor.predict([Click(4, 1, True)])
    with pytest.raises(ValueError, match="beta must be positive"):
        RandomWalkerPredictor(beta=0)


def test_runs_the_noc_protocol() -> None:
    image, gt = _disk_image()

    class OneSample:
        name = "disk"

        def __len__(self) -> int:
            return 1

        def __getitem__(self, index: int) -> SimpleNamespace:
            return SimpleNamespace(name="disk.png", image=image, mask=gt)

    result = evaluate_dataset(
        OneSample(), RandomWalkerPredictor(), EvalSettings(max_clicks=3), "random-walker", False
    )
    assert result.method == "random-walker"
    assert result.samples[0].clicks[0] == (30, 44, True)
    assert result.samples[0].ious[-1] >= 0.9


def test_on_a_folder_dataset_read_by_io(tmp_path: Path) -> None:
    """The whole chain on the user-data format: io reader, clicker, random walker, metrics."""
    import tifffile

    from napari_fbrs.io.datasets import open_dataset

    rng = np.random.default_rng(1)
    image = rng.integers(20, 50, size=(32, 40, 3), dtype=np.uint8)
    labels = np.zeros((32, 40), dtype=np.uint16)
    labels[4:13, 5:16] = 3  # 9 x 11: depth 5 only on row 8, cols 9..11
    labels[18:29, 22:35] = 7  # 11 x 13: depth 6 only on row 23, cols 27..29
    image[labels > 0] = 220
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    tifffile.imwrite(tmp_path / "images" / "cells.tif", image)
    tifffile.imwrite(tmp_path / "labels" / "cells.tif", labels)

    dataset = open_dataset("folder", tmp_path)
    result = evaluate_dataset(
        dataset, RandomWalkerPredictor(), EvalSettings(max_clicks=3), "rw", False
    )
    assert [s.name for s in result.samples] == ["cells#3", "cells#7"]
    assert [s.clicks[0] for s in result.samples] == [(8, 9, True), (23, 27, True)]
    assert all(s.ious[-1] >= 0.9 for s in result.samples)
    assert result.noc(0.9) <= 3.0


def test_multigrid_solver_agrees_with_the_direct_solve() -> None:
    """``cg_mg`` (pyamg) is the fast solver of the card's baseline rows: same masks as ``bf``."""
    pytest.importorskip("pyamg", reason="cg_mg needs pyamg (the 'baseline' extra)")
    image, gt = _disk_image()
    clicks = [Click(30, 44, True), Click(5, 5, False)]
    probs = {}
    for mode in ("bf", "cg_mg"):
        predictor = RandomWalkerPredictor(mode=mode)
        predictor.set_image(image)
        probs[mode] = predictor.predict(clicks)
    assert np.abs(probs["bf"] - probs["cg_mg"]).max() < 1e-2
    assert np.array_equal(probs["bf"] > 0.49, probs["cg_mg"] > 0.49)
    assert iou(gt, probs["cg_mg"] > 0.49) > 0.9


def test_multigrid_solver_without_pyamg_is_refused_up_front(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pyamg", None)  # import pyamg now raises ImportError
    with pytest.raises(ValueError, match=r"pyamg.*napari-fbrs\[baseline\]"):
        RandomWalkerPredictor(mode="cg_mg")
    with pytest.raises(ValueError, match="unknown random-walker mode"):
        RandomWalkerPredictor(mode="amg")
