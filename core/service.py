"""`VideoService`: the only thing front ends call.

It validates and prices a request, writes the task row, submits it, watches it to the end, fetches
the video before the provider's link expires and tells subscribers. A task whose submit may have
reached the provider but whose answer was lost is reconciled, never resent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import inspect
import logging
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from core import catalog
from core.catalog import ModelSpec
from core.config import Settings
from core.errors import (
    ConfigError,
    InvalidRequestError,
    NotSupportedError,
    ProviderError,
    SeedanceError,
    SubmitUncertainError,
    TaskNotFoundError,
    redact,
)
from core.http import HttpClient
from core.media import DownloadError
from core.models import Cost, Task, TaskError, TaskStatus, VideoRequest
from core.providers import Provider, RemoteTask, make_provider
from core.scheduling import Expectation, Progress, estimate_progress, next_poll_delay
from core.store import TaskStore

log = logging.getLogger("seedance.service")

Listener = Callable[[Task], Awaitable[None] | None]
ProgressCallback = Callable[[Task, Progress], Awaitable[None]]

LEASE_SECONDS = 60.0  # renewed at least every LEASE_SECONDS / 3 while a watcher holds it
RECONCILE_WINDOW = 90.0  # how long after a lost submit we keep looking for the task before giving up
DOWNLOAD_ATTEMPTS = 3
MAX_POLL_ERRORS = 30  # consecutive failed status checks (backing off to 60 s) before a task is failed
RESEND_WINDOW = 900.0  # a row a crash left unsent is sent on resume if it is younger than this
EXPIRY_MARGIN = 600.0


@dataclass(frozen=True)
class Estimate:
    provider: str
    model: str
    unit: Literal["tokens", "credits"]
    amount: float
    request: VideoRequest


class VideoService:
    """Submit, watch, fetch and report video tasks for every front end."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: TaskStore,
        http: HttpClient,
        providers: Mapping[str, Provider] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.store = store
        self._http = http
        self._providers: dict[str, Provider] = dict(providers or {})
        self._clock = clock
        self._sleep = sleep
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._events: dict[str, asyncio.Event] = {}  # set (and replaced) when a task changes: wakes waiters
        self._wakeups: dict[str, asyncio.Event] = {}  # set by callbacks: wakes the task's watcher early
        self._listeners: list[Listener] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._sending: set[str] = set()  # task ids whose submit is in flight in this process
        self._closed = False

    # -- configuration ---------------------------------------------------------------------------

    @property
    def default_provider(self) -> str:
        return self.settings.provider

    def provider(self, name: str | None = None) -> Provider:
        """The adapter for ``name`` (the default provider when None).

        Raises:
            ConfigError: the provider is unknown or has no key configured.
        """
        name = name or self.default_provider
        if name not in self._providers:
            ps = self.settings.provider_settings(name)
            self._providers[name] = make_provider(
                name,
                http=self._http,
                api_key=ps.api_key.get_secret_value() if ps.api_key else None,
                base_url=ps.base_url,
                home=self.settings.home,
                sandbox_speed=self.settings.sandbox_speed,
            )
        return self._providers[name]

    def models(self, provider: str | None = None) -> list[ModelSpec]:
        names = [provider] if provider else list(self.settings.configured_providers())
        return [spec for name in names for spec in catalog.models(name)]

    def _with_default_model(self, request: VideoRequest, provider: str) -> VideoRequest:
        configured = self.settings.provider_settings(provider).model
        if request.model is None and configured:
            return request.model_copy(update={"model": configured})
        return request

    def estimate(self, request: VideoRequest, provider: str | None = None) -> Estimate:
        """What ``request`` would cost. Raises `InvalidRequestError` when it would be refused."""
        name = provider or self.default_provider
        resolved = catalog.resolve(self._with_default_model(request, name), name)
        unit, amount = catalog.estimate_cost(resolved, name)
        return Estimate(provider=name, model=resolved.model or "", unit=unit, amount=amount, request=resolved)

    # -- submitting ------------------------------------------------------------------------------

    async def check_limits(self, user: str, request: VideoRequest, provider: str | None = None) -> Estimate:
        """Would ``submit`` accept this now? Validates and checks the user's limits without sending.

        Raises:
            InvalidRequestError, LimitReachedError: as `submit` would, before anything is paid for.
        """
        estimate = self.estimate(request, provider)
        await self.store.check_limits(user, estimate.unit, estimate.amount, self.settings.limits, now=self._clock())
        return estimate

    async def submit(
        self,
        user: str,
        request: VideoRequest,
        *,
        provider: str | None = None,
        target: str | None = None,
        request_key: str | None = None,
    ) -> Task:
        """Validate, persist, then send ``request``; returns the task (queued, or pending if unsure).

        The provider call runs in a service-owned task: a caller that is cancelled or times out
        does not stop it, and the row always says how far it got.

        Raises:
            InvalidRequestError: the request is invalid; nothing was sent.
            LimitReachedError: a per-user limit was reached; nothing was sent.
            ProviderError: the provider refused the task (the row is marked failed).
        """
        if request_key:
            existing = await self.store.by_request_key(user, request_key)
            if existing is not None:
                return existing
        request = request.model_copy(update={"safety_identifier": user_tag(user)})
        estimate = self.estimate(request, provider)
        adapter = self.provider(estimate.provider)
        task = Task(
            id=secrets.token_hex(6),
            user=user,
            provider=estimate.provider,
            model=estimate.model,
            request=estimate.request,
            cost=Cost(unit=estimate.unit, estimated=estimate.amount),
            target=target,
            request_key=request_key,
        )
        try:
            # Inserted already leased to this process: no other process may settle (and send) the
            # row while this one is about to send it.
            await self.store.insert(
                task, limits=self.settings.limits, lease=(self._owner, self._clock() + LEASE_SECONDS)
            )
        except sqlite3.IntegrityError:
            if request_key and (existing := await self.store.by_request_key(user, request_key)) is not None:
                return existing
            raise
        sender = self._spawn(self._send(task, adapter))
        await asyncio.shield(sender)
        return await self._load(task.id)

    async def _send(self, task: Task, adapter: Provider, *, watch: bool = True) -> None:
        self._sending.add(task.id)
        try:
            await self._send_once(task, adapter, watch=watch)
        finally:
            self._sending.discard(task.id)

    async def _send_once(self, task: Task, adapter: Provider, *, watch: bool) -> None:
        callback_url = None
        if self.settings.public_url and adapter.supports_callback:
            token = secrets.token_urlsafe(24)
            await self.store.update(task.id, callback_token=token)
            callback_url = f"{self.settings.public_url.rstrip('/')}/callbacks/{task.id}/{token}"
        await self.store.update(task.id, submit_started_at=self._clock())
        try:
            remote_id = await adapter.submit(task.request, callback_url=callback_url)
        except SubmitUncertainError as exc:
            log.warning("task %s: submit answer lost (%s); reconciling", task.id, exc.code)
            if watch:
                self._ensure_watch(task.id)
            return
        except SeedanceError as exc:
            await self._fail(task.id, exc.code, str(exc))
            raise
        now = self._clock()
        try:
            await self.store.update(task.id, remote_id=remote_id, status=TaskStatus.QUEUED, submitted_at=now)
        except sqlite3.IntegrityError:
            # A row reconciling a lost submit with identical parameters adopted this remote task
            # first; this row is then the one whose task is unclaimed: let reconciliation find it.
            log.warning("task %s: remote task already adopted; reconciling", task.id)
        else:
            await self._changed(task.id)
        if watch:
            self._ensure_watch(task.id)

    # -- reading ---------------------------------------------------------------------------------

    async def get(self, user: str, task_id: str, *, refresh: bool = True) -> Task:
        """The user's task; when not final and nobody here watches it, ask the provider once.

        Raises:
            TaskNotFoundError: no such task for this user.
        """
        task = await self.store.get(task_id, user=user)
        if task is None:
            raise TaskNotFoundError(f"no task {task_id!r} for you; see your history for your task ids")
        if refresh and not task.is_final and task_id not in self._watchers:
            with contextlib.suppress(SeedanceError):
                await self._refresh_once(task)
            task = await self._load(task_id)
        return task

    async def list_tasks(
        self, user: str, *, limit: int = 20, offset: int = 0, status: str | None = None
    ) -> list[Task]:
        statuses = [status] if status else None
        return await self.store.list_for_user(user, limit=max(1, min(limit, 100)), offset=offset, statuses=statuses)

    async def count_tasks(self, user: str) -> int:
        return await self.store.count_for_user(user)

    async def wait(
        self,
        user: str,
        task_id: str,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        interval: float = 1.0,
    ) -> Task:
        """Wait until the task is final or ``timeout`` passes; returns the task either way."""
        task = await self.get(user, task_id, refresh=False)
        started = self._clock()
        while True:
            # Take the change event before reading, so a change in between is not missed.
            event = self._events.setdefault(task_id, asyncio.Event())
            task = await self._load(task_id)
            if task.is_final:
                return task
            self._ensure_watch(task_id)
            if on_progress is not None:
                await on_progress(task, await self.progress(task))
            pause = interval
            if timeout is not None:
                left = timeout - (self._clock() - started)
                if left <= 0:
                    return task
                pause = min(pause, left)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), pause)

    async def progress(self, task: Task) -> Progress:
        exp = await self._expectation(task)
        since = task.submitted_at or task.created_at
        return estimate_progress(exp, max(self._clock() - since.timestamp(), 0.0), task.progress)

    # -- cancelling ------------------------------------------------------------------------------

    async def cancel(self, user: str, task_id: str) -> Task:
        """Cancel the user's task where the provider allows it (usually only while queued).

        Raises:
            TaskNotFoundError, NotSupportedError, InvalidRequestError (already finished).
        """
        task = await self.get(user, task_id, refresh=False)
        if task.status.is_final:
            raise InvalidRequestError(f"task {task_id} has already {task.status.value}; nothing to cancel")
        if task.remote_id is None:
            if task.status is TaskStatus.PENDING:
                raise NotSupportedError("this task is still being submitted; try again in a moment")
        else:
            adapter = self.provider(task.provider)
            if not adapter.supports_cancel:
                raise NotSupportedError(f"{task.provider} does not allow cancelling a task once it is submitted")
            await adapter.cancel(task.remote_id)
        now = self._clock()
        await self.store.update(
            task_id, status=TaskStatus.CANCELLED, finished_at=now, error_code="cancelled",
            error_message="cancelled by its owner",
        )
        if (watcher := self._watchers.get(task_id)) is not None:
            watcher.cancel()
        await self._changed(task_id)
        return await self._load(task_id)

    # -- delivery and events ---------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(task)`` after every change a watcher here makes. Returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def undelivered(self, target_prefix: str) -> list[Task]:
        return await self.store.undelivered(target_prefix)

    async def mark_delivered(self, task_id: str, *, user: str | None = None) -> bool:
        """Record that a front end showed the result; False if it was already recorded.

        With ``user``, only that user's task is touched (False otherwise).
        """
        return await self.store.mark_delivered(task_id, user=user)

    async def set_target(self, user: str, task_id: str, target: str) -> None:
        """Where to deliver the user's task. Raises `TaskNotFoundError` for another user's task."""
        if not await self.store.set_if(task_id, "user=?", (user,), target=target):
            raise TaskNotFoundError(f"no task {task_id!r} for you")

    async def handle_callback(self, task_id: str, token: str) -> bool:
        """A provider says the task changed. Checked by token; the state is re-fetched, not trusted."""
        raw = await self.store.get_raw(task_id)
        expected = (raw or {}).get("callback_token")
        if not expected or not hmac.compare_digest(str(expected), token):
            return False
        self._ensure_watch(task_id)
        self._wakeups.setdefault(task_id, asyncio.Event()).set()
        return True

    # -- lifecycle -------------------------------------------------------------------------------

    async def resume(self) -> int:
        """Watch every task a previous run left unfinished. Returns how many."""
        self._remove_stale_partials()
        tasks = await self.store.unfinished()
        for task in tasks:
            self._ensure_watch(task.id)
        return len(tasks)

    def _remove_stale_partials(self, older_than: float = 3600.0) -> None:
        """Partial downloads a killed process left behind (a live one renames its own within minutes)."""
        cutoff = time.time() - older_than
        for folder in (self.settings.media_dir, self.settings.home / "sandbox"):
            for partial in folder.glob(".*.part") if folder.is_dir() else ():
                with contextlib.suppress(OSError):
                    if partial.stat().st_mtime < cutoff:
                        partial.unlink()

    async def close(self) -> None:
        self._closed = True
        pending = [*self._watchers.values(), *self._background]
        for job in pending:
            job.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        # A watcher cancelled mid-lease never reaches its release; free them all at once.
        with contextlib.suppress(sqlite3.Error, ValueError):
            await self.store.release_all(self._owner)

    # -- the watcher -----------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        job = asyncio.ensure_future(coro)
        self._background.add(job)
        job.add_done_callback(self._background.discard)
        return job

    def _ensure_watch(self, task_id: str) -> None:
        if self._closed or task_id in self._watchers:
            return
        job = asyncio.create_task(self._watch(task_id), name=f"watch-{task_id}")
        self._watchers[task_id] = job
        job.add_done_callback(lambda _: self._watchers.pop(task_id, None))

    async def _watch(self, task_id: str) -> None:
        try:
            while not self._closed:
                task = await self.store.get(task_id)
                if task is None or task.is_final:
                    return
                if await self._take_lease(task_id):
                    try:
                        # Re-read under the lease: another process may have finished it meanwhile.
                        task = await self.store.get(task_id)
                        if task is None or task.is_final:
                            return
                        await self._drive(task)
                    finally:
                        await self.store.release(task_id, self._owner)
                    return
                # Another process is watching it; look again later in case it dies.
                await self._nap(task_id, 5.0)
                await self._changed(task_id, notify=False)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a watcher must never take the process down
            log.exception("watcher for task %s stopped", task_id)

    async def _drive(self, task: Task) -> None:
        """Move one task to its end: reconcile, poll on schedule, then fetch the result."""
        adapter = self.provider(task.provider)
        if task.status is TaskStatus.PENDING:
            task = await self._settle_pending(task, adapter, wait=True)
            if task.status is TaskStatus.PENDING and task.remote_id is None:
                # Sent just now by the settling, and that answer was lost too: reconcile it.
                task = await self._settle_pending(task, adapter, wait=True)
        exp = await self._expectation(task)
        polls = errors = 0
        last_poll: float | None = None
        while task.status.is_active and task.remote_id:
            elapsed = self._clock() - (task.submitted_at or task.created_at).timestamp()
            limit = (task.request.execution_expires_after or 172800) + EXPIRY_MARGIN
            if elapsed > limit:
                await self._fail(task.id, "expired", "the provider never finished this task", TaskStatus.EXPIRED)
                return
            delay = next_poll_delay(exp, elapsed, polls)
            if polls == 0 and elapsed > delay:
                delay = 0.0  # picked up after a restart: look at once, the schedule resumes after
            if errors:
                delay = max(delay, min(2.0**errors, 60.0))
            await self._nap(task.id, delay, renew_lease=True)
            try:
                remote = await adapter.get(task.remote_id)
            except TaskNotFoundError:
                await self._fail(task.id, "lost_by_provider", f"{task.provider} no longer has this task")
                return
            except SeedanceError as exc:
                # Any other answer to a status check (5xx, a proxy's 400, a malformed body) is
                # transient until proven otherwise: back off and ask again, and give up only after
                # a long run of failures, with the last error as the reason.
                errors += 1
                log.warning("task %s: status check failed (%s); will retry", task.id, exc.code)
                if errors >= MAX_POLL_ERRORS:
                    await self._fail(task.id, exc.code, f"the provider kept failing status checks: {exc}")
                    return
                continue
            errors = 0
            polls += 1
            now = self._clock()
            task = await self._apply(task, remote, done_since=last_poll)
            last_poll = now
        if task.status is TaskStatus.SUCCEEDED and task.finished_at is None:
            await self._fetch_results(task, adapter)

    async def _refresh_once(self, task: Task) -> None:
        if not await self._take_lease(task.id):
            return
        try:
            task = await self._load(task.id)  # as it is now that this process holds the lease
            if task.is_final:
                return
            adapter = self.provider(task.provider)
            if task.status is TaskStatus.PENDING:
                task = await self._settle_pending(task, adapter, wait=False)
            if task.status.is_active and task.remote_id:
                task = await self._apply(task, await adapter.get(task.remote_id))
            if task.status is TaskStatus.SUCCEEDED and task.finished_at is None:
                await self._fetch_results(task, adapter)
        finally:
            await self.store.release(task.id, self._owner)

    async def _settle_pending(self, task: Task, adapter: Provider, *, wait: bool) -> Task:
        """A pending task found after a crash or a lost answer: decide what really happened."""
        if task.id in self._sending:
            return task  # this process is sending it right now
        raw = await self.store.get_raw(task.id) or {}
        started = raw.get("submit_started_at")
        if started is None:
            # submit_started_at is written before the provider is called, so nothing was sent:
            # sending now is safe. Only a stale request is dropped rather than surprise its owner.
            if self._clock() - task.created_at.timestamp() < RESEND_WINDOW:
                with contextlib.suppress(SeedanceError):  # a refusal is recorded on the row by _send
                    await self._send(task, adapter, watch=False)
            else:
                await self._fail(task.id, "not_submitted", "interrupted before it was sent; nothing was charged")
            return await self._load(task.id)
        if not adapter.supports_reconcile:
            await self._fail(
                task.id,
                "submit_uncertain",
                f"the answer to the submit was lost; {task.provider} may have created (and charged) this task. "
                "It was not resent: check your provider dashboard before trying again",
            )
            return await self._load(task.id)
        since = datetime.fromtimestamp(float(started) - 5, UTC)
        while True:
            try:
                matches = await adapter.find_submitted(task.request, since=since)
            except (ProviderError, NotSupportedError) as exc:
                log.warning("task %s: reconcile failed (%s)", task.id, exc.code)
                matches = []
            for match in matches:
                with contextlib.suppress(sqlite3.IntegrityError):  # already adopted by another task
                    await self.store.update(
                        task.id, remote_id=match.remote_id, status=TaskStatus.QUEUED, submitted_at=float(started)
                    )
                    task = await self._load(task.id)
                    return await self._apply(task, match)
            if not wait or self._clock() - float(started) > RECONCILE_WINDOW:
                break
            await self._nap(task.id, 10.0)
        if self._clock() - float(started) > RECONCILE_WINDOW:
            await self._fail(
                task.id,
                "not_created",
                f"{task.provider} has no record of this task after the answer was lost; nothing was charged "
                "and it is safe to try again",
            )
        return await self._load(task.id)

    async def _apply(self, task: Task, remote: RemoteTask, *, done_since: float | None = None) -> Task:
        """Persist what the provider said; notify when something visible changed.

        ``done_since`` is when we last saw the task unfinished: the task finished between then and
        now, so the midpoint is the unbiased guess the schedule learns from.
        """
        # Compare with the row as it is now: a cancel (or another process) may have ended the task
        # since this watcher last looked, and a final row is never rewritten.
        task = await self._load(task.id)
        if task.status.is_final:
            return task
        fields: dict[str, Any] = {}
        if remote.status is not task.status:
            fields["status"] = remote.status
        if remote.progress is not None and remote.progress != task.progress:
            fields["progress"] = remote.progress
        if remote.video_url and remote.video_url != task.video_url:
            fields["video_url"] = remote.video_url
        if remote.last_frame_url and remote.last_frame_url != task.last_frame_url:
            fields["last_frame_url"] = remote.last_frame_url
        if remote.actual_cost is not None:
            fields["cost_actual"] = remote.actual_cost
        if remote.status is TaskStatus.SUCCEEDED and task.status is not TaskStatus.SUCCEEDED:
            now = self._clock()
            fields["done_at"] = (done_since + now) / 2 if done_since is not None else now
        if remote.status.is_final and remote.status is not TaskStatus.SUCCEEDED:
            error = remote.error or TaskError(code=remote.status.value, message=f"the task {remote.status.value}")
            fields.update(
                error_code=redact(error.code), error_message=redact(error.message), finished_at=self._clock()
            )
        if not fields:
            return task
        await self.store.update(task.id, **fields)
        await self._changed(task.id)
        return await self._load(task.id)

    async def _fetch_results(self, task: Task, adapter: Provider) -> None:
        """Download the video (and last frame) into the media folder, then mark the task final."""
        media = self.settings.media_dir
        max_bytes = self.settings.max_download_mb * 1024 * 1024
        fields: dict[str, Any] = {}
        for url, name, column in (
            (task.video_url, f"{task.id}.mp4", "video_path"),
            (task.last_frame_url, f"{task.id}-last-frame.png", "last_frame_path"),
        ):
            if not url:
                continue
            try:
                await self._download(adapter, url, media / name, max_bytes)
                fields[column] = str(media / name)
            except DownloadError as exc:
                if column == "video_path":
                    fields.update(error_code=exc.code, error_message=str(exc))
                log.warning("task %s: %s download failed: %s", task.id, column, exc)
        if not task.video_url:
            fields.update(error_code="no_video", error_message=f"{task.provider} reported success but no video link")
        await self.store.update(task.id, finished_at=self._clock(), **fields)
        await self._changed(task.id)

    async def _download(self, adapter: Provider, url: str, dest: Path, max_bytes: int) -> None:
        media_dir = dest.parent
        media_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            try:
                await adapter.download(url, dest, max_bytes=max_bytes)
                return
            except DownloadError as exc:
                if exc.code in ("link_expired", "too_large") or attempt == DOWNLOAD_ATTEMPTS:
                    raise
                await self._sleep(min(2.0**attempt, 10.0))

    async def _fail(
        self, task_id: str, code: str, message: str, status: TaskStatus = TaskStatus.FAILED
    ) -> None:
        await self.store.update(
            task_id, status=status, error_code=code, error_message=message, finished_at=self._clock()
        )
        await self._changed(task_id)

    async def _expectation(self, task: Task) -> Expectation:
        history = await self.store.recent_run_times(
            task.provider, task.model, task.request.resolution, task.request.duration
        )
        prior = None
        with contextlib.suppress(ConfigError):
            prior = self.provider(task.provider).expected_seconds(task.request)
        return Expectation.from_history(history, prior)

    async def _take_lease(self, task_id: str) -> bool:
        """Lease the task for this process; also take it over from a dead process on this host."""
        if await self.store.lease(task_id, self._owner, LEASE_SECONDS, now=self._clock()):
            return True
        raw = await self.store.get_raw(task_id) or {}
        holder = str(raw.get("lease_owner") or "")
        host, _, rest = holder.partition(":")
        pid = rest.partition(":")[0]
        if host == socket.gethostname() and pid.isdigit() and not _process_alive(int(pid)):
            # A CLI killed mid-wait leaves its lease behind; don't make the next command wait it out.
            return await self.store.set_if(
                task_id, "lease_owner=?", (holder,), lease_owner=self._owner,
                lease_until=self._clock() + LEASE_SECONDS,
            )
        return False

    async def _nap(self, task_id: str, seconds: float, *, renew_lease: bool = False) -> None:
        """Sleep, but wake early when a callback says something happened; keep the lease fresh."""
        slice_ = LEASE_SECONDS / 3
        while renew_lease and seconds > slice_:
            if await self._nap_once(task_id, slice_):
                return
            seconds -= slice_
            await self.store.lease(task_id, self._owner, LEASE_SECONDS, now=self._clock())
        await self._nap_once(task_id, seconds)
        if renew_lease:
            await self.store.lease(task_id, self._owner, LEASE_SECONDS, now=self._clock())

    async def _nap_once(self, task_id: str, seconds: float) -> bool:
        """Sleep ``seconds`` or until woken; True when woken early."""
        event = self._wakeups.setdefault(task_id, asyncio.Event())
        if event.is_set():
            event.clear()
            return True
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        waiter = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waiter.cancel()
        woken = event.is_set()
        event.clear()
        return woken

    async def _changed(self, task_id: str, *, notify: bool = True) -> None:
        event = self._events.pop(task_id, None)
        if event is not None:
            event.set()
        if not notify or not self._listeners:
            return
        task = await self._load(task_id)
        for listener in list(self._listeners):
            try:
                result = listener(task)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # noqa: BLE001 - one front end's bug must not stop the watcher
                log.exception("listener failed for task %s", task_id)

    async def _load(self, task_id: str) -> Task:
        task = await self.store.get(task_id)
        if task is None:
            raise TaskNotFoundError(f"task {task_id} disappeared from the store")
        return task


def user_tag(user: str) -> str:
    """A stable, non-reversible id for a user, as Ark's `safety_identifier` asks (≤ 64 chars)."""
    return hashlib.sha256(f"seedance-studio:{user}".encode()).hexdigest()[:32]


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process nobody has reaped yet still answers kill(0): look at its state
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


@contextlib.asynccontextmanager
async def open_service(settings: Settings, *, resume: bool = True) -> AsyncIterator[VideoService]:
    """Open the HTTP client, the store and the service; close them in reverse order."""
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    http = HttpClient()
    try:
        store = await TaskStore.open(settings.db_path)
        try:
            service = VideoService(settings=settings, store=store, http=http)
            service.provider()  # fail fast on a bad configuration
            if resume:
                await service.resume()
            try:
                yield service
            finally:
                await service.close()
        finally:
            await store.close()
    finally:
        await http.aclose()
