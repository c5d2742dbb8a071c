"""What the engine's parts share: the store, the adapters, the clock, this process's identity.

The engine is four small parts behind `core.service.VideoService`: `submit` (validate, persist,
send), `scheduler` (claim due tasks, ask the providers in batches, reschedule), `reconcile` (a
submit whose answer was lost), `fetch` (download results before the links expire). They meet
only here and in the store.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from core.config import Settings
from core.errors import TaskNotFoundError
from core.models import Task, VideoRequest
from core.providers import Provider
from core.scheduling import Expectation
from core.store import TaskStore

log = logging.getLogger("seedance.engine")

Listener = Callable[[Task], Awaitable[None] | None]

LEASE_SECONDS = 30.0  # a dead process's tasks are taken over this long after its last heartbeat
HEARTBEAT_SECONDS = LEASE_SECONDS / 3


@dataclass(frozen=True)
class Estimate:
    """A request resolved against the catalog and priced, once; `submit` takes it as it is."""

    provider: str
    model: str
    unit: Literal["tokens", "credits"]
    amount: float
    request: VideoRequest
    usd: float | None = None


@dataclass
class EngineContext:
    """One process's engine state. ``instance`` names this process's leases (random, not host:pid)."""

    settings: Settings
    store: TaskStore
    provider: Callable[[str], Provider]
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    instance: str = field(default_factory=lambda: secrets.token_hex(8))
    sending: set[str] = field(default_factory=set)  # task ids whose submit is in flight here
    listeners: list[Listener] = field(default_factory=list)
    events: dict[str, asyncio.Event] = field(default_factory=dict)  # set when a task changes
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # something is due: look now
    background: set[asyncio.Task[Any]] = field(default_factory=set)
    # How long tasks of a kind take, as the scheduler learned it (set by the scheduler).
    expectation: Callable[[str, str, VideoRequest], Awaitable[Expectation]] | None = None

    def spawn(self, coro: Awaitable[Any], *, name: str | None = None) -> asyncio.Task[Any]:
        """Run ``coro`` as this process's own job: a caller that gives up does not stop it."""
        job = asyncio.ensure_future(coro)
        if name:
            job.set_name(name)
        self.background.add(job)
        job.add_done_callback(self.background.discard)
        return job

    def changed_event(self, task_id: str) -> asyncio.Event:
        return self.events.setdefault(task_id, asyncio.Event())

    async def changed(self, task_id: str, *, notify: bool = True) -> None:
        """Wake whoever waits on the task and tell the listeners what it looks like now."""
        event = self.events.pop(task_id, None)
        if event is not None:
            event.set()
        if not notify or not self.listeners:
            return
        task = await self.load(task_id)
        for listener in list(self.listeners):
            try:
                result = listener(task)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # noqa: BLE001 - one front end's bug must not stop the engine
                log.exception("listener failed for task %s", task_id)

    async def load(self, task_id: str) -> Task:
        task = await self.store.get(task_id)
        if task is None:
            raise TaskNotFoundError(f"task {task_id} disappeared from the store")
        return task

    async def fail(self, task_id: str, code: str, message: str, status: str = "failed") -> bool:
        """End an unfinished task with an error; never rewrites a task that is already final."""
        done = await self.store.update_unfinished(
            task_id, status=status, error_code=code, error_message=message, finished_at=self.clock()
        )
        if done:
            await self.changed(task_id)
        return done
