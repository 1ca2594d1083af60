"""Finish-time checks of an object: tiny, or grown far beyond the clicked structure."""

from __future__ import annotations

import numpy as np

from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.session.object_checks import ObjectChecks, check_object


def _nucleus_image() -> np.ndarray:
    grey = np.full((80, 80), 20, np.uint8)
    rows, cols = np.mgrid[0:80, 0:80]
    grey[(rows - 40) ** 2 + (cols - 40) ** 2 <= 5**2] = 200  # an 81-px bright nucleus
    return grey


def test_a_tiny_object_is_reported() -> None:
    grey = _nucleus_image()
    mask = np.zeros_like(grey, bool)
    mask[40, 40] = True
    problems = check_object(mask, (0, 0), grey, (Click(40, 40, True),), ObjectChecks())
    assert len(problems) == 1 and "1 pixel" in problems[0] and "10" in problems[0]


def test_an_object_far_larger_than_the_clicked_structure_is_reported() -> None:
    grey = _nucleus_image()
    mask = np.zeros_like(grey, bool)
    mask[25:56, 25:56] = True  # 961 px around an 81-px nucleus
    problems = check_object(mask, (0, 0), grey, (Click(40, 40, True),), ObjectChecks())
    assert len(problems) == 1 and "81" in problems[0] and "961" in problems[0]


def test_a_good_object_is_not_reported() -> None:
    grey = _nucleus_image()
    mask = grey > 100
    window = mask[30:50, 30:50]  # a mask given as a window of the plane
    assert check_object(window, (30, 30), grey, (Click(40, 40, True),), ObjectChecks()) == []
    assert check_object(mask, (0, 0), grey, (Click(40, 40, True),), ObjectChecks(0, 0)) == []
