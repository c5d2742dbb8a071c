from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.discord_emulator import DiscordEmulator, patch_discord


@pytest.fixture
async def emu(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator() as emulator:
        patch_discord(monkeypatch, emulator)
        yield emulator
