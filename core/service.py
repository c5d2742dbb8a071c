"""`VideoService`: the only thing front ends call.

A facade over the engine (`core.engine`): `submit` prices a request once, writes the row and sends
it; the scheduler, running in every long-lived process and briefly in a CLI command, advances every
due task whoever submitted it; reads first bring the user's tasks up to date, so nothing shows
stale. A task whose submit may have reached the provider but whose answer was lost is reconciled,
never resent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import catalog
from core.catalog import ModelSpec
from core.community import CommunitySettings
from core.config import Limits, Settings, local_user, local_user_aliases, login_name
from core.engine import fetch
from core.engine import story as stories
from core.engine import submit as submitting
from core.engine.context import EngineContext, Estimate, Listener
from core.engine.scheduler import Scheduler
from core.engine.submit import user_tag
from core.errors import (
    InvalidRequestError,
    LimitReachedError,
    NotSupportedError,
    SeedanceError,
    StoreError,
    TaskNotFoundError,
)
from core.home import prepare_home
from core.http import HttpClient
from core.models import Story, StoryStatus, Task, TaskStatus, VideoRequest
from core.providers import Provider, make_provider
from core.scheduling import Progress, estimate_progress
from core.store import Conflict, Page, TaskStore, open_store

log = logging.getLogger("seedance.service")

ProgressCallback = Callable[[Task, Progress], Awaitable[None]]
CALLBACK_MIN_INTERVAL = 5.0  # a replayed callback link costs at most one status request per this

__all__ = ["Estimate", "Listener", "ProgressCallback", "Usage", "VideoService", "open_service", "user_tag"]


@dataclass(frozen=True)
class Usage:
    """A user's day: videos started, spending, what runs and waits, and the limits that apply."""

    user: str
    limits: Limits
    tasks_today: int
    usd_today: float
    community_usd_today: float | None
    running: int
    waiting: int
    spent_by_unit: dict[str, float]  # "tokens" / "credits" -> amount

    @property
    def tasks_left(self) -> int | None:
        per_day = self.limits.max_tasks_per_day
        return None if per_day is None else max(per_day - self.tasks_today, 0)

    @property
    def usd_left(self) -> float | None:
        budget = self.limits.daily_budget_usd
        return None if budget is None else max(budget - self.usd_today, 0.0)


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
        self._ctx = EngineContext(settings=settings, store=store, provider=self.provider, clock=clock, sleep=sleep)
        self.scheduler = Scheduler(self._ctx)
        self._closed = False

    @property
    def instance(self) -> str:
        """This process's random instance id: the name on its leases."""
        return self._ctx.instance

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

    def estimate(self, request: VideoRequest, provider: str | None = None) -> Estimate:
        """What ``request`` would cost, resolved and priced once. Raises `InvalidRequestError`."""
        return submitting.estimate(self._ctx, request, provider)

    # -- submitting ------------------------------------------------------------------------------

    async def check_limits(
        self,
        user: str,
        request: VideoRequest | Estimate,
        provider: str | None = None,
        *,
        scope: str | None = None,
        roles: Sequence[str] = (),
        channel: str | None = None,
    ) -> Estimate:
        """Would ``submit`` accept this now? Validates and checks the user's limits without sending.

        Raises:
            InvalidRequestError, LimitReachedError: as `submit` would, before anything is paid for.
        """
        est = request if isinstance(request, Estimate) else self.estimate(request, provider)
        await self.scheduler.refresh_user(user)  # a finished task must not count as running
        task = submitting.new_task(user, est, scope=scope)
        limits = await self.limits_for(scope, roles, channel=channel)
        await self.store.check_limits(
            task, limits, now=self._ctx.clock(), queue=limits.queue,
            provider_cap=self.settings.provider_settings(est.provider).max_concurrent,
        )
        return est

    async def submit(
        self,
        user: str,
        request: VideoRequest | Estimate,
        *,
        provider: str | None = None,
        target: str | None = None,
        request_key: str | None = None,
        scope: str | None = None,
        roles: Sequence[str] = (),
        channel: str | None = None,
    ) -> Task:
        """Validate, persist, then send ``request``; returns the task (queued, or pending if unsure).

        Over the running limit the task is stored ``waiting`` (its ``queue`` says where it stands)
        and starts by itself when a slot frees. ``scope`` names the community it counts against
        (``discord:<guild>``), whose settings (with the member's ``roles``) set its limits and may
        restrict it to some channels.

        ``request`` may be the `Estimate` a front end already showed: it is not resolved again.
        The provider call runs in a service-owned task: a caller that is cancelled or times out
        does not stop it, and the row always says how far it got.

        Raises:
            InvalidRequestError: the request is invalid; nothing was sent.
            LimitReachedError: a per-user limit was reached; nothing was sent.
            ProviderError: the provider refused the task (the row is marked failed).
        """
        if request_key and (existing := await self.store.by_request_key(user, request_key)) is not None:
            if not existing.never_sent:
                return existing
            # That attempt provably created nothing (and said "safe to try again"): the key is free.
            await self.store.update(existing.id, request_key=None)
        est = request if isinstance(request, Estimate) else self.estimate(request, provider)
        adapter = self.provider(est.provider)
        limits = await self.limits_for(scope, roles, channel=channel)
        await self.scheduler.refresh_user(user)
        task = submitting.new_task(user, est, target=target, request_key=request_key, scope=scope)
        status = await submitting.insert_leased(self._ctx, task, limits)
        if status is None:
            existing = await self.store.by_request_key(user, request_key or "")
            if existing is None:
                raise InvalidRequestError("this task could not be stored; try again")
            return await self._placed(existing)
        if status is TaskStatus.WAITING:
            return await self._placed(await self._ctx.load(task.id))
        self.scheduler.start_heartbeat()  # keeps the new row's lease alive however long the submit takes
        sender = self._ctx.spawn(submitting.send(self._ctx, task, adapter), name=f"send-{task.id}")
        await asyncio.shield(sender)
        return await self._ctx.load(task.id)

    async def limits_for(
        self, scope: str | None, roles: Sequence[str] = (), *, channel: str | None = None
    ) -> Limits:
        """The limits a request from this community, member roles and channel gets (the operator's
        limits are the ceiling). Raises `LimitReachedError` in a channel the community closed."""
        if scope is None:
            return self.settings.limits
        community = await self.community_settings(scope)
        if not community.allows_channel(channel):
            raise LimitReachedError("videos cannot be made in this channel here; ask a server admin where")
        return community.limits_for(self.settings.limits, roles)

    async def community_settings(self, scope: str) -> CommunitySettings:
        stored = await self.store.community_settings(scope)
        if stored is None:
            return CommunitySettings()
        try:
            return CommunitySettings.model_validate_json(stored)
        except ValueError:
            log.error("the settings of %s are damaged; using the defaults", scope)
            return CommunitySettings()

    async def update_community_settings(self, scope: str, by: str, **changes: Any) -> CommunitySettings:
        """Change a community's settings (the front end checks that ``by`` may). Raises `InvalidRequestError`."""
        current = await self.community_settings(scope)
        try:
            updated = CommunitySettings.model_validate({**current.model_dump(), **changes})
        except ValueError as exc:
            raise InvalidRequestError(f"invalid settings: {str(exc).splitlines()[0]}") from None
        if updated.default_model is not None:
            self.estimate(VideoRequest(prompt="x", model=updated.default_model))  # a model this provider has
        await self.store.save_community_settings(scope, updated.model_dump_json(), by=by, now=self._ctx.clock())
        return updated

    async def usage(self, user: str, *, scope: str | None = None, roles: Sequence[str] = ()) -> Usage:
        """A user's videos and spending today and what is left of their limits."""
        await self.scheduler.refresh_user(user)
        limits = await self.limits_for(scope, roles)
        spent = await self.store.spent_today(user, now=self._ctx.clock(), scope=scope)
        counts = await self.store.active_counts([user])
        waiting = await self.store.count_in_line(user)
        return Usage(
            user=user, limits=limits, tasks_today=int(spent.pop("tasks")), usd_today=spent.pop("usd"),
            community_usd_today=spent.pop("community_usd", None), running=counts.get(user, 0),
            waiting=waiting, spent_by_unit=spent,
        )

    async def queue(self, scope: str | None, *, limit: int = 50) -> list[Task]:
        """A community's line (what runs, then what waits), each waiting task with its place."""
        return [await self._placed(t) for t in await self.store.community_queue(scope, limit=limit)]

    async def _placed(self, task: Task) -> Task:
        if task.status is not TaskStatus.WAITING:
            return task
        return task.model_copy(update={"queue": await self.store.queue_place(task)})

    # -- reading ---------------------------------------------------------------------------------

    async def get(self, user: str, task_id: str, *, refresh: bool = True) -> Task:
        """The user's task, brought up to date first (bounded) unless ``refresh`` is False.

        Raises:
            TaskNotFoundError: no such task for this user.
        """
        task = await self.store.get(task_id, user=user)
        if task is None:
            raise TaskNotFoundError(f"no task {task_id!r} for you; see your history for your task ids")
        if refresh and not task.is_final:
            await self.scheduler.refresh_user(user)
            task = await self._ctx.load(task_id)
        return await self._here(await self._placed(task))

    async def _here(self, task: Task) -> Task:
        """A finished task as this machine sees it: with a shared database another machine may have
        saved the video, so its ``video_path`` here is this process's own copy (fetched now)."""
        if not task.is_final or task.status is not TaskStatus.SUCCEEDED or not task.video_url:
            return task
        if not task.video_path or Path(task.video_path).is_file():
            return task  # no copy anywhere (the download failed, and says why), or it is here
        try:
            path = await self.local_video(task)
        except SeedanceError as exc:
            log.warning("task %s: no local copy of its video (%s)", task.id, exc.code)
            return task.model_copy(update={"video_path": None})
        return task.model_copy(update={"video_path": str(path) if path else None})

    async def page(self, user: str, *, limit: int = 20, offset: int = 0, status: str | None = None) -> Page:
        """A page of the user's tasks, newest first, fresh; ``has_more`` says whether more follow."""
        await self.scheduler.refresh_user(user)
        statuses = [status] if status else None
        page = await self.store.page_for_user(user, limit=max(1, min(limit, 100)), offset=offset, statuses=statuses)
        return Page(tasks=[await self._placed(t) for t in page.tasks], has_more=page.has_more)

    async def list_tasks(
        self, user: str, *, limit: int = 20, offset: int = 0, status: str | None = None
    ) -> list[Task]:
        return (await self.page(user, limit=limit, offset=offset, status=status)).tasks

    async def count_tasks(self, user: str, *, status: str | None = None) -> int:
        return await self.store.count_for_user(user, statuses=[status] if status else None)

    async def wait(
        self,
        user: str,
        task_id: str,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        interval: float = 1.0,
    ) -> Task:
        """Wait until the task is final or ``timeout`` passes; returns the task either way.

        The scheduler runs in this process meanwhile (for this user, unless it already runs for
        everyone), so a task is finished here even when no other process is running.
        """
        task = await self.get(user, task_id, refresh=False)
        if not task.is_final and not self._closed:
            self.scheduler.start(user=user)
        started = self._ctx.clock()
        while True:
            # Take the change event before reading, so a change in between is not missed.
            event = self._ctx.changed_event(task_id)
            task = await self._placed(await self._ctx.load(task_id))
            if task.is_final:
                return await self._here(task)
            if on_progress is not None:
                await on_progress(task, await self.progress(task))
            if (pause := self._pause(started, timeout, interval)) is None:
                return task
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), pause)

    def _pause(self, started: float, timeout: float | None, interval: float) -> float | None:
        """How long a wait that began at ``started`` may nap before looking again; None when its
        ``timeout`` is up."""
        if timeout is None:
            return interval
        left = timeout - (self._ctx.clock() - started)
        return min(interval, left) if left > 0 else None

    async def progress(self, task: Task) -> Progress:
        exp = await self.scheduler.expectation(task.provider, task.model, task.request)
        since = task.submitted_at or task.created_at
        return estimate_progress(exp, max(self._ctx.clock() - since.timestamp(), 0.0), task.progress)

    # -- cancelling ------------------------------------------------------------------------------

    async def cancel(self, user: str, task_id: str) -> Task:
        """Cancel the user's task where the provider allows it (usually only while queued).

        Raises:
            TaskNotFoundError, NotSupportedError, InvalidRequestError (already finished).
        """
        task = await self.get(user, task_id, refresh=False)
        if task.is_final:
            raise InvalidRequestError(f"task {task_id} has already {_past(task.status)}; nothing to cancel")
        if task.status is TaskStatus.SUCCEEDED:
            raise InvalidRequestError(f"task {task_id} has already succeeded; its video is being saved")
        if task.status is TaskStatus.WAITING:
            pass  # nothing was sent: nothing to tell the provider, nothing paid
        elif task.remote_id is None:
            if task.status is TaskStatus.PENDING:
                raise NotSupportedError("this task is still being submitted; try again in a moment")
        else:
            adapter = self.provider(task.provider)
            if not adapter.supports_cancel:
                raise NotSupportedError(f"{task.provider} does not allow cancelling a task once it is submitted")
            await adapter.cancel(task.remote_id)
        await self.store.update_unfinished(
            task_id, status=TaskStatus.CANCELLED, finished_at=self._ctx.clock(), error_code="cancelled",
            error_message="cancelled by its owner",
        )
        await self._ctx.changed(task_id)
        return await self._ctx.load(task_id)

    async def local_video(self, task: Task) -> Path | None:
        """The task's video on this machine: with a shared database another machine may have saved it,
        so a process about to deliver it downloads its own copy (while the link is valid)."""
        if task.video_path and Path(task.video_path).is_file():
            return Path(task.video_path)
        if not task.video_url or task.status is not TaskStatus.SUCCEEDED:
            return None
        dest = self.settings.media_dir / f"{task.id}.mp4"
        if not dest.is_file():
            await fetch.download_copy(self._ctx, self.provider(task.provider), task.video_url, dest)
        return dest

    async def delete(self, user: str, task_id: str) -> None:
        """Delete one of the user's finished tasks and its files (a result its owner no longer wants).

        Raises:
            TaskNotFoundError: no such task for this user. InvalidRequestError: it has not finished.
        """
        task = await self.get(user, task_id, refresh=False)
        removed = await self.store.delete(task_id, user=user)
        if removed is None:
            raise InvalidRequestError(f"task {task_id} is still {task.status.value}; cancel it first")
        copies = list(self.settings.media_dir.glob(f"{removed.id}-fit-*.mp4"))  # copies made to fit uploads
        for path in (removed.video_path, removed.last_frame_path, *copies):
            if path:
                with contextlib.suppress(OSError):
                    Path(path).unlink()

    # -- stories: one long video from 2-6 shots (issue 10 section 2; core/engine/story.py) -----------

    @staticmethod
    def is_story_id(value: str) -> bool:
        """Story ids start with ``story-``; task ids never do."""
        return stories.is_story_id(value)

    async def create_story(
        self,
        user: str,
        shots: Sequence[str],
        request: VideoRequest,
        *,
        provider: str | None = None,
        target: str | None = None,
        scope: str | None = None,
        roles: Sequence[str] = (),
        channel: str | None = None,
        request_key: str | None = None,
    ) -> Story:
        """Store a story of 2-6 shots (one prompt each; ``request`` holds the options they share and
        may give shot 1 a first frame), priced and reserved as a whole, and start shot 1. Each next
        shot starts from the last frame of the one before; the shots are joined into one MP4 when all
        are done. A provider refusing shot 1 shows as a failed story (retry or cancel it).

        Raises:
            InvalidRequestError: a shot is invalid or the model cannot continue from a last frame; nothing stored.
            LimitReachedError: the shots together break a limit; nothing stored, nothing paid.
        """
        if request_key and (done := await self.store.by_request_key(user, f"{request_key}#shot1")) is not None:
            return await self.get_story(user, done.story_id or "", refresh=False)
        estimates = stories.plan(self._ctx, shots, request, provider)
        limits = await self.limits_for(scope, roles, channel=channel)
        await self.scheduler.refresh_user(user)  # a finished task must not count as running
        try:
            story_id, first = await stories.create(
                self._ctx, user, estimates, request, limits, target=target, scope=scope, request_key=request_key
            )
        except Conflict:
            done = await self.store.by_request_key(user, f"{request_key}#shot1")
            if done is None or done.story_id is None:
                raise InvalidRequestError("this story could not be stored; try again") from None
            return await self.get_story(user, done.story_id, refresh=False)
        if first is not None:
            await self._send_shot(first)
        return await self.get_story(user, story_id, refresh=False)

    async def get_story(self, user: str, story_id: str, *, refresh: bool = True) -> Story:
        """The user's story with each shot's progress, brought up to date first unless ``refresh`` is False.

        Raises:
            TaskNotFoundError: no such story for this user.
        """
        found = await stories.load(self._ctx, story_id, user=user)
        if found is None:
            raise TaskNotFoundError(f"no story {story_id!r} for you; see your stories for their ids")
        if refresh and not found.is_final:
            await self.scheduler.refresh_user(user)
            found = await stories.load(self._ctx, story_id, user=user) or found
        shots = [await self._placed(t) for t in found.shots]
        progress = []
        for task in shots:
            if task.status in (TaskStatus.WAITING, TaskStatus.PENDING) or task.is_final:
                progress.append(1.0 if task.is_final and task.video_path else task.progress or 0.0)
            else:
                progress.append((await self.progress(task)).fraction)
        return found.model_copy(update={"shots": shots, "progress": progress})

    async def wait_story(
        self,
        user: str,
        story_id: str,
        *,
        timeout: float | None = None,
        on_progress: Callable[[Story], Awaitable[None]] | None = None,
        interval: float = 1.0,
    ) -> Story:
        """Wait until the story is final (joined, failed or cancelled) or ``timeout`` passes; returns it
        either way. The scheduler runs in this process meanwhile, so the shots and the join happen here
        even when no other process runs."""
        found = await self.get_story(user, story_id, refresh=False)
        if not found.is_final and not self._closed:
            self.scheduler.start(user=user)
        started = self._ctx.clock()
        while True:
            ids = [story_id, *(t.id for t in found.shots if not t.is_final)]
            events = [self._ctx.changed_event(i) for i in ids]  # taken before reading: no change is missed
            found = await self.get_story(user, story_id, refresh=False)
            if found.is_final:
                return found
            if on_progress is not None:
                await on_progress(found)
            if (pause := self._pause(started, timeout, interval)) is None:
                return found
            waiters = [asyncio.ensure_future(e.wait()) for e in events]
            try:
                await asyncio.wait(waiters, timeout=pause, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def retry_story(
        self,
        user: str,
        story_id: str,
        *,
        prompt: str | None = None,
        roles: Sequence[str] = (),
        channel: str | None = None,
    ) -> Story:
        """Make a failed story's failed shot again, with a new ``prompt`` if given (only that shot is
        paid again; the shots after it follow the new one), or join again a story whose join failed.

        Raises:
            TaskNotFoundError: no such story. InvalidRequestError: it has not failed (or is being retried).
            LimitReachedError: the new attempt breaks a limit.
        """
        found = await self.get_story(user, story_id)
        if found.status is not StoryStatus.FAILED:
            raise InvalidRequestError(f"story {story_id} is {found.status.value}; only a failed story can be retried")
        limits = await self.limits_for(found.scope, roles, channel=channel)
        try:
            task = await stories.retry(self._ctx, found, limits, prompt=prompt)
        except Conflict:
            raise InvalidRequestError(f"the failed shot of story {story_id} is already being made again") from None
        if task is not None:
            await self._send_shot(task)
        self._ctx.wake.set()
        await self._ctx.changed(story_id, notify=False)
        return await self.get_story(user, story_id, refresh=False)

    async def cancel_story(self, user: str, story_id: str) -> Story:
        """Cancel a story: its waiting shots are dropped for free and the running one is cancelled where
        the provider allows it (otherwise it finishes, and is paid, but nothing follows it).

        Raises:
            TaskNotFoundError: no such story. InvalidRequestError: it was joined, cancelled, or is being joined.
        """
        found = await self.get_story(user, story_id, refresh=False)
        if found.status in (StoryStatus.SUCCEEDED, StoryStatus.CANCELLED):
            raise InvalidRequestError(f"story {story_id} has already {_past_story(found.status)}; nothing to cancel")
        if not await stories.rows(self._ctx).cancel(story_id, user, now=self._ctx.clock()):
            raise InvalidRequestError(f"the shots of story {story_id} are done and its video is being joined")
        for task in found.shots:
            if not task.is_final:
                with contextlib.suppress(NotSupportedError, InvalidRequestError):
                    await self.cancel(user, task.id)
        await self._ctx.changed(story_id, notify=False)
        return await self.get_story(user, story_id, refresh=False)

    async def page_stories(self, user: str, *, limit: int = 20, offset: int = 0) -> stories.StoryPage:
        """A page of the user's stories, newest first (their shots are in the task history too)."""
        records, more = await stories.rows(self._ctx).page_for_user(user, limit=max(1, min(limit, 100)), offset=offset)
        return stories.StoryPage(stories=[await self.get_story(user, r.id, refresh=False) for r in records],
                                 has_more=more)

    async def undelivered_stories(self, target_prefix: str) -> list[Story]:
        """Final stories for a front end's targets that it has not delivered yet (restart-safe delivery)."""
        records = await stories.rows(self._ctx).undelivered(target_prefix)
        return [await self.get_story(r.user, r.id, refresh=False) for r in records]

    async def mark_story_delivered(self, story_id: str, *, user: str | None = None) -> bool:
        return await stories.rows(self._ctx).mark_delivered(story_id, user=user)

    async def set_story_target(self, user: str, story_id: str, target: str) -> None:
        """Where to deliver the user's story. Raises `TaskNotFoundError` for another user's story."""
        if not await stories.rows(self._ctx).set_target(story_id, user, target):
            raise TaskNotFoundError(f"no story {story_id!r} for you")

    async def _send_shot(self, task: Task) -> None:
        """Send a shot born leased to this process; a refusal is recorded on it (the story shows it failed)."""
        adapter = self.provider(task.provider)
        self.scheduler.start_heartbeat()
        sender = self._ctx.spawn(submitting.send(self._ctx, task, adapter), name=f"send-{task.id}")
        with contextlib.suppress(SeedanceError):
            await asyncio.shield(sender)

    # -- delivery and events ---------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(task)`` after every change this process makes. Returns an unsubscribe."""
        listeners = self._ctx.listeners
        listeners.append(listener)
        return lambda: listeners.remove(listener) if listener in listeners else None

    async def undelivered(self, target_prefix: str) -> list[Task]:
        return await self.store.undelivered(target_prefix)

    async def mark_delivered(self, task_id: str, *, user: str | None = None) -> bool:
        """Record that a front end showed the result; False if it was already recorded.

        With ``user``, only that user's task is touched (False otherwise).
        """
        return await self.store.mark_delivered(task_id, user=user)

    async def set_target(self, user: str, task_id: str, target: str) -> None:
        """Where to deliver the user's task. Raises `TaskNotFoundError` for another user's task."""
        if not await self.store.set_if(task_id, '"user"=?', (user,), target=target):
            raise TaskNotFoundError(f"no task {task_id!r} for you")

    async def handle_callback(self, task_id: str, token: str) -> bool:
        """A provider says the task changed. Checked by token; the state is re-fetched, not trusted.

        A task already final ignores callbacks, and a replayed link asks the provider at most once
        per `CALLBACK_MIN_INTERVAL`. Returns False for an unknown task or a wrong token.
        """
        outcome = await self.store.record_callback(
            task_id, token, now=self._ctx.clock(), min_interval=CALLBACK_MIN_INTERVAL
        )
        if outcome == "due":
            self._ctx.wake.set()
            await self.store.db.notify(task_id)  # the replica holding the task wakes at once
        return outcome != "bad"

    # -- lifecycle -------------------------------------------------------------------------------

    async def resume(self) -> int:
        """Run the scheduler for every task in this process. Returns how many are unfinished now."""
        self._remove_stale_partials()
        self.scheduler.start()
        return await self.store.count_unfinished()

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
        await self.scheduler.stop()
        pending: list[asyncio.Task[Any]] = list(self._ctx.background)
        for job in pending:
            job.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        # Free every lease at once, so another process need not wait them out, and this process's
        # share of the request budgets for the others.
        with contextlib.suppress(StoreError):
            await self.store.release_all(self._ctx.instance)
            await self.store.leave(self._ctx.instance)

    async def fit_video(self, item: Task | Story, max_bytes: int) -> Path | None:
        """The video of a task (or a story's joined video) re-encoded to at most ``max_bytes`` (an
        upload limit), kept beside it for the next time; None when it is not here or is too far over
        to fit well (send a link)."""
        from core.media_fit import fit_to_size  # PyAV loads only when a front end needs a fit

        if isinstance(item, Story):  # joined on the machine that joined it; nothing to fetch
            source = Path(item.video_path) if item.video_path and Path(item.video_path).is_file() else None
        else:
            source = await self.local_video(item)
        if source is None:
            return None
        dest = self.settings.media_dir / f"{item.id}-fit-{max_bytes}.mp4"
        if dest.is_file():
            return dest
        fitted = await asyncio.to_thread(fit_to_size, source, dest, max_bytes)
        return None if fitted is None else fitted.path


def _past(status: TaskStatus) -> str:
    return "been cancelled" if status is TaskStatus.CANCELLED else status.value


def _past_story(status: StoryStatus) -> str:
    return "been cancelled" if status is StoryStatus.CANCELLED else "been made"


@contextlib.asynccontextmanager
async def open_service(settings: Settings, *, resume: bool = True) -> AsyncIterator[VideoService]:
    """Open the HTTP client, the store and the service; close them in reverse order.

    ``resume``: run the scheduler for every task (long-lived processes). Without it (the CLI), the
    scheduler runs only while a command waits, and reads refresh the user's own tasks.

    Raises:
        StoreError: the database cannot be used (one line naming it).
        ConfigError: the setup is wrong.
    """
    prepare_home(settings.home)  # refuses a home another local user could read or plant files in
    url = settings.database_url.get_secret_value() if settings.database_url else None
    store = await open_store(path=settings.db_path, url=url)
    if url is None:  # one person on one computer has one history, whichever front end they used
        await store.merge_users(local_user_aliases(login_name()), local_user())
    try:
        http = HttpClient()
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
            await http.aclose()
    finally:
        await store.close()


__all__ += ["StoreError"]
