"""``napari-fbrs predict --one-click-per-object`` (issue 24): a label image from clicks."""

from __future__ import annotations

import numpy as np
import pytest

import napari_fbrs
from napari_fbrs.io.masks import read_labels
from napari_fbrs.io.samples import nuclei_image
from tests.test_cli import expect_bad_input, run

# two nuclei, the second corrected by a click on it, a third, and a negative click
CLICKS = ((43, 159, True), (202, 45, True), (200, 40, True), (152, 191, True), (10, 10, False))


def _text(clicks) -> str:  # noqa: ANN001
    return ";".join(f"{r},{c},{'+' if p else '-'}" for r, c, p in clicks)


def test_the_label_image_is_the_one_segmenter_paints(capsys, tmp_path):
    out = tmp_path / "labels.tif"
    code, stdout, err = run(
        capsys, "predict", "--sample", "nuclei", "--mode", "NoBRS", "--one-click-per-object",
        "--clicks", _text(CLICKS), "--output", out,
    )  # fmt: skip
    assert code == 0, err
    written = read_labels(out)
    assert sorted(np.unique(written)) == [0, 1, 2, 3]
    assert "3 objects" in stdout
    assert "     2       2" in stdout  # object 2 took two clicks

    seg = napari_fbrs.Segmenter(mode="NoBRS", one_click_per_object=True)
    image = nuclei_image()
    seg.set_image(image)
    labels = np.zeros(image.shape, np.int32)
    seg.set_labels(labels)
    for row, col, positive in CLICKS:
        seg.click(row, col, positive)
    seg.finish()
    assert np.array_equal(written, labels)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--output", "OUT/l.tif", "--propagate"], "drop --propagate"),
        (["--output", "OUT/l.tif", "--save-probs", "OUT/p.npz"], "--save-probs"),
        ([], "needs --output"),
        (["--output", "OUT/l.jpg"], "unsupported suffix"),
        (["--output", "OUT/l.tif", "--box", "10,10,60,60"], "no --box/--init-mask"),
    ],
)
def test_bad_combinations_get_one_line_and_exit_2(capsys, tmp_path, extra, fragment):
    extra = [str(e).replace("OUT", str(tmp_path)) for e in extra]
    argv = ["predict", "--sample", "nuclei", "--one-click-per-object", "--clicks", "43,159,+"]
    expect_bad_input(capsys, [*argv, *extra], fragment)
    assert not list(tmp_path.iterdir())
