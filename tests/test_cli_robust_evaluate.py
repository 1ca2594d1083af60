"""Issue 16: ``evaluate`` finds bad datasets, missing matplotlib and unwritable outputs first.

The checks must come before the model is loaded and before the first object: the tests pass
a checkpoint that does not exist, so a message about anything else proves the order.
"""

from __future__ import annotations

import errno
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_fbrs.cli import main
from tests.robust_helpers import make_read_only, no_space, restore_writable

MISSING_CKPT = "no_such_checkpoint.pth"
H, W = 24, 32


def _image(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 60, (H, W, 3), dtype=np.uint8)
    image[6:16, 8:20] += 150
    return image


def _labels() -> np.ndarray:
    labels = np.zeros((H, W), np.uint16)
    labels[6:16, 8:20] = 1
    labels[18:22, 2:6] = 2
    return labels


@pytest.fixture
def folder_root(tmp_path: Path) -> Path:
    """``images/`` + ``labels/``: three good pairs (a, b, c)."""
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for index, stem in enumerate("abc"):
        Image.fromarray(_image(index)).save(root / "images" / f"{stem}.png")
        tifffile.imwrite(root / "labels" / f"{stem}.tif", _labels())
    return root


def evaluate(root: Path, *extra: object, dataset: str = "folder") -> list[str]:
    return [
        "evaluate", "--checkpoint", MISSING_CKPT, "--dataset", dataset, "--root", str(root),
        "--mode", "NoBRS", "--no-zoom-in", "--max-clicks", "2", "--quiet", "--device", "cpu",
        *map(str, extra),
    ]  # fmt: skip


def expect_bad_input(capsys, argv: list[str], *fragments: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "error:" in lines[0], err
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {err!r}"
    assert MISSING_CKPT not in lines[0]  # found before the model was looked at
    return lines[0]


def _truncated_png(path: Path) -> None:
    Image.fromarray(_labels().astype(np.uint8)).save(path.with_suffix(".png"))
    data = path.with_suffix(".png").read_bytes()
    path.with_suffix(".png").write_bytes(data[: len(data) // 2])


BAD_LABELS = {
    "float": lambda p: tifffile.imwrite(p, _labels().astype(np.float32)),
    "negative": lambda p: tifffile.imwrite(p, _labels().astype(np.int32) - 5),
    "3-D": lambda p: tifffile.imwrite(p, np.stack([_labels()] * 2), photometric="minisblack"),
    "rgb": lambda p: tifffile.imwrite(p, np.stack([_labels().astype(np.uint8)] * 3, axis=-1)),
    "huge-ids": lambda p: tifffile.imwrite(p, _labels().astype(np.int64) * (2**31)),
    "truncated": _truncated_png,
}
EXPECTED = {
    "float": "must hold integers",
    "negative": "label ids must lie in 0..2147483647",
    "3-D": "is not 2-D",
    "rgb": "is not 2-D",
    "huge-ids": "label ids must lie in 0..2147483647",
    "truncated": "cannot read the label image",
}


@pytest.mark.parametrize("kind", list(BAD_LABELS))
def test_bad_label_files_are_named_before_the_first_object(capsys, folder_root, kind):
    bad = folder_root / "labels" / "b.tif"
    bad.unlink()
    BAD_LABELS[kind](bad)
    name = "b.png" if kind == "truncated" else "b.tif"
    expect_bad_input(capsys, evaluate(folder_root), f"labels/{name}", EXPECTED[kind])


def test_a_non_image_among_the_images_is_found_before_any_object(capsys, tmp_path):
    """A one-object-per-image dataset (GrabCut) decodes lazily; the check decodes first."""
    root = tmp_path / "grabcut"
    (root / "data_GT").mkdir(parents=True)
    (root / "boundary_GT").mkdir()
    for stem in ("a", "b", "c"):
        Image.fromarray(_image(0)).save(root / "data_GT" / f"{stem}.png")
        mask = np.where(_labels() == 1, 255, 0).astype(np.uint8)
        Image.fromarray(mask).save(root / "boundary_GT" / f"{stem}.png")
    (root / "data_GT" / "c.png").write_text("meeting notes, not an image")
    expect_bad_input(
        capsys, evaluate(root, dataset="grabcut"), "data_GT/c.png", "cannot read the image"
    )
    # --max-samples 2 never reaches c.png, so it is not read
    code = main([*evaluate(root, "--max-samples", "2", dataset="grabcut"), "--method",
                 "random-walker"])  # fmt: skip
    assert code == 0, capsys.readouterr().err


def test_files_over_the_pixel_limit_are_refused_from_their_header(capsys, folder_root):
    # label files are read first (to count the objects); the limit binds them too
    expect_bad_input(
        capsys,
        evaluate(folder_root, "--max-pixels", "500"),
        "labels/a.tif: the image is 24 x 32 = 768 pixels, more than the limit of 500",
    )
    code = main([*evaluate(folder_root, "--max-pixels", "768"), "--method", "random-walker"])
    assert code == 0, capsys.readouterr().err


def test_plot_without_matplotlib_fails_up_front(capsys, monkeypatch, folder_root, tmp_path):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # "import matplotlib" raises
    expect_bad_input(
        capsys,
        evaluate(folder_root, "--plot", tmp_path / "curve.png"),
        "--plot needs matplotlib",
        "pip install",
    )


def test_outputs_into_a_read_only_folder_are_refused_up_front(
    capsys, monkeypatch, folder_root, tmp_path
):
    folder = make_read_only(tmp_path / "read_only", monkeypatch)
    try:
        for option, name in (("--output", "r.json"), ("--plot", "c.png")):
            expect_bad_input(
                capsys,
                evaluate(folder_root, option, folder / name),
                f"{option} {folder / name}: cannot write into the folder",
            )
    finally:
        restore_writable(folder)


def test_outputs_over_dataset_files_or_the_checkpoint_are_refused(
    capsys, folder_root, tiny_checkpoint, tmp_path
):
    image = folder_root / "images" / "a.png"
    before = image.read_bytes()
    expect_bad_input(
        capsys, evaluate(folder_root, "--plot", image), f"--plot {image}: that is an input"
    )
    assert image.read_bytes() == before
    json_ckpt = tmp_path / "model.json"
    json_ckpt.write_bytes(tiny_checkpoint.read_bytes())
    argv = evaluate(folder_root, "--output", json_ckpt)
    argv[argv.index(MISSING_CKPT)] = str(json_ckpt)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and f"--output {json_ckpt}: that is an input" in err


def test_a_full_disk_at_the_end_names_the_output(capsys, monkeypatch, folder_root, tmp_path):
    import napari_fbrs.atomic as atomic

    def full_disk(src, dst):  # noqa: ANN001
        raise no_space(src)  # the temporary file's name, as the OS reports it

    monkeypatch.setattr(atomic.os, "replace", full_disk)
    target = tmp_path / "results.json"
    argv = [*evaluate(folder_root, "--output", target), "--method", "random-walker"]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2
    assert "| random-walker |" in captured.out  # the results are still printed
    line = captured.err.strip().splitlines()[-1]
    assert f"--output {target}: cannot write ({__import__('os').strerror(errno.ENOSPC)})" in line
    assert ".results.json." not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_validation_keeps_the_results_of_a_good_dataset(capsys, folder_root, tmp_path):
    out = tmp_path / "rw.json"
    argv = [*evaluate(folder_root, "--output", out), "--method", "random-walker"]
    assert main(argv) == 0, capsys.readouterr().err
    names = [s["name"] for s in json.loads(out.read_text())["samples"]]
    assert names == ["a#1", "a#2", "b#1", "b#2", "c#1", "c#2"]
