"""Issue 16: ``predict``, ``export`` and ``info`` under bad input, full disks and careless use.

Every case gives exit code 2 and one line on stderr (no traceback), checked before the model is
loaded wherever it can be: those tests pass a checkpoint that does not exist, so a message about
anything else proves the check came first.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import weakref
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from napari_fbrs.cli import main
from napari_fbrs.model.weights import BASE_URL_ENV, CACHE_ENV
from tests.robust_helpers import leftovers, make_read_only, no_space, restore_writable

HEIGHT, WIDTH = 48, 64
FAST = ["--preset", "eval", "--no-zoom-in", "--mode", "NoBRS", "--device", "cpu"]
MISSING_CKPT = "no_such_checkpoint.pth"


@pytest.fixture(autouse=True)
def _one_thread_and_own_cache(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(BASE_URL_ENV, "http://127.0.0.1:9")


@pytest.fixture
def png(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 60, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    image[12:32, 20:50] += 150
    path = tmp_path / "inputs" / "blob.png"
    path.parent.mkdir()
    Image.fromarray(image).save(path)
    return path


@pytest.fixture
def read_only(tmp_path, monkeypatch):
    folder = make_read_only(tmp_path / "read_only", monkeypatch)
    yield folder
    restore_writable(folder)


def run(capsys, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def expect_bad_input(capsys, argv: Sequence[object], *fragments: str) -> str:
    """Exit 2 and one error line on stderr (after any progress bar) holding every fragment;
    returns that line."""
    code, _, err = run(capsys, *argv)
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    for fragment in fragments:
        assert fragment in errors[0], f"{fragment!r} not in {err!r}"
    return errors[0]


def predict(*extra: object, checkpoint: object = MISSING_CKPT, image: object = None) -> list:
    argv: list[object] = ["predict", "--checkpoint", checkpoint]
    if image is not None:
        argv += ["--image", image]
    return [*argv, *extra, *FAST]


# -- outputs that cannot be written: refused up front -------------------------------------------
@pytest.mark.parametrize("option,name", [("--output", "m.png"), ("--save-probs", "p.npz")])
def test_predict_into_a_read_only_folder_is_refused_before_the_model(
    capsys, png, read_only, option, name
):
    target = read_only / name
    line = expect_bad_input(
        capsys,
        predict("--clicks", "20,30,+", option, target, image=png),
        f"{option} {target}",
        f"cannot write into the folder {read_only}",
        "Permission denied",
    )
    assert MISSING_CKPT not in line  # the checkpoint was never looked at
    assert list(read_only.iterdir()) == []


def test_outputs_onto_a_folder_or_below_a_file_are_refused(capsys, png, tmp_path):
    folder = tmp_path / "masks.png"
    folder.mkdir()
    expect_bad_input(
        capsys, predict("--clicks", "1,1,+", "--output", folder, image=png), "is a folder"
    )
    below_file = png / "m.png"  # the "folder" is the image file itself
    expect_bad_input(
        capsys,
        predict("--clicks", "1,1,+", "--output", below_file, image=png),
        f"the folder {png} is not a folder",
    )


# -- a full disk at the end: the target is named, never the temporary file ---------------------
def test_predict_output_on_a_full_disk_names_the_target(
    capsys, monkeypatch, tmp_path, tiny_checkpoint, png
):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "mask.png"

    def full_disk(self, fp, *args, **kwargs):  # noqa: ANN001 - Image.save's signature
        raise no_space(fp)  # fp is the atomic writer's temporary file

    monkeypatch.setattr(Image.Image, "save", full_disk)
    line = expect_bad_input(
        capsys,
        predict("--clicks", "20,30,+", "--output", target, checkpoint=tiny_checkpoint, image=png),
        f"--output {target}: cannot write (No space left on device)",
    )
    assert ".mask.png." not in line  # the temporary name
    assert list(out_dir.iterdir()) == []


class _FullAfter:
    """A zip member that fails like a full disk once ``limit`` bytes were written."""

    def __init__(self, entry, limit: int) -> None:  # noqa: ANN001
        self.entry, self.left = entry, limit

    def write(self, data) -> int:  # noqa: ANN001
        self.left -= len(memoryview(data).cast("B"))
        if self.left < 0:
            raise no_space()
        return self.entry.write(data)

    def close(self) -> None:
        self.entry.close()

    def __enter__(self):  # noqa: ANN204
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_save_probs_on_a_full_disk_names_the_target_and_leaves_nothing(
    capsys, monkeypatch, tmp_path, tiny_checkpoint, png
):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "probs.npz"
    real_open = zipfile.ZipFile.open

    def open_member(self, name, mode="r", **kwargs):  # noqa: ANN001
        entry = real_open(self, name, mode, **kwargs)
        return _FullAfter(entry, HEIGHT * WIDTH * 4 + 200) if mode == "w" else entry

    monkeypatch.setattr(zipfile.ZipFile, "open", open_member)
    expect_bad_input(
        capsys,
        predict(
            "--clicks", "20,30,+;5,5,-;25,40,+", "--save-probs", target,
            checkpoint=tiny_checkpoint, image=png,
        ),
        f"--save-probs {target}: cannot write (No space left on device)",
    )  # fmt: skip
    assert list(out_dir.iterdir()) == []


# -- predict keeps one full-resolution map at a time ---------------------------------------------
@pytest.mark.parametrize("save_probs", [False, True])
def test_predict_does_not_keep_every_clicks_map(
    capsys, monkeypatch, tmp_path, tiny_checkpoint, png, save_probs
):
    from napari_fbrs.inference.engine.predictor import Predictor

    refs: list[weakref.ref] = []
    alive: list[int] = []
    real_predict = Predictor.predict

    def tracked(self, clicks):  # noqa: ANN001
        result = real_predict(self, clicks)
        refs.append(weakref.ref(result))
        alive.append(sum(ref() is not None for ref in refs))
        return result

    monkeypatch.setattr(Predictor, "predict", tracked)
    clicks = "20,30,+;5,5,-;25,40,+;40,60,-;30,10,-;22,33,+"
    extra = (
        ["--save-probs", tmp_path / "p.npz"] if save_probs else ["--output", tmp_path / "m.png"]
    )
    code, _, err = run(
        capsys, *predict("--clicks", clicks, *extra, checkpoint=tiny_checkpoint, image=png)
    )
    assert code == 0, err
    assert len(alive) == 6
    # bounded, whatever the number of clicks: the map being made, the current one and the one
    # in the session's newest undo snapshot (predict runs the widget's session); was 6 (all)
    assert max(alive) <= 3
    assert alive[-3:] == [3, 3, 3]
    if save_probs:
        with np.load(tmp_path / "p.npz") as data:
            assert data["probs"].shape == (6, HEIGHT, WIDTH)
            assert data["probs"].dtype == np.float32
            assert data["clicks"].shape == (6, 3)


# -- outputs that name an input ------------------------------------------------------------------
def test_predict_refuses_to_write_over_its_inputs(capsys, tmp_path, tiny_checkpoint, png):
    before = png.read_bytes()
    expect_bad_input(
        capsys,
        predict("--clicks", "20,30,+", "--output", png, image=png),
        f"--output {png}: that is an input of this command",
    )
    link = tmp_path / "link.png"
    link.symlink_to(png)
    expect_bad_input(
        capsys, predict("--clicks", "20,30,+", "--output", link, image=png), "input of this"
    )
    hard = tmp_path / "hard.png"
    os.link(png, hard)
    expect_bad_input(
        capsys, predict("--clicks", "20,30,+", "--output", hard, image=png), "input of this"
    )
    clicks = tmp_path / "clicks.npz"  # a clicks file may have any name
    clicks.write_text("[[20, 30, true]]")
    expect_bad_input(
        capsys,
        predict("--clicks-file", clicks, "--save-probs", clicks, image=png),
        f"--save-probs {clicks}: that is an input",
    )
    model_tif = tmp_path / "model.tif"
    shutil.copy(tiny_checkpoint, model_tif)
    expect_bad_input(
        capsys,
        predict("--clicks", "20,30,+", "--output", model_tif, checkpoint=model_tif, image=png),
        f"--output {model_tif}: that is an input",
    )
    assert png.read_bytes() == before
    assert clicks.read_text() == "[[20, 30, true]]"


def test_an_existing_output_is_replaced(capsys, tmp_path, tiny_checkpoint, png):
    target = tmp_path / "mask.png"
    target.write_bytes(b"an older mask")
    code, _, err = run(
        capsys,
        *predict("--clicks", "20,30,+", "--output", target, checkpoint=tiny_checkpoint, image=png),
    )
    assert code == 0, err
    assert np.asarray(Image.open(target)).shape == (HEIGHT, WIDTH)


# -- clicks files ---------------------------------------------------------------------------------
def test_clicks_file_reads_are_bounded(capsys, tmp_path, png):
    if Path("/dev/zero").exists():
        expect_bad_input(
            capsys,
            predict("--clicks-file", "/dev/zero", "--output", tmp_path / "m.png", image=png),
            "/dev/zero: the clicks file is larger than 1 MiB",
        )
    big = tmp_path / "big.json"
    big.write_text("[" + ", ".join(["[1, 2, true]"] * 100_000) + "]")
    assert big.stat().st_size > 1 << 20
    expect_bad_input(
        capsys,
        predict("--clicks-file", big, "--output", tmp_path / "m.png", image=png),
        f"{big}: the clicks file is larger than 1 MiB",
    )


@pytest.mark.parametrize(
    "bad", [{"x": 1}, 2, -1, "yes", "true", 1.0, None, [1]], ids=lambda v: repr(v)
)
def test_clicks_file_signs_must_be_unambiguous(capsys, tmp_path, png, bad):
    path = tmp_path / "clicks.json"
    path.write_text(json.dumps([[20, 30, True], [1, 2, False], [1, 2, bad]]))
    expect_bad_input(
        capsys,
        predict("--clicks-file", path, "--output", tmp_path / "m.png", image=png),
        f"{path}: click 3",
        'the sign must be true/false, 1/0 or "+"/"-"',
        repr(bad),
    )


def test_clicks_file_accepts_the_documented_signs(tmp_path):
    import argparse

    from napari_fbrs.cli.common import read_clicks

    path = tmp_path / "clicks.json"
    path.write_text(json.dumps([[1, 2, True], [3, 4, False], [5, 6, 1], [7, 8, 0], [9, 1, "+"],
                                [2, 3, "-"]]))  # fmt: skip
    clicks = read_clicks(argparse.Namespace(clicks=None, clicks_file=str(path)))
    assert [c.positive for c in clicks] == [True, False, True, False, True, False]
    assert [(c.row, c.col) for c in clicks][:2] == [(1.0, 2.0), (3.0, 4.0)]


# -- image size limit -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bomb_tif(tmp_path_factory) -> Path:
    """A 20000 x 20000 zlib TIFF of about 400 KB: 400 million pixels when decoded."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.tif"
    tile = np.zeros((1024, 1024), np.uint8)
    tiles = (tile for _ in range(((20000 + 1023) // 1024) ** 2))
    tifffile.imwrite(
        path, data=tiles, shape=(20000, 20000), dtype=np.uint8, tile=(1024, 1024),
        compression="zlib",
    )  # fmt: skip
    assert path.stat().st_size < 1 << 20
    return path


def test_a_20000_px_tiff_is_refused_from_its_header(capsys, monkeypatch, tmp_path, bomb_tif):
    def no_decoding(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("the TIFF was decoded")

    monkeypatch.setattr(tifffile, "imread", no_decoding)
    monkeypatch.setattr(tifffile.TiffFile, "asarray", no_decoding)
    line = expect_bad_input(
        capsys,
        predict("--clicks", "10,10,+", "--output", tmp_path / "m.png", image=bomb_tif),
        str(bomb_tif),
        "20000 x 20000 = 400,000,000 pixels, more than the limit of 100,000,000",
        "--max-pixels",
    )
    assert MISSING_CKPT not in line  # refused before the checkpoint is even looked at


def test_max_pixels_sets_and_lifts_the_limit(capsys, tmp_path, tiny_checkpoint, png):
    out = tmp_path / "m.png"
    expect_bad_input(
        capsys,
        predict("--clicks", "20,30,+", "--output", out, "--max-pixels", "3000", image=png),
        "48 x 64 x 3 = 3,072 pixels, more than the limit of 3,000",
    )
    for limit in ("3072", "0"):
        code, _, err = run(
            capsys,
            *predict("--clicks", "20,30,+", "--output", out, "--max-pixels", limit,
                     checkpoint=tiny_checkpoint, image=png),
        )  # fmt: skip
        assert code == 0, err


# -- export --------------------------------------------------------------------------------------
def test_export_into_a_read_only_folder_or_onto_a_folder(capsys, tmp_path, read_only):
    target = read_only / "small.pth"
    expect_bad_input(
        capsys,
        ["export", MISSING_CKPT, target],
        f"output {target}: cannot write into the folder {read_only}",
    )
    folder = tmp_path / "a_folder.pth"
    folder.mkdir()
    expect_bad_input(capsys, ["export", MISSING_CKPT, folder], f"output {folder}: is a folder")


@pytest.mark.parametrize(
    "failure",
    [
        RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 4544 vs 4438"),
        no_space("/somewhere/.small.pth.k2j4.pth"),
    ],
    ids=["torch-writer", "oserror"],
)
def test_export_onto_a_full_disk(capsys, monkeypatch, tmp_path, tiny_checkpoint, failure):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "small.pth"

    def full_disk(obj, f, *args, **kwargs):  # noqa: ANN001
        half = b"half a checkpoint"
        if hasattr(f, "write"):  # the checkpoint is written through a file object
            f.write(half)
            f.flush()
        else:
            Path(f).write_bytes(half)
        raise failure

    monkeypatch.setattr(torch, "save", full_disk)
    line = expect_bad_input(
        capsys, ["export", tiny_checkpoint, target], f"output {target}: cannot write ("
    )
    assert "is the disk full?" in line or "No space left on device" in line
    assert "MB free there" in line
    assert ".small.pth." not in line
    assert list(out_dir.iterdir()) == []


def test_export_replaces_an_existing_output_and_still_accepts_force(
    capsys, tmp_path, tiny_checkpoint
):
    target = tmp_path / "small.pth"
    target.write_bytes(b"old")
    for extra in ([], ["--force"]):
        code, out, err = run(capsys, "export", tiny_checkpoint, target, *extra)
        assert code == 0, err
        assert out.startswith(f"wrote {target}")
        assert target.stat().st_size > 1000
    expect_bad_input(capsys, ["export", target, target], "that is the checkpoint being exported")


# -- checkpoints whose meta is not a mapping, and pickles that would run code --------------------
@pytest.mark.parametrize("meta", [[1, 2, 3], 5, "text", {1: "a"}], ids=repr)
def test_info_and_export_of_a_checkpoint_with_a_bad_meta(capsys, tmp_path, tiny_model, meta):
    path = tmp_path / "odd_meta.pth"
    payload = {"arch": "hrnet18s_ocr64", "state_dict": tiny_model.state_dict(), "meta": meta}
    torch.save(payload, path)
    expect_bad_input(capsys, ["info", path], str(path), "'meta'")
    expect_bad_input(capsys, ["export", path, tmp_path / "out.pth"], str(path), "'meta'")
    assert not (tmp_path / "out.pth").exists()


class _RunsCode:
    """Unpickling this would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_a_checkpoint_that_would_run_code_is_refused_in_our_words(capsys, tmp_path, legacy):
    marker = tmp_path / "executed"
    path = tmp_path / "evil.pth"
    torch.save(
        {"weight": torch.zeros(1), "payload": _RunsCode(marker)},
        path,
        _use_new_zipfile_serialization=not legacy,
    )
    for argv in (["info", path], ["export", path, tmp_path / "out.pth"]):
        line = expect_bad_input(capsys, argv, str(path), "refused for safety", "contains code")
        assert "weights_only" not in line and "add_safe_globals" not in line
        assert "trust" not in line  # no invitation to load it anyway
    code, _, err = run(
        capsys,
        *predict("--clicks", "1,1,+", "--output", tmp_path / "m.png", checkpoint=path,
                 image=_make_png(tmp_path)),
    )  # fmt: skip
    assert code == 2 and "refused for safety" in err and "weights_only" not in err
    assert not marker.exists()


def _make_png(folder: Path) -> Path:
    path = folder / "small.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
    return path


class _RunsShell:
    """Unpickling this would run a shell command (``os.system``: a module torch blocks)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


def test_the_refusal_survives_in_a_fresh_process(tmp_path):
    """The message and the exit code as a user's shell sees them, for the pickle of the issue
    (torch's text for it advised re-running with weights_only=False)."""
    import subprocess

    path = tmp_path / "evil.pth"
    torch.save({"payload": _RunsShell(tmp_path / "executed")}, path)
    result = subprocess.run(
        [sys.executable, "-m", "napari_fbrs.cli", "info", str(path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "refused for safety" in result.stderr
    assert "weights_only" not in result.stderr
    assert not (tmp_path / "executed").exists()
    assert leftovers(tmp_path) == []


def test_the_streamed_npz_reads_like_savez_and_is_all_or_nothing(tmp_path):
    from napari_fbrs.cli.probs import probs_writer

    maps = np.random.default_rng(1).random((3, 5, 7)).astype(np.float32)
    clicks = np.array([[1, 2, 1], [3, 4, 0], [0, 6, 1]], np.float64)
    path = tmp_path / "p.npz"
    with probs_writer(path, clicks, 5, 7) as add:
        for probs in maps:
            add(probs.astype(np.float64))  # stored as float32 whatever it is given
    with np.load(path) as data:
        assert sorted(data.files) == ["clicks", "probs"]
        np.testing.assert_array_equal(data["probs"], maps)
        np.testing.assert_array_equal(data["clicks"], clicks)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="1 maps were added, 3 expected"):
        with probs_writer(path, clicks, 5, 7) as add:
            add(maps[0])
    with pytest.raises(ValueError, match="expected shape"):
        with probs_writer(path, clicks, 5, 7) as add:
            add(maps[0, :4])
    assert path.read_bytes() == before  # the old file stays; no temporary file is left
    assert leftovers(tmp_path) == []


def test_view_refuses_a_screenshot_over_its_image_before_opening_napari(capsys, png):
    before = png.read_bytes()
    expect_bad_input(
        capsys, ["view", "--image", png, "--screenshot", png], f"--screenshot {png}: that is an"
    )
    assert png.read_bytes() == before
