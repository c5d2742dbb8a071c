"""Fixtures every adapter test shares: a virtual clock for the fakes and a fast, recorded retry sleep."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from core.http import HttpClient, RetryPolicy
from tests.clock import ManualClock
from tests.clock import RecordingSleep as Sleeps


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def http(sleeps: Sleeps) -> AsyncIterator[HttpClient]:
    client = HttpClient(httpx.AsyncClient(), policy=RetryPolicy(initial_delay=0.01, max_delay=0.05), sleep=sleeps)
    yield client
    await client.aclose()
