"""Tolerant readers for provider JSON: a field of the wrong type reads as missing, never as a crash.

The one set every adapter uses. `text` normalises whitespace (messages, codes); `verbatim` keeps a
string exactly as sent (ids, URLs, prompts compared with ours).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def text(value: Any) -> str | None:
    """A non-blank string on one line, or None."""
    if isinstance(value, str) and value.strip():
        return " ".join(value.split())
    return None


def verbatim(value: Any) -> str | None:
    """A non-empty string exactly as sent, or None."""
    return value if isinstance(value, str) and value else None


def first_verbatim(value: Any) -> str | None:
    """`verbatim` of a string, or of the first non-empty string in a list (URL fields sent either way)."""
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v), None)
    return verbatim(value)


def integer(value: Any) -> int | None:
    """An integer as sent (no numeric strings, no booleans), or None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def number(value: Any) -> float | None:
    """A number, also from a numeric string; booleans are not numbers here."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def int_code(value: Any) -> int | None:
    """An integer status code, also from a string of digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def mapping(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one for anything else."""
    return value if isinstance(value, dict) else {}


def unix_datetime(value: Any) -> datetime | None:
    """A UTC time from Unix seconds (int, float or numeric string); None for anything else."""
    seconds = number(value)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def iso_datetime(value: Any) -> datetime | None:
    """A time from an ISO-8601 string (``Z`` allowed); a zone-less one is taken as UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
