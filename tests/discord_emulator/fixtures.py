"""A ready-made pytest fixture; import it into a conftest (or define your own with emulated_discord):

    from tests.discord_emulator.fixtures import discord_emulator  # noqa: F401

It starts a :class:`DiscordEmulator` in the test's event loop, points discord.py at it, and after
the test checks the emulator did not crash and saw no request to a route it does not model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .helpers import emulated_discord
from .server import DiscordEmulator


@pytest.fixture
async def discord_emulator(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DiscordEmulator]:
    async with emulated_discord(monkeypatch) as emulator:
        yield emulator
