"""The manifest: valid, names as documented, every python_name importable, lazy widget."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

from npe2 import PluginManifest

MANIFEST = Path(__file__).resolve().parents[2] / "napari.yaml"


def test_manifest_is_valid_and_names_the_widget() -> None:
    manifest = PluginManifest.from_file(MANIFEST)
    assert manifest.name == "napari-fbrs"
    widgets = manifest.contributions.widgets
    assert [w.display_name for w in widgets] == [
        "f-BRS interactive segmentation",
        "f-BRS fine-tune",
    ]
    assert {s.key for s in manifest.contributions.sample_data} >= {"astronaut", "nuclei"}
    writers = manifest.contributions.writers
    assert [(w.layer_types, w.filename_extensions) for w in writers] == [(["labels"], [".png"])]


def test_every_python_name_imports() -> None:
    manifest = PluginManifest.from_file(MANIFEST)
    names = [c.python_name for c in manifest.contributions.commands]
    assert len(names) == 8
    for name in names:
        module, _, attr = name.partition(":")
        assert callable(getattr(importlib.import_module(module), attr)), name


def test_installed_manifest_is_this_file() -> None:
    import napari_fbrs

    installed = Path(napari_fbrs.__file__).with_name("napari.yaml")
    assert installed.read_text() == MANIFEST.read_text()


def test_importing_the_package_does_not_import_the_widget() -> None:
    code = (
        "import sys, napari_fbrs\n"
        "print(any(m.startswith('napari_fbrs._napari') or m == 'qtpy' for m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
