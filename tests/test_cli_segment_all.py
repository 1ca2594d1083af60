"""``napari-fbrs segment-all``: the happy path on the sample nuclei and one line + exit 2 for
bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_fbrs.cli import main
from napari_fbrs.evaluation.instances import score_instances
from napari_fbrs.io.samples import synthetic_nuclei_with_labels


@pytest.fixture(scope="module")
def nuclei(tmp_path_factory) -> tuple[Path, np.ndarray]:
    image, truth = synthetic_nuclei_with_labels((256, 256), count=18, seed=1)
    path = tmp_path_factory.mktemp("img") / "nuclei.tif"
    tifffile.imwrite(path, image)
    return path, truth


def _one_line_error(capsys, code: int) -> str:  # noqa: ANN001
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_segment_all_writes_the_labels(capsys, tmp_path, nuclei) -> None:  # noqa: ANN001
    image, truth = nuclei
    out = tmp_path / "labels.tif"
    code = main(["segment-all", "--image", str(image), "--output", str(out), "--min-area", "30"])
    assert code == 0
    labels = tifffile.imread(out)
    assert labels.shape == truth.shape and labels.dtype == np.int32
    assert np.bincount(labels.ravel())[1:].min() >= 30
    assert score_instances(truth, labels).found >= 0.5
    text = capsys.readouterr().out
    assert f"{labels.max()} objects" in text and f"wrote {out}" in text
    assert [p.name for p in tmp_path.iterdir()] == ["labels.tif"]  # no temporary left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--image", "missing.tif", "--output", "{out}"], "missing.tif"),
        (["--image", "{image}", "--output", "{tmp}/labels.jpg"], "--output"),
        (["--image", "{image}", "--output", "{out}", "--max-pixels", "1000"], "pixels"),
        (["--image", "{stack}", "--output", "{out}"], "2-D"),
        (["--image", "{image}", "--output", "{out}", "--checkpoint", "{tmp}/none.pth"], "none"),
        (["--image", "{image}", "--output", "{out}", "--min-score", "1"], "--min-score"),
        (["--image", "{image}", "--output", "{out}", "--prob-thresh", "1"], "--prob-thresh"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, nuclei, args, message) -> None:  # noqa: ANN001
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, np.zeros((5, 32, 32), dtype=np.uint16), photometric="minisblack")
    values = {"image": nuclei[0], "out": tmp_path / "labels.tif", "tmp": tmp_path, "stack": stack}
    argv = ["segment-all", *(a.format(**values) for a in args)]
    err = _one_line_error(capsys, main(argv))
    assert message in err
    assert not (tmp_path / "labels.tif").exists()
