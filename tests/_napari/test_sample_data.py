"""Sample data works offline: bundled scikit-image files or images synthesised here."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from napari_fbrs._napari import sample_data

SAMPLES = ["astronaut", "coffee", "cell", "nuclei", "nuclei_stack"]


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access is blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("name", SAMPLES)
def test_samples_load_without_network(no_network, name) -> None:
    ((data, meta, kind),) = getattr(sample_data, name)()
    assert kind == "image" and meta["name"]
    assert data.size > 0
    if name in ("astronaut", "coffee"):
        assert data.dtype == np.uint8 and data.ndim == 3 and data.shape[2] == 3 and meta["rgb"]
    if name in ("nuclei", "nuclei_stack"):
        assert data.dtype == np.uint16
        assert data.ndim == (3 if name == "nuclei_stack" else 2)


def test_synthetic_nuclei_look_fluorescent_and_are_reproducible() -> None:
    image = sample_data.synthetic_nuclei((128, 128), count=6, seed=0)
    np.testing.assert_array_equal(image, sample_data.synthetic_nuclei((128, 128), 6, 0))
    background = np.percentile(image, 20)
    bright = np.percentile(image, 99)
    assert 150 < background < 260 and bright > 1000  # dim background, bright nuclei
