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
    assert "napari_fbrs.inference.engine.predictor" in modules and "napari_fbrs.cli" in modules
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


# -- the import graph ----------------------------------------------------------------------------
def _module_files() -> dict[str, Path]:  # noqa: F821
    from pathlib import Path

    root = Path(napari_fbrs.__file__).parent
    files = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        files[name] = path
    return files


def _imports(name: str, path, modules: set[str]) -> set[str]:  # noqa: ANN001
    """Every napari_fbrs module ``name`` imports, anywhere in the file (lazy imports too)."""
    import ast

    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" for alias in node.names] + [module]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target.startswith("napari_fbrs") and target != name:
                found.add(target)
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def _graph() -> dict[str, set[str]]:
    files = _module_files()
    modules = set(files)
    graph = {}
    for name, path in files.items():
        # a package imports its own submodules (re-exports) and each submodule needs its
        # package to load: that is not a design cycle, so edges into one's own package
        # and from a package to its children are left out
        edges = _imports(name, path, modules)
        graph[name] = {
            e for e in edges if not name.startswith(e + ".") and not e.startswith(name + ".")
        }
    return graph


def test_the_package_import_graph_has_no_cycle() -> None:
    graph = _graph()
    assert "napari_fbrs.model.weights" in graph and graph["napari_fbrs._napari.widget"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_layer_rules_hold() -> None:
    """model -> nothing of ours but itself; inference -> model; io -> nothing; evaluation ->
    inference, model, io; training -> model, io, evaluation (and inference for validation);
    cli and _napari at the edges (never imported by the core)."""
    allowed = {
        "model": {"model"},
        "inference": {"inference", "model"},
        "io": {"io"},
        "evaluation": {"evaluation", "inference", "model", "io"},
        "training": {"training", "model", "io", "evaluation", "inference"},
    }
    shared = {"napari_fbrs", "napari_fbrs.atomic", "napari_fbrs.threads"}
    problems = []
    for name, edges in _graph().items():
        layer = name.split(".")[1] if name.count(".") else ""
        if layer not in allowed:
            continue
        for edge in edges - shared:
            if edge.split(".")[1] not in allowed[layer]:
                problems.append(f"{name} -> {edge}")
    assert not problems, problems
