"""Our own queue: waiting tasks start by themselves, fairly, when a slot frees.

A request over its owner's running limit (or the provider's concurrency) is stored as ``waiting``:
nothing is sent, nothing is paid, it survives restarts and can be cancelled. Every scheduler round
starts what it can: one task per user per turn, users with the fewest videos in flight first, so one
user's long list never hogs the line. A waiting task that follows another (a story's next shot)
starts from that task's last frame once its video is on disk.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

from core.engine import submit
from core.engine.context import LEASE_SECONDS, EngineContext
from core.errors import ConfigError, SeedanceError
from core.inputs import image_from_bytes
from core.models import ImageRole, Task
from core.providers import Provider
from core.store import TaskState

log = logging.getLogger("seedance.queue")

BATCH = 200  # waiting rows looked at per round
FAIR_WINDOW = 3600.0  # "served lately": videos started in the last hour


async def start_waiting(ctx: EngineContext) -> int:
    """Start every waiting task that may start now, whoever's; returns how many were sent.

    Always the whole line, never one user's part of it: a process acting for one user (a CLI
    command) must not let that user jump ahead of others waiting for the same provider.
    """
    now = ctx.clock()
    waiting = await ctx.store.waiting(now=now, limit=BATCH)
    if not waiting:
        return 0
    by_user: dict[str, list[TaskState]] = defaultdict(list)
    for state in waiting:
        by_user[state.task.user].append(state)
    active = await ctx.store.active_counts(list(by_user))
    served = await ctx.store.recent_starts(list(by_user), since=now - FAIR_WINDOW)
    started = 0
    # Turns: each turn every user may start one task; the users with the fewest videos in flight,
    # then the fewest started lately, go first, so nobody's long list hogs the line.
    while by_user:
        order = sorted(
            by_user, key=lambda u: (active.get(u, 0), served.get(u, 0), by_user[u][0].task.created_at)
        )
        progressed = False
        for name in order:
            state = by_user[name].pop(0)
            if not by_user[name]:
                del by_user[name]
            if await _start(ctx, state):
                active[name] = active.get(name, 0) + 1
                served[name] = served.get(name, 0) + 1
                started += 1
                progressed = True
        if not progressed:
            break
    return started


async def _start(ctx: EngineContext, state: TaskState) -> bool:
    task = state.task
    try:
        adapter = ctx.provider(task.provider)
    except ConfigError as exc:
        log.error("task %s cannot start: %s", task.id, exc)
        return False
    cap = ctx.settings.provider_settings(task.provider).max_concurrent
    if not await ctx.store.promote(task.id, ctx.instance, now=ctx.clock(), seconds=LEASE_SECONDS, provider_cap=cap):
        return False
    task = await ctx.load(task.id)
    if task.after_task_id is not None:
        task = await _from_previous_frame(ctx, task)
    await ctx.changed(task.id)
    ctx.spawn(_send(ctx, task, adapter), name=f"send-{task.id}")
    return True


async def _send(ctx: EngineContext, task: Task, adapter: Provider) -> None:
    try:
        await submit.send(ctx, task, adapter)
    except SeedanceError:
        pass  # the refusal is recorded on the row


async def _from_previous_frame(ctx: EngineContext, task: Task) -> Task:
    """The next shot starts where the previous one ended: its last frame becomes the first frame."""
    previous = await ctx.store.get(task.after_task_id or "")
    path = previous.last_frame_path if previous is not None else None
    if not path or not Path(path).is_file():
        return task  # no frame (a model that cannot return one): the shot starts from its prompt alone
    frame = image_from_bytes(Path(path).read_bytes(), role=ImageRole.FIRST_FRAME, field="first_frame")
    images = (frame, *(i for i in task.request.images if i.role is not ImageRole.FIRST_FRAME))
    request = task.request.model_copy(update={"images": images})
    await ctx.store.update_unfinished(task.id, request=request.model_dump_json())
    return task.model_copy(update={"request": request})
