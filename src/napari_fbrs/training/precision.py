"""Which reduced precision a training step runs in, per device.

CUDA: float16 autocast with a gradient scaler (``train.amp``). CPU: float32, or bfloat16
autocast when the recipe asks for it (``train.cpu_bf16``) and the CPU computes bfloat16
natively (AVX-512 BF16 or AMX, as oneDNN reports it); elsewhere bfloat16 is emulated and
slower than float32, so the step stays in float32 and the run's log says so. bfloat16 keeps
float32's exponent range, so no loss scaling is needed.
"""

from __future__ import annotations

import sys

import torch


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bfloat16 convolutions natively on this CPU."""
    try:
        return bool(
            torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    except (AttributeError, RuntimeError):  # a torch build without the query
        return False


def autocast_dtype(device: torch.device, amp: bool, cpu_bf16: bool) -> torch.dtype | None:
    """The autocast dtype of a training step on ``device`` (None: float32)."""
    if device.type == "cuda":
        return torch.float16 if amp else None
    if device.type == "cpu" and cpu_bf16:
        if cpu_has_native_bf16():
            return torch.bfloat16
        print(
            "train.cpu_bf16: this CPU has no native bfloat16 (AVX-512 BF16 or AMX); "
            "training in float32",
            file=sys.stderr,
        )
    return None
