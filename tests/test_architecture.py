"""The layering the design promises (docs/architecture.md), checked on the imports of every package.

    serve (the composition root of `seedance serve`)  ->  mcp_server, bot  ->  core
    cli  ->  core  (its `serve` command hands over to the root: cli -> serve)

Front ends use the core's service and its public helpers; the core knows no front end; no front end
imports another; only the composition root imports several. An import hidden in a string
(``importlib.import_module("bot.runner")``) would hide an edge, so none is allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CORE = "core"
FRONT_ENDS = ("cli", "bot", "mcp_server")
COMPOSITION_ROOT = "serve"
PACKAGES = (CORE, *FRONT_ENDS, COMPOSITION_ROOT)

# Which project packages each package may import (besides itself).
ALLOWED = {
    CORE: set(),
    "cli": {CORE, COMPOSITION_ROOT},  # only `seedance serve`, which the root runs
    "bot": {CORE},
    "mcp_server": {CORE},
    COMPOSITION_ROOT: {CORE, "bot", "mcp_server"},
}
# What a front end may not import: the core's internals and its I/O libraries.
FRONT_END_FORBIDDEN = (
    "core.store", "core.providers", "core.http", "core.media", "httpx", "aiosqlite", "psycopg",
)
# What the core may not import: any front end or front-end library.
CORE_FORBIDDEN = (*FRONT_ENDS, COMPOSITION_ROOT, "discord", "mcp", "uvicorn", "starlette")
STRING_IMPORTERS = ("import_module", "__import__")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts) if path.is_relative_to(ROOT) else [path.stem]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports made absolute."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
    return names


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def string_imports(path: Path) -> list[str]:
    """Imports by name at run time: ``importlib.import_module(...)``, ``__import__(...)``.

    A call with a literal naming a third-party module is fine (it hides no edge between our
    packages); a literal naming one of ours, a name computed at run time, or the importer passed
    along (``to_thread(import_module, ...)``) is reported.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    harmless: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and _importer(node.func):
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and _top(arg.value) not in PACKAGES:
                harmless.add(id(node.func))
    return [
        f"{_shown(path)}:{node.lineno} imports by a string name"
        for node in ast.walk(tree)
        if _importer(node) and id(node) not in harmless
    ]


def _importer(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr in STRING_IMPORTERS
    return isinstance(node, ast.Name) and node.id in STRING_IMPORTERS


def _top(name: str) -> str:
    return name.split(".")[0]


def files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def offending(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in files(package):
        for name in imports_of(path):
            if any(name == bad or name.startswith(bad + ".") for bad in forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


def edges_outside_the_layering(package: str) -> list[str]:
    found = []
    for path in files(package):
        for name in sorted(imports_of(path)):
            top = _top(name)
            if top in PACKAGES and top != package and top not in ALLOWED[package]:
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


@pytest.mark.parametrize("package", FRONT_ENDS)
def test_front_ends_use_only_the_core_service_and_its_public_helpers(package: str) -> None:
    assert offending(package, FRONT_END_FORBIDDEN) == []


def test_the_core_knows_no_front_end() -> None:
    assert offending(CORE, CORE_FORBIDDEN) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_imports_only_what_the_layering_allows(package: str) -> None:
    """core imports none of ours; cli, bot and mcp_server never import each other; only serve imports several."""
    assert edges_outside_the_layering(package) == []


def test_only_the_composition_root_imports_several_front_ends() -> None:
    several = [p for p, allowed in ALLOWED.items() if len(allowed & set(FRONT_ENDS)) > 1]
    assert several == [COMPOSITION_ROOT]
    assert all(COMPOSITION_ROOT not in ALLOWED[p] for p in (CORE, "bot", "mcp_server"))


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_hides_in_a_string(package: str) -> None:
    assert [hit for path in files(package) for hit in string_imports(path)] == []


def test_the_checks_would_notice_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import httpx\nfrom core.store import TaskStore\nfrom core.service import VideoService\n"
                      "import importlib\nimportlib.import_module('bot.runner')\n__import__(name)\n"
                      "importlib.import_module('uvicorn')\n")
    assert {"httpx", "core.store", "core.service"} <= imports_of(sample)
    assert [hit.split(":")[1].split()[0] for hit in string_imports(sample)] == ["5", "6"]


def test_relative_imports_are_resolved() -> None:
    names = imports_of(ROOT / "core" / "catalog" / "__init__.py")
    assert any(name.startswith("core.catalog.") for name in names)
