"""The inbox's modules form no import circle (issue 11: handlers ↔ news_handlers was one)."""

from __future__ import annotations

import ast
from pathlib import Path

INBOX = Path(__file__).parents[2] / "inbox"


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.startswith("inbox.")}


def test_no_inbox_module_imports_one_that_imports_it_back() -> None:
    graph = {f"inbox.{p.stem}": _imports(p) for p in INBOX.glob("*.py")}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join((*path, module))
        if module in done:
            return
        for target in graph.get(module, set()):
            visit(target, (*path, module))
        done.add(module)

    for module in graph:
        visit(module, ())
