"""Shared fixtures: settings on a temporary home with the sandbox sped up, an opened service,
and a clean environment for running the `seedance` command as a subprocess."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

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
