"""Device selection: auto order, explicit choices and their errors."""

from __future__ import annotations

import pytest
import torch

from napari_fbrs.model import device as device_module
from napari_fbrs.model.device import available_devices, select_device


def _fake(monkeypatch, cuda: int, mps: bool) -> None:
    """Pretend this machine has ``cuda`` CUDA devices and (or not) Apple MPS."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
    monkeypatch.setattr(device_module, "_mps_available", lambda: mps)


def test_cpu_is_always_available():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device(" CPU ") == torch.device("cpu")
    assert available_devices()[-1] == "cpu"


def test_auto_on_this_machine_matches_torch():
    expected = "cuda" if torch.cuda.is_available() else None
    if expected is None:
        mps = getattr(torch.backends, "mps", None)
        expected = "mps" if mps is not None and mps.is_available() else "cpu"
    assert select_device().type == expected
    assert select_device("auto").type == expected


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"), [(2, True, "cuda"), (0, True, "mps"), (0, False, "cpu")]
)
def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    _fake(monkeypatch, cuda, mps)
    assert select_device("auto") == torch.device(expected)


def test_available_devices_lists_every_gpu(monkeypatch):
    _fake(monkeypatch, 2, False)
    assert available_devices() == ["cuda:0", "cuda:1", "cpu"]
    _fake(monkeypatch, 0, True)
    assert available_devices() == ["mps", "cpu"]
    _fake(monkeypatch, 0, False)
    assert available_devices() == ["cpu"]


def test_explicit_cuda_index_is_checked(monkeypatch):
    _fake(monkeypatch, 2, False)
    assert select_device("cuda") == torch.device("cuda")
    assert select_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match=r"'cuda:2' is not available: there are 2 CUDA"):
        select_device("cuda:2")


def test_unavailable_accelerators_are_clear_errors(monkeypatch):
    _fake(monkeypatch, 0, False)
    with pytest.raises(ValueError, match=r"'cuda' is not available: .*no CUDA GPU.*cpu"):
        select_device("cuda")
    with pytest.raises(ValueError, match=r"'cuda:1' is not available"):
        select_device("cuda:1")
    with pytest.raises(ValueError, match=r"'mps' is not available: Apple MPS"):
        select_device("mps")


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "", "meta"])
def test_unknown_names_are_rejected(spec):
    with pytest.raises(ValueError, match=r"(unknown|unsupported) device .*use auto or one of"):
        select_device(spec)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_real_cuda_device_runs_a_tensor():
    device = select_device("cuda:0")
    assert torch.ones(2, device=device).sum().item() == 2.0
    assert "cuda:0" in available_devices()
