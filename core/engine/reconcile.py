"""A pending row this process holds the lease on: decide what really happened to its submit.

A row is pending while its submit is in flight (its sender holds the lease and the heartbeat
keeps ``submit_alive_at`` fresh, so nobody gets here) or when the sender died or lost the answer.
Then: never sent (``submit_started_at`` unset) → send it now, unless it is stale; sent → look for
it in the provider's task list (where there is one) and adopt it; give up with "not created"
only ``RECONCILE_WINDOW`` seconds after the sender was last known to be alive.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from core.engine import submit
from core.engine.context import EngineContext
from core.errors import NotSupportedError, ProviderError, SeedanceError
from core.models import TaskStatus
from core.providers import Provider, RemoteTask
from core.store import Conflict, TaskState

log = logging.getLogger("seedance.reconcile")

RECONCILE_WINDOW = 90.0  # after the sender was last alive, how long we look for its task
RECONCILE_INTERVAL = 10.0
RESEND_WINDOW = 900.0  # a row a crash left unsent is sent if it is younger than this


async def settle(ctx: EngineContext, state: TaskState, adapter: Provider) -> RemoteTask | None:
    """Settle a leased pending row. Returns the provider's answer when a task was adopted.

    Leaves the row rescheduled (and released) when it must look again later.
    """
    task = state.task
    now = ctx.clock()
    if state.submit_started_at is None:
        # submit_started_at is written before the provider is called, so nothing was sent:
        # sending now is safe. Only a stale request is dropped rather than surprise its owner.
        if now - task.created_at.timestamp() < RESEND_WINDOW:
            try:
                await submit.send(ctx, task, adapter)
            except SeedanceError:
                pass  # the refusal is recorded on the row
        else:
            await ctx.fail(task.id, "not_submitted", "interrupted before it was sent; nothing was charged")
        return None
    if not adapter.supports_reconcile:
        await ctx.fail(
            task.id,
            "submit_uncertain",
            f"the answer to the submit was lost; {task.provider} may have created (and charged) this task. "
            "It was not resent: check your provider dashboard before trying again",
        )
        return None
    since = datetime.fromtimestamp(state.submit_started_at - 5, UTC)
    try:
        matches = await adapter.find_submitted(task.request, since=since)
    except (ProviderError, NotSupportedError) as exc:
        log.warning("task %s: reconcile failed (%s)", task.id, exc.code)
        matches = []
    for match in matches:
        try:
            adopted = await ctx.store.update_unfinished(
                task.id, remote_id=match.remote_id, status=TaskStatus.QUEUED, submitted_at=state.submit_started_at
            )
        except Conflict:
            continue  # already adopted by another row
        if adopted:
            return match
        return None
    alive = max(state.submit_alive_at or 0.0, state.submit_started_at)
    if now - alive > RECONCILE_WINDOW:
        await ctx.fail(
            task.id,
            "not_created",
            f"{task.provider} has no record of this task after the answer was lost; nothing was charged "
            "and it is safe to try again",
        )
        return None
    await ctx.store.release(task.id, ctx.instance, next_check_at=now + RECONCILE_INTERVAL)
    return None
