"""The house's import rules, checked with `ast` (cheaper than a review comment).

- Imports flow only rightwards: server → inbox → outbox → actors → federation.
- Production code uses absolute imports only.
- A package uses another package only through the modules (or names) that the other's
  `__init__.__all__` lists, and never a `_private` name. `server.web`, `server.api` and
  `server.cli` count as packages of their own here; `server`'s top-level modules are the
  composition that uses them.
- No import circle anywhere (imports at module level; those inside functions or under
  `if TYPE_CHECKING:` do not run at import time and do not count).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parents[1]
ORDER = ["server", "inbox", "outbox", "actors", "federation"]
FORBIDDEN_THIRD_PARTY = {"federation": {"sqlalchemy", "alembic", "jinja2"}}
SUB_PACKAGES = {"server.web", "server.api", "server.cli"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def production_files() -> Iterator[Path]:
    for package in ORDER:
        yield from sorted((ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str) -> str:
    """The package whose public face governs `module`: a server sub-package or a top one."""
    parts = module.split(".")
    if len(parts) > 1 and ".".join(parts[:2]) in SUB_PACKAGES:
        return ".".join(parts[:2])
    return parts[0]


def public_names(package: str) -> set[str]:
    """`__all__` of the package's `__init__.py`, read without importing it."""
    init = ROOT.joinpath(*package.split("."), "__init__.py")
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, list), f"{init}: __all__ is not a list"
            return {str(name) for name in value}
    raise AssertionError(f"{init.relative_to(ROOT)} has no __all__")


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_time_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run when the module is imported (function bodies do not)."""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if isinstance(node, ast.If) and is_type_checking(node.test):
            yield from import_time_statements(node.orelse)
            continue
        yield node
        for field in ("body", "orelse", "finalbody"):
            yield from import_time_statements(getattr(node, field, []))
        for handler in getattr(node, "handlers", []):
            yield from import_time_statements(handler.body)


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
    for package in SUB_PACKAGES:
        assert ROOT.joinpath(*package.split("."), "__init__.py").exists()


def test_every_package_names_its_public_face() -> None:
    for package in [*ORDER, *sorted(SUB_PACKAGES)]:
        folder = ROOT.joinpath(*package.split("."))
        init = folder / "__init__.py"
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), init
        for name in public_names(package):
            defined = (folder / f"{name}.py").exists() or (folder / name / "__init__.py").exists()
            assert defined or f"def {name}(" in init.read_text(encoding="utf-8"), (
                f"{package}.__all__ lists {name}, which is neither a module nor defined there"
            )


def test_production_code_uses_no_relative_import() -> None:
    problems = [
        f"{path.relative_to(ROOT)}:{node.lineno} from {'.' * node.level}{node.module or ''}"
        for path in production_files()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert problems == []


def test_packages_use_only_each_others_public_modules() -> None:
    problems = []
    for path in production_files():
        importer = package_of(module_name(path))
        where = path.relative_to(ROOT)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[tuple[str, str | None]]
            if isinstance(node, ast.Import):
                targets = [(alias.name, None) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [(node.module, alias.name) for alias in node.names]
            else:
                continue
            for module, name in targets:
                package = package_of(module)
                if package.split(".")[0] not in ORDER or package == importer:
                    continue
                rest = module[len(package) + 1 :].split(".")[0] if module != package else None
                used = rest if rest is not None else name
                if used is None:
                    continue  # `import server`: the bare package, nothing private
                if used.startswith("_") or (name or "").startswith("_"):
                    problems.append(f"{where}:{node.lineno} uses private {module} {name}")
                elif used not in public_names(package):
                    problems.append(f"{where}:{node.lineno} uses {package}.{used}, not public")
    assert problems == []


def module_graph() -> dict[str, set[str]]:
    """Each production module → the production modules it imports when imported."""
    paths = {module_name(path): path for path in production_files()}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        edges: set[str] = set()
        for node in import_time_statements(ast.parse(path.read_text(encoding="utf-8")).body):
            if isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                edges.add(node.module)
                # `from package import module` imports that module too.
                edges.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[module] = {target for target in edges if target in paths and target != module}
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the components, each a set of modules reachable from each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            components.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return components


def test_the_house_has_no_import_circle() -> None:
    circles = [c for c in strongly_connected(module_graph()) if len(c) > 1]
    assert circles == []


def test_circle_finder_sees_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert [c for c in strongly_connected(graph) if len(c) > 1] == [["a", "b", "c"]]
