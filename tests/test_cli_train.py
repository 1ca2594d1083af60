"""``napari-fbrs train`` end to end: a tiny recipe, then the checkpoint in ``predict``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from napari_fbrs.cli import main
from tests.training import TINY_RECIPE, write_folder_dataset
from tests.waiting import wait_until


def test_train_then_predict_with_the_trained_checkpoint(tmp_path: Path, capsys) -> None:
    torch.set_num_threads(1)
    data = write_folder_dataset(tmp_path / "data", num_images=4)
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY_RECIPE.format(root=data.as_posix()))
    out = tmp_path / "run"
    argv = ["train", str(recipe), "--out", str(out), "--quiet", "--set", "train.max_steps=2"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "hrnet18s_ocr64" in printed and "last checkpoint" in printed
    assert (out / "last.pth").is_file()

    image = tmp_path / "img.png"
    Image.fromarray(np.full((40, 48, 3), 90, np.uint8)).save(image)
    mask = tmp_path / "mask.png"
    argv = [
        "predict",
        "--checkpoint",
        str(out / "last.pth"),
        "--image",
        str(image),
        "--clicks",
        "20,24,+",
        "--preset",
        "eval",
        "--no-zoom-in",
        "--mode",
        "NoBRS",
        "--output",
        str(mask),
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    assert np.asarray(Image.open(mask)).shape == (40, 48)


def test_train_refuses_to_overwrite_and_reports_bad_recipes(tmp_path: Path, capsys) -> None:
    data = write_folder_dataset(tmp_path / "data", num_images=2)
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY_RECIPE.format(root=data.as_posix()))
    assert main(["train", str(recipe), "--set", "train.nonsense=1"]) == 2
    assert "nonsense" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml" in capsys.readouterr().err
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "last.pth").write_bytes(b"x")
    assert main(["train", str(recipe), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_ctrl_c_stops_after_the_step_and_the_run_resumes(tmp_path: Path) -> None:
    """SIGINT during ``train`` writes last.pth at the current step; ``--resume`` goes on."""
    import signal
    import subprocess
    import sys

    data = write_folder_dataset(tmp_path / "data", num_images=4)
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY_RECIPE.format(root=data.as_posix()))
    out = tmp_path / "run"
    base = [sys.executable, "-m", "napari_fbrs.cli", "train", str(recipe), "--out", str(out)]
    long_run = ["--quiet", "--set", "train.epochs=1000", "--set", "validation.every_epochs=0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [*base, *long_run], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    log = out / "train_log.csv"

    def logged_or_ended() -> bool:
        return proc.poll() is not None or (
            log.is_file() and len(log.read_text().splitlines()) >= 3
        )

    wait_until(logged_or_ended, 240, "training never logged a step")
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr  # a clean stop, reported as shells do
    assert "stopping after this step" in stderr
    stopped = int(stdout.split("interrupted at step ")[1].split(":")[0])
    assert 2 <= stopped < 1000 * 4
    assert (out / "last.pth").is_file()

    more = ["--quiet", "--resume", "--set", f"train.max_steps={stopped + 1}"]
    more += ["--set", "train.epochs=1000", "--set", "validation.every_epochs=0"]
    done = subprocess.run([*base, *more], capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr
    assert f"{stopped + 1} steps" in done.stdout and "interrupted" not in done.stdout
