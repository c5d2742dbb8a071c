"""An in-process, scripted `Provider` for service tests, and a virtual clock to drive it fast.

The fake poses as the "sandbox" provider (so the catalog validates and prices requests as usual)
but every answer is scripted: what a submit does, the statuses successive polls return, which
errors a poll or a download raises, and whether cancel / reconcile / callbacks are supported.
It counts every call so a test can prove that nothing was sent twice.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, cast

from core.errors import SubmitUncertainError, TaskNotFoundError
from core.http import HttpClient
from core.models import TaskError, TaskStatus, VideoRequest
from core.providers.base import Provider, RemoteTask
from tests.media_sample import tiny_mp4

# What the next submit does (see `ScriptedProvider.submit_script`); an exception instance is raised as is.
OK = "ok"
UNCERTAIN_CREATED = "uncertain-created"  # the task is created, then the answer is lost
UNCERTAIN_LOST = "uncertain-lost"  # the answer is lost and no task was created

DEFAULT_PLAN = (TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.SUCCEEDED)
VIDEO_BYTES = tiny_mp4()
FAILURE = TaskError(code="OutputVideoSensitiveContentDetected", message="the scripted task failed moderation")




@dataclass
class FakeRemote:
    id: str
    request: VideoRequest
    created: float
    plan: list[TaskStatus]
    polls: int = 0
    cancelled: bool = False
    lost: bool = False
    callback_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def status(self) -> TaskStatus:
        if self.cancelled:
            return TaskStatus.CANCELLED
        return self.plan[min(self.polls, len(self.plan) - 1)]


class ScriptedProvider(Provider):
    """Answers as scripted; capabilities are class attributes, see `variant`."""

    name: ClassVar[str] = "sandbox"
    supports_cancel: ClassVar[bool] = True
    supports_reconcile: ClassVar[bool] = True
    supports_callback: ClassVar[bool] = False

    def __init__(
        self,
        *,
        plan: Sequence[TaskStatus] = DEFAULT_PLAN,
        expected: float | None = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(http=cast(HttpClient, None), api_key="fake-provider-key", base_url="fake://")
        self.clock = clock  # the service's clock, so reconcile's `since` compares like with like
        self.plan = list(plan)
        self.expected = expected
        self.submit_script: deque[str | BaseException] = deque()
        self.get_errors: deque[BaseException] = deque()
        self.download_errors: deque[BaseException] = deque()
        self.submit_gate: asyncio.Event | None = None  # when given, submits wait for it
        self.submit_started = asyncio.Event()
        self.download_gate: asyncio.Event | None = None  # when given, downloads wait for it
        self.download_started: asyncio.Event | None = None
        self.remote: dict[str, FakeRemote] = {}
        self.submit_calls = 0
        self.get_calls = 0
        self.cancel_calls = 0
        self.download_calls = 0
        self.downloads_done = 0
        self.find_calls = 0
        self.callback_urls: list[str | None] = []
        self.with_video_url = True  # False: "succeeded" without a link, as a broken provider might say
        self.polled = asyncio.Event()  # set on every get(); tests clear it to wait for the next poll

    @classmethod
    def variant(cls, *, cancel: bool = True, reconcile: bool = True, callback: bool = False) -> type[ScriptedProvider]:
        """A subclass with other capabilities (they are ClassVars on real adapters too)."""
        return cast(
            type[ScriptedProvider],
            type(
                "ScriptedProviderVariant",
                (cls,),
                {"supports_cancel": cancel, "supports_reconcile": reconcile, "supports_callback": callback},
            ),
        )

    @property
    def created(self) -> int:
        """How many remote tasks exist (what the operator would be charged for)."""
        return len(self.remote)

    # -- the Provider interface --------------------------------------------------------------

    async def submit(self, request: VideoRequest, *, callback_url: str | None = None) -> str:
        self.submit_calls += 1
        self.callback_urls.append(callback_url)
        self.submit_started.set()
        if self.submit_gate is not None:
            await self.submit_gate.wait()
        outcome = self.submit_script.popleft() if self.submit_script else OK
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome == UNCERTAIN_LOST:
            raise SubmitUncertainError("fake: the submit answer was lost", provider="fake")
        remote = FakeRemote(
            id=f"fake-{len(self.remote) + 1}", request=request, created=self.clock(), plan=list(self.plan),
            callback_url=callback_url,
        )
        self.remote[remote.id] = remote
        if outcome == UNCERTAIN_CREATED:
            raise SubmitUncertainError("fake: the submit answer was lost", provider="fake")
        return remote.id

    async def get(self, remote_id: str, *, model: str | None = None) -> RemoteTask:
        self.get_calls += 1
        self.polled.set()
        if self.get_errors:
            raise self.get_errors.popleft()
        remote = self.remote.get(remote_id)
        if remote is None or remote.lost:
            raise TaskNotFoundError(f"fake has no task {remote_id}")
        answer = self._answer(remote)
        remote.polls += 1
        return answer

    async def cancel(self, remote_id: str, *, model: str | None = None) -> None:
        if not self.supports_cancel:
            await super().cancel(remote_id)
        self.cancel_calls += 1
        self.remote[remote_id].cancelled = True

    async def find_submitted(self, request: VideoRequest, *, since: datetime) -> list[RemoteTask]:
        self.find_calls += 1
        if not self.supports_reconcile:
            return await super().find_submitted(request, since=since)
        return [
            self._answer(r) for r in self.remote.values() if r.request == request and r.created >= since.timestamp()
        ]

    def expected_seconds(self, request: VideoRequest) -> float | None:
        return self.expected

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> int:
        self.download_calls += 1
        if self.download_started is not None:
            self.download_started.set()
        if self.download_gate is not None:
            await self.download_gate.wait()
        if self.download_errors:
            raise self.download_errors.popleft()
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(VIDEO_BYTES)
        os.chmod(dest, 0o600)
        self.downloads_done += 1
        return len(VIDEO_BYTES)

    # -- helpers ---------------------------------------------------------------------------------

    def _answer(self, remote: FakeRemote) -> RemoteTask:
        status = remote.status()
        succeeded = status is TaskStatus.SUCCEEDED
        return RemoteTask(
            remote_id=remote.id,
            status=status,
            video_url=f"https://media.fake.test/{remote.id}.mp4" if succeeded and self.with_video_url else None,
            actual_cost=1234.0 if succeeded else None,
            error=FAILURE if status is TaskStatus.FAILED else None,
            progress=1.0 if succeeded else None,
            created_at=datetime.fromtimestamp(remote.created, UTC),
            prompt=remote.request.prompt,
        )
