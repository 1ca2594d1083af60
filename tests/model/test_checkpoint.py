"""Checkpoint reading: official layouts, our own format, and every way a file can be bad."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest
import torch
import torch.serialization as serialization

from napari_fbrs.model.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
    sha256_of,
)
from napari_fbrs.model.registry import build_model


@pytest.fixture(scope="module")
def small_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(3)
    return build_model("hrnet18s_ocr64").state_dict()


def _assert_same_weights(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    loaded = model.state_dict()
    for key, value in state.items():
        assert torch.equal(loaded[key], value.to(loaded[key].dtype)), key


def test_bare_state_dict_zip_container(tmp_path: Path, small_state) -> None:
    path = tmp_path / "bare.pth"
    torch.save(small_state, path)
    loaded = load_checkpoint(path)
    assert loaded.arch == "hrnet18s_ocr64"
    assert loaded.official_layout
    assert loaded.source_dtype == "float32"
    assert not any(p.requires_grad for p in loaded.model.parameters())
    assert not loaded.model.training
    _assert_same_weights(loaded.model, small_state)


def test_legacy_container_and_float16_values(tmp_path: Path, small_state) -> None:
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in small_state.items()}
    path = tmp_path / "legacy_fp16.pth"
    torch.save(half, path, _use_new_zipfile_serialization=False)
    assert not zipfile.is_zipfile(path)
    loaded = load_checkpoint(path)
    assert loaded.source_dtype == "float16"
    assert next(loaded.model.parameters()).dtype == torch.float32
    _assert_same_weights(loaded.model, half)


def test_resnet_file_without_batch_counters_loads(tmp_path: Path) -> None:
    torch.manual_seed(4)
    state = {
        k: v
        for k, v in build_model("resnet34_dh128").state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    path = tmp_path / "r34.pth"
    torch.save(state, path)
    assert load_checkpoint(path).arch == "resnet34_dh128"


def test_tensors_saved_on_cuda_are_mapped_to_cpu(tmp_path: Path, small_state) -> None:
    def tag_as_cuda(obj):  # noqa: ANN001, ANN202 - torch serialization hook signature
        if getattr(obj, "device", None) is not None and obj.device.type == "cpu":
            return "cuda:0"
        return None

    serialization.register_package(0, tag_as_cuda, lambda obj, location: None)
    try:
        path = tmp_path / "cuda.pth"
        torch.save(small_state, path)
    finally:
        serialization._package_registry[:] = [
            entry for entry in serialization._package_registry if entry[1] is not tag_as_cuda
        ]
    assert b"cuda:0" in zipfile.ZipFile(path).read("cuda/data.pkl")
    assert load_checkpoint(path).arch == "hrnet18s_ocr64"


@pytest.mark.reference
@pytest.mark.parametrize("arch", ["hrnet18_ocr64", "resnet34_dh128"])
def test_reference_checkpoints_load_unmodified(arch: str, reference_dir) -> None:
    path = reference_dir / "checkpoints" / f"{arch}_random_fp16.pth"
    loaded = load_checkpoint(path)
    assert loaded.arch == arch
    assert loaded.source_dtype == "float16"


def test_own_format_round_trip(tmp_path: Path, tiny_model) -> None:
    path = save_checkpoint(
        tmp_path / "sub" / "mine.pth", tiny_model, "hrnet18s_ocr64", meta={"epoch": 3, "note": "x"}
    )
    arch, _, meta, official = read_checkpoint(path)
    assert (arch, meta, official) == ("hrnet18s_ocr64", {"epoch": 3, "note": "x"}, False)
    loaded = load_checkpoint(path)
    assert loaded.meta["epoch"] == 3
    _assert_same_weights(loaded.model, tiny_model.state_dict())
    assert [p.name for p in path.parent.iterdir()] == ["mine.pth"]  # no temp file left


def test_the_same_weights_exported_twice_give_the_same_bytes(tmp_path: Path, tiny_model) -> None:
    """The model card names its models by sha256: an export must not depend on the random
    name of the temporary file it is written through, nor on its own file name."""
    from napari_fbrs.model.checkpoint import export_checkpoint

    source = save_checkpoint(tmp_path / "last.pth", tiny_model, "hrnet18s_ocr64")
    first = export_checkpoint(source, tmp_path / "a.pth", meta={"builtin": "default"})
    second = export_checkpoint(source, tmp_path / "other_name.pth", meta={"builtin": "default"})
    assert sha256_of(first) == sha256_of(second)
    with zipfile.ZipFile(first) as archive:
        assert {name.split("/")[0] for name in archive.namelist()} == {"archive"}


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "nothing.pth")


def test_truncated_file_names_the_file(tmp_path: Path, small_state) -> None:
    good = tmp_path / "good.pth"
    torch.save(small_state, good)
    bad = tmp_path / "truncated.pth"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.pth: not a readable PyTorch checkpoint"):
        load_checkpoint(bad)


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.pth"
    path.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(CheckpointError, match="noise.pth"):
        load_checkpoint(path)


class _Payload:
    """Unpickling this would create a file; weights_only loading must refuse it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (self.marker,))


def test_pickle_with_code_is_refused_and_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(1), "payload": _Payload(marker)}, path)
    with pytest.raises(CheckpointError, match="refused for safety"):
        load_checkpoint(path)
    assert not marker.exists()


def test_plain_pickle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="plain.pkl"):
        load_checkpoint(path)


def test_non_tensor_entries(tmp_path: Path) -> None:
    path = tmp_path / "mixed.pth"
    torch.save({"rgb_conv.0.weight": torch.zeros(8, 5, 1, 1), "epoch": 4}, path)
    with pytest.raises(CheckpointError, match="not tensors"):
        load_checkpoint(path)


def test_foreign_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "resnet_classifier.pth"
    torch.save({"fc.weight": torch.zeros(10, 4), "fc.bias": torch.zeros(10)}, path)
    with pytest.raises(CheckpointError, match="resnet_classifier.pth: the weights match none"):
        load_checkpoint(path)


def test_our_format_with_mismatching_weights(tmp_path: Path, small_state) -> None:
    path = tmp_path / "lying.pth"
    torch.save({"arch": "resnet34_dh128", "state_dict": small_state, "meta": {}}, path)
    with pytest.raises(CheckpointError, match="do not fit resnet34_dh128"):
        load_checkpoint(path)


def test_our_format_with_unknown_arch(tmp_path: Path, small_state) -> None:
    path = tmp_path / "unknown.pth"
    torch.save({"arch": "vit_huge", "state_dict": small_state, "meta": {}}, path)
    with pytest.raises(CheckpointError, match="unknown architecture 'vit_huge'"):
        load_checkpoint(path)


def test_nan_weights_are_rejected(tmp_path: Path, small_state) -> None:
    state = dict(small_state)
    state["feature_extractor.cls_head.bias"] = torch.tensor([float("nan")])
    path = tmp_path / "nan.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="NaN"):
        load_checkpoint(path)


def test_sha256_of(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    assert sha256_of(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
