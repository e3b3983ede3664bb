"""The package's folders are its architecture: every import points down the layers below,
none reaches up, and no modules import each other in a cycle (imports inside functions
count too: a lazy import is still a dependency)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "yieldflow"
# Bottom to top: a module may import its own subsystem and any layer below it.
LAYERS = [
    {"yieldflow.contract", "yieldflow.config"},
    {"yieldflow.io"},
    {"yieldflow.ingest"},
    {"yieldflow.features"},
    {"yieldflow.synthetic", "yieldflow.ml"},
    {"yieldflow.tracking", "yieldflow.reporting"},
    {"yieldflow.tasks"},
    {"yieldflow.flows"},
    {"yieldflow.cli"},
]


def package_dirs() -> dict[str, Path]:
    """Package name -> folder, as pyproject.toml installs them (flows/ and tasks/ live at
    the top of the repository but install inside the package)."""
    setup = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = setup.get("package-dir", {})
    return {name: REPO / mapped.get(name, name.replace(".", "/")) for name in setup["packages"]}


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in package_dirs().items():
        for path in folder.glob("*.py"):
            found[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return found


def imported_names(path: Path, module: str, is_package: bool) -> set[str]:
    """Every module name an import statement in the file names, at any depth."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join([*parts, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    """module -> the package's modules it imports (a `from package import name` counts as
    the module `package.name` when there is one, else as the package)."""
    known = modules()
    graph = {}
    for module, path in known.items():
        targets = set()
        for name in imported_names(path, module, path.stem == "__init__"):
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def layer_of(module: str) -> int:
    for rank, layer in enumerate(LAYERS):
        if any(module == top or module.startswith(top + ".") for top in layer):
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def subsystem(module: str) -> str:
    return ".".join(module.split(".")[:2])


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, targets in graph.items():
        for target in targets:
            if target == PACKAGE:
                continue  # the package's own __init__ (its version) is below everything
            same = subsystem(target) == subsystem(module)
            if not same and layer_of(target) >= layer_of(module):
                wrong.append(f"{module} -> {target}")
    return sorted(wrong)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle found by a depth-first search, as the path that closes it."""
    found, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def test_every_module_is_in_a_layer():
    for module in modules():
        if module != PACKAGE:
            layer_of(module)


def test_no_module_imports_upward():
    assert upward_imports(import_graph()) == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_no_generic_top_level_flows_or_tasks_packages():
    """flows/ and tasks/ install as yieldflow.flows and yieldflow.tasks only."""
    for module, path in modules().items():
        for name in imported_names(path, module, path.stem == "__init__"):
            assert name.split(".")[0] not in {"flows", "tasks"}, f"{module} imports {name}"


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c", "a"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ],
)
def test_the_cycle_check_finds_a_cycle(graph, expected):
    assert cycles(graph) == expected


def test_the_layer_check_finds_an_upward_import():
    graph = {"yieldflow.ml.mlp": {"yieldflow.tracking.runs", "yieldflow.features.split"}}
    assert upward_imports(graph) == ["yieldflow.ml.mlp -> yieldflow.tracking.runs"]
