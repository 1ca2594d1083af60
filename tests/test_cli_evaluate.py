"""``napari-fbrs evaluate`` end to end on tiny on-the-fly datasets."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from napari_fbrs.cli import main
from tests.conftest import require_shared


@pytest.fixture
def grabcut_root(tmp_path: Path) -> Path:
    """Two 48 x 64 images with a bright rectangle, masks with a 128 ignore band."""
    root = tmp_path / "grabcut"
    (root / "data_GT").mkdir(parents=True)
    (root / "boundary_GT").mkdir()
    rng = np.random.default_rng(0)
    for index, (r0, c0) in enumerate([(10, 12), (20, 30)]):
        image = rng.integers(0, 60, (48, 64, 3), dtype=np.uint8)
        image[r0 : r0 + 16, c0 : c0 + 20] += 160
        mask = np.zeros((48, 64), np.uint8)
        mask[r0 - 1 : r0 + 17, c0 - 1 : c0 + 21] = 128
        mask[r0 : r0 + 16, c0 : c0 + 20] = 255
        Image.fromarray(image).save(root / "data_GT" / f"img{index}.png")
        Image.fromarray(mask).save(root / "boundary_GT" / f"img{index}.bmp")
    return root


def test_evaluate_model_writes_table_json_and_plot(
    tiny_checkpoint: Path, grabcut_root: Path, tmp_path: Path, capsys
) -> None:
    out, plot = tmp_path / "res.json", tmp_path / "curve.png"
    argv = [
        "evaluate",
        "--checkpoint",
        str(tiny_checkpoint),
        "--dataset",
        "grabcut",
        "--root",
        str(grabcut_root),
        "--mode",
        "NoBRS",
        "--no-zoom-in",
        "--max-clicks",
        "3",
        "--full-curve",
        "--output",
        str(out),
        "--plot",
        str(plot),
        "--quiet",
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "NoC@85" in table and "hrnet18s_ocr64 NoBRS" in table
    data = json.loads(out.read_text())
    assert [s["name"] for s in data["samples"]] == ["img0.png", "img1.png"]
    for sample in data["samples"]:
        assert len(sample["clicks"]) == 3 and len(sample["ious"]) == 3
        assert all(0.0 <= v <= 1.0 for v in sample["ious"])
    first = data["samples"][0]["clicks"][0]
    assert first[2] is True or first[2] == 1  # the first click is always positive
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.usefixtures("one_torch_thread")  # the same threads per object in both runs
def test_evaluate_with_two_workers_writes_the_serial_results(
    tiny_checkpoint: Path, grabcut_root: Path, tmp_path: Path, capsys
) -> None:
    results = {}
    for workers in ("1", "2"):
        out = tmp_path / f"workers{workers}.json"
        argv = [
            "evaluate", "--checkpoint", str(tiny_checkpoint), "--dataset", "grabcut",
            "--root", str(grabcut_root), "--mode", "f-BRS-B", "--no-zoom-in",
            "--max-clicks", "3", "--full-curve", "--output", str(out), "--quiet",
            "--device", "cpu", "--workers", workers,
        ]  # fmt: skip
        assert main(argv) == 0
        results[workers] = json.loads(out.read_text())
    assert "hrnet18s_ocr64 f-BRS-B" in capsys.readouterr().out
    serial, parallel = results["1"], results["2"]
    assert [s["name"] for s in parallel["samples"]] == ["img0.png", "img1.png"]
    for a, b in zip(serial["samples"], parallel["samples"], strict=True):
        assert a["clicks"] == b["clicks"] and len(b["ious"]) == 3
        assert a["ious"] == pytest.approx(b["ious"], abs=1e-6)
    assert parallel["provenance"]["argv"][-2:] == ["--workers", "2"]


@pytest.mark.parametrize("workers", ["0", "two"])
def test_evaluate_rejects_bad_worker_counts(grabcut_root: Path, workers: str, capsys) -> None:
    argv = ["evaluate", "--method", "random-walker", "--dataset", "grabcut"]
    argv += ["--root", str(grabcut_root), "--workers", workers]
    assert main(argv) == 2
    assert "--workers" in capsys.readouterr().err


def test_evaluate_random_walker_baseline(grabcut_root: Path, capsys) -> None:
    argv = [
        "evaluate",
        "--method",
        "random-walker",
        "--dataset",
        "grabcut",
        "--root",
        str(grabcut_root),
        "--max-clicks",
        "2",
        "--quiet",
    ]
    assert main(argv) == 0
    assert "random-walker" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dataset", "grabcut", "--root", "MISSING", "--method", "random-walker"], "missing"),
        (["--dataset", "grabcut", "--root", "EMPTY", "--method", "random-walker"], "no images"),
        (
            ["--dataset", "grabcut", "--root", "GRABCUT", "--checkpoint", "no_such_model"],
            "known weights name",
        ),
        (
            [
                "--dataset",
                "grabcut",
                "--root",
                "GRABCUT",
                "--output",
                "x.txt",
                "--method",
                "random-walker",
            ],
            ".json",
        ),
        (
            [
                "--dataset",
                "grabcut",
                "--root",
                "GRABCUT",
                "--method",
                "random-walker",
                "--rw-solver",
                "cg_mg",
                "NO_PYAMG",
            ],
            "needs pyamg",
        ),
    ],
)
def test_evaluate_bad_input_exits_2(
    argv, message, grabcut_root: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    (tmp_path / "empty" / "data_GT").mkdir(parents=True)
    (tmp_path / "empty" / "boundary_GT").mkdir()
    replace = {
        "MISSING": str(tmp_path / "missing"),
        "EMPTY": str(tmp_path / "empty"),
        "GRABCUT": str(grabcut_root),
        "x.txt": str(tmp_path / "x.txt"),
    }
    if "NO_PYAMG" in argv:
        argv.remove("NO_PYAMG")
        monkeypatch.setitem(sys.modules, "pyamg", None)  # import pyamg now raises ImportError
    argv = [replace.get(a, a) for a in argv]
    assert main(["evaluate", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_on_shared_grabcut_with_random_walker(tmp_path: Path, capsys) -> None:
    root = require_shared("datasets", "GrabCut")
    out = tmp_path / "rw.json"
    argv = [
        "evaluate",
        "--method",
        "random-walker",
        "--dataset",
        "grabcut",
        "--root",
        str(root),
        "--max-samples",
        "1",
        "--max-clicks",
        "2",
        "--output",
        str(out),
        "--quiet",
    ]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert len(data["samples"]) == 1 and data["samples"][0]["name"] == "106024.jpg"


def test_ctrl_c_keeps_the_objects_done_as_a_max_samples_result(
    grabcut_root: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    """SIGINT during evaluate: the current object finishes, the JSON holds the objects done."""
    import os
    import signal

    from napari_fbrs.evaluation.baseline import RandomWalkerPredictor

    base = ["evaluate", "--method", "random-walker", "--dataset", "grabcut"]
    base += ["--root", str(grabcut_root), "--max-clicks", "3", "--quiet"]
    reference = tmp_path / "first.json"
    assert main([*base, "--max-samples", "1", "--output", str(reference)]) == 0

    real_predict = RandomWalkerPredictor.predict

    def predict_then_interrupt(self, clicks):
        if len(clicks) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl+C during the first object
        return real_predict(self, clicks)

    monkeypatch.setattr(RandomWalkerPredictor, "predict", predict_then_interrupt)
    stopped = tmp_path / "stopped.json"
    capsys.readouterr()
    assert main([*base, "--output", str(stopped)]) == 130  # stopped early, as shells report
    err = capsys.readouterr().err
    assert "stopping after this object" in err and "--max-samples 1" in err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    got, want = json.loads(stopped.read_text()), json.loads(reference.read_text())
    assert got["settings"]["max_samples"] == 1 and "interrupted" in got["provenance"]
    assert got["samples"][0]["name"] == want["samples"][0]["name"] == "img0.png"
    assert got["samples"][0]["ious"] == want["samples"][0]["ious"]
    assert got["summary"]["noc"] == want["summary"]["noc"]


def _grabcut_with_images(root: Path, count: int) -> Path:
    (root / "data_GT").mkdir(parents=True)
    (root / "boundary_GT").mkdir()
    for index in range(count):
        image = np.full((24, 32, 3), 30, np.uint8)
        image[6:18, 8 + index : 20 + index] = 220
        mask = np.zeros((24, 32), np.uint8)
        mask[6:18, 8 + index : 20 + index] = 255
        Image.fromarray(image).save(root / "data_GT" / f"img{index}.png")
        Image.fromarray(mask).save(root / "boundary_GT" / f"img{index}.bmp")
    return root


def test_every_takes_objects_0_n_2n_and_records_the_stride(tmp_path: Path, capsys) -> None:
    root = _grabcut_with_images(tmp_path / "gc", 7)
    out = tmp_path / "every.json"
    base = ["evaluate", "--method", "random-walker", "--dataset", "grabcut", "--root", str(root)]
    argv = [*base, "--max-clicks", "1", "--quiet", "--every", "3", "--output", str(out)]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert [s["name"] for s in data["samples"]] == ["img0.png", "img3.png", "img6.png"]
    assert data["provenance"]["every"] == 3
    assert main([*argv, "--max-samples", "2"]) == 0
    assert [s["name"] for s in json.loads(out.read_text())["samples"]] == ["img0.png", "img3.png"]
    assert main([*base, "--every", "0"]) == 2
    assert "--every" in capsys.readouterr().err


def test_every_nth_view_indexes_its_own_objects() -> None:
    from napari_fbrs.evaluation.subset import EveryNth

    class Numbers:
        name = "numbers"

        def __len__(self) -> int:
            return 10

        def __getitem__(self, index: int) -> int:
            return index * 10

        def files(self) -> list[Path]:
            return []

        def validate(self, max_samples: int | None = None) -> int:
            return 10

    view = EveryNth(Numbers(), 4)
    assert len(view) == 3 and [view[i] for i in range(3)] == [0, 40, 80]
    with pytest.raises(IndexError):
        view[3]
    assert len(EveryNth(Numbers(), 1)) == 10 and len(EveryNth(Numbers(), 10)) == 1
    with pytest.raises(ValueError, match="every"):
        EveryNth(Numbers(), 0)
