"""`seedance-mcp` starts fast: nothing heavy is imported before it answers, and it answers over real stdio."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.mcp.startup_time import measure, server_command

HEAVY = ("discord", "core.service", "core.store", "core.sandbox", "aiosqlite", "httpx", "av", "numpy", "bot")


def test_building_the_server_imports_nothing_heavy() -> None:
    code = (
        "import sys, json; from core.config import Settings; from mcp_server.server import build_server; "
        "build_server(Settings()); "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(out.stdout) == []


def test_stdio_server_answers_tools_list(tmp_path: Path) -> None:
    elapsed, count = measure(str(tmp_path))
    assert count == 8  # six video tools, generate_story and retry_story
    # The target is 1.5 s (see startup_time.py for the measurement); this shared test machine is
    # too noisy to assert that, so this only catches a gross regression such as importing Discord.
    assert elapsed < 6.0, f"tools/list took {elapsed:.2f} s"


def test_the_timer_finds_the_server_without_the_venv_on_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain ``pytest`` (no dev.py PATH) must still find seedance-mcp: next to this Python."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    command = server_command()
    assert Path(command[0]).exists() and (command[0] == sys.executable or command[0].endswith("seedance-mcp"))
