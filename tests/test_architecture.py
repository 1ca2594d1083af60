"""Architecture rules: core modules never load napari or Qt; the package root stays light."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import napari_fbrs

GUI_MODULES = ("napari", "qtpy", "magicgui", "superqt", "PyQt5", "PyQt6", "PySide2", "PySide6")


def _core_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(napari_fbrs.__path__, "napari_fbrs."):
        skip = ("._version", ".__main__")
        if "._napari" not in info.name and not info.name.endswith(skip):
            names.append(info.name)
    return names


def test_core_modules_do_not_import_napari_or_qt() -> None:
    modules = _core_modules()
    assert "napari_fbrs.inference.predictor" in modules and "napari_fbrs.cli" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {GUI_MODULES!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"GUI modules loaded by core: {result.stdout.strip()}"


def test_package_root_does_not_import_torch() -> None:
    code = "import sys, napari_fbrs; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
