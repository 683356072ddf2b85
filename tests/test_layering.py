"""The apps are stacked one way (ARCHITECTURE.md): each may import only the apps below it.

practice (ground floor: the tenant, the project package) < scheduling < telehealth < messaging
< integrations < waitlist < selfservice < staff (the pages staff use; nothing imports it).
Every import counts, including those inside functions: a lazy import is still a dependency, only
a hidden one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STACK = [
    "practice",
    "scheduling",
    "telehealth",
    "messaging",
    "integrations",
    "waitlist",
    "selfservice",
    "staff",
]
FLOOR = {app: level for level, app in enumerate(STACK)}


def _python_files(app: str, root: Path = ROOT):
    for path in sorted((root / app).rglob("*.py")):
        if "migrations" not in path.relative_to(root).parts:
            yield path


def _imported_modules(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name


def upward_imports(app: str, root: Path = ROOT) -> list[str]:
    found = []
    for path in _python_files(app, root):
        for line, module in _imported_modules(path):
            target = module.split(".")[0]
            if target in FLOOR and FLOOR[target] > FLOOR[app]:
                found.append(f"{path.relative_to(root)}:{line} imports {module.split('.')[0]}")
    return sorted(set(found))


@pytest.mark.parametrize("app", STACK)
def test_each_app_imports_only_the_apps_below_it(app):
    assert upward_imports(app) == []


def test_the_check_sees_an_upward_import_inside_a_function(tmp_path):
    """A check that cannot fail proves nothing: a lazy import of a higher app is caught."""
    (tmp_path / "practice").mkdir()
    (tmp_path / "practice" / "sneaky.py").write_text("def f():\n    from staff.board import session_rows\n")
    assert upward_imports("practice", tmp_path) == ["practice/sneaky.py:2 imports staff"]


def _module_graph() -> dict[str, set[str]]:
    modules = {}
    for app in STACK:
        for path in _python_files(app):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    return {
        name: {module for _, module in _imported_modules(path) if module in modules and module != name}
        for name, path in modules.items()
    }


def test_the_dispatcher_never_reaches_the_planning_services():
    """Services hand the dispatcher work (an immediate send); the dispatcher, and everything it
    imports, never imports the services back (the circle issue #14 asked to break)."""
    graph = _module_graph()
    seen, todo = set(), ["messaging.dispatch"]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph[module])
    assert "messaging.services" not in seen
