"""The layering the design promises: front ends use the core's service, the core knows no front end."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What a front end (bot/, mcp_server/) may not import: the core's internals and its I/O libraries.
FRONT_END_FORBIDDEN = ("core.store", "core.providers", "core.http", "core.media", "httpx", "aiosqlite")
# What the core may not import: any front end or front-end library.
CORE_FORBIDDEN = ("bot", "mcp_server", "discord", "mcp")


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def offending(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in imports_of(path):
            if any(name == bad or name.startswith(bad + ".") for bad in forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


@pytest.mark.parametrize("package", ["bot", "mcp_server"])
def test_front_ends_use_only_the_core_service_and_its_public_helpers(package: str) -> None:
    assert offending(package, FRONT_END_FORBIDDEN) == []


def test_the_core_knows_no_front_end() -> None:
    assert offending("core", CORE_FORBIDDEN) == []


def test_the_checks_would_notice_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import httpx\nfrom core.store import TaskStore\nfrom core.service import VideoService\n")
    assert imports_of(sample) == {"httpx", "core.store", "core.service"}
