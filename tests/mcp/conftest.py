"""Fixtures for the MCP server tests: sandbox settings in a temporary home, and small helpers."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.config import Limits, Settings
from core.service import VideoService, open_service


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path,
        sandbox_speed=20,
        user="mcp:alice",
        limits=Limits(max_running_per_user=10, max_tasks_per_day=100),
    )


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[VideoService]:
    async with open_service(settings, resume=False) as svc:
        yield svc


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    assert result.structured_content is not None
    return dict(result.structured_content)


def error_text(result: Any) -> str:
    assert result.is_error, result.structured_content
    text = result.content[0].text
    assert "\n" not in text, f"error is not one line: {text!r}"
    return str(text)


def is_mp4(path: str | Path) -> bool:
    head = Path(path).read_bytes()[:12]
    return head[4:8] == b"ftyp"


def write_png(path: Path, width: int = 640, height: int = 640) -> Path:
    """A real (grey) PNG big enough for the providers' pixel bounds."""
    row = b"\x00" + b"\x80" * width
    raw = zlib.compress(row * height)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    return path
