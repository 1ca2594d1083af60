"""``predict --local-window`` on a large image and ``predict --propagate`` on a stack."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_fbrs.cli import main
from napari_fbrs.synthetic import synthetic_nuclei_stack

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def big_image(tmp_path):  # noqa: ANN201
    image = np.random.default_rng(0).integers(0, 60, (1200, 1000, 3), dtype=np.uint8)
    image[500:540, 600:640] = 220
    path = tmp_path / "big.png"
    from PIL import Image

    Image.fromarray(image).save(path)
    return path


def test_local_window_runs_the_click_on_a_window_at_full_resolution(
    tmp_path, big_image, tiny_checkpoint, capsys
) -> None:
    base = ["predict", "--checkpoint", str(tiny_checkpoint), "--image", str(big_image)]
    base += ["--clicks", "520,620,+", "--mode", "NoBRS"]
    assert main([*base, "--local-window", "256", "--output", str(tmp_path / "w.png")]) == 0
    out = capsys.readouterr().out
    window = next(line for line in out.splitlines() if line.startswith("local window:"))
    assert "at full resolution" in window
    rows = [int(v) for v in window.split("rows ")[1].split(",")[0].split("..")]
    assert rows[0] <= 520 <= rows[1]  # (how it grows: tests/inference/windows/test_local.py)
    assert main([*base, "--local-window", "0", "--output", str(tmp_path / "o.png")]) == 0
    assert "local window" not in capsys.readouterr().out  # off: the whole image, shrunk


def test_the_eval_preset_keeps_the_original_behaviour(
    tmp_path, big_image, tiny_checkpoint, capsys
) -> None:
    code = main(
        ["predict", "--checkpoint", str(tiny_checkpoint), "--image", str(big_image)]
        + ["--clicks", "520,620,+", "--mode", "NoBRS", "--preset", "eval"]
        + ["--output", str(tmp_path / "e.png")]
    )
    assert code == 0 and "local window" not in capsys.readouterr().out


@pytest.fixture
def stack_file(tmp_path):  # noqa: ANN201
    image, labels = synthetic_nuclei_stack((8, 96, 96), count=3, seed=2)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, image)
    z = int(np.argmax((labels == 1).sum(axis=(1, 2))))
    r, c = np.argwhere(labels[z] == 1).mean(axis=0).astype(int)
    return path, z, int(r), int(c)


def test_propagate_writes_one_3d_label_over_the_slices_it_reached(
    tmp_path, stack_file, tiny_checkpoint, capsys
) -> None:
    path, z, r, c = stack_file
    output = tmp_path / "labels.tif"
    code = main(
        ["predict", "--checkpoint", str(tiny_checkpoint), "--image", str(path)]
        + ["--clicks", f"{z},{r},{c},+", "--propagate", "--mode", "NoBRS"]
        + ["--propagate-max-slices", "2", "--output", str(output)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    volume = tifffile.imread(output)
    assert volume.shape == (8, 96, 96) and set(np.unique(volume)) <= {0, 1}
    reached = [line for line in out.splitlines() if line.startswith("propagated over slices")]
    assert reached and "towards +Z" in out and "towards -Z" in out
    lo, hi = (int(v) for v in reached[0].split("slices ")[1].split(" ")[0].split(".."))
    assert lo <= z <= hi and hi - lo <= 4  # at most 2 slices each way
    outside = [k for k in range(8) if not lo <= k <= hi]
    assert not volume[outside].any()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--clicks", "10,10,+", "--propagate"], "slice in every click"),
        (["--clicks", "99,10,10,+", "--propagate"], "has 8 slices"),
        (["--clicks", "1,10,10,+;2,5,5,-", "--propagate"], "one slice"),
    ],
)
def test_bad_stack_requests_are_one_line(
    tmp_path, stack_file, tiny_checkpoint, capsys, extra, message
) -> None:
    path = stack_file[0]
    code = main(
        ["predict", "--checkpoint", str(tiny_checkpoint), "--image", str(path)]
        + extra
        + ["--output", str(tmp_path / "x.tif")]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


def test_a_3d_label_cannot_go_to_png(tmp_path, stack_file, tiny_checkpoint, capsys) -> None:
    path, z, r, c = stack_file
    code = main(
        ["predict", "--checkpoint", str(tiny_checkpoint), "--image", str(path)]
        + ["--clicks", f"{z},{r},{c},+", "--propagate", "--output", str(tmp_path / "x.png")]
    )
    assert code == 2 and ".tif" in capsys.readouterr().err


def test_the_propagation_flags_reach_the_config() -> None:
    import argparse

    from napari_fbrs.cli.stack import add_stack_options, propagation_config
    from napari_fbrs.inference.stacks.propagation import PropagationConfig

    parser = argparse.ArgumentParser()
    add_stack_options(parser)
    assert propagation_config(parser.parse_args([])) == PropagationConfig()
    args = parser.parse_args(
        ["--propagate-min-contrast", "0.35", "--propagate-min-iou", "0.5"]
        + ["--propagate-min-area-ratio", "0.25"]
    )
    config = propagation_config(args)
    assert (config.min_contrast_ratio, config.min_iou, config.min_area_ratio) == (0.35, 0.5, 0.25)
    off = propagation_config(parser.parse_args(["--propagate-min-contrast", "0"]))
    assert off.min_contrast_ratio == 0.0
    with pytest.raises(SystemExit):
        parser.parse_args(["--propagate-min-contrast", "1.5"])
