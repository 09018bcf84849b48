"""The package's modules import each other in one direction (STYLE.md: no import cycles)."""

from __future__ import annotations

import ast
from pathlib import Path

import swift_sampler

ROOT = Path(swift_sampler.__file__).parent


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports, at the top or inside functions."""
    modules = {_module(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                base = node.module
                for alias in node.names:  # `from swift_sampler.search import driver`
                    if f"{base}.{alias.name}" in modules:
                        targets.add(f"{base}.{alias.name}")
                if base in modules:
                    targets.add(base)
        graph[name] = {t for t in targets if t != name and not name.startswith(t + ".")}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_search_modules_import_in_one_direction() -> None:
    graph = _graph()
    search = {k: {t for t in v if t.startswith("swift_sampler.search.")} for k, v in graph.items()}
    search = {k: v for k, v in search.items() if k.startswith("swift_sampler.search.")}
    assert _cycle(search) is None, _cycle(search)
    assert "swift_sampler.search.driver" not in graph["swift_sampler.search.workers"]
    assert "swift_sampler.search.workers" in graph["swift_sampler.search.driver"]


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
