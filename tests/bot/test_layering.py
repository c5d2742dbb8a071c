"""The bot's modules import each other in one direction only (issue 9: no circle between them)."""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parents[2] / "bot"


def bot_imports(path: Path) -> set[str]:
    """Every ``bot.*`` module ``path`` imports, TYPE_CHECKING blocks and function bodies included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "bot":
                found.update(f"bot.{alias.name}" for alias in node.names)
            elif node.module.startswith("bot."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("bot."))
    return found


def test_the_bot_modules_form_no_import_circle() -> None:
    graph = {f"bot.{p.stem}": bot_imports(p) for p in BOT.glob("*.py")}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        assert module not in path, " -> ".join([*path, module])
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert "bot.commands" not in graph["bot.views"] and "bot.commands" not in graph["bot.delivery"]
