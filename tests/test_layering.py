"""Imports flow only rightwards: server → inbox → outbox → actors → federation."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]
ORDER = ["server", "inbox", "outbox", "actors", "federation"]
FORBIDDEN_THIRD_PARTY = {"federation": {"sqlalchemy", "alembic", "jinja2"}}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_packages_import_only_to_the_right() -> None:
    problems = []
    for index, package in enumerate(ORDER):
        allowed = set(ORDER[index:])
        for path in sorted((ROOT / package).rglob("*.py")):
            for module in imported_modules(path):
                top = module.split(".")[0]
                if top in ORDER and top not in allowed:
                    problems.append(f"{path.relative_to(ROOT)} imports {module}")
                if top in FORBIDDEN_THIRD_PARTY.get(package, set()):
                    problems.append(f"{path.relative_to(ROOT)} imports {module}")
    assert problems == []


def test_every_package_is_checked() -> None:
    for package in ORDER:
        assert (ROOT / package / "__init__.py").exists()
