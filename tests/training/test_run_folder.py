"""``RunFolder.undo`` removes exactly what a failed run created."""

from __future__ import annotations

from pathlib import Path

from napari_fbrs.training.run_folder import RunFolder


def test_undo_removes_new_entries_and_the_folders_it_made(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "run"
    snapshot = RunFolder(out)
    (out / "tensorboard").mkdir(parents=True)
    (out / "tensorboard" / "events").write_text("x")
    (out / "config.json").write_text("{}")
    removed = snapshot.undo()
    assert not (tmp_path / "a").exists()
    assert out / "config.json" in removed and tmp_path / "a" in removed


def test_undo_keeps_what_existed(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "old").mkdir()
    snapshot = RunFolder(out)
    (out / "config.json").write_text("{}")
    (out / "train_log.csv").write_text("step\n")
    snapshot.undo()
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "old"]


def test_undo_of_a_folder_that_gained_a_foreign_file_keeps_it(tmp_path: Path) -> None:
    parent = tmp_path / "runs"
    snapshot = RunFolder(parent / "run")
    (parent / "run").mkdir(parents=True)
    (parent / "other").mkdir()  # made by someone else meanwhile
    snapshot.undo()
    assert not (parent / "run").exists()
    assert (parent / "other").is_dir()  # runs/ is not empty, so it stays
