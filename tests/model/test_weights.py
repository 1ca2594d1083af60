"""The weights table and the download path, against a local HTTP server only."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from napari_fbrs.model.registry import ARCHITECTURES, build_model
from napari_fbrs.model.weights import (
    BASE_URL_ENV,
    CACHE_ENV,
    OFFICIAL_WEIGHTS,
    WeightsError,
    cache_dir,
    cached_path,
    download_weights,
    recorded_sha256,
    resolve_checkpoint,
)

NAME = "hrnet18_ocr64_sbd"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) and yield its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _save_state_dict(path: Path, arch: str) -> Path:
    torch.manual_seed(0)
    torch.save(build_model(arch).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def served_good(tmp_path_factory) -> Path:
    """A folder holding a random hrnet18_ocr64 bare state_dict named like the release."""
    folder = tmp_path_factory.mktemp("release")
    _save_state_dict(folder / f"{NAME}.pth", "hrnet18_ocr64")
    return folder


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    """A private cache folder, and a base URL where nothing listens unless a test serves one."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    monkeypatch.setenv(BASE_URL_ENV, "http://127.0.0.1:9")
    return folder


def test_table_lists_the_seven_release_files():
    assert list(OFFICIAL_WEIGHTS) == [
        "resnet34_dh128_sbd",
        "resnet50_dh128_sbd",
        "resnet101_dh256_sbd",
        "hrnet18_ocr64_sbd",
        "hrnet32_ocr128_sbd",
        "resnet50_dh128_lvis",
        "hrnet32_ocr128_lvis",
    ]
    sizes = {"resnet34": 89, "resnet50": 120, "resnet101": 223, "hrnet18": 39, "hrnet32": 119}
    for name, info in OFFICIAL_WEIGHTS.items():
        assert info.name == name
        assert info.arch in ARCHITECTURES
        assert name.startswith(info.arch + "_")
        assert info.url == (
            "https://github.com/saic-vul/fbrs_interactive_segmentation/releases/download/v1.0/"
            f"{name}.pth"
        )
        assert info.size_mb == sizes[name.split("_")[0]]
        assert info.trained_on == ("LVIS" if name.endswith("_lvis") else "SBD")
        assert info.licence == "MPL-2.0"
        assert info.sha256 is None


def test_cache_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x"
    monkeypatch.delenv(CACHE_ENV)
    assert cache_dir().name == "napari-fbrs"


def test_unknown_name_lists_the_known_ones(cache):
    with pytest.raises(WeightsError, match="unknown weights name 'nope'.*hrnet18_ocr64_sbd"):
        cached_path("nope")
    with pytest.raises(WeightsError, match="neither an existing checkpoint file nor"):
        resolve_checkpoint("nope")
    with pytest.raises(WeightsError, match="resnet34_dh128_sbd"):
        resolve_checkpoint(cache / "missing.pth")


def test_existing_file_is_returned_as_is(tmp_path, cache):
    path = tmp_path / "anything.pth"
    path.write_bytes(b"not even a checkpoint")
    assert resolve_checkpoint(path) == path
    assert resolve_checkpoint(str(path)) == path


def test_download_records_sha256_then_uses_cache_offline(served_good, cache, monkeypatch):
    with serve(served_good) as url:
        monkeypatch.setenv(BASE_URL_ENV, url)
        assert cached_path(NAME) is None
        path = download_weights(NAME, progress=False)
    assert path == cache / f"{NAME}.pth"
    expected = hashlib.sha256((served_good / f"{NAME}.pth").read_bytes()).hexdigest()
    assert path.read_bytes() == (served_good / f"{NAME}.pth").read_bytes()
    assert recorded_sha256(NAME) == expected
    record = (cache / f"{NAME}.pth.sha256").read_text()
    assert record == f"{expected}  {NAME}.pth\n"
    assert sorted(p.name for p in cache.iterdir()) == [f"{NAME}.pth", f"{NAME}.pth.sha256"]
    # the server is gone: both entry points must be satisfied from the cache
    assert cached_path(NAME) == path
    assert download_weights(NAME, progress=False) == path
    assert resolve_checkpoint(NAME) == path
    assert resolve_checkpoint(f"{NAME}.pth") == path


def test_hand_placed_file_needs_no_network(cache):
    cache.mkdir()
    placed = cache / "resnet34_dh128_sbd.pth"
    placed.write_bytes(b"whatever the user put here")
    assert resolve_checkpoint("resnet34_dh128_sbd") == placed
    assert recorded_sha256("resnet34_dh128_sbd") is None


def test_corrupt_download_is_rejected_and_deleted(tmp_path, cache, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    (served / f"{NAME}.pth").write_bytes(b"\x00garbage" * 1000)
    with serve(served) as url:
        monkeypatch.setenv(BASE_URL_ENV, url)
        with pytest.raises(WeightsError) as info:
            download_weights(NAME, progress=False)
    message = str(info.value)
    assert f"{NAME}.pth" in message
    assert "not a readable PyTorch checkpoint" in message
    assert "deleted" in message
    assert cached_path(NAME) is None
    assert not any(cache.iterdir())


def test_wrong_architecture_is_rejected_and_deleted(tmp_path, cache, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    _save_state_dict(served / f"{NAME}.pth", "hrnet18s_ocr64")
    with serve(served) as url:
        monkeypatch.setenv(BASE_URL_ENV, url)
        with pytest.raises(WeightsError, match="holds hrnet18s_ocr64 weights, expected hrnet18_"):
            download_weights(NAME, progress=False)
    assert cached_path(NAME) is None
    assert not any(cache.iterdir())


def test_missing_file_on_server_is_a_clear_error(tmp_path, cache, monkeypatch):
    with serve(tmp_path) as url:
        monkeypatch.setenv(BASE_URL_ENV, url)
        with pytest.raises(WeightsError, match=r"could not download .*404"):
            download_weights(NAME, progress=False)
    assert cached_path(NAME) is None


def test_unreachable_server_is_a_clear_error(cache, monkeypatch):
    with serve(cache.parent) as url:
        pass  # the port was free a moment ago and nothing listens there now
    monkeypatch.setenv(BASE_URL_ENV, url)
    with pytest.raises(WeightsError) as info:
        resolve_checkpoint(NAME)
    message = str(info.value)
    assert message.startswith(f"could not download {NAME} from {url}/{NAME}.pth")
    assert f"check your connection or put the file at {cache / NAME}.pth" in message
    assert cached_path(NAME) is None


def test_unusable_cache_folder_is_a_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))
    with pytest.raises(WeightsError, match=f"cannot create the weights cache folder.*{CACHE_ENV}"):
        download_weights(NAME, progress=False)
