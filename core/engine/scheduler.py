"""The scheduler: every process advances whatever work is due, whoever submitted it.

Each unfinished task's next check time is in its row. The loop claims due rows under this
process's lease, asks each provider about them in as few requests as its API allows (Ark's task
list takes 500 ids at once), spends requests through a per-provider token bucket, writes what it
learned with the next check time, and gives the rows up again. Succeeded tasks are downloaded and
lost submits reconciled as jobs of their own, still under the lease. The heartbeat renews every
lease this process holds; a process that dies loses them within `LEASE_SECONDS`.

A read on a user's behalf first calls `refresh_user`: one batched look at that user's tasks, a few
seconds at most, so a finished task never shows (or counts) as running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from core import catalog
from core.backoff import backoff_delay
from core.engine import fetch, queue, reconcile, story
from core.engine.context import HEARTBEAT_SECONDS, LEASE_SECONDS, EngineContext
from core.errors import ConfigError, RateLimitError, SeedanceError, StoreError, TaskNotFoundError, redact
from core.models import TaskError, TaskStatus
from core.providers import Provider, RemoteRef, RemoteTask
from core.ratelimit import CheckCalendar, TokenBucket
from core.scheduling import MIN_HISTORY, Expectation, next_poll_delay
from core.store import TaskState

log = logging.getLogger("seedance.scheduler")

CLAIM_LIMIT = 500  # rows claimed per round
PULL_AHEAD = 3.0  # seconds early a check may be made to fill a batched request that has room
IDLE_MAX = 2.0  # longest nap when nothing is due: another process may have added work (SQLite has no NOTIFY)
FRESH_SECONDS = 2.0  # a read does not ask the provider again about a task checked this recently
REFRESH_TIMEOUT = 4.0  # the most a read waits for fresh answers
MAX_POLL_ERRORS = 30  # consecutive failed status checks (backing off to 60 s) before a task is failed
EXPIRY_MARGIN = 600.0
DEFAULT_EXPIRY = 172800
EXPECTATION_TTL = 30.0
RELEARN_SECONDS = 1.0  # after a run time is learned, the kind's expectation is read again this soon
DEFAULT_REQUESTS_PER_MINUTE = 600.0
# When a provider's request budget runs dry, polls are spaced out by up to MAX_STRETCH times,
# growing a little on every request that had to wait and relaxing on every one that did not.
STRETCH_GROWTH, STRETCH_DECAY, MAX_STRETCH = 1.02, 0.995, 4.0
IN_FLIGHT_PER_PROVIDER = 4  # status requests to one provider at once (each still paced by its bucket)
# The share of a provider's request budget that scheduled checks may plan to use; the rest is
# headroom for reads on a user's behalf, ids a batch left out, and batches that are not full.
CALENDAR_SHARE = 0.8
# Downloads at once in this process: thousands finishing together must not starve the checks (or
# the database) of the event loop; the rest stay due and are fetched as slots free, here or elsewhere.
MAX_DOWNLOADS = 8
DOWNLOAD_RETRY = 1.0  # seconds until a finished video left for want of a download slot is due again


@dataclass
class _Outcome:
    """One status check's result, to be written with the others of its batch."""

    state: TaskState
    fields: dict[str, Any]
    visible: bool  # someone waiting on the task would see a difference (status, progress, final)
    keep_lease: bool  # succeeded, with a download slot reserved: fetched under the lease


@dataclass
class SchedulerStats:
    """What the scheduler did, for benchmarks and health checks."""

    checks: int = 0
    requests: int = 0
    # due time -> the provider's answer in hand, seconds (status checks of queued and running tasks)
    lags: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
    # how much later than the schedule wanted the calendar planned a check (the budget was booked)
    moved: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))


class Scheduler:
    def __init__(self, ctx: EngineContext) -> None:
        self._ctx = ctx
        self._buckets: dict[str, TokenBucket] = {}
        self._calendars: dict[str, CheckCalendar] = {}
        self._expectations: dict[tuple[Any, ...], tuple[Expectation, float]] = {}
        self._loop: asyncio.Task[None] | None = None
        self._loop_user: str | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        ctx.expectation = self.expectation
        self._fetch_results = True
        self._downloads = 0  # downloads in flight in this process
        self._stretch: dict[str, float] = {}  # per provider: how much the request budget spaces polls out
        self._renewed_at = ctx.clock() - HEARTBEAT_SECONDS  # the first heartbeat also counts us in
        self._sharing = 1  # live schedulers (processes) sharing each provider's request budget
        self._renew_failures = 0
        self.stats = SchedulerStats()

    # -- lifecycle -------------------------------------------------------------------------------

    def start_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._beat(), name="seedance-heartbeat")

    def start(self, *, user: str | None = None) -> None:
        """Run the loop in this process: for every task (``user`` None) or only one user's (a CLI)."""
        self.start_heartbeat()
        if self._loop is not None and not self._loop.done():
            if self._loop_user is None or self._loop_user == user:
                return
            self._loop.cancel()  # widen a one-user loop to every task
            user = None
        self._loop_user = user
        self._loop = asyncio.create_task(self._run(user), name="seedance-scheduler")

    @property
    def running(self) -> bool:
        return self._loop is not None and not self._loop.done()

    async def stop(self) -> None:
        jobs = [j for j in (self._loop, self._heartbeat) if j is not None]
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

    async def _beat(self) -> None:
        """Renew this process's leases on time even while the loop is busy (or not running)."""
        while True:
            await asyncio.sleep(1.0)
            await self.renew_if_due()

    async def renew_if_due(self) -> None:
        ctx = self._ctx
        now = ctx.clock()
        if now - self._renewed_at < HEARTBEAT_SECONDS:
            return
        try:
            await ctx.store.renew(ctx.instance, now=now, seconds=LEASE_SECONDS, sending=list(ctx.sending))
            self._renewed_at = now
            self._renew_failures = 0
            self._share_budgets(await ctx.store.beat(ctx.instance, now=now, alive_for=LEASE_SECONDS))
        except StoreError as exc:
            self._renew_failures += 1
            if self._renew_failures == 1:
                log.error("cannot renew this process's leases (%s); retrying", exc)

    async def _run(self, user: str | None) -> None:
        failures = 0
        if self._ctx.store.db.dialect == "postgres":
            with contextlib.suppress(StoreError):
                await self._ctx.store.db.wait_notified(0)  # listen from now on: a callback elsewhere wakes us
        while True:
            try:
                await self.renew_if_due()
                worked = await self.tick(user=user)
                failures = 0
            except (StoreError, OSError) as exc:
                # A locked or full database must not end the loop: back off, say it once, go on.
                failures += 1
                delay = backoff_delay(failures, base=1.0, cap=30.0)
                if failures == 1 or failures % 10 == 0:
                    log.error("the scheduler cannot use the task database (%s); retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            except Exception:  # noqa: BLE001 - the loop must outlive any one task's surprise
                log.exception("scheduler round failed")
                await asyncio.sleep(1.0)
                continue
            if worked:
                await asyncio.sleep(0)
                continue
            await self._idle(user)

    async def _idle(self, user: str | None) -> None:
        """Nap until the next task is due (on the engine's clock), something wakes us, or IDLE_MAX
        of real time passes: another process may have added work (SQLite cannot tell us)."""
        ctx = self._ctx
        now = ctx.clock()
        due = await ctx.store.next_due_at(now=now, user=user)
        ctx.wake.clear()
        waiters: set[asyncio.Future[Any]] = {
            asyncio.ensure_future(ctx.wake.wait()),
            asyncio.ensure_future(asyncio.sleep(IDLE_MAX)),
        }
        if due is not None:
            waiters.add(asyncio.ensure_future(ctx.sleep(max(due - now, 0.02))))
        if ctx.store.db.dialect == "postgres":
            waiters.add(asyncio.ensure_future(ctx.store.db.wait_notified(IDLE_MAX)))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    # -- rounds ----------------------------------------------------------------------------------

    async def tick(self, *, user: str | None = None) -> int:
        """Claim and work on everything due now; returns how many tasks were claimed."""
        ctx = self._ctx
        now = ctx.clock()
        states = await ctx.store.claim_due(
            ctx.instance, now=now, seconds=LEASE_SECONDS, limit=CLAIM_LIMIT, due_by=now, user=user, succeeded=False
        )
        states += await self._fill_batches(states, now, user)
        # Videos to download: only as many as this process has slots for. Claiming the whole
        # backlog each round, only to give most of it back, would keep the due checks waiting.
        if (slots := MAX_DOWNLOADS - self._downloads) > 0:
            states += await ctx.store.claim_due(
                ctx.instance, now=now, seconds=LEASE_SECONDS, limit=slots, due_by=now, user=user, succeeded=True
            )
        if states:
            await self._process(states)
        return len(states) + await queue.start_waiting(self._ctx) + await story.advance(self._ctx, user=user)

    async def _fill_batches(self, states: Sequence[TaskState], now: float, user: str | None) -> list[TaskState]:
        """Checks due within `PULL_AHEAD` that fit in the room left in this round's batched requests.

        A batched status request costs the same for one task as for its ``max_batch``: filling a
        partial batch with checks due in a moment saves the requests they would cost on their own,
        so the request budget goes further before it runs dry (and the schedule lags).
        """
        due: dict[str, int] = defaultdict(int)
        for state in states:
            if state.task.status in (TaskStatus.QUEUED, TaskStatus.RUNNING):
                due[state.task.provider] += 1
        extra: list[TaskState] = []
        for provider, count in due.items():
            try:
                size = self._ctx.provider(provider).max_batch
            except ConfigError:
                continue
            if size > 1 and (room := -count % size):
                extra += await self._ctx.store.claim_due(
                    self._ctx.instance, now=now, seconds=LEASE_SECONDS, limit=room, due_by=now + PULL_AHEAD,
                    user=user, provider=provider, checking=True,
                )
        return extra

    async def refresh_user(self, user: str, *, timeout: float = REFRESH_TIMEOUT) -> None:
        """Bring the user's unfinished tasks up to date now (bounded), unless another process holds them."""
        ctx = self._ctx
        now = ctx.clock()
        try:
            states = await ctx.store.claim_due(
                ctx.instance, now=now, seconds=LEASE_SECONDS, limit=CLAIM_LIMIT, user=user,
                checked_before=now - FRESH_SECONDS,
            )
        except StoreError as exc:
            log.warning("could not refresh %s's tasks: %s", user, exc)
            return
        if states:
            await self._refresh(states, now, timeout)
        await self._start_waiting(user)

    async def _refresh(self, states: Sequence[TaskState], started: float, timeout: float) -> None:
        ctx = self._ctx
        work = asyncio.ensure_future(self._process(states, fetch_results=self.running and self._loop_user is None))
        done, _ = await asyncio.wait({work}, timeout=timeout)
        jobs: list[asyncio.Task[Any]] = work.result() if work in done and not work.exception() else []
        left = max(timeout - (ctx.clock() - started), 0.0)
        if jobs and left > 0:
            await asyncio.wait(jobs, timeout=left)
        if work not in done:
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await work
            for state in states:  # answers that did not come in time: let the schedule have them back
                with contextlib.suppress(StoreError):
                    await ctx.store.release(state.task.id, ctx.instance)

    async def _start_waiting(self, user: str) -> None:
        try:
            await queue.start_waiting(self._ctx)
        except StoreError as exc:
            log.warning("could not start %s's waiting tasks: %s", user, exc)

    async def _process(self, states: Sequence[TaskState], *, fetch_results: bool = True) -> list[asyncio.Task[Any]]:
        """Check the active tasks in batches; start jobs for pending and succeeded ones.

        Without ``fetch_results`` (a quick read in a process that runs no scheduler loop), a
        succeeded task is left due for whichever process downloads next, instead of a download
        that the command's exit would cut short.
        """
        self._fetch_results = fetch_results
        ctx = self._ctx
        now = ctx.clock()
        groups: dict[str, list[TaskState]] = defaultdict(list)
        jobs: list[asyncio.Task[Any]] = []
        for state in states:
            task = state.task
            if task.id in ctx.sending:
                continue  # this process is sending it right now; the sender gives the lease up
            try:
                adapter = ctx.provider(task.provider)
            except ConfigError as exc:
                log.error("task %s: %s", task.id, exc)
                await ctx.store.release(task.id, ctx.instance, next_check_at=now + 300)
                continue
            if task.status is TaskStatus.PENDING:
                jobs.append(ctx.spawn(self._guard(state, self._settle(state, adapter)), name=f"settle-{task.id}"))
            elif task.status is TaskStatus.SUCCEEDED and not fetch_results:
                await ctx.store.release(task.id, ctx.instance)
            elif task.status is TaskStatus.SUCCEEDED and not self._reserve_download():
                await ctx.store.release(task.id, ctx.instance, next_check_at=now + DOWNLOAD_RETRY)
            elif task.status is TaskStatus.SUCCEEDED:
                jobs.append(ctx.spawn(self._fetch(state, adapter), name=f"fetch-{task.id}"))
            elif task.remote_id is None:
                await ctx.fail(task.id, "lost", "the task has no provider id; it cannot be followed")
            elif self._expired(state, now):
                await ctx.fail(task.id, "expired", "the provider never finished this task", status="expired")
            else:
                groups[task.provider].append(state)
        await asyncio.gather(*(self._check_group(name, group, jobs) for name, group in groups.items()))
        return jobs

    async def _guard(self, state: TaskState, work: Any) -> None:
        """Run one task's job; whatever happens, the lease is not left dangling."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one task's surprise must not stop the others
            log.exception("task %s: job failed; looking again in 30 s", state.task.id)
            with contextlib.suppress(StoreError):
                await self._ctx.store.release(state.task.id, self._ctx.instance, next_check_at=self._ctx.clock() + 30)

    async def _settle(self, state: TaskState, adapter: Provider) -> None:
        remote = await reconcile.settle(self._ctx, state, adapter)
        if remote is not None:
            fresh = await self._ctx.store.state(state.task.id)
            if fresh is not None:
                jobs: list[asyncio.Task[Any]] = []
                await self._apply([await self._outcome(fresh, remote)], adapter, jobs)
                await asyncio.gather(*jobs)

    def _expired(self, state: TaskState, now: float) -> bool:
        task = state.task
        elapsed = now - (task.submitted_at or task.created_at).timestamp()
        return elapsed > (task.request.execution_expires_after or DEFAULT_EXPIRY) + EXPIRY_MARGIN

    # -- asking the provider -----------------------------------------------------------------------

    def bucket(self, provider: str) -> TokenBucket:
        if provider not in self._buckets:
            self._buckets[provider] = TokenBucket(self._budget(provider) / self._sharing)
        return self._buckets[provider]

    def _budget(self, provider: str) -> float:
        """Status requests a minute the operator allows for ``provider``, across all processes."""
        per_minute = self._ctx.settings.provider_settings(provider).requests_per_minute
        return float(per_minute or DEFAULT_REQUESTS_PER_MINUTE)

    def _share_budgets(self, live: int) -> None:
        """Every live process spends an equal share of each provider's budget (replicas on one
        database must not each spend all of it): re-divide when a process starts or stops."""
        if live == self._sharing:
            return
        self._sharing = live
        for provider, bucket in self._buckets.items():
            bucket.set_rate(self._budget(provider) / live)
            if provider in self._calendars:
                self._calendars[provider].per_second = self._checks_per_second(provider)

    def calendar(self, provider: str) -> CheckCalendar:
        if provider not in self._calendars:
            self._calendars[provider] = CheckCalendar(self._checks_per_second(provider))
        return self._calendars[provider]

    def _checks_per_second(self, provider: str) -> float:
        batch = 1
        with contextlib.suppress(ConfigError):
            batch = max(1, self._ctx.provider(provider).max_batch)
        return self.bucket(provider).per_minute / 60 * batch * CALENDAR_SHARE

    async def _ask(self, provider: str, adapter: Provider, refs: list[RemoteRef]) -> dict[str, RemoteTask]:
        bucket = self.bucket(provider)
        stretch = self._stretch.get(provider, 1.0)
        if bucket.try_acquire():
            self._stretch[provider] = max(1.0, stretch * STRETCH_DECAY)
        else:
            # The request budget is spent: the schedule asks for more than the provider allows.
            # Space every task's next look out a little more, rather than let due work pile up.
            self._stretch[provider] = min(MAX_STRETCH, stretch * STRETCH_GROWTH)
            await bucket.acquire()
        self.stats.requests += 1
        return await adapter.get_many(refs)

    async def _check_group(self, provider: str, states: list[TaskState], jobs: list[asyncio.Task[Any]]) -> None:
        """Ask about one provider's tasks, ``max_batch`` per request, a few requests in flight at once."""
        adapter = self._ctx.provider(provider)
        size = max(1, adapter.max_batch)
        gate = asyncio.Semaphore(IN_FLIGHT_PER_PROVIDER)

        async def one(chunk: list[TaskState]) -> None:
            async with gate:
                await self._check_chunk(provider, adapter, chunk, jobs)

        await asyncio.gather(*(one(states[i : i + size]) for i in range(0, len(states), size)))

    async def _check_chunk(
        self, provider: str, adapter: Provider, chunk: list[TaskState], jobs: list[asyncio.Task[Any]]
    ) -> None:
        refs = [RemoteRef(remote_id=s.task.remote_id or "", model=s.task.model) for s in chunk]
        try:
            answers = await self._ask(provider, adapter, refs)
            answered = self._ctx.clock()
            # Due -> answered, status checks only (a finished task waiting for a download slot is
            # download backlog, not lag): the claim, the request budget and the request all count.
            # A check pulled ahead into a batch and answered before it was due has no lag to count.
            self.stats.lags.extend(
                answered - s.next_check_at for s in chunk if s.next_check_at is not None and answered >= s.next_check_at
            )
        except TaskNotFoundError:
            answers = {}  # asked alone below, where "not found" is about that one task
            if len(chunk) == 1:
                await self._lost(chunk[0])
                return
        except RateLimitError as exc:
            if exc.retry_after:
                self.bucket(provider).pause(exc.retry_after)
            for state in chunk:
                await self._check_failed(state, exc)
            return
        except SeedanceError as exc:
            if exc.code != "batch_refused":
                for state in chunk:
                    await self._check_failed(state, exc)
                return
            answers = {}  # the list refused this batch (an id it dislikes, a proxy's 414): ask one by one
        outcomes: list[_Outcome] = []  # written together at the end, in one transaction
        try:
            await self._outcomes(provider, adapter, refs, chunk, answers, outcomes)
        except BaseException:
            self._unreserve(outcomes)
            raise
        if outcomes:
            await self._apply(outcomes, adapter, jobs)

    async def _outcomes(
        self, provider: str, adapter: Provider, refs: list[RemoteRef], chunk: list[TaskState],
        answers: dict[str, RemoteTask], outcomes: list[_Outcome],
    ) -> None:
        """Turn a batch's answers into outcomes (asking alone about ids the batch left out)."""
        for ref, state in zip(refs, chunk, strict=True):
            try:
                remote = answers.get(ref.remote_id)
                if remote is None and len(refs) > 1:
                    # Missing from a batch (another service tier, older than the list covers):
                    # ask about it alone; alone, "not found" means the provider no longer has it.
                    remote = (await self._ask(provider, adapter, [ref])).get(ref.remote_id)
                if remote is None:
                    await self._lost(state)
                else:
                    outcomes.append(await self._outcome(state, remote))
            except TaskNotFoundError:
                await self._lost(state)
            except SeedanceError as exc:
                await self._check_failed(state, exc)
            except (StoreError, asyncio.CancelledError):
                raise
            except Exception:  # noqa: BLE001 - one task's surprise must not stop the batch
                log.exception("task %s: could not record its status", state.task.id)
                later = self._ctx.clock() + 30
                await self._ctx.store.release(state.task.id, self._ctx.instance, next_check_at=later)

    async def _lost(self, state: TaskState) -> None:
        await self._ctx.fail(state.task.id, "lost_by_provider", f"{state.task.provider} no longer has this task")

    async def _check_failed(self, state: TaskState, exc: SeedanceError) -> None:
        # Any answer to a status check but "not found" (5xx, a proxy's 400, a malformed body) is
        # transient until proven otherwise: back off and ask again; give up only after a long run.
        ctx = self._ctx
        errors = state.poll_errors + 1
        log.warning("task %s: status check failed (%s); will retry", state.task.id, exc.code)
        if errors >= MAX_POLL_ERRORS:
            await ctx.fail(state.task.id, exc.code, f"the provider kept failing status checks: {exc}")
            return
        delay = max(await self._delay(state, ctx.clock()), backoff_delay(errors, base=2.0, cap=60.0))
        await ctx.store.set_if(
            state.task.id, "finished_at IS NULL AND lease_owner=?", (ctx.instance,),
            poll_errors=errors, next_check_at=ctx.clock() + delay, lease_owner=None, lease_until=None,
        )

    # -- recording the answer ----------------------------------------------------------------------

    async def _outcome(self, state: TaskState, remote: RemoteTask) -> _Outcome:
        """What to write for one provider answer: its news, a true run time, the next look."""
        task = state.task
        now = self._ctx.clock()
        self.stats.checks += 1
        fields: dict[str, Any] = {"last_checked_at": now, "polls": state.polls + 1, "poll_errors": 0}
        visible = False
        if remote.status is not task.status:
            fields["status"] = remote.status
            visible = True
        if remote.progress is not None and remote.progress != task.progress:
            fields["progress"] = remote.progress
            visible = True
        if remote.video_url and remote.video_url != task.video_url:
            fields["video_url"] = remote.video_url
        if remote.last_frame_url and remote.last_frame_url != task.last_frame_url:
            fields["last_frame_url"] = remote.last_frame_url
        if remote.actual_cost is not None:
            fields["cost_actual"] = remote.actual_cost
            fields["usd_actual"] = catalog.request_usd(task.request, task.provider, task.cost.unit, remote.actual_cost)
        if remote.status is TaskStatus.SUCCEEDED:
            fields.update(self._learned(state, remote, now))
        if remote.status.is_final and remote.status is not TaskStatus.SUCCEEDED:
            error = remote.error or TaskError(code=remote.status.value, message=f"the task {remote.status.value}")
            fields.update(error_code=redact(error.code), error_message=redact(error.message), finished_at=now)
        keep_lease = remote.status is TaskStatus.SUCCEEDED and self._fetch_results and self._reserve_download()
        if remote.status is TaskStatus.SUCCEEDED and not keep_lease:
            # Left due for whichever process (or round) has a download slot free.
            later = now + (DOWNLOAD_RETRY if self._fetch_results else 0.0)
            fields.update(next_check_at=later, lease_owner=None, lease_until=None)
        elif not keep_lease:
            # The check this schedule asks for, in the first second the provider's budget has room.
            wanted = now + await self._delay(state, now)
            at = self.calendar(task.provider).book(now, wanted)
            if at > wanted:
                self.stats.moved.append(at - wanted)
            fields.update(next_check_at=at, check_gap=at - now, lease_owner=None, lease_until=None)
        return _Outcome(state, fields, visible or "finished_at" in fields, keep_lease)

    async def _apply(self, outcomes: Sequence[_Outcome], adapter: Provider, jobs: list[asyncio.Task[Any]]) -> None:
        """Write the outcomes in one transaction, then wake waiters and start downloads."""
        ctx = self._ctx
        try:
            written = await ctx.store.record_checks(ctx.instance, [(o.state.task.id, o.fields) for o in outcomes])
        except BaseException:
            self._unreserve(outcomes)
            raise
        now = ctx.clock()
        for outcome in outcomes:
            task, fields = outcome.state.task, outcome.fields
            if task.id not in written:  # ended meanwhile (a cancel): a final row is never rewritten
                self._unreserve([outcome])
                continue
            if "run_seconds" in fields:  # the next task of this kind soon follows what was just learned
                key = (task.provider, task.model, task.request.resolution, task.request.duration)
                if (cached := self._expectations.get(key)) is not None:
                    self._expectations[key] = (cached[0], min(cached[1], now + RELEARN_SECONDS))
            if outcome.visible:
                await ctx.changed(task.id)
            if outcome.keep_lease:  # downloads run beside the checks, still under the lease
                links: dict[str, Any] = {k: fields[k] for k in ("status", "video_url", "last_frame_url") if k in fields}
                fresh = replace(outcome.state, task=task.model_copy(update=links))
                jobs.append(ctx.spawn(self._fetch(fresh, adapter), name=f"fetch-{task.id}"))

    def _unreserve(self, outcomes: Sequence[_Outcome]) -> None:
        """Give back the download slots of outcomes whose download will not start."""
        self._downloads -= sum(1 for outcome in outcomes if outcome.keep_lease)

    def _reserve_download(self) -> bool:
        """Take one of this process's download slots (given back by `_fetch`); False when all are busy."""
        if self._downloads >= MAX_DOWNLOADS:
            return False
        self._downloads += 1
        return True

    async def _fetch(self, state: TaskState, adapter: Provider) -> None:
        try:
            await self._guard(state, fetch.fetch(self._ctx, state, adapter))
        finally:
            self._downloads -= 1

    def _learned(self, state: TaskState, remote: RemoteTask, now: float) -> dict[str, Any]:
        """When the task really finished, and its run time when we truly know it.

        The provider's own finish time wins; otherwise only a finish seen within one poll gap
        (the midpoint of the gap is the unbiased guess). A late look (a ``status`` after an hour,
        a restart, a takeover) records when it was seen but teaches the schedule nothing.
        """
        task = state.task
        submitted = (task.submitted_at or task.created_at).timestamp()
        if remote.finished_at is not None and remote.created_at is not None:
            run = (remote.finished_at - remote.created_at).total_seconds()
            if run > 0:
                return {"done_at": submitted + run, "run_seconds": run}
        seen_at = state.last_checked_at
        gap = state.check_gap
        if seen_at is not None and gap is not None and now - seen_at <= max(gap * 1.5, gap + 2.0):
            done = (seen_at + now) / 2
            return {"done_at": done, "run_seconds": max(done - submitted, 0.0)}
        return {"done_at": now}

    async def _delay(self, state: TaskState, now: float) -> float:
        task = state.task
        elapsed = max(now - (task.submitted_at or task.created_at).timestamp(), 0.0)
        exp = await self.expectation(task.provider, task.model, task.request)
        return next_poll_delay(exp, elapsed, state.polls + 1) * self._stretch.get(task.provider, 1.0)

    async def expectation(self, provider: str, model: str, request: Any) -> Expectation:
        """How long tasks of this kind take, learned from true run times (cached briefly)."""
        key = (provider, model, request.resolution, request.duration)
        now = self._ctx.clock()
        cached = self._expectations.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        store = self._ctx.store
        runs = await store.recent_runs(provider, model, request.resolution, request.duration)
        running: list[float] = []
        if len(runs) >= MIN_HISTORY:  # finished tasks alone may be the fast end of a batch still running
            # Tasks younger than the shortest run cannot change the estimate (censored before any
            # finish): only the older ones are read.
            since = min(submitted for _, submitted in runs)
            until = now - min(run for run, _ in runs)
            running = [now - at for at in await store.running_since(
                provider, model, request.resolution, request.duration, submitted_from=since, submitted_until=until)]
        prior = None
        with contextlib.suppress(ConfigError):
            prior = self._ctx.provider(provider).expected_seconds(request)
        exp = Expectation.from_history([run for run, _ in runs], prior, running)
        self._expectations[key] = (exp, now + EXPECTATION_TTL)
        return exp
