"""The layers hold: no import cycle among meshbeam's modules (imports inside functions count too),
the backend is chosen in one table, and only remote.py talks to Fabric."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import meshbeam
from meshbeam import plan

PACKAGE = Path(meshbeam.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__"))


def _import_nodes(node: ast.AST):
    """Every import statement, at the top or inside a function, but not under `if TYPE_CHECKING:`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and getattr(child.test, "id", "") == "TYPE_CHECKING":
            continue
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        yield from _import_nodes(child)


def _tree(module: str) -> ast.AST:
    return ast.parse((PACKAGE / f"{module}.py").read_text())


def imports_of(module: str) -> set[str]:
    """The meshbeam modules `module` imports at run time."""
    found = set()
    for node in _import_nodes(_tree(module)):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("meshbeam."):
            found.add(node.module.split(".")[1])
    return found & set(MODULES)


def test_no_import_cycle():
    graph = {m: imports_of(m) for m in MODULES}
    done: set[str] = set()

    def visit(m: str, path: tuple[str, ...]) -> None:
        if m in path:
            pytest.fail(f"import cycle: {' -> '.join(path[path.index(m):] + (m,))}")
        if m in done:
            return
        for n in sorted(graph[m]):
            visit(n, path + (m,))
        done.add(m)

    for m in MODULES:
        visit(m, ())


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_alone(module):
    importlib.import_module(f"meshbeam.{module}")


def test_every_backend_layer_has_the_same_functions():
    for name, layer in plan.BACKENDS.items():
        for attr in ("query_parts", "layer", "teardown", "peer_files", "render_files", "TOOLS", "PACKAGE"):
            assert hasattr(layer, attr), f"{name}: {layer.__name__} lacks {attr}"


def _packages(module: str) -> set[str]:
    """Top-level packages `module` imports at run time."""
    found: set[str] = set()
    for node in _import_nodes(_tree(module)):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_no_module_compares_backend_names():
    """What differs between backends is in backends.py's table and the plan layers, never an `if`."""
    pattern = re.compile(r"""backend\s*[!=]=|[!=]=\s*["'](tinc|wireguard)["']""")
    found = [f"{m}.py:{i}" for m in MODULES for i, line in enumerate((PACKAGE / f"{m}.py").read_text().splitlines(), 1)
             if pattern.search(line)]
    assert found == []


def test_only_remote_talks_to_hosts_through_fabric():
    users = {m for m in MODULES if {"fabric", "paramiko"} & _packages(m)}
    assert users == {"remote"}
