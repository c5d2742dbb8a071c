"""Tolerant readers for provider JSON: a field of the wrong type reads as missing, never as a crash."""

from __future__ import annotations

from typing import Any


def text(value: Any) -> str | None:
    """A non-blank string on one line, or None."""
    if isinstance(value, str) and value.strip():
        return " ".join(value.split())
    return None


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
