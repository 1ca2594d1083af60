"""``predict --init-mask`` / ``--init-label`` / ``--box`` (issue 24): happy paths, and one line
with exit 2 for each bad input."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from napari_fbrs.cli import main
from napari_fbrs.io.samples import synthetic_nuclei_with_labels


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prompts")
    image, truth = synthetic_nuclei_with_labels((256, 256), count=18, seed=1)
    tifffile.imwrite(folder / "img.tif", image)
    tifffile.imwrite(folder / "labels.tif", truth.astype(np.uint16))
    eroded = ndimage.binary_erosion(truth == 2, iterations=3)
    tifffile.imwrite(folder / "mask.tif", eroded.astype(np.uint8))
    tifffile.imwrite(folder / "small.tif", np.ones((10, 10), np.uint8))
    tifffile.imwrite(folder / "empty.tif", np.zeros((256, 256), np.uint8))
    return folder, truth


FAST = ["--mode", "NoBRS"]


def test_init_label_alone_writes_the_label_and_clicks_correct_an_init_mask(files, capsys):
    folder, truth = files
    out = folder / "o1.tif"
    args = ["predict", "--image", str(folder / "img.tif"), "--output", str(out), *FAST]
    assert main([*args, "--init-mask", str(folder / "labels.tif"), "--init-label", "5"]) == 0
    assert np.array_equal(tifffile.imread(out) == 1, truth == 5)
    assert "started from label 5" in capsys.readouterr().out
    # the eroded mask plus the NoC user's first click (on the missed border)
    gt = truth == 2
    eroded = tifffile.imread(folder / "mask.tif") > 0
    assert main([*args, "--init-mask", str(folder / "mask.tif"), "--clicks", "131,181,+"]) == 0
    corrected = tifffile.imread(out) == 1
    assert _iou(corrected, gt) > _iou(eroded, gt)


def test_box_alone_and_with_clicks(files):
    folder, truth = files
    gt = truth == 9
    rows, cols = np.nonzero(gt)
    box = f"{rows.min()},{cols.min()},{rows.max() + 1},{cols.max() + 1}"
    out = folder / "o2.tif"
    args = ["predict", "--image", str(folder / "img.tif"), "--output", str(out), *FAST]
    assert main([*args, "--box", box]) == 0
    assert _iou(tifffile.imread(out) == 1, gt) > 0.8
    centre = f"{int(rows.mean())},{int(cols.mean())},+"
    assert main([*args, "--box", box, "--clicks", centre]) == 0
    assert _iou(tifffile.imread(out) == 1, gt) > 0.8


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--init-mask", "small.tif"], "the mask is 10 x 10, the image 256 x 256"),
        (["--init-mask", "empty.tif"], "the mask is empty"),
        (["--init-mask", "labels.tif"], "the mask is not binary"),
        (["--init-mask", "labels.tif", "--init-label", "99"], "label 99 is not in"),
        (["--init-label", "3"], "--init-label needs --init-mask"),
        (["--box", "10,10,10,60"], "zero area"),
        (["--box", "10,10,600,60"], "outside the 256 x 256 image"),
        (["--box=-1,10,20,60"], "outside the 256 x 256 image"),
        (["--box", "1,2,3"], "four numbers"),
        (["--box", "a,b,c,d"], "must be numbers"),
        (["--box", "1,2,30,40", "--init-mask", "empty.tif"], "not both"),
        ([], "give the clicks"),
    ],
)
def test_bad_prompts_exit_2_with_one_line(files, capsys, extra, message):
    folder, _ = files
    extra = [str(folder / e) if e.endswith(".tif") else e for e in extra]
    args = ["predict", "--image", str(folder / "img.tif"), "--output", str(folder / "o.tif")]
    assert main([*args, *FAST, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
