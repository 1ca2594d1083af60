"""Choosing the torch device from a user's words ("auto", "cpu", "cuda:1", "mps").

A wrong choice should fail when the user makes it, with a message that lists what this machine
offers, not later inside the first convolution.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# torch is imported inside the functions: the widget imports this module on napari's thread,
# where importing torch would block the viewer for seconds.


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """Devices usable here, best first among accelerators: ``cuda:N``..., ``mps``, ``cpu``."""
    import torch

    devices = []
    if torch.cuda.is_available():
        devices.extend(f"cuda:{index}" for index in range(torch.cuda.device_count()))
    if _mps_available():
        devices.append("mps")
    devices.append("cpu")
    return devices


def select_device(spec: str = "auto") -> torch.device:
    """``"auto"`` picks cuda, then mps, then cpu; an explicit choice must be available."""
    import torch

    text = spec.strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise ValueError(
            f"unknown device {spec!r}; use auto or one of: {', '.join(available_devices())}"
        ) from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {spec!r} is not available: this torch build or machine has no CUDA "
                f"GPU; available: {', '.join(available_devices())}"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(
                f"device {spec!r} is not available: there are {count} CUDA device(s) "
                f"(cuda:0 to cuda:{count - 1})"
            )
        return device
    if device.type == "mps":
        if not _mps_available():
            raise ValueError(
                f"device {spec!r} is not available: Apple MPS needs a Mac with Metal; "
                f"available: {', '.join(available_devices())}"
            )
        return device
    raise ValueError(
        f"unsupported device {spec!r}; use auto or one of: {', '.join(available_devices())}"
    )
