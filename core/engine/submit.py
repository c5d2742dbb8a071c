"""Submitting: price once, persist the row (limits checked in the same transaction), then send.

The row is born leased to this process, and the heartbeat keeps that lease (and the row's
``submit_alive_at``) fresh for as long as the submit is in flight, however long the provider
takes: no other process may settle the row as "never created" while it may still be sent.
"""

from __future__ import annotations

import hashlib
import logging
import secrets

from core import catalog
from core.config import Limits
from core.engine.context import LEASE_SECONDS, EngineContext, Estimate
from core.errors import SeedanceError, SubmitUncertainError
from core.models import Cost, Task, TaskStatus, VideoRequest
from core.providers import Provider
from core.scheduling import Expectation, next_poll_delay
from core.store import Conflict

log = logging.getLogger("seedance.submit")

UNCERTAIN_RECHECK = 5.0  # seconds before the first look for a task whose submit answer was lost


def user_tag(user: str) -> str:
    """A stable, non-reversible id for a user, as Ark's `safety_identifier` asks (≤ 64 chars)."""
    return hashlib.sha256(f"seedance-studio:{user}".encode()).hexdigest()[:32]


def estimate(ctx: EngineContext, request: VideoRequest, provider: str | None = None) -> Estimate:
    """Resolve ``request`` against the catalog and price it. Raises `InvalidRequestError`."""
    name = provider or ctx.settings.provider
    configured = ctx.settings.provider_settings(name).model
    if request.model is None and configured:
        request = request.model_copy(update={"model": configured})
    resolved = catalog.resolve(request, name)
    unit, amount = catalog.estimate_cost(resolved, name)
    usd = catalog.request_usd(resolved, name, unit, amount)
    return Estimate(provider=name, model=resolved.model or "", unit=unit, amount=amount, request=resolved, usd=usd)


def new_task(
    user: str,
    est: Estimate,
    *,
    target: str | None = None,
    request_key: str | None = None,
    scope: str | None = None,
    story_id: str | None = None,
    shot_index: int | None = None,
    after_task_id: str | None = None,
) -> Task:
    request = est.request.model_copy(update={"safety_identifier": user_tag(user)})
    return Task(
        id=secrets.token_hex(6),
        user=user,
        provider=est.provider,
        model=est.model,
        request=request,
        cost=Cost(unit=est.unit, estimated=est.amount, usd_estimated=est.usd),
        target=target,
        request_key=request_key,
        scope=scope,
        story_id=story_id,
        shot_index=shot_index,
        after_task_id=after_task_id,
    )


async def insert_leased(ctx: EngineContext, task: Task, limits: Limits) -> TaskStatus | None:
    """Write the row already leased to this process (or waiting in our queue when it must wait).

    Returns the status the row got; None when its request key already exists.
    """
    try:
        return await ctx.store.insert(
            task,
            limits=limits,
            now=ctx.clock(),
            lease=(ctx.instance, ctx.clock() + LEASE_SECONDS),
            queue=limits.queue,
            provider_cap=ctx.settings.provider_settings(task.provider).max_concurrent,
        )
    except Conflict:
        return None


async def send(ctx: EngineContext, task: Task, adapter: Provider) -> None:
    """Send a leased pending row to the provider, record the answer, then give the lease up.

    Raises:
        SeedanceError: the provider refused (the row is marked failed first).
    """
    ctx.sending.add(task.id)
    try:
        await _send_once(ctx, task, adapter)
    finally:
        ctx.sending.discard(task.id)
        await ctx.store.release(task.id, ctx.instance)
        ctx.wake.set()


async def _send_once(ctx: EngineContext, task: Task, adapter: Provider) -> None:
    callback_url = None
    now = ctx.clock()
    fields: dict[str, object] = {"submit_started_at": now, "submit_alive_at": now}
    if ctx.settings.public_url and adapter.supports_callback:
        token = secrets.token_urlsafe(24)
        fields["callback_token"] = token
        callback_url = f"{ctx.settings.public_url.rstrip('/')}/callbacks/{task.id}/{token}"
    if not await ctx.store.update_unfinished(task.id, **fields):
        return  # cancelled before it was sent
    try:
        remote_id = await adapter.submit(task.request, callback_url=callback_url)
    except SubmitUncertainError as exc:
        log.warning("task %s: submit answer lost (%s); reconciling", task.id, exc.code)
        now = ctx.clock()
        await ctx.store.update_unfinished(task.id, submit_alive_at=now, next_check_at=now + UNCERTAIN_RECHECK)
        return
    except SeedanceError as exc:
        await ctx.fail(task.id, exc.code, str(exc))
        raise
    now = ctx.clock()
    if ctx.expectation is not None:  # what tasks of this kind took lately: the first look follows it
        expected = await ctx.expectation(task.provider, task.model, task.request)
    else:
        expected = Expectation.from_history([], adapter.expected_seconds(task.request))
    first_check = now + next_poll_delay(expected, 0, 0)
    try:
        recorded = await ctx.store.mark_submitted(task.id, remote_id, now=now, next_check_at=first_check)
    except Conflict:
        # A row reconciling a lost submit with identical parameters adopted this remote task
        # first; this row is then the one whose task is unclaimed: let reconciliation find it.
        log.warning("task %s: remote task already adopted; reconciling", task.id)
        return
    if not recorded:
        # Settled (cancelled, or failed by someone else) while the provider was answering: a final
        # row is never rewritten, but the paid task's id must not vanish without a trace.
        log.error("task %s: %s accepted it as %s after the task had already ended", task.id, task.provider, remote_id)
        return
    await ctx.changed(task.id)
