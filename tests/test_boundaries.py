"""Package boundaries, read from the source with ``ast`` (nothing is imported).

- ``app`` never imports ``training`` (anywhere in a file, function bodies included);
- ``segments_core`` imports neither ``app`` nor ``training``;
- the ``training`` modules import each other without a cycle (``if TYPE_CHECKING:``
  imports count: a cycle hidden from the interpreter is still a cycle of the design).
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, nodes: list[ast.stmt] | None = None) -> Iterator[tuple[str, int]]:
    """(imported name, line) for every import in the file, relative imports resolved.

    ``from pkg import name`` yields ``pkg.name`` (a submodule, or a name in ``pkg``).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node in ast.walk(tree) if nodes is None else nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                yield f"{module}.{alias.name}", node.lineno


def _module_level_imports(path: Path) -> Iterator[tuple[str, int]]:
    """Imports executed at import time: the module body, ``if`` (TYPE_CHECKING too) and
    ``try`` blocks, but not function or class bodies."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    stack: list[ast.stmt] = list(tree.body)
    found: list[ast.stmt] = []
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If | ast.Try | ast.With):
            for field in ("body", "orelse", "finalbody"):
                stack.extend(getattr(node, field, []))
            for handler in getattr(node, "handlers", []):
                stack.extend(handler.body)
    yield from _imports(path, found)


def _is_under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for module, line in _imports(path):
            if any(_is_under(module, f) for f in forbidden):
                bad.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
    return sorted(set(bad))


def test_app_never_imports_training() -> None:
    bad = _violations("app", ("training",))
    assert not bad, "app must not import training:\n" + "\n".join(bad)


def test_segments_core_imports_neither_app_nor_training() -> None:
    bad = _violations("segments_core", ("app", "training"))
    assert not bad, "segments_core must not import app or training:\n" + "\n".join(bad)


def _training_graph() -> dict[str, dict[str, int]]:
    """module -> {imported training module: first line}, module-level imports only."""
    paths = {_module_name(p): p for p in sorted((ROOT / "training").rglob("*.py"))}
    graph: dict[str, dict[str, int]] = {}
    for name, path in paths.items():
        edges: dict[str, int] = {}
        for target, line in _module_level_imports(path):
            # ``from pkg import sub`` needs pkg.sub; ``from pkg import name`` needs pkg itself
            module = target if target in paths else target.rpartition(".")[0]
            if module in paths and module != name:
                edges.setdefault(module, line)
        graph[name] = edges
    return graph


def _find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """A cycle as [a, b, ..., a], found by a depth-first search; None without one."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for nxt in sorted(graph.get(node, {})):
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in done and (cycle := visit(nxt)):
                return cycle
        on_path.discard(path.pop())
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done and (cycle := visit(start)):
            return cycle
    return None


def test_find_cycle_reports_a_cycle() -> None:
    assert _find_cycle({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b": 1}, "b": {}, "c": {"a": 1, "b": 1}}) is None


def test_training_modules_form_no_import_cycle() -> None:
    graph = _training_graph()
    assert "training.train" in graph  # the graph is really built from the sources
    cycle = _find_cycle(graph)
    if cycle:
        steps = [f"{a} (line {graph[a][b]}) -> {b}" for a, b in itertools.pairwise(cycle)]
        raise AssertionError("import cycle among training modules:\n" + "\n".join(steps))
