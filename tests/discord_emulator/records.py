"""Logs the emulator keeps for assertions: requests, command syncs, callbacks, scripted faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .models import StoredAttachment


@dataclass(frozen=True)
class RequestRecord:
    """One HTTP request the emulator answered."""

    method: str
    path: str  # as requested, without the /api/v10 prefix
    route: str  # "METHOD /template", e.g. "POST /channels/{channel_id}/messages"; "" if unmatched
    query: dict[str, str]
    status: int
    at: float  # emulator clock (seconds, see DiscordEmulator.now)
    json: Any = None  # the JSON body or payload_json, if any
    files: tuple[tuple[str, int], ...] = ()  # (filename, size) of uploaded files
    error_code: int | None = None  # the JSON "code" of an error answer


@dataclass(frozen=True)
class SyncRecord:
    """One bulk-overwrite of application commands."""

    guild_id: int | None  # None = global commands
    names: tuple[str, ...]
    at: float


@dataclass
class CallbackRecord:
    """One POST to /interactions/{id}/{token}/callback, accepted or not."""

    type: int
    data: dict[str, Any] | None
    files: list[StoredAttachment]
    after: float  # seconds from dispatch to arrival
    status: int  # HTTP status the emulator answered
    error_code: int | None = None  # Discord JSON error code when rejected

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Fault:
    """A scripted failure for the next ``remaining`` requests matching ``route``."""

    route: str  # "METHOD /template" or "* /template"
    remaining: int
    status: int
    retry_after: float
    is_global: bool
    code: int
    message: str
    hits: list[float] = field(default_factory=list)
