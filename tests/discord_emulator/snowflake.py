"""Discord snowflake ids.

An id carries its creation time (ms since the Discord epoch, shifted left by 22 bits). discord.py
derives ``Interaction.created_at``/``expires_at`` from it, so ids must be real snowflakes whose
timestamp we control: tests mint interactions "created 16 minutes ago" to exercise token expiry.
"""

from __future__ import annotations

import datetime as dt
import itertools

DISCORD_EPOCH_MS = 1_420_070_400_000

# The low 22 bits (worker, process, increment) only need to make ids unique within one emulator.
_increment = itertools.count(1)


def make_snowflake(at: float) -> int:
    """Return a fresh snowflake whose timestamp is ``at`` (Unix seconds)."""
    ms = int(at * 1000) - DISCORD_EPOCH_MS
    return (ms << 22) | (next(_increment) & 0x3FFFFF)


def snowflake_time(snowflake: int) -> float:
    """Unix seconds encoded in ``snowflake``."""
    return ((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000


def iso_timestamp(at: float) -> str:
    """Discord's ISO-8601 timestamp format (always UTC with an explicit offset)."""
    return dt.datetime.fromtimestamp(at, tz=dt.UTC).isoformat()
