"""Shared test fixtures: where ../shared lives, and small seeded models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch  # before any napari_fbrs module: see below

# torch is imported before the plugin package or an in-process CLI call can run
# napari_fbrs.threads.configure_threads(), which then finds torch loaded ("late") and leaves
# the thread counts the tests choose alone (no per-click adaptation inside the test process;
# tests/test_threads.py checks the policy in fresh interpreters).

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


def require_shared(*parts: str) -> Path:
    """Path under ../shared; skip (or fail under CI=true) when it is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"{path} is missing: these tests need ../shared beside the repository"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return require_shared("reference")


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    return require_shared("datasets")


@pytest.fixture(scope="session")
def tiny_model():
    """A seeded, randomly initialised small HRNet (hrnet18s_ocr64) in eval mode, frozen."""

    from napari_fbrs.model.registry import build_model

    torch.manual_seed(0)
    model = build_model("hrnet18s_ocr64")
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_model) -> Path:
    """``tiny_model`` saved in our own checkpoint format."""
    from napari_fbrs.model.checkpoint import save_checkpoint

    path = tmp_path_factory.mktemp("ckpt") / "hrnet18s_random.pth"
    return save_checkpoint(path, tiny_model, "hrnet18s_ocr64", meta={"note": "random weights"})


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    """Print every click of the parity runs (later input-BRS clicks are reported only)."""
    try:
        from tests.inference.engine.test_parity import PARITY_REPORT
    except ImportError:
        return
    if PARITY_REPORT:
        terminalreporter.section("f-BRS parity with ../shared/reference (per click)")
        for line in PARITY_REPORT:
            terminalreporter.write_line(line)


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test (restored after): runs that compare results across
    processes must use the same threads per object, since BRS results depend on summation
    order."""

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
