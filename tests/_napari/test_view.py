"""The README's main job: ``napari-fbrs view`` with the built-in model, and the widget default."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from napari_fbrs._napari.layers import CLICKS_LAYER
from napari_fbrs.cli import main
from napari_fbrs.io.samples import synthetic_nuclei_with_labels
from napari_fbrs.model.default_model import DEFAULT_MODEL

from .helpers import wait_idle

REPO = Path(__file__).resolve().parents[2]
BUILTIN_LABEL = f"built-in default ({DEFAULT_MODEL.arch})"


def readme_command(program: str) -> list[str]:
    """The arguments of the README set-up line that runs ``.venv/bin/napari-fbrs <program>``."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    setup = text[text.index("## Set-up") : text.index("## In napari")]
    match = re.search(rf"\.venv/bin/napari-fbrs ({program} [^\n]*)", setup)
    assert match is not None, f"no napari-fbrs {program} line in the README set-up"
    return shlex.split(match.group(1))


@pytest.mark.gui
def test_readme_main_command_runs_the_builtin_model_on_the_sample_offline(tmp_path) -> None:
    args = readme_command("view")
    screenshot = tmp_path / "view.png"
    env = dict(os.environ, NAPARI_FBRS_WEIGHTS_URL="http://127.0.0.1:9", OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "napari_fbrs.cli", *args, "--screenshot", str(screenshot)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert BUILTIN_LABEL in result.stdout
    assert re.search(r"last click: \d+\.\d+ s", result.stdout)  # the click was answered
    area = int(re.search(r"mask: (\d+) object pixels", result.stdout).group(1))
    nucleus = clicked_nucleus(args)
    assert 0 <= area <= 2 * nucleus.sum()  # at most about one nucleus (see the test below)
    assert np.asarray(Image.open(screenshot)).shape[0] > 200


def clicked_nucleus(args: list[str]) -> np.ndarray:
    """Ground truth of the sample nucleus under the README's click (its only click)."""
    row, col, sign = args[args.index("--clicks") + 1].split(",")
    assert sign == "+"
    labels = synthetic_nuclei_with_labels((256, 256), count=18, seed=1)[1]
    nucleus_id = labels[int(row), int(col)]
    assert nucleus_id > 0, "the README click is not on a nucleus"
    return labels == nucleus_id


def test_readme_headless_command_is_the_tested_predict_call() -> None:
    args = readme_command("predict")
    assert args[:3] == ["predict", "--sample", "nuclei"]
    assert args[args.index("--clicks") + 1] == readme_command("view")[-1]


def test_readme_headless_command_segments_the_clicked_nucleus(tmp_path, capsys) -> None:
    """The done criterion of the built-in model: its mask is the nucleus that was clicked."""
    import torch

    torch.set_num_threads(1)
    args = readme_command("predict")
    output = tmp_path / "nuclei_mask.png"
    args[args.index("--output") + 1] = str(output)
    assert main(args) == 0, capsys.readouterr().err
    mask = np.asarray(Image.open(output)) > 0
    nucleus = clicked_nucleus(args)
    iou = (mask & nucleus).sum() / (mask | nucleus).sum()
    assert iou >= 0.5, f"IoU {iou:.2f} with the clicked nucleus"


@pytest.mark.gui
def test_the_widget_loads_the_builtin_model_and_places_clicks_once_ready(
    make_napari_viewer, qtbot
) -> None:
    import torch

    from napari_fbrs.io.samples import nuclei_image

    torch.set_num_threads(1)
    viewer = make_napari_viewer()
    viewer.add_image(nuclei_image(), name="nuclei")
    _, widget = viewer.window.add_plugin_dock_widget(
        "napari-fbrs", "f-BRS interactive segmentation"
    )
    widget.compute.mode.value = "NoBRS"
    widget.place_clicks([(203.0, 45.0, True)])  # before the model is ready: held back
    qtbot.waitUntil(lambda: widget.model_label == BUILTIN_LABEL, timeout=120_000)
    qtbot.waitUntil(lambda: widget.controller.clicks == 1, timeout=30_000)
    wait_idle(qtbot, widget, timeout=120_000)
    assert len(viewer.layers[CLICKS_LAYER].data) == 1
    mask = widget.controller.current_mask
    assert mask is not None and mask.shape == (256, 256)


@pytest.mark.gui
def test_a_model_set_by_a_script_wins_over_the_default_still_loading(
    make_napari_viewer, qtbot, tiny_model
) -> None:
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 32), np.uint8))
    _, widget = viewer.window.add_plugin_dock_widget(
        "napari-fbrs", "f-BRS interactive segmentation"
    )
    widget.set_model(tiny_model, "tiny")  # queued after the default's load: it wins
    wait_idle(qtbot, widget, timeout=120_000)
    assert widget.model_label == "tiny"


def test_readme_main_command_installs_a_qt_binding() -> None:
    """`pip install -e .` brings no Qt (a plugin must not force one): the main command must
    install the `all` extra, which does (napari[all])."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    setup = text[text.index("## Set-up") : text.index("## In napari")]
    main_block = setup[: setup.index("napari-fbrs view")]
    assert 'pip install -e ".[all]"' in main_block
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(dep.startswith("napari[all]") for dep in extras["all"])
