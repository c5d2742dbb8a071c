"""Shared fixtures: settings on a temporary home with the sandbox sped up, an opened service,
and a clean environment for running the `seedance` command as a subprocess.

Also the session-end report of the reliability suites' figures (docs/reliability.md): how many
hostile inputs each surface saw and the fault matrix per adapter, gathered from every xdist worker.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.config import Limits, Settings
from core.service import VideoService, open_service

SANDBOX_SPEED = 20.0  # sandbox tasks take ~0.2 s instead of ~4.5 s
NO_LIMITS = Limits(max_running_per_user=None, max_tasks_per_day=None, daily_budget=None)


def make_settings(home: Path, *, speed: float = SANDBOX_SPEED, limits: Limits = NO_LIMITS, **extra: object) -> Settings:
    """Settings for a test: offline sandbox, own home folder, no per-user limits unless given."""
    return Settings(home=home, sandbox_speed=speed, limits=limits, **extra)  # type: ignore[arg-type]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """SEEDANCE_HOME for the test (not created: the service must create it owner-only)."""
    return tmp_path / "home"


@pytest.fixture
def settings(home: Path) -> Settings:
    return make_settings(home)


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[VideoService]:
    """An opened service on the sped-up sandbox."""
    async with open_service(settings, resume=True) as svc:
        yield svc


def clean_environ(home: Path, **extra: str) -> dict[str, str]:
    """The current environment without any SEEDANCE_*/DISCORD_* setting, pointed at ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEEDANCE_", "DISCORD_"))}
    env.update(
        SEEDANCE_HOME=str(home),
        SEEDANCE_SANDBOX_SPEED=str(int(SANDBOX_SPEED)),
        SEEDANCE_USER="cli:tester",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@pytest.fixture
def cli_env(home: Path) -> dict[str, str]:
    """Environment for `seedance` subprocesses: the sandbox at 20x speed under ``home``."""
    return clean_environ(home)


# -- figures for docs/reliability.md, printed once at the end of the session ----------------------------

_FIGURES_KEY = "seedance_figures"
_WORKER_FIGURES: list[dict[str, Any]] = []  # on the xdist controller: what each worker sent


def _local_figures() -> dict[str, Any]:
    """The counters the reliability suites filled in this process (only the suites that ran)."""
    figures: dict[str, Any] = {}
    hostile = sys.modules.get("tests.reliability.test_hostile")
    if hostile is not None and getattr(hostile, "INPUTS_TRIED", None):
        figures["hostile"] = dict(hostile.INPUTS_TRIED)
    faults = sys.modules.get("tests.reliability.test_faults")
    if faults is not None and getattr(faults, "FIGURES", None):
        figures["faults"] = {provider: dict(counts) for provider, counts in faults.FIGURES.items()}
    return figures


def _merge(into: dict[str, Any], part: dict[str, Any]) -> None:
    for surface, count in part.get("hostile", {}).items():
        hostile = into.setdefault("hostile", {})
        hostile[surface] = hostile.get(surface, 0) + count
    for provider, counts in part.get("faults", {}).items():
        mine = into.setdefault("faults", {}).setdefault(provider, {})
        for name, count in counts.items():
            mine[name] = mine.get(name, 0) + count


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the figures to the controller
        workeroutput[_FIGURES_KEY] = json.dumps(_local_figures())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    text = getattr(node, "workeroutput", {}).get(_FIGURES_KEY)
    if text:
        _WORKER_FIGURES.append(json.loads(text))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    figures: dict[str, Any] = {}
    _merge(figures, _local_figures())
    for part in _WORKER_FIGURES:
        _merge(figures, part)
    if not figures:
        return
    terminalreporter.section("figures for docs/reliability.md")
    if "hostile" in figures:
        hostile = dict(sorted(figures["hostile"].items()))
        terminalreporter.write_line(f"hostile inputs tried: {hostile} total {sum(hostile.values())}")
    if "faults" in figures:
        matrix = {provider: figures["faults"][provider] for provider in sorted(figures["faults"])}
        terminalreporter.write_line(f"fault matrix: {matrix}")
