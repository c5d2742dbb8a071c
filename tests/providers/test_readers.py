"""The one set of tolerant JSON readers every adapter uses: a wrong type reads as missing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from core.providers import readers
from core.providers.ark_format import parse_ark_task


@pytest.mark.parametrize(
    ("value", "text", "verbatim"),
    [("a  b\n", "a b", "a  b\n"), ("   ", None, "   "), ("", None, None), (7, None, None), (None, None, None)],
)
def test_text_normalises_and_verbatim_keeps_the_string(value: Any, text: str | None, verbatim: str | None) -> None:
    assert readers.text(value) == text
    assert readers.verbatim(value) == verbatim


@pytest.mark.parametrize(
    ("value", "expected"), [(3, 3.0), (2.5, 2.5), ("108900", 108900.0), (True, None), ("x", None), (None, None)]
)
def test_number_reads_numbers_and_numeric_strings_but_not_booleans(value: Any, expected: float | None) -> None:
    assert readers.number(value) == expected


def test_mapping_and_times() -> None:
    assert readers.mapping({"a": 1}) == {"a": 1}
    assert readers.mapping(["a"]) == {} and readers.mapping(None) == {}
    assert readers.unix_datetime(0) == datetime(1970, 1, 1, tzinfo=UTC)
    assert readers.unix_datetime("1766329436.5") == datetime.fromtimestamp(1766329436.5, UTC)
    for junk in (None, True, "soon", float("nan"), 1e30):
        assert readers.unix_datetime(junk) is None
    assert readers.iso_datetime("2026-02-07T10:30:00Z") == datetime(2026, 2, 7, 10, 30, tzinfo=UTC)
    assert readers.iso_datetime("2026-02-07T10:30:00") == datetime(2026, 2, 7, 10, 30, tzinfo=UTC)
    plus_two = readers.iso_datetime("2026-02-07T12:30:00+02:00")
    assert plus_two == datetime(2026, 2, 7, 10, 30, tzinfo=UTC)
    assert plus_two is not None and plus_two.utcoffset() == timezone(timedelta(hours=2)).utcoffset(None)
    assert readers.iso_datetime("yesterday") is None and readers.iso_datetime(5) is None


def test_an_ark_task_with_fields_of_the_wrong_type_reads_them_as_missing() -> None:
    task = parse_ark_task(
        "byteplus",
        {
            "id": "cgt-1",
            "status": "succeeded",
            "content": ["not", "an", "object"],
            "usage": {"completion_tokens": True},
            "error": "not an object",
            "created_at": "later",
            "updated_at": None,
        },
    )
    assert task.video_url is None and task.actual_cost is None and task.error is None
    assert task.created_at is None and task.finished_at is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("https://a/v.mp4", "https://a/v.mp4"), (["", 3, "https://b"], "https://b"), ([], None), ("", None), (5, None)],
)
def test_first_verbatim_reads_a_string_or_the_first_string_of_a_list(value: Any, expected: str | None) -> None:
    assert readers.first_verbatim(value) == expected


@pytest.mark.parametrize(("value", "expected"), [(3, 3), (0, 0), (True, None), ("3", None), (2.0, None)])
def test_integer_reads_only_real_integers(value: Any, expected: int | None) -> None:
    assert readers.integer(value) == expected
