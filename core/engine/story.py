"""Stories: one long video made of 2–6 shots, each a task, joined into one MP4 when all are done.

Shot 1 starts like any task (or waits in our queue). Shots 2..N are stored at the same moment as
``waiting`` rows, each with ``after_task_id`` = the shot before it, so the whole story is priced
and reserved (tasks per day, budgets) before anything is paid; the queue starts shot k+1 only once
shot k has its video, from shot k's last frame. Every shot but the last asks the provider for its
last frame (``return_last_frame``): a model that cannot return one is refused up front, because
its shots could not continue one from another.

Everything is in rows, so any process carries a story on after a restart. The scheduler calls
`advance` every round: a story whose shots all have their videos is joined (`core.media_join`)
under the story row's lease, by exactly one process; a story whose current shot failed is recorded
as failed. `retry` makes a failed shot again (only that shot is paid again) and the shots after it
follow the new attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
from collections.abc import Sequence
from pathlib import Path

from core import catalog
from core.config import Limits
from core.engine import fetch
from core.engine import submit as submitting
from core.engine.context import HEARTBEAT_SECONDS, LEASE_SECONDS, EngineContext, Estimate
from core.errors import InvalidRequestError, SeedanceError, StoreError
from core.media import DownloadError
from core.media_join import JoinError, join_videos
from core.models import Cost, ImageInput, ImageRole, Story, StoryStatus, Task, TaskError, TaskStatus, VideoRequest
from core.store.stories import StoryRecord, StoryRows, new_story_row

log = logging.getLogger("seedance.story")

MIN_SHOTS, MAX_SHOTS = 2, 6
ID_PREFIX = "story-"
ADVANCE_BATCH = 50  # stories looked at per scheduler round
JOIN_RETRY_SECONDS = 60.0  # a join that could not write its file (a full disk) is tried again after this
# Stands in for the previous shot's last frame while the later shots are validated and priced; never sent.
_FRAME_PLACEHOLDER = ImageInput(url="data:image/png;base64,iVBORw0KGgo=", role=ImageRole.FIRST_FRAME)


@dataclasses.dataclass(frozen=True)
class StoryPage:
    stories: list[Story]
    has_more: bool


def is_story_id(value: str) -> bool:
    return value.startswith(ID_PREFIX)


def rows(ctx: EngineContext) -> StoryRows:
    return StoryRows(ctx.store.db)


# -- planning and storing ----------------------------------------------------------------------------


def plan(ctx: EngineContext, shots: Sequence[str], request: VideoRequest, provider: str | None) -> list[Estimate]:
    """Validate and price every shot of a story. Raises `InvalidRequestError` naming the shot."""
    if not MIN_SHOTS <= len(shots) <= MAX_SHOTS:
        raise InvalidRequestError(f"a story has {MIN_SHOTS} to {MAX_SHOTS} shots; {len(shots)} given", field="shots")
    if request.last_frame() is not None or request.reference_images() or request.videos or request.audios:
        raise InvalidRequestError(
            "a story takes only a first frame for shot 1: each later shot starts from the last frame of the "
            "one before, which cannot be mixed with a last frame or reference media", field="images")
    base = submitting.estimate(ctx, request.model_copy(update={"prompt": shots[0] or "x"}), provider)
    spec = catalog.get_model(base.provider, base.model)
    if not (spec.return_last_frame and "first_frame" in spec.modes and spec.data_url_images):
        able = [s.id for s in catalog.models(base.provider)
                if s.return_last_frame and "first_frame" in s.modes and s.data_url_images]
        choose = f"choose {', '.join(able)}" if able else f"{base.provider} has no model that can"
        raise InvalidRequestError(
            f"{spec.label} on {base.provider} cannot continue one shot from the last frame of another, so it cannot "
            f"make stories: {choose}", field="model")
    estimates = []
    for index, prompt in enumerate(shots):
        shot = request.model_copy(update={
            "prompt": prompt,
            "model": base.model,
            "return_last_frame": index < len(shots) - 1,
            "images": request.images if index == 0 else (_FRAME_PLACEHOLDER,),
        })
        try:
            est = submitting.estimate(ctx, shot, base.provider)
        except InvalidRequestError as exc:
            raise InvalidRequestError(f"shot {index + 1}: {exc}", field=exc.field) from None
        if index > 0:  # stored without the stand-in: the queue puts the real frame in when the shot starts
            est = dataclasses.replace(est, request=est.request.model_copy(update={"images": ()}))
        estimates.append(est)
    return estimates


async def create(
    ctx: EngineContext,
    user: str,
    estimates: Sequence[Estimate],
    common: VideoRequest,
    limits: Limits,
    *,
    target: str | None = None,
    scope: str | None = None,
    request_key: str | None = None,
) -> tuple[str, Task | None]:
    """Store the story and all its shots at once (limits checked on their sum).

    Returns the story id and shot 1 when it is born leased to this process, for the caller to send
    (None when it waits in the queue).

    Raises:
        LimitReachedError: the story as a whole breaks a limit; nothing was stored.
        Conflict: the request key was used before.
    """
    story_id = ID_PREFIX + secrets.token_hex(5)
    tasks: list[Task] = []
    for index, est in enumerate(estimates):
        tasks.append(submitting.new_task(
            user, est, scope=scope, story_id=story_id, shot_index=index,
            after_task_id=tasks[-1].id if tasks else None,
            request_key=f"{request_key}#shot{index + 1}" if request_key else None,
        ))
    now = ctx.clock()
    shared = common.model_copy(update={"prompt": "", "images": (), "model": estimates[0].model})
    row = new_story_row(story_id, user, shared, len(tasks), scope=scope, target=target, now=now)
    statuses = await ctx.store.insert_story(
        row, tasks, limits=limits, now=now, lease=(ctx.instance, now + LEASE_SECONDS), queue=limits.queue,
        provider_cap=ctx.settings.provider_settings(estimates[0].provider).max_concurrent,
    )
    return story_id, tasks[0] if statuses[0] is TaskStatus.PENDING else None


async def retry(ctx: EngineContext, story: Story, limits: Limits, *, prompt: str | None = None) -> Task | None:
    """Make the story's failed shot again (with a new ``prompt`` if given: a refused prompt would be
    refused again); the shot after it then waits for the new attempt.

    Returns the new task when it is born leased to this process (the caller sends it).

    Raises:
        InvalidRequestError: the story has no failed shot. LimitReachedError: the new attempt breaks a limit.
        Conflict: this failed shot was retried already.

    A story whose shots are all done but whose join failed is opened again, to be joined again.
    """
    failed = story.failed_shot
    if failed is None:
        if story.error is None or not await rows(ctx).reopen(story.id, now=ctx.clock()):
            raise InvalidRequestError(f"story {story.id} has no failed shot to make again")
        return None  # every shot is done and only the join failed: it is tried again
    index = failed.shot_index or 0
    previous = story.shots[index - 1] if index > 0 else None
    request = failed.request
    if previous is not None:  # its frame is put in again from the previous shot when it starts
        request = request.model_copy(update={"images": ()})
    est = Estimate(
        provider=failed.provider, model=failed.model, unit=failed.cost.unit, amount=failed.cost.estimated or 0.0,
        request=request, usd=failed.cost.usd_estimated,
    )
    if prompt is not None:
        asked = request.model_copy(update={"prompt": prompt, "safety_identifier": None})
        if previous is not None:
            asked = asked.model_copy(update={"images": (_FRAME_PLACEHOLDER,)})
        try:
            est = submitting.estimate(ctx, asked, failed.provider)
        except InvalidRequestError as exc:
            raise InvalidRequestError(f"shot {index + 1}: {exc}", field=exc.field) from None
        if previous is not None:
            est = dataclasses.replace(est, request=est.request.model_copy(update={"images": ()}))
    task = submitting.new_task(
        story.user, est, scope=story.scope, story_id=story.id, shot_index=index,
        after_task_id=previous.id if previous is not None else None,
        request_key=f"retry:{failed.id}",  # a second retry of the same failed shot conflicts
    )
    now = ctx.clock()
    statuses = await ctx.store.insert_story(
        None, [task], limits=limits, now=now, lease=(ctx.instance, now + LEASE_SECONDS), queue=limits.queue,
        provider_cap=ctx.settings.provider_settings(task.provider).max_concurrent, repoint=(failed.id, task.id),
    )
    await rows(ctx).reopen(story.id, now=now)
    return task if statuses[0] is TaskStatus.PENDING else None


# -- reading -------------------------------------------------------------------------------------


async def load(ctx: EngineContext, story_id: str, *, user: str | None = None) -> Story | None:
    """The story with the current attempt of each shot and its derived status (None if not theirs)."""
    record = await rows(ctx).get(story_id, user=user)
    if record is None:
        return None
    return _story(record, await ctx.store.story_shots(story_id))


def _story(record: StoryRecord, attempts: Sequence[Task]) -> Story:
    current: dict[int, Task] = {}
    for task in attempts:  # oldest first: the last attempt of each shot wins
        current[task.shot_index or 0] = task
    shots = [current[i] for i in sorted(current)]
    status, error = _status(record, shots)
    finished = record.finished_at
    if finished is None and status is StoryStatus.FAILED:
        finished = max((t.finished_at for t in shots if t.finished_at), default=record.updated_at)
    return Story(
        id=record.id, user=record.user, status=status, shots=shots, attempts=len(attempts),
        video_path=record.video_path, cost=_cost(shots, attempts), error=error, scope=record.scope,
        target=record.target, created_at=record.created_at, updated_at=record.updated_at,
        finished_at=None if status in (StoryStatus.WAITING, StoryStatus.RUNNING) else finished,
        delivered_at=record.delivered_at,
    )


def _status(record: StoryRecord, shots: Sequence[Task]) -> tuple[StoryStatus, TaskError | None]:
    if record.error is not None and record.error.code == "cancelled":
        return StoryStatus.CANCELLED, record.error
    if record.video_path:
        return StoryStatus.SUCCEEDED, None
    if record.error is not None:
        return StoryStatus.FAILED, record.error
    if len(shots) < record.shots:
        return StoryStatus.FAILED, TaskError(code="shot_missing", message="a shot of this story was deleted")
    for number, task in enumerate(shots, start=1):
        if task.ended_without_video:
            return StoryStatus.FAILED, _shot_error(task, number, len(shots))
    if all(t.status is TaskStatus.WAITING for t in shots):
        return StoryStatus.WAITING, None
    return StoryStatus.RUNNING, None


def _shot_error(task: Task, number: int, count: int) -> TaskError:
    why = task.error.message if task.error else f"it {task.status.value}"
    return TaskError(
        code="shot_failed",
        message=f"shot {number} of {count} did not make a video ({why}); retry the story to make that shot "
        "again (the other shots are kept and not paid again), or cancel it",
    )


def _cost(shots: Sequence[Task], attempts: Sequence[Task]) -> Cost:
    """What the story costs: the estimates of its current shots; what was billed, retries included."""

    def total(values: Sequence[float | None]) -> float | None:
        return None if not values or any(v is None for v in values) else sum(v for v in values if v is not None)

    def billed(values: Sequence[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return sum(known) if known else None

    return Cost(
        unit=shots[0].cost.unit if shots else "tokens",
        estimated=total([t.cost.estimated for t in shots]),
        actual=billed([t.cost.actual for t in attempts]),
        usd_estimated=total([t.cost.usd_estimated for t in shots]),
        usd_actual=billed([t.cost.usd_actual for t in attempts]),
    )


# -- the scheduler's part ---------------------------------------------------------------------------


async def advance(ctx: EngineContext, *, user: str | None = None) -> int:
    """Join the stories whose shots are all done and record the ones whose shot failed.

    Joins run as this process's jobs under the story's lease, so a round never waits for one.
    Returns how many stories it acted on.
    """
    store = rows(ctx)
    acted = 0
    for record in await store.due(now=ctx.clock(), limit=ADVANCE_BATCH, user=user):
        story = _story(record, await ctx.store.story_shots(record.id))
        if story.status is StoryStatus.FAILED and story.error is not None:
            failed = story.failed_shot
            guard = (failed.shot_index or 0, failed.created_at.timestamp()) if failed is not None else None
            if await store.finish(record.id, now=ctx.clock(), error=story.error, unless_retried=guard):
                log.info("story %s failed: %s", record.id, story.error.message)
                await _changed(ctx, story)
                acted += 1
        elif story.shots and all(t.is_final and t.video_path for t in story.shots):
            if await store.lease(record.id, ctx.instance, now=ctx.clock(), seconds=LEASE_SECONDS):
                ctx.spawn(_join(ctx, story), name=f"join-{record.id}")
                acted += 1
    return acted


async def _join(ctx: EngineContext, story: Story) -> None:
    """Join the shots into media/<story id>.mp4 and make the story final; the caller leased it."""
    store = rows(ctx)
    dest = ctx.settings.media_dir / f"{story.id}.mp4"
    try:
        paths = [await _local_video(ctx, task) for task in story.shots]
        job = asyncio.ensure_future(asyncio.to_thread(join_videos, paths, dest))
        while not job.done():
            await asyncio.wait({job}, timeout=HEARTBEAT_SECONDS)
            if not job.done():
                await store.renew(story.id, ctx.instance, now=ctx.clock(), seconds=LEASE_SECONDS)
        result = job.result()
    except (JoinError, DownloadError) as exc:
        error = TaskError(code="join_failed", message=f"the shots could not be joined: {exc}; retry the story")
        await store.finish(story.id, now=ctx.clock(), owner=ctx.instance, error=error)
        log.error("story %s: %s", story.id, error.message)
        await _changed(ctx, story)
        return
    except OSError as exc:  # a full or unwritable media folder: keep the lease as a back-off, try again
        log.error("story %s: cannot write the joined video (%s); trying again in %.0f s",
                  story.id, exc, JOIN_RETRY_SECONDS)
        await store.renew(story.id, ctx.instance, now=ctx.clock(), seconds=JOIN_RETRY_SECONDS)
        return
    except asyncio.CancelledError:
        with contextlib.suppress(StoreError):
            await store.release(story.id, ctx.instance)
        raise
    if await store.finish(story.id, now=ctx.clock(), owner=ctx.instance, video_path=str(dest)):
        log.info("story %s joined: %d shots, %.2f s, %d frames (%s)", story.id, len(story.shots),
                 result.duration, result.frames, "stream copy" if result.copied else "re-encoded")
        await _changed(ctx, story)
    else:  # cancelled (or taken over) while joining: the file is nobody's
        dest.unlink(missing_ok=True)


async def _local_video(ctx: EngineContext, task: Task) -> Path:
    """The shot's video on this machine (with a shared database another machine may have saved it)."""
    if task.video_path and Path(task.video_path).is_file():
        return Path(task.video_path)
    if not task.video_url:
        raise JoinError(f"the video of shot {(task.shot_index or 0) + 1} is not on this machine")
    dest = ctx.settings.media_dir / f"{task.id}.mp4"
    if not dest.is_file():
        await fetch.download_copy(ctx, ctx.provider(task.provider), task.video_url, dest)
    return dest


async def _changed(ctx: EngineContext, story: Story) -> None:
    """Wake whoever waits on the story; listeners hear of it through its last shot (``story_id`` set)."""
    await ctx.changed(story.id, notify=False)
    if story.shots:
        with contextlib.suppress(SeedanceError):
            await ctx.changed(story.shots[-1].id)
