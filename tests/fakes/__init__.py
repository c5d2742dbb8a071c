"""Local fake servers speaking each Seedance provider's documented wire format.

    with FakeArk(flavour="byteplus", api_key="test-key") as fake:
        fake.base_url            # http://127.0.0.1:PORT/api/v3
        fake.script("failed", error_code="X")   # outcome of the next submitted task
        fake.inject("submit", status=429, headers={"Retry-After": "1"})
        fake.requests, fake.submits, fake.media.requests

Each server runs on its own thread and event loop, so async tests, sync tests and subprocesses can
all talk to it. `FAKES_BY_PROVIDER[provider_id](**kwargs)` builds the fake for a provider id.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from tests.clock import ManualClock
from tests.fakes.acedata import FakeAceData
from tests.fakes.apimart import FakeApimart
from tests.fakes.ark import FakeArk
from tests.fakes.base import (
    CallbackAttempt,
    FakeProvider,
    Fault,
    RecordedRequest,
    Script,
)
from tests.fakes.media import MediaHost, sample_mp4, sample_png
from tests.fakes.seedanceapi import FakeSeedanceApi

FAKES_BY_PROVIDER: dict[str, Callable[..., FakeProvider]] = {
    "byteplus": partial(FakeArk, "byteplus"),
    "volcengine": partial(FakeArk, "volcengine"),
    "apiyi": partial(FakeArk, "apiyi"),
    "acedata": FakeAceData,
    "seedanceapi": FakeSeedanceApi,
    "apimart": FakeApimart,
}

# A request each fake accepts and runs to success (text-to-video, provider defaults elsewhere).
MINIMAL_SUBMIT: dict[str, tuple[str, dict[str, Any]]] = {
    "byteplus": ("/contents/generations/tasks", {
        "model": "dreamina-seedance-2-0-260128", "content": [{"type": "text", "text": "a cat"}]}),
    "volcengine": ("/contents/generations/tasks", {
        "model": "doubao-seedance-2-0-260128", "content": [{"type": "text", "text": "a cat"}]}),
    "apiyi": ("/contents/generations/tasks", {
        "model": "doubao-seedance-2-0-fast-260128", "content": [{"type": "text", "text": "a cat"}]}),
    "acedata": ("/seedance/videos", {
        "model": "doubao-seedance-2-0-260128", "content": [{"type": "text", "text": "a cat"}],
        "async": True}),
    "seedanceapi": ("/v1/generate", {"prompt": "a cat", "duration": "4"}),
    "apimart": ("/v1/videos/generations", {"model": "doubao-seedance-2.0", "prompt": "a cat"}),
}

__all__ = [
    "FAKES_BY_PROVIDER",
    "MINIMAL_SUBMIT",
    "CallbackAttempt",
    "FakeAceData",
    "FakeApimart",
    "FakeArk",
    "FakeProvider",
    "FakeSeedanceApi",
    "Fault",
    "ManualClock",
    "MediaHost",
    "RecordedRequest",
    "Script",
    "sample_mp4",
    "sample_png",
]
