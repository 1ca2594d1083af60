"""The command line, driven in-process through ``main([...])``."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from napari_fbrs.cli import main, predictor_config_from_args
from napari_fbrs.inference.engine.clicks import Click
from napari_fbrs.inference.engine.config import (
    BRSMode,
    LBFGSConfig,
    ZoomInConfig,
    demo_preset,
    eval_preset,
)
from napari_fbrs.inference.engine.predictor import Predictor
from napari_fbrs.model.checkpoint import sha256_of
from napari_fbrs.model.registry import build_model
from napari_fbrs.model.weights import BASE_URL_ENV, CACHE_ENV

from .conftest import require_shared
from .model.test_weights import serve

HEIGHT, WIDTH = 48, 64
FAST = ["--preset", "eval", "--no-zoom-in", "--mode", "NoBRS"]
REF_CLICKS = "255,240,+;236,327,-;248,252,+;227,332,-;246,255,+"


@pytest.fixture(autouse=True)
def _one_thread_and_own_cache(tmp_path, monkeypatch):
    """Keep the shared CPUs free and never touch the user's cache or the internet."""
    torch.set_num_threads(1)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(BASE_URL_ENV, "http://127.0.0.1:9")  # nothing listens on port 9


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 60, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    image[12:32, 20:50] += 150
    return image


@pytest.fixture(scope="module")
def png(tmp_path_factory, rgb) -> Path:
    path = tmp_path_factory.mktemp("img") / "blob.png"
    Image.fromarray(rgb).save(path)
    return path


def run(capsys, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def expect_bad_input(capsys, argv: Sequence[object], *fragments: str) -> None:
    """Exit 2, one clear message on stderr that contains every fragment, no traceback."""
    code, _, err = run(capsys, *argv)
    assert code == 2, err
    assert "Traceback" not in err
    assert "error:" in err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"


# -- parser ------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [[], ["info"], ["models"], ["download"], ["predict"]])
def test_help_everywhere(capsys, command):
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0
    assert out.startswith(f"usage: napari-fbrs{' ' + command[0] if command else ''}")


def test_a_command_is_required(capsys):
    code, _, err = run(capsys)
    assert code == 2
    assert "COMMAND" in err


def test_module_entry_point_runs_without_importing_torch():
    code = (
        "import sys; from napari_fbrs.cli import main; rc = main(['models']); "
        "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "hrnet32_ocr128_lvis" in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "napari_fbrs.cli", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "predict" in result.stdout


def _args(**kw) -> argparse.Namespace:
    return argparse.Namespace(**kw)


def test_config_defaults_are_the_demo_preset_in_f_brs_b():
    assert predictor_config_from_args(_args()) == demo_preset(BRSMode.fBRS_B)
    assert predictor_config_from_args(_args(preset="eval", mode="NoBRS")) == eval_preset("NoBRS")
    davis = predictor_config_from_args(_args(preset="eval"), dataset="davis")
    assert davis.zoom_in is not None and davis.zoom_in.target_size == 600


def test_each_option_overrides_one_field():
    base = eval_preset("f-BRS-C")
    args = _args(
        preset="eval", mode="f-BRS-C", zoom_in=None, zoom_in_target=300, zoom_in_skip_clicks=2,
        zoom_in_expand=1.8, max_size=640, net_clicks=3, lbfgs_max_iters=7, min_iou_diff=0.2,
        prob_thresh=0.7,
    )  # fmt: skip
    config = predictor_config_from_args(args)
    assert config.zoom_in == ZoomInConfig(target_size=300, skip_clicks=2, expansion_ratio=1.8)
    assert (config.max_size, config.net_clicks_limit, config.prob_thresh) == (640, 3, 0.7)
    assert config.lbfgs == LBFGSConfig(maxfun=7)
    assert config.lbfgs.effective_maxiter == 14
    assert config.brs.min_iou_diff == 0.2
    assert config.brs.reg_weight == base.brs.reg_weight
    assert (config.mode, config.with_flip) == (BRSMode.fBRS_C, base.with_flip)


def test_zero_means_no_limit_and_zoom_can_be_switched_off():
    config = predictor_config_from_args(_args(max_size=0, net_clicks=0, zoom_in=False))
    assert (config.max_size, config.net_clicks_limit, config.zoom_in) == (None, None, None)
    kept = predictor_config_from_args(_args(zoom_in=True))
    assert kept.zoom_in == demo_preset().zoom_in
    with pytest.raises(ValueError, match="contradict --no-zoom-in"):
        predictor_config_from_args(_args(zoom_in=False, zoom_in_target=300))


# -- info --------------------------------------------------------------------------------------
def test_info_on_our_checkpoint(capsys, tiny_checkpoint, tiny_model):
    code, out, _ = run(capsys, "info", tiny_checkpoint)
    assert code == 0
    fields = dict(line.split(":", 1) for line in out.splitlines())
    fields = {k: v.strip() for k, v in fields.items()}
    assert fields["architecture"].startswith("hrnet18s_ocr64 ")
    assert fields["parameters"] == f"{sum(p.numel() for p in tiny_model.parameters()):,}"
    assert fields["stored dtype"] == "float32"
    assert fields["layout"] == "napari-fbrs checkpoint"
    assert fields["sha256"] == sha256_of(tiny_checkpoint)
    assert fields["meta.note"] == '"random weights"'


@pytest.mark.reference
@pytest.mark.parametrize("arch", ["hrnet18_ocr64", "resnet34_dh128"])
def test_info_on_reference_fp16_checkpoints(capsys, arch):
    path = require_shared("reference", "checkpoints", f"{arch}_random_fp16.pth")
    expected = json.loads(require_shared("reference", "checkpoints.json").read_text())[arch]
    code, out, _ = run(capsys, "info", path)
    assert code == 0
    fields = {k: v.strip() for k, v in (line.split(":", 1) for line in out.splitlines())}
    assert fields["architecture"].split()[0] == arch
    assert fields["parameters"] == f"{sum(p.numel() for p in build_model(arch).parameters()):,}"
    assert fields["stored dtype"] == "float16"
    assert fields["layout"] == "official bare state_dict"
    assert fields["sha256"] == expected["sha256"]


def test_info_bad_inputs(capsys, tmp_path):
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"\x00not a checkpoint" * 50)
    expect_bad_input(capsys, ["info", corrupt], str(corrupt), "not a readable")
    foreign = tmp_path / "foreign.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, foreign)
    expect_bad_input(capsys, ["info", foreign], str(foreign), "match none")
    missing = tmp_path / "missing.pth"
    expect_bad_input(capsys, ["info", missing], "missing.pth", "hrnet18_ocr64_sbd")
    expect_bad_input(
        capsys, ["info", "hrnet18_ocr64_sbd"], "not downloaded yet", "download hrnet18_ocr64_sbd"
    )


# -- models and download -----------------------------------------------------------------------
def test_models_lists_the_table_and_the_cached_files(capsys, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "hrnet18_ocr64_sbd.pth").write_bytes(b"placed by hand")
    code, out, _ = run(capsys, "models")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == "name architecture trained on size licence cached".split()
    rows = {line.split()[0]: line.split() for line in lines[1:9]}
    assert len(rows) == 8
    from napari_fbrs.model.weights import BUILTIN

    assert lines[1].split()[:2] == ["default", BUILTIN.arch]  # built in, listed first
    assert lines[1].split()[-1].endswith(".pth")
    assert rows["hrnet18_ocr64_sbd"] == [
        "hrnet18_ocr64_sbd", "hrnet18_ocr64", "SBD", "39", "MB", "MPL-2.0",
        str(cache / "hrnet18_ocr64_sbd.pth"),
    ]  # fmt: skip
    assert rows["hrnet32_ocr128_lvis"][2:] == ["LVIS", "119", "MB", "MPL-2.0", "-"]
    assert f"cache folder: {cache}" in out


def test_download_offline_exits_2(capsys, tmp_path):
    expect_bad_input(
        capsys, ["download", "resnet34_dh128_sbd"], "could not download resnet34_dh128_sbd from "
        "http://127.0.0.1:9/resnet34_dh128_sbd.pth", "check your connection",
    )  # fmt: skip
    assert not (tmp_path / "cache" / "resnet34_dh128_sbd.pth").exists()
    expect_bad_input(capsys, ["download", "resnet18"], "unknown weights name 'resnet18'")


def test_download_then_predict_by_name(capsys, tmp_path, monkeypatch, png):
    served = tmp_path / "served"
    served.mkdir()
    torch.manual_seed(0)
    torch.save(build_model("hrnet18_ocr64").state_dict(), served / "hrnet18_ocr64_sbd.pth")
    with serve(served) as url:
        monkeypatch.setenv(BASE_URL_ENV, url)
        code, out, _ = run(capsys, "download", "hrnet18_ocr64_sbd")
    assert code == 0
    path = tmp_path / "cache" / "hrnet18_ocr64_sbd.pth"
    assert f"saved {path}" in out
    assert f"sha256 {sha256_of(path)}" in out
    code, out, _ = run(capsys, "download", "hrnet18_ocr64_sbd")  # the server is gone now
    assert (code, out) == (0, f"hrnet18_ocr64_sbd is already cached: {path}\n")
    mask = tmp_path / "mask.png"
    code, out, err = run(
        capsys, "predict", "--checkpoint", "hrnet18_ocr64_sbd", "--image", png,
        "--clicks", "20,30,+", "--output", mask, *FAST,
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("hrnet18_ocr64 on cpu, NoBRS, preset eval")
    assert np.asarray(Image.open(mask)).shape == (HEIGHT, WIDTH)


# -- predict -----------------------------------------------------------------------------------
def test_predict_nobrs_writes_mask_and_probs(
    capsys, tmp_path, tiny_checkpoint, tiny_model, png, rgb
):
    mask_path, probs_path = tmp_path / "mask.tif", tmp_path / "probs.npz"
    code, out, err = run(
        capsys, "predict", "--checkpoint", tiny_checkpoint, "--image", png,
        "--clicks", "20,30,+;5,5,-;25,40,+", "--output", mask_path, "--save-probs", probs_path,
        "--device", "cpu", *FAST,
    )  # fmt: skip
    assert code == 0, err
    with np.load(probs_path) as data:
        probs, clicks = data["probs"], data["clicks"]
    assert probs.dtype == np.float32 and probs.shape == (3, HEIGHT, WIDTH)
    np.testing.assert_array_equal(clicks, [[20, 30, 1], [5, 5, 0], [25, 40, 1]])
    assert not np.array_equal(probs[0], probs[2])

    # the same computation, done by hand, gives the same maps
    predictor = Predictor(tiny_model, eval_preset("NoBRS").with_changes(zoom_in=None))
    predictor.set_image(rgb)
    by_hand = [Click(20, 30, True), Click(5, 5, False), Click(25, 40, True)]
    for k in range(3):
        np.testing.assert_allclose(probs[k], predictor.predict(by_hand[: k + 1]), atol=1e-6)

    mask = tifffile.imread(mask_path)
    assert mask.dtype == np.uint8 and mask.shape == (HEIGHT, WIDTH)
    np.testing.assert_array_equal(mask, (probs[-1] > 0.49).astype(np.uint8))
    assert "3/3" in err  # the progress bar
    table = [line.split() for line in out.splitlines()[2:5]]
    assert [" ".join(row[:4]) for row in table] == ["1 20 30 +", "2 5 5 -", "3 25 40 +"]
    assert all(row[5] == "0" for row in table)
    assert f"wrote {mask_path} ({HEIGHT} x {WIDTH}, {int(mask.sum())} object pixels)" in out

    # NoBRS maps do not depend on the threshold, so a threshold inside their (narrow, random
    # weights) range checks that the mask is cut at --prob-thresh
    thresh = float(np.median(probs[-1]))
    png_mask = tmp_path / "mask.png"
    code, _, err = run(
        capsys, "predict", "--checkpoint", tiny_checkpoint, "--image", png,
        "--clicks", "20,30,+;5,5,-;25,40,+", "--output", png_mask, *FAST,
        "--prob-thresh", repr(thresh),
    )  # fmt: skip
    assert code == 0, err
    cut = np.asarray(Image.open(png_mask))
    np.testing.assert_array_equal(cut, (probs[-1] > thresh).astype(np.uint8))
    assert 0 < cut.sum() < cut.size


def test_predict_f_brs_b_two_clicks_from_a_file(capsys, tmp_path, tiny_checkpoint, png):
    clicks = tmp_path / "clicks.json"
    clicks.write_text(json.dumps([[20, 30, True], [5, 5, False]]))
    probs_path, mask_path = tmp_path / "p.npz", tmp_path / "m.png"
    code, out, err = run(
        capsys, "predict", "--checkpoint", tiny_checkpoint, "--image", png, "--clicks-file",
        clicks, "--mode", "f-BRS-B", "--preset", "eval", "--no-zoom-in", "--lbfgs-max-iters",
        "5", "--save-probs", probs_path, "--output", mask_path, "--prob-thresh", "0.3",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("hrnet18s_ocr64 on cpu, f-BRS-B, preset eval")
    evals = [int(line.split()[5]) for line in out.splitlines()[2:4]]
    assert evals[0] == 0 and 1 <= evals[1] <= 5
    with np.load(probs_path) as data:
        probs = data["probs"]
    assert probs.shape == (2, HEIGHT, WIDTH) and probs.dtype == np.float32
    assert not np.array_equal(probs[0], probs[1])
    mask = np.asarray(Image.open(mask_path))
    np.testing.assert_array_equal(mask, (probs[1] > 0.3).astype(np.uint8))


def test_predict_bad_inputs_exit_2(capsys, tmp_path, tiny_checkpoint, png):
    out = tmp_path / "mask.png"
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"this is not a png at all")
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"PK\x03\x04 truncated")
    foreign = tmp_path / "foreign.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, foreign)
    bad_json, not_list = tmp_path / "bad.json", tmp_path / "dict.json"
    bad_json.write_text("[[1, 2, true],")
    not_list.write_text('{"clicks": []}')
    ckpt, ok = tiny_checkpoint, ["--clicks", "20,30,+", "--output", out]

    def clicks(*option: object) -> list[object]:
        return [*option, "--output", out]

    cases = [
        # checkpoint, image, further arguments, what the message must say
        (ckpt, tmp_path / "nope.png", ok, ["nope.png", "no such image file"]),
        (ckpt, garbage, ok, ["garbage.png", "cannot read"]),
        (corrupt, png, ok, ["corrupt.pth", "not a readable PyTorch checkpoint"]),
        (foreign, png, ok, ["foreign.pth", "match none of the f-BRS architectures"]),
        ("resnet18_imagenet", png, ok, ["'resnet18_imagenet'", "hrnet18_ocr64_sbd"]),
        (ckpt, png, clicks("--clicks", "20,30"), ["must be ROW,COL,+"]),
        (ckpt, png, clicks("--clicks", "a,b,+"), ["ROW and COL must be numbers"]),
        (ckpt, png, clicks("--clicks", "1,2,?"), ["the sign must be"]),
        (ckpt, png, clicks("--clicks-file", bad_json), ["bad.json", "not valid JSON"]),
        (ckpt, png, clicks("--clicks-file", not_list), ["dict.json", "JSON list"]),
        (ckpt, png, clicks("--clicks-file", tmp_path / "none.json"), ["cannot read the clicks"]),
        (ckpt, png, clicks("--clicks", "20,30,+;48,10,-"), ["click 2 at (48, 10) lies outside"]),
        (ckpt, png, ["--clicks", "1,1,+", "--output", tmp_path / "m.jpg"], ["suffix '.jpg'"]),
        (ckpt, png, ["--clicks", "1,1,+", "--save-probs", tmp_path / "p.npy"], ["suffix '.npy'"]),
        (ckpt, png, ["--clicks", "1,1,+", "--output", tmp_path / "no" / "m.png"], ["not exist"]),
        (ckpt, png, ["--clicks", "1,1,+"], ["nothing to write", "--output and/or --save-probs"]),
        (ckpt, png, [*ok, "--zoom-in-target", "300"], ["contradict --no-zoom-in"]),
        (ckpt, png, [*ok, "--device", "tpu"], ["unknown device 'tpu'"]),
    ]
    if not torch.cuda.is_available():
        cases.append((ckpt, png, [*ok, "--device", "cuda"], ["'cuda' is not available"]))
    for checkpoint, image, extra, fragments in cases:
        argv = ["predict", "--checkpoint", checkpoint, "--image", image, *extra, *FAST]
        expect_bad_input(capsys, argv, *fragments)
    # nothing was written, not even a temporary file
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["garbage.png", "corrupt.pth", "foreign.pth", "bad.json", "dict.json"]
    )


@pytest.mark.parametrize(
    "option",
    [
        ["--mode", "f-BRS-D"],
        ["--preset", "fast"],
        ["--max-size", "-1"],
        ["--prob-thresh", "0"],
        ["--prob-thresh", "nan"],
        ["--lbfgs-max-iters", "0"],
        ["--zoom-in-expand", "0.5"],
        ["--net-clicks", "two"],
    ],
)
def test_predict_rejects_bad_option_values(capsys, tmp_path, png, option):
    code, _, err = run(
        capsys, "predict", "--checkpoint", "x.pth", "--image", png, "--clicks", "1,1,+",
        "--output", tmp_path / "m.png", *option,
    )  # fmt: skip
    assert code == 2 and "Traceback" not in err
    assert f"argument {option[0]}" in err


def test_mode_names_are_case_insensitive(capsys, tmp_path, tiny_checkpoint, png):
    code, out, err = run(
        capsys, "predict", "--checkpoint", tiny_checkpoint, "--image", png, "--clicks",
        "20,30,+", "--save-probs", tmp_path / "p.npz", "--preset", "eval", "--no-zoom-in",
        "--mode", "nobrs",
    )  # fmt: skip
    assert code == 0, err
    assert ", NoBRS, preset eval" in out


# -- parity with the original implementation ---------------------------------------------------
@pytest.mark.reference
@pytest.mark.slow
def test_predict_reproduces_the_reference_nobrs_run(capsys, tmp_path):
    ref = require_shared("reference")
    probs_path = tmp_path / "probs.npz"
    torch.set_num_threads(2)
    code, out, err = run(
        capsys, "predict", "--checkpoint", ref / "checkpoints" / "hrnet18_ocr64_random_fp16.pth",
        "--image", ref / "sheep.jpg", "--preset", "eval", "--max-size", "400",
        "--zoom-in-target", "400", "--mode", "NoBRS", "--clicks", REF_CLICKS,
        "--save-probs", probs_path, "--device", "cpu",
    )  # fmt: skip
    assert code == 0, err
    with np.load(probs_path) as data:
        probs = data["probs"]
    with np.load(ref / "hrnet18_ocr64__NoBRS.npz") as data:
        expected, clicks = data["probs"].astype(np.float32), data["clicks"]
    assert ";".join(f"{r},{c},{'+' if p else '-'}" for r, c, p in clicks) == REF_CLICKS
    assert probs.shape == expected.shape == (5, 600, 450)
    for k in range(5):
        assert np.abs(probs[k] - expected[k]).max() <= 2e-3, f"click {k}"


def test_view_without_a_qt_binding_is_one_line_with_the_install_command(
    capsys, monkeypatch
) -> None:
    """`pip install napari-fbrs` brings no Qt binding: `view` says what to install (exit 2)."""
    import importlib.util

    real = importlib.util.find_spec

    def no_qt(name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        return None if name in ("PyQt6", "PySide6", "PyQt5", "PySide2") else real(name)

    monkeypatch.setattr(importlib.util, "find_spec", no_qt)
    code = main(["view", "--sample", "nuclei"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "pip install 'napari-fbrs[all]'" in err


def test_view_without_a_display_says_so_instead_of_aborting(capsys, monkeypatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    code = main(["view", "--sample", "nuclei"])
    err = capsys.readouterr().err
    assert code == 2 and "no display" in err and "xvfb-run" in err
