"""The Python front door: ``napari_fbrs.Segmenter`` (issue 23), and one path for every click."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import napari_fbrs
from napari_fbrs.io.samples import synthetic_nuclei_with_labels


def test_importing_the_package_or_reaching_segmenter_loads_neither_torch_nor_qt():
    code = (
        "import sys, napari_fbrs; "
        "assert 'torch' not in sys.modules and 'qtpy' not in sys.modules, 'eager'; "
        "assert 'Segmenter' in dir(napari_fbrs); "
        "napari_fbrs.Segmenter; "
        "assert 'torch' not in sys.modules, 'class access'; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
    with pytest.raises(AttributeError):
        napari_fbrs.NoSuchThing  # noqa: B018


@pytest.fixture(scope="module")
def nuclei():
    image, truth = synthetic_nuclei_with_labels((256, 256), count=18, seed=1)
    return image, truth


@pytest.fixture(scope="module")
def segmenter():
    return napari_fbrs.Segmenter(mode="NoBRS")


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_a_click_on_a_uint16_nucleus_segments_it(segmenter, nuclei):
    image, truth = nuclei
    segmenter.set_image(image)
    mask = segmenter.click(203, 45)
    assert mask.shape == image.shape and mask.dtype == bool
    target = truth == truth[203, 45]
    assert truth[203, 45] > 0
    assert _iou(mask, target) > 0.6
    probs = segmenter.probabilities
    assert probs.dtype == np.float32 and probs.shape == image.shape
    assert np.array_equal(mask, probs > 0.5)


def test_undo_redo_reset_are_exact(segmenter, nuclei):
    image, _ = nuclei
    segmenter.set_image(image)
    first = segmenter.click(203, 45)
    second = segmenter.click(190, 60, positive=False)
    assert len(segmenter.clicks) == 2
    assert np.array_equal(segmenter.undo(), first)
    assert len(segmenter.clicks) == 1
    assert np.array_equal(segmenter.redo(), second)
    segmenter.reset()
    assert segmenter.clicks == () and segmenter.mask is None and segmenter.probabilities is None


def test_finish_paints_the_next_free_id_and_keeps_existing_labels(segmenter, nuclei):
    image, _ = nuclei
    segmenter.set_image(image)
    labels = np.zeros(image.shape, np.int32)
    labels[0:5, 0:5] = 7
    mask = segmenter.click(203, 45)
    assert segmenter.finish(labels) == 8
    assert np.array_equal(labels == 8, mask & (labels != 7) | (labels == 8))
    assert (labels == 8).sum() == mask.sum()
    assert (labels == 7).sum() == 25
    assert segmenter.clicks == ()  # a new object starts
    assert segmenter.finish(labels) == 0  # nothing to paint: no id used
    assert labels.max() == 8


def test_grey_rgb_and_rgba_and_bad_shapes(segmenter):
    rgb = np.zeros((64, 80, 3), np.uint8)
    rgb[20:40, 30:50] = 200
    segmenter.set_image(rgb)
    assert segmenter.click(30, 40).shape == (64, 80)
    rgba = np.concatenate([rgb, np.full((64, 80, 1), 255, np.uint8)], axis=2)
    segmenter.set_image(rgba)
    assert segmenter.click(30, 40).shape == (64, 80)
    with pytest.raises(ValueError, match="one plane"):
        segmenter.set_image(np.zeros((4, 64, 80), np.uint16))
    with pytest.raises(ValueError, match="outside"):
        segmenter.click(64, 10)
    with pytest.raises(ValueError, match="shape"):
        segmenter.finish(np.zeros((10, 10), np.int32))


def test_a_script_the_cli_and_the_widget_factory_give_the_same_mask(tmp_path, nuclei):
    """One path for a click: Segmenter, ``napari-fbrs predict`` and the widget's predictor
    factory + session (its worker runs exactly these calls) agree to the pixel."""
    from napari_fbrs._napari.model_choice import BUILTIN_SOURCE, Engine, load_model
    from napari_fbrs._napari.model_choice import make_predictor as widget_factory
    from napari_fbrs.cli import main
    from napari_fbrs.inference.engine.clicks import Click
    from napari_fbrs.inference.engine.config import demo_preset
    from napari_fbrs.inference.session.interactive import InteractiveSession
    from napari_fbrs.io.images import to_model_rgb
    from napari_fbrs.io.masks import read_labels

    image, _ = nuclei
    clicks = [(203, 45, True), (120, 120, False), (206, 48, True)]
    seg = napari_fbrs.Segmenter(mode="f-BRS-B")
    seg.set_image(image)
    for row, col, positive in clicks:
        script_mask = seg.click(row, col, positive)

    out = tmp_path / "mask.png"
    text = ";".join(f"{r},{c},{'+' if p else '-'}" for r, c, p in clicks)
    assert main(["predict", "--sample", "nuclei", "--clicks", text, "--output", str(out)]) == 0
    cli_mask = read_labels(out).astype(bool)

    ready = load_model(BUILTIN_SOURCE)
    session = InteractiveSession(prob_thresh=0.5)
    session.predictor = widget_factory(ready.model, Engine(demo_preset(), 512), "cpu")
    session.set_image(to_model_rgb(image))
    for row, col, positive in clicks:
        state = session.add_click(Click(row, col, positive))
    widget_mask = state.probs > 0.5

    assert script_mask.sum() > 100
    assert np.array_equal(script_mask, cli_mask)
    assert np.array_equal(script_mask, widget_mask)


def test_the_readme_python_example_runs_as_written():
    """The README's "From Python" block, executed as it stands."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("## From Python", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
    labels, new_id = namespace["labels"], namespace["new_id"]
    assert new_id == 1
    assert (labels == 1).sum() > 100
