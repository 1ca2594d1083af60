"""Issue 16: ``train`` refuses impossible recipe values and run folders up front, and a run that
fails early takes back the folder it made."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from napari_fbrs.cli import main
from tests.robust_helpers import make_read_only, restore_writable
from tests.training import TINY_RECIPE, write_folder_dataset


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    torch.set_num_threads(1)
    data = write_folder_dataset(tmp_path / "data", num_images=2)
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_RECIPE.format(root=data.as_posix()))
    return path


def expect_bad_input(capsys, argv: list[object], *fragments: str) -> str:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "error:" in lines[0], err
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {err!r}"
    return lines[0]


@pytest.mark.parametrize(
    "override,fragments",
    [
        ("train.lr=inf", ["--set train.lr=inf", "not a finite number"]),
        ("train.lr=nan", ["--set train.lr=nan", "not a finite number"]),
        ("train.lr=-1e-3", ["train.lr must be a positive finite number"]),
        ("loss.aux_weight=nan", ["--set loss.aux_weight=nan", "not a finite number"]),
        ("data.crop_size=[1000000,1000000]", ["data.crop_size", "8 to 2048 pixels"]),
        ("data.crop_size=[4,64]", ["data.crop_size", "8 to 2048 pixels"]),
    ],
)
def test_impossible_values_name_the_key(capsys, recipe, tmp_path, override, fragments):
    out = tmp_path / "run"
    expect_bad_input(capsys, ["train", recipe, "--set", override, "--out", out], *fragments)
    assert not out.exists()


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_non_finite_numbers_in_a_recipe_file_name_file_and_key(capsys, recipe, tmp_path, value):
    text = recipe.read_text().replace("lr = 1e-3", f"lr = {value}")
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    expect_bad_input(capsys, ["train", bad, "--out", tmp_path / "run"], str(bad), "train.lr")


def test_out_into_a_read_only_folder_is_refused_up_front(capsys, monkeypatch, recipe, tmp_path):
    folder = make_read_only(tmp_path / "read_only", monkeypatch)
    try:
        for out in (folder / "run", folder / "deeper" / "run"):
            expect_bad_input(
                capsys,
                ["train", recipe, "--out", out],
                f"--out {out}: cannot write into the folder {folder}",
            )
        assert list(folder.iterdir()) == []
    finally:
        restore_writable(folder)


def test_out_that_is_a_file_is_refused(capsys, recipe, tmp_path):
    expect_bad_input(capsys, ["train", recipe, "--out", recipe], "is a file, not a folder")
    expect_bad_input(
        capsys, ["train", recipe, "--out", recipe / "run"], f"{recipe} is a file, not a folder"
    )


def test_a_run_that_fails_early_leaves_no_folder(capsys, recipe, tmp_path):
    """batch_size 1 is refused by the trainer after config.json was written."""
    out = tmp_path / "runs" / "new" / "run"
    expect_bad_input(
        capsys,
        ["train", recipe, "--out", out, "--quiet", "--set", "train.batch_size=1"],
        "batch normalisation needs at least 2",
    )
    assert not (tmp_path / "runs").exists()  # the folders it made are gone too


def test_a_run_that_fails_early_keeps_what_was_there(capsys, recipe, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    expect_bad_input(
        capsys,
        ["train", recipe, "--out", out, "--quiet", "--set", "train.batch_size=1"],
        "batch normalisation needs at least 2",
    )
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
