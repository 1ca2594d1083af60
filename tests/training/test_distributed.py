"""torchrun awareness: environment parsing, and a real 2-process Gloo run on the CPU."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from napari_fbrs.training.distributed import DistContext, context_from_env, training_device

from . import REPO_ROOT, write_folder_dataset, write_tiny_recipe


def test_a_lone_process_is_not_distributed() -> None:
    ctx = context_from_env({})
    assert ctx == DistContext(0, 1, 0, None)
    assert ctx.is_main and not ctx.enabled


def test_torchrun_environment_is_read() -> None:
    env = {
        "RANK": "3",
        "WORLD_SIZE": "4",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": "29500",
    }
    ctx = context_from_env(env)
    assert (ctx.rank, ctx.world_size, ctx.local_rank) == (3, 4, 1)
    assert ctx.enabled and not ctx.is_main


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WORLD_SIZE": "2", "RANK": "0"}, "MASTER_ADDR, MASTER_PORT is not set"),
        ({"WORLD_SIZE": "two"}, "bad torchrun environment"),
        (
            {"WORLD_SIZE": "2", "RANK": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1"},
            "outside 0..1",
        ),
    ],
)
def test_bad_environment_is_explained(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        context_from_env(env)


def test_training_device() -> None:
    assert training_device("cpu") == torch.device("cpu")
    assert training_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            training_device("cuda")


_DRIVER = """
    import os, sys
    import torch
    torch.set_num_threads(1)
    from napari_fbrs.training.config import load_recipe
    from napari_fbrs.training.trainer import train

    config = load_recipe(sys.argv[1], ["validation.every_epochs=0", "train.batch_size=4"])
    summary = train(config, sys.argv[2], progress=False)
    print(f"rank {os.environ['RANK']} of {os.environ['WORLD_SIZE']}: {summary.steps} steps")
"""


@pytest.mark.slow
def test_two_process_gloo_run_with_torchrun(tmp_path: Path) -> None:
    root = write_folder_dataset(tmp_path / "data", num_images=4)
    recipe = write_tiny_recipe(tmp_path, root)
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(_DRIVER))
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(driver),
        str(recipe),
        str(out),
    ]
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # The global batch of 4 is split over the 2 processes: 2 steps per epoch of 8 samples.
    assert "rank 0 of 2: 2 steps" in done.stdout and "rank 1 of 2: 2 steps" in done.stdout
    state = torch.load(out / "last.pth", weights_only=True)["training_state"]
    assert state["world_size"] == 2 and len(state["rng"]) == 2
    assert not torch.equal(state["rng"][0]["cpu"], state["rng"][1]["cpu"])  # seeded per rank
    with (out / "train_log.csv").open(newline="") as fh:
        steps = [int(row["step"]) for row in csv.DictReader(fh)]
    assert steps == [1, 2]  # rank 0 alone writes the log
    assert sorted(p.name for p in out.glob("*.pth")) == ["epoch_001.pth", "last.pth"]
