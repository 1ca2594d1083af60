"""The built-in default model: shipped, checked, used when no checkpoint is named."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_fbrs.cli import main
from napari_fbrs.io.samples import SAMPLES, load_sample
from napari_fbrs.model import default_model
from napari_fbrs.model.checkpoint import load_checkpoint, sha256_of
from napari_fbrs.model.weights import WeightsError, resolve_checkpoint

REPO = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def test_the_shipped_file_is_small_half_precision_and_matches_its_recorded_sha256() -> None:
    path = default_model.default_checkpoint_path()
    assert path.stat().st_size <= 20 * MIB
    assert sha256_of(path) == default_model.DEFAULT_MODEL.sha256
    payload = torch.load(path, map_location="cpu", weights_only=True)
    floats = [v for v in payload["state_dict"].values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)
    assert "training_state" not in payload  # inference-only export
    loaded = load_checkpoint(path)
    assert loaded.arch == default_model.DEFAULT_MODEL.arch
    assert not any(p.requires_grad for p in loaded.model.parameters())


def test_the_model_card_names_the_shipped_file_and_its_checksum() -> None:
    card = (REPO / "docs" / "model_card.md").read_text(encoding="utf-8")
    assert default_model.DEFAULT_MODEL.sha256 in card
    assert "training/default_model.toml" in card
    for command in re.findall(r"^napari-fbrs evaluate .*$", card, flags=re.MULTILINE):
        assert "--output" in command  # every number in the card comes from a saved run


@pytest.mark.parametrize("name", ["default", "builtin", "DEFAULT"])
def test_the_name_default_resolves_to_the_shipped_file(name: str) -> None:
    assert resolve_checkpoint(name) == default_model.default_checkpoint_path()


def test_a_damaged_installation_is_a_clear_error(tmp_path, monkeypatch) -> None:
    copy = tmp_path / default_model.DEFAULT_MODEL.filename
    shutil.copyfile(default_model.default_checkpoint_path(), copy)
    with copy.open("r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00\x01\x02\x03")
    from napari_fbrs.model import weights

    monkeypatch.setattr(weights, "packaged_path", lambda info: copy)
    with pytest.raises(WeightsError, match="damaged"):
        default_model.default_checkpoint_path()
    copy.unlink()
    with pytest.raises(WeightsError, match="missing"):
        default_model.default_checkpoint_path()


def test_predict_without_checkpoint_uses_the_builtin_model_on_a_sample(tmp_path, capsys) -> None:
    output = tmp_path / "mask.png"
    code = main(
        ["predict", "--sample", "nuclei", "--clicks", "203,45,+", "--output", str(output)]
        + ["--mode", "NoBRS"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert default_model.DEFAULT_MODEL.filename in out
    match = re.search(r"mask: (\d+) object pixels", out)
    assert match is not None and output.is_file()
    from PIL import Image

    written = np.asarray(Image.open(output))
    assert written.shape == (256, 256)
    assert int(written.astype(bool).sum()) == int(match.group(1))


def test_evaluate_without_checkpoint_uses_the_builtin_model(tmp_path, capsys) -> None:
    from napari_fbrs.training.finetune import LabelledImage, write_finetune_folder

    rows, cols = np.indices((64, 64))
    labels = ((rows - 30) ** 2 + (cols - 30) ** 2 < 100).astype(np.int32)
    image = np.repeat((40 + 180 * labels).astype(np.uint8)[..., None], 3, axis=2)
    write_finetune_folder(
        [LabelledImage("a", image, labels), LabelledImage("b", image, labels)], tmp_path
    )
    code = main(
        ["evaluate", "--dataset", "folder", "--root", str(tmp_path / "val"), "--mode", "NoBRS"]
        + ["--max-clicks", "3", "--quiet"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"{default_model.DEFAULT_MODEL.arch} NoBRS" in out


def test_samples_are_the_names_the_cli_offers() -> None:
    from napari_fbrs.cli.predict import SAMPLE_NAMES

    assert tuple(sorted(SAMPLES)) == SAMPLE_NAMES
    assert load_sample("nuclei").dtype == np.uint16
    with pytest.raises(ValueError, match="unknown sample"):
        load_sample("moon")


def test_info_and_models_show_the_builtin_model(capsys) -> None:
    assert main(["info", "default"]) == 0
    out = capsys.readouterr().out
    assert default_model.DEFAULT_MODEL.sha256 in out and "float16" in out
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    arch = default_model.DEFAULT_MODEL.arch
    assert re.search(rf"^default\s+{arch}", out, flags=re.MULTILINE)


def test_export_writes_a_slim_half_copy_and_replaces_an_existing_one(
    tmp_path, tiny_checkpoint, capsys
) -> None:
    output = tmp_path / "slim.pth"
    assert main(["export", str(tiny_checkpoint), str(output)]) == 0
    assert sha256_of(output) in capsys.readouterr().out
    loaded = load_checkpoint(output)
    assert loaded.source_dtype == "float16"
    original = load_checkpoint(tiny_checkpoint)
    for (name, a), b in zip(
        original.model.state_dict().items(), loaded.model.state_dict().values(), strict=True
    ):
        if a.is_floating_point():
            torch.testing.assert_close(b, a.half().float(), msg=name)
    # the one overwrite rule (README, Command line): outputs are replaced, inputs never
    output.write_bytes(b"an older export")
    assert main(["export", str(tiny_checkpoint), str(output)]) == 0
    assert load_checkpoint(output).source_dtype == "float16"
    assert main(["export", str(output), str(output)]) == 2
    assert "that is the checkpoint being exported" in capsys.readouterr().err
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    assert main(["export", str(bad), str(tmp_path / "x.pth")]) == 2
    assert not (tmp_path / "x.pth").exists()


def _one_click_ious() -> list[float]:
    """IoU of each nucleus of the `nuclei` sample with the mask of one click at its centre
    (its innermost pixel), the widget's default settings (demo preset, f-BRS-B)."""
    import torch
    from scipy import ndimage

    from napari_fbrs.inference.engine.clicks import Click
    from napari_fbrs.inference.engine.config import UserSettings, predictor_config
    from napari_fbrs.inference.engine.predictor import Predictor
    from napari_fbrs.io.images import to_model_rgb
    from napari_fbrs.io.samples import synthetic_nuclei_with_labels
    from napari_fbrs.model.checkpoint import load_checkpoint

    torch.set_num_threads(1)
    image, labels = synthetic_nuclei_with_labels((256, 256), count=18, seed=1)
    model = load_checkpoint(default_model.default_checkpoint_path()).model
    config = predictor_config(UserSettings())
    ious = []
    for k in np.unique(labels)[1:]:
        nucleus = labels == k
        depth = ndimage.distance_transform_edt(nucleus)
        row, col = np.unravel_index(int(np.argmax(depth)), depth.shape)
        predictor = Predictor(model, config)
        predictor.set_image(to_model_rgb(image))
        mask = predictor.predict([Click(int(row), int(col), True)]) > config.prob_thresh
        ious.append(float((mask & nucleus).sum() / (mask | nucleus).sum()))
    return ious


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="measured with the shipped release (docs/model_card.md): 17 nuclei, mean IoU "
    "and the number at IoU >= 0.8 are in the card; the target is all 17",
)
def test_every_sample_nucleus_reaches_iou_08_with_one_click_at_its_centre() -> None:
    ious = _one_click_ious()
    assert len(ious) == 17
    assert min(ious) >= 0.8, [round(v, 2) for v in ious]
