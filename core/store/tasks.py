"""`TaskStore`: the durable tasks table and the schedule of work every process shares.

A task row is written before the provider is called and updated as soon as anything is learned,
so a crash at any point leaves a row that says exactly how far the task got. Ownership is part of
every query that reads on a user's behalf.

The schedule lives in the rows: every unfinished task carries ``next_check_at``. Any process
claims due rows under a lease named by its random instance id; the lease expires unless its holder
renews it (`renew`, a heartbeat for all of an instance's leases), so a process that dies loses its
work within ``lease_seconds`` and any other process, on any machine, takes it over. A row that has
``finished_at`` is final and no engine write changes it again (`update_unfinished`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.config import Limits
from core.errors import LimitReachedError
from core.models import Cost, QueuePlace, Task, TaskError, TaskStatus, VideoRequest
from core.store.database import Database, Row, Transaction

log = logging.getLogger("seedance.store")

ACTIVE = ("pending", "queued", "running")
_ACTIVE_SQL = "('pending','queued','running')"

_COLUMNS = (
    "id user provider model request status remote_id video_url video_path last_frame_url last_frame_path "
    "cost_unit cost_estimated cost_actual usd_estimated usd_actual error_code error_message progress target "
    "request_key callback_token created_at updated_at submit_started_at submitted_at done_at finished_at "
    "delivered_at next_check_at last_checked_at check_gap polls poll_errors run_seconds submit_alive_at "
    "last_callback_at scope lease_owner lease_until after_task_id story_id shot_index max_running"
).split()
DAMAGED_RETRY = 3600.0  # a row that cannot be read is looked at again after an hour (someone may repair it)
MAX_OFFSET = 10**12  # beyond any history; larger offsets would overflow the database's integers
_QUEUED_OR_ACTIVE_SQL = "('waiting','pending','queued','running')"
_UNFINISHED = "finished_at IS NULL"
# A waiting row that is in line: not a story's shot whose previous shot has no video yet (or failed).
_IN_LINE = (
    "(after_task_id IS NULL OR EXISTS (SELECT 1 FROM tasks p WHERE p.id=tasks.after_task_id "
    "AND p.status='succeeded' AND p.video_path IS NOT NULL))"
)
# What a row counts against a budget: nothing once it failed (unless its submit may have been
# charged), else what the provider billed or, until then, the estimate.
_CHARGED = (
    "CASE WHEN status IN ('failed','cancelled','expired') AND COALESCE(error_code, '') <> 'submit_uncertain' "
    "THEN 0 ELSE COALESCE({actual}, {estimated}, 0) END"
)


def _priced(task: Task, budget: str) -> float:
    """The task's price in US dollars; a task nobody publishes a price for cannot join a dollar budget."""
    if task.cost.usd_estimated is None:
        raise LimitReachedError(
            f"{task.provider} publishes no price for this video, so it cannot be counted against {budget}; "
            f"ask the operator for a budget in {task.cost.unit}"
        )
    return task.cost.usd_estimated


def _q(column: str) -> str:
    return '"user"' if column == "user" else column


def start_of_day(now: float) -> float:
    """Midnight UTC of the day ``now`` falls in: daily limits reset then."""
    return float(int(now // 86400) * 86400)


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


@dataclass(frozen=True)
class TaskState:
    """A task with the engine's bookkeeping: what the scheduler reads to decide what to do next."""

    task: Task
    submit_started_at: float | None
    submit_alive_at: float | None
    next_check_at: float | None
    last_checked_at: float | None
    check_gap: float | None
    polls: int
    poll_errors: int
    lease_owner: str | None
    lease_until: float | None
    callback_token: str | None


@dataclass(frozen=True)
class Page:
    tasks: list[Task]
    has_more: bool


class TaskStore:
    """Typed access to the tasks table over either database driver."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    async def open(cls, path: Path) -> TaskStore:
        """The SQLite store at ``path``, created and migrated as needed."""
        from core.store import open_store

        return await open_store(path=path)

    @property
    def location(self) -> str:
        return self.db.location

    async def close(self) -> None:
        await self.db.close()

    # -- writing -------------------------------------------------------------------------------

    async def insert(
        self,
        task: Task,
        *,
        limits: Limits | None = None,
        now: float | None = None,
        lease: tuple[str, float] | None = None,
        queue: bool = False,
        provider_cap: int | None = None,
    ) -> TaskStatus:
        """Write a new task row, checking the user's limits in the same transaction.

        ``lease`` is (owner, until): the row is born claimed by the process about to send it. With
        ``queue``, a task over the running limit (or the provider's concurrency ``provider_cap``, or
        behind the user's own waiting tasks) is stored as ``waiting`` instead of refused; limits about
        money (tasks per day, budgets) always refuse. Returns the status the row got.

        Raises:
            LimitReachedError: the user has too many tasks running, ran out of tasks or budget today.
            Conflict: the user already has a task with this request key.
        """
        now = time.time() if now is None else now
        row = self._to_row(task)
        row["lease_owner"], row["lease_until"] = lease if lease else (None, None)
        row["next_check_at"] = now
        row["max_running"] = limits.max_running_per_user if limits is not None else None
        columns = [c for c in _COLUMNS if c in row]
        async with self.db.transaction() as tx:
            await tx.lock_user(task.user)
            if limits is not None:
                await self._check_money(tx, task, limits, now)
                busy = await self._busy(tx, task, limits, provider_cap)
                if busy and not queue:
                    raise LimitReachedError(busy)
                if busy or task.after_task_id is not None:
                    row.update(status=TaskStatus.WAITING.value, lease_owner=None, lease_until=None)
            await tx.execute(
                f"INSERT INTO tasks ({','.join(_q(c) for c in columns)}) VALUES ({','.join('?' for _ in columns)})",
                [row[c] for c in columns],
            )
        return TaskStatus(row["status"])

    async def insert_story(
        self,
        story: dict[str, Any] | None,
        shots: Sequence[Task],
        *,
        limits: Limits | None = None,
        now: float | None = None,
        lease: tuple[str, float] | None = None,
        queue: bool = False,
        provider_cap: int | None = None,
        repoint: tuple[str, str] | None = None,
    ) -> list[TaskStatus]:
        """Write a story's row and its shots in ONE transaction, checking limits on their sum.

        Each shot's money check sees the shots written before it, so the whole story is priced and
        reserved (tasks per day, budgets) or nothing is stored. A shot without ``after_task_id``
        starts like `insert`'s task (leased, or waiting when busy); the others wait for the shot
        before them. ``story`` is None when adding a retried shot to an existing story; ``repoint``
        (old, new) then makes the shot that waited for ``old`` wait for ``new``.

        Raises:
            LimitReachedError: the story's shots together break a limit; nothing was stored.
            Conflict: a shot's request key already exists.
        """
        now = time.time() if now is None else now
        statuses: list[TaskStatus] = []
        async with self.db.transaction() as tx:
            await tx.lock_user(shots[0].user)
            if story is not None:
                names = list(story)
                await tx.execute(
                    f"INSERT INTO stories ({','.join(_q(c) for c in names)}) VALUES ({','.join('?' for _ in names)})",
                    [story[c] for c in names],
                )
            for number, shot in enumerate(shots, start=1):
                row = self._to_row(shot)
                row.update(next_check_at=now, lease_owner=None, lease_until=None, status=TaskStatus.WAITING.value)
                row["max_running"] = limits.max_running_per_user if limits is not None else None
                if limits is not None:
                    try:
                        await self._check_money(tx, shot, limits, now)
                    except LimitReachedError as exc:
                        if len(shots) == 1:
                            raise
                        raise LimitReachedError(
                            f"the {len(shots)} shots of this story would go over a limit at shot {number}, so "
                            f"nothing was started or charged: {exc}"
                        ) from None
                if shot.after_task_id is None:
                    busy = await self._busy(tx, shot, limits, provider_cap) if limits is not None else None
                    if busy and not queue:
                        raise LimitReachedError(busy)
                    if not busy:
                        row["status"] = shot.status.value
                        row["lease_owner"], row["lease_until"] = lease if lease else (None, None)
                columns = [c for c in _COLUMNS if c in row]
                await tx.execute(
                    f"INSERT INTO tasks ({','.join(_q(c) for c in columns)}) VALUES ({','.join('?' for _ in columns)})",
                    [row[c] for c in columns],
                )
                statuses.append(TaskStatus(row["status"]))
            if repoint is not None:
                await tx.execute(
                    "UPDATE tasks SET after_task_id=?, updated_at=? WHERE after_task_id=? AND status=?",
                    (repoint[1], now, repoint[0], TaskStatus.WAITING.value),
                )
        return statuses

    async def story_shots(self, story_id: str) -> list[Task]:
        """Every task of a story, retried attempts included, by shot and then oldest first."""
        rows = await self.db.fetch(
            "SELECT * FROM tasks WHERE story_id=? ORDER BY shot_index, created_at, id", (story_id,)
        )
        return self._tasks(rows)

    async def check_limits(
        self, task: Task, limits: Limits, *, now: float | None = None, queue: bool = False,
        provider_cap: int | None = None,
    ) -> bool:
        """The insert's limit checks without inserting (a front end refusing early). Raises like insert;
        True when the task would wait in the queue."""
        await self._check_money(self.db, task, limits, time.time() if now is None else now)
        busy = await self._busy(self.db, task, limits, provider_cap)
        if busy and not queue:
            raise LimitReachedError(busy)
        return bool(busy)

    async def _busy(
        self, tx: Database | Transaction, task: Task, limits: Limits, provider_cap: int | None
    ) -> str | None:
        """Why the task cannot start now (None when it can): the user's running limit, the user's
        own earlier waiting tasks, or the provider's concurrency, with its earlier waiting tasks."""
        if limits.max_running_per_user is not None:
            rows = await tx.fetch(
                f'SELECT COUNT(*) AS n FROM tasks WHERE "user"=? AND status IN {_ACTIVE_SQL}', (task.user,)
            )
            running = int(rows[0]["n"])
            if running >= limits.max_running_per_user:
                return (
                    f"you already have {running} videos in progress (limit {limits.max_running_per_user}); "
                    "wait for one to finish or cancel one"
                )
        rows = await tx.fetch(
            'SELECT COUNT(*) AS n FROM tasks WHERE "user"=? AND status=? AND after_task_id IS NULL',
            (task.user, TaskStatus.WAITING.value),
        )
        if int(rows[0]["n"]):
            return "your earlier videos are still waiting for a free slot"
        if provider_cap is not None:
            rows = await tx.fetch(
                f"SELECT COUNT(*) AS n FROM tasks WHERE provider=? AND (status IN {_ACTIVE_SQL} "
                "OR (status=? AND after_task_id IS NULL))",
                (task.provider, TaskStatus.WAITING.value),
            )
            if int(rows[0]["n"]) >= provider_cap:
                return f"{task.provider} is busy with as many videos as this server may run at once"
        return None

    async def _check_money(self, tx: Database | Transaction, task: Task, limits: Limits, now: float) -> None:
        user = task.user
        day = start_of_day(now)
        resets = datetime.fromtimestamp(day + 86400, UTC).strftime("%H:%M UTC")
        if limits.max_tasks_per_day is not None:
            rows = await tx.fetch(
                # Rows still in flight (or waiting in our queue) count too: they will be sent.
                'SELECT COUNT(*) AS n FROM tasks WHERE "user"=? AND created_at>=? '
                f"AND (submit_started_at IS NOT NULL OR status IN {_QUEUED_OR_ACTIVE_SQL})",
                (user, day),
            )
            if int(rows[0]["n"]) >= limits.max_tasks_per_day:
                raise LimitReachedError(
                    f"you have used your {limits.max_tasks_per_day} videos for today; the limit resets at {resets}"
                )
        await self._check_budgets(tx, task, limits, day, resets)
        if limits.community_daily_budget_usd is not None and task.scope is not None:
            await self._check_community_budget(tx, task, limits.community_daily_budget_usd, day, resets)

    async def _check_community_budget(
        self, tx: Database | Transaction, task: Task, budget: float, day: float, resets: str
    ) -> None:
        asked = _priced(task, "this server's daily budget")
        spent = await self._usd_spent(tx, "scope=? AND created_at>=?", (task.scope, day))
        if spent + asked > budget:
            raise LimitReachedError(
                f"this server's daily budget of ${budget:,.2f} is nearly spent (${max(budget - spent, 0):,.2f} "
                f"left, this video would cost about ${asked:,.2f}); it resets at {resets}"
            )

    @staticmethod
    async def _usd_spent(tx: Database | Transaction, where: str, params: Sequence[Any]) -> float:
        usd = _CHARGED.format(actual="usd_actual", estimated="usd_estimated")
        rows = await tx.fetch(f"SELECT COALESCE(SUM({usd}), 0) AS spent FROM tasks WHERE {where}", params)
        return float(rows[0]["spent"])

    async def _check_budgets(
        self, tx: Database | Transaction, task: Task, limits: Limits, day: float, resets: str
    ) -> None:
        """The daily budgets: one in US dollars across every provider, one in a provider unit.

        A lost submit may still be charged: it keeps its reservation until the day resets. A task
        the budget cannot count (no published price for a dollar budget; another unit for a unit
        budget) is refused: a budget is about money, so it fails closed.
        """
        if limits.daily_budget_usd is not None:
            budget = limits.daily_budget_usd
            asked = _priced(task, f"the daily budget of ${budget:,.2f}")
            spent = await self._usd_spent(tx, '"user"=? AND created_at>=?', (task.user, day))
            if spent + asked > budget:
                raise LimitReachedError(
                    f"this video would cost about ${asked:,.2f} but only ${max(budget - spent, 0):,.2f} of your "
                    f"daily ${budget:,.2f} are left; the budget resets at {resets}"
                )
        if limits.daily_budget is not None and task.cost.estimated is not None:
            budget, unit = limits.daily_budget, limits.daily_budget_unit
            if task.cost.unit != unit:
                raise LimitReachedError(
                    f"the daily budget is counted in {unit} and {task.provider} bills in {task.cost.unit}, so "
                    "this video cannot be counted against it; ask the operator for a budget in US dollars"
                )
            rows = await tx.fetch(
                f"SELECT COALESCE(SUM({_CHARGED.format(actual='cost_actual', estimated='cost_estimated')}), 0) "
                'AS spent FROM tasks WHERE "user"=? AND created_at>=? AND cost_unit=?',
                (task.user, day, unit),
            )
            spent, asked = float(rows[0]["spent"]), task.cost.estimated
            if spent + asked > budget:
                raise LimitReachedError(
                    f"this video would cost about {asked:,.0f} {unit} but only {max(budget - spent, 0):,.0f} of "
                    f"your daily {budget:,.0f} are left; the budget resets at {resets}"
                )

    async def update(self, task_id: str, **fields: Any) -> None:
        """Set columns of one task (``updated_at`` is always refreshed)."""
        await self._set(task_id, "", (), fields)

    async def update_unfinished(self, task_id: str, **fields: Any) -> bool:
        """Set columns only while the task is not final; False when it already was (or is gone)."""
        return await self._set(task_id, _UNFINISHED, (), fields)

    async def set_if(self, task_id: str, condition: str, params: Sequence[Any], **fields: Any) -> bool:
        """Update only when ``condition`` (SQL over the row) holds; True when a row changed."""
        return await self._set(task_id, condition, params, fields)

    async def _set(self, task_id: str, condition: str, params: Sequence[Any], fields: dict[str, Any]) -> bool:
        fields.setdefault("updated_at", time.time())
        values = []
        for key, value in fields.items():
            if key not in _COLUMNS:
                raise ValueError(f"unknown column {key}")
            if isinstance(value, datetime):
                value = value.timestamp()
            elif isinstance(value, TaskStatus):
                value = value.value
            values.append(value)
        assignments = ", ".join(f"{_q(k)}=?" for k in fields)
        where = f"id=? AND ({condition})" if condition else "id=?"
        return await self.db.execute(f"UPDATE tasks SET {assignments} WHERE {where}", [*values, task_id, *params]) > 0

    async def mark_submitted(self, task_id: str, remote_id: str, *, now: float, next_check_at: float) -> bool:
        """The provider accepted the task: record its id. False when the row was settled meanwhile."""
        return await self._set(
            task_id,
            f"status='pending' AND remote_id IS NULL AND {_UNFINISHED}",
            (),
            # The accepted answer is the first look at the task: a finish seen on the first scheduled
            # check is then a finish seen within one poll gap, and may be learned.
            {
                "remote_id": remote_id,
                "status": TaskStatus.QUEUED,
                "submitted_at": now,
                "next_check_at": next_check_at,
                "last_checked_at": now,
                "check_gap": next_check_at - now,
            },
        )

    async def merge_users(self, old_ids: Sequence[str], new_id: str) -> int:
        """Give the rows of ``old_ids`` to ``new_id`` (ids an earlier version chose for one person)."""
        if not old_ids:
            return 0
        marks = ",".join("?" for _ in old_ids)
        # A request key both ids used would collide: those rows keep their old owner.
        return await self.db.execute(
            f'UPDATE tasks SET "user"=? WHERE "user" IN ({marks}) AND (request_key IS NULL OR request_key NOT IN '
            f'(SELECT request_key FROM tasks WHERE "user"=? AND request_key IS NOT NULL))',
            (new_id, *old_ids, new_id),
        )

    async def delete(self, task_id: str, *, user: str) -> Task | None:
        """Remove one of ``user``'s final tasks; returns it (to remove its files), None if not theirs or not final."""
        task = await self.get(task_id, user=user)
        if task is None or not task.is_final:
            return None
        await self.db.execute('DELETE FROM tasks WHERE id=? AND "user"=? AND finished_at IS NOT NULL', (task_id, user))
        return task

    # -- our own queue ------------------------------------------------------------------------------

    async def waiting(self, *, now: float, limit: int, user: str | None = None) -> list[TaskState]:
        """Waiting tasks nobody is starting right now, oldest first.

        A story's shot counts only once the shot before it has its video: the later shots of a
        story whose shot failed (held until it is retried or cancelled) must not fill the batch.
        """
        where = f"status=? AND (lease_until IS NULL OR lease_until<?) AND {_IN_LINE}"
        params: list[Any] = [TaskStatus.WAITING.value, now]
        if user is not None:
            where += ' AND "user"=?'
            params.append(user)
        rows = await self.db.fetch(
            f"SELECT * FROM tasks WHERE {where} ORDER BY created_at, id LIMIT ?", (*params, limit)
        )
        return self._states(rows)

    async def active_counts(self, users: Sequence[str]) -> dict[str, int]:
        """How many tasks each user has in flight at a provider (what the running limit counts)."""
        if not users:
            return {}
        marks = ",".join("?" for _ in users)
        rows = await self.db.fetch(
            f'SELECT "user", COUNT(*) AS n FROM tasks WHERE "user" IN ({marks}) AND status IN {_ACTIVE_SQL} '
            'GROUP BY "user"',
            list(users),
        )
        return {str(r["user"]): int(r["n"]) for r in rows}

    async def recent_starts(self, users: Sequence[str], *, since: float) -> dict[str, int]:
        """How many tasks each user had sent since ``since`` (who was served lately, for fair turns)."""
        if not users:
            return {}
        marks = ",".join("?" for _ in users)
        rows = await self.db.fetch(
            f'SELECT "user", COUNT(*) AS n FROM tasks WHERE "user" IN ({marks}) AND submit_started_at>=? '
            'GROUP BY "user"',
            (*users, since),
        )
        return {str(r["user"]): int(r["n"]) for r in rows}

    async def promote(
        self, task_id: str, owner: str, *, now: float, seconds: float, provider_cap: int | None = None
    ) -> bool:
        """Start a waiting task when its owner has a free slot (the limit it was queued under), the
        provider has room and the task it waits for (a story's previous shot) has its video. The row
        becomes ``pending``, leased to ``owner``, who then sends it. False when it must wait on."""
        async with self.db.transaction() as tx:
            rows = await tx.fetch(
                "SELECT * FROM tasks WHERE id=? AND status=? AND (lease_until IS NULL OR lease_until<?)",
                (task_id, TaskStatus.WAITING.value, now),
            )
            if not rows:
                return False
            row = rows[0]
            await tx.lock_user(str(row["user"]))
            if row["after_task_id"] is not None:
                before = await tx.fetch(
                    "SELECT status, finished_at, video_path FROM tasks WHERE id=?", (row["after_task_id"],)
                )
                if not before or before[0]["status"] != "succeeded" or before[0]["video_path"] is None:
                    return False
            if row["max_running"] is not None:
                running = await tx.fetch(
                    f'SELECT COUNT(*) AS n FROM tasks WHERE "user"=? AND status IN {_ACTIVE_SQL}', (row["user"],)
                )
                if int(running[0]["n"]) >= int(row["max_running"]):
                    return False
            if provider_cap is not None:
                busy = await tx.fetch(
                    f"SELECT COUNT(*) AS n FROM tasks WHERE provider=? AND status IN {_ACTIVE_SQL}", (row["provider"],)
                )
                if int(busy[0]["n"]) >= provider_cap:
                    return False
            changed = await tx.execute(
                "UPDATE tasks SET status=?, lease_owner=?, lease_until=?, next_check_at=? WHERE id=? AND status=?",
                (TaskStatus.PENDING.value, owner, now + seconds, now, task_id, TaskStatus.WAITING.value),
            )
        return changed > 0

    async def queue_place(self, task: Task) -> QueuePlace | None:
        """Where a waiting task stands: among its owner's waiting tasks, and in its community's queue
        (or, outside any community, among everyone waiting for the same provider)."""
        if task.status is not TaskStatus.WAITING:
            return None
        created = _ts(task.created_at)
        mine = await self.db.fetch(
            f'SELECT COUNT(*) AS n FROM tasks WHERE "user"=? AND status=? AND created_at<? AND {_IN_LINE}',
            (task.user, TaskStatus.WAITING.value, created),
        )
        if task.scope is not None:
            where, key = "scope=?", task.scope
        else:
            where, key = "scope IS NULL AND provider=?", task.provider
        everyone = await self.db.fetch(
            f"SELECT COUNT(*) AS n, SUM(CASE WHEN created_at<? THEN 1 ELSE 0 END) AS ahead FROM tasks "
            f"WHERE {where} AND status=? AND {_IN_LINE}",  # a story's later shots are not in line yet
            (created, key, TaskStatus.WAITING.value),
        )
        return QueuePlace(
            yours=int(mine[0]["n"]) + 1,
            overall=int(everyone[0]["ahead"] or 0) + 1,
            waiting=int(everyone[0]["n"] or 0),
        )

    async def community_queue(self, scope: str | None, *, limit: int = 50) -> list[Task]:
        """A community's line: what runs, then what waits, oldest first."""
        where, params = ("scope=?", [scope]) if scope is not None else ("scope IS NULL", [])
        rows = await self.db.fetch(
            f"SELECT * FROM tasks WHERE {where} AND finished_at IS NULL AND status IN {_QUEUED_OR_ACTIVE_SQL} "
            "ORDER BY CASE WHEN status='waiting' THEN 1 ELSE 0 END, created_at, id LIMIT ?",
            (*params, limit),
        )
        return self._tasks(rows)

    # -- community settings ------------------------------------------------------------------------

    async def community_settings(self, scope: str) -> str | None:
        rows = await self.db.fetch("SELECT settings FROM community_settings WHERE scope=?", (scope,))
        return str(rows[0]["settings"]) if rows else None

    async def save_community_settings(self, scope: str, settings_json: str, *, by: str, now: float) -> None:
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE community_settings SET settings=?, updated_at=?, updated_by=? WHERE scope=?",
                (settings_json, now, by, scope),
            )
            if not changed:
                await tx.execute(
                    "INSERT INTO community_settings (scope, settings, updated_at, updated_by) VALUES (?, ?, ?, ?)",
                    (scope, settings_json, now, by),
                )

    async def spent_today(self, user: str, *, now: float, scope: str | None = None) -> dict[str, float]:
        """What a user's tasks of today count against budgets: per unit, in dollars, and how many."""
        rows = await self.db.fetch(
            f"SELECT cost_unit, COUNT(*) AS n, "
            f"COALESCE(SUM({_CHARGED.format(actual='cost_actual', estimated='cost_estimated')}), 0) AS amount, "
            f"COALESCE(SUM({_CHARGED.format(actual='usd_actual', estimated='usd_estimated')}), 0) AS usd "
            f'FROM tasks WHERE "user"=? AND created_at>=? '
            f"AND (submit_started_at IS NOT NULL OR status IN {_QUEUED_OR_ACTIVE_SQL}) GROUP BY cost_unit",
            (user, start_of_day(now)),
        )
        spent: dict[str, float] = {"tasks": 0.0, "usd": 0.0}
        for row in rows:
            spent["tasks"] += int(row["n"])
            spent[str(row["cost_unit"])] = float(row["amount"])
            spent["usd"] += float(row["usd"])
        if scope is not None:
            rows = await self.db.fetch(
                f"SELECT COALESCE(SUM({_CHARGED.format(actual='usd_actual', estimated='usd_estimated')}), 0) AS usd "
                "FROM tasks WHERE scope=? AND created_at>=?",
                (scope, start_of_day(now)),
            )
            spent["community_usd"] = float(rows[0]["usd"])
        return spent

    # -- leases and the schedule ---------------------------------------------------------------

    async def claim(self, task_id: str, owner: str, seconds: float, *, now: float) -> bool:
        """Take (or renew) the lease on one unfinished task when it is free, expired or ours."""
        return (
            await self.db.execute(
                "UPDATE tasks SET lease_owner=?, lease_until=? WHERE id=? AND finished_at IS NULL "
                "AND (lease_until IS NULL OR lease_until<? OR lease_owner=?)",
                (owner, now + seconds, task_id, now, owner),
            )
            > 0
        )

    async def claim_due(
        self,
        owner: str,
        *,
        now: float,
        seconds: float,
        limit: int,
        due_by: float | None = None,
        user: str | None = None,
        checked_before: float | None = None,
        succeeded: bool | None = None,
        provider: str | None = None,
        checking: bool = False,
    ) -> list[TaskState]:
        """Lease up to ``limit`` unfinished tasks nobody holds, soonest due first.

        ``due_by``: only tasks whose next check is at or before it. ``user``: only that user's
        tasks, and ``checked_before`` skips those looked at since then (a read brings a user's
        tasks up to date without asking twice a second, unless the schedule says it is due).
        ``succeeded``: True for only the tasks whose video is left to download, False for the others.
        ``provider``: only that provider's tasks; ``checking``: only tasks a status check is for
        (queued or running).
        """
        where = ["finished_at IS NULL", "status<>'waiting'", "(lease_until IS NULL OR lease_until<?)"]
        params: list[Any] = [now]
        if succeeded is not None:
            where.append("status='succeeded'" if succeeded else "status<>'succeeded'")
        if checking:
            where.append("status IN ('queued','running')")
        if provider is not None:
            where.append("provider=?")
            params.append(provider)
        if due_by is not None:
            where.append("next_check_at<=?")
            params.append(due_by)
        if user is not None:
            where.append('"user"=?')
            params.append(user)
        if checked_before is not None:  # due now, or not looked at since then
            where.append("(next_check_at<=? OR last_checked_at IS NULL OR last_checked_at<?)")
            params += [now, checked_before]
        async with self.db.transaction() as tx:
            rows = await tx.fetch(
                f"SELECT id FROM tasks WHERE {' AND '.join(where)} ORDER BY next_check_at LIMIT ?{self.db.skip_locked}",
                (*params, limit),
            )
            ids = [str(r["id"]) for r in rows]
            if not ids:
                return []
            marks = ",".join("?" for _ in ids)
            await tx.execute(
                f"UPDATE tasks SET lease_owner=?, lease_until=? WHERE id IN ({marks})", (owner, now + seconds, *ids)
            )
            claimed = await tx.fetch(f"SELECT * FROM tasks WHERE id IN ({marks}) ORDER BY next_check_at", ids)
            states = self._states(claimed)
            damaged = set(ids) - {state.task.id for state in states}
            if damaged:  # reported by _states; set aside for an hour instead of held (and re-read) forever
                marks = ",".join("?" for _ in damaged)
                await tx.execute(
                    f"UPDATE tasks SET lease_owner=NULL, lease_until=NULL, next_check_at=? WHERE id IN ({marks})",
                    (now + DAMAGED_RETRY, *damaged),
                )
        return states

    async def renew(self, owner: str, *, now: float, seconds: float, sending: Sequence[str] = ()) -> int:
        """The heartbeat: extend every lease ``owner`` holds; mark the submits it is still sending alive."""
        if sending:
            marks = ",".join("?" for _ in sending)
            await self.db.execute(
                f"UPDATE tasks SET submit_alive_at=? WHERE lease_owner=? AND id IN ({marks})", (now, owner, *sending)
            )
        return await self.db.execute("UPDATE tasks SET lease_until=? WHERE lease_owner=?", (now + seconds, owner))

    async def release(self, task_id: str, owner: str, *, next_check_at: float | None = None) -> None:
        """Give the task up; with ``next_check_at``, also say when it is due again."""
        if next_check_at is None:
            sql, params = "UPDATE tasks SET lease_owner=NULL, lease_until=NULL WHERE id=? AND lease_owner=?", (
                task_id,
                owner,
            )
        else:
            sql = "UPDATE tasks SET lease_owner=NULL, lease_until=NULL, next_check_at=? WHERE id=? AND lease_owner=?"
            params = (next_check_at, task_id, owner)  # type: ignore[assignment]
        await self.db.execute(sql, params)

    async def record_checks(self, owner: str, entries: Sequence[tuple[str, dict[str, Any]]]) -> set[str]:
        """Write many status checks' outcomes in one transaction, each only while ``owner`` holds the
        unfinished task (a final row is never rewritten). Returns the ids that were written."""
        written: set[str] = set()
        async with self.db.transaction() as tx:
            for task_id, fields in entries:
                for key in fields:
                    if key not in _COLUMNS:
                        raise ValueError(f"unknown column {key}")
                values = [v.value if isinstance(v, TaskStatus) else v for v in fields.values()]
                assignments = ", ".join(f"{_q(k)}=?" for k in fields)
                changed = await tx.execute(
                    f"UPDATE tasks SET {assignments} WHERE id=? AND finished_at IS NULL AND lease_owner=?",
                    (*values, task_id, owner),
                )
                if changed:
                    written.add(task_id)
        return written

    async def beat(self, instance: str, *, now: float, alive_for: float) -> int:
        """Record that ``instance``'s scheduler is alive; returns how many are (this one included):
        those seen within ``alive_for`` seconds. Long-silent entries are forgotten on the way."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO schedulers (instance, seen_at) VALUES (?, ?) "
                "ON CONFLICT (instance) DO UPDATE SET seen_at=excluded.seen_at",
                (instance, now),
            )
            await tx.execute("DELETE FROM schedulers WHERE seen_at < ?", (now - 10 * alive_for,))
            rows = await tx.fetch("SELECT COUNT(*) AS n FROM schedulers WHERE seen_at >= ?", (now - alive_for,))
        return max(1, int(rows[0]["n"]))

    async def leave(self, instance: str) -> None:
        """``instance`` stops: the others may spend its share of the request budgets at once."""
        await self.db.execute("DELETE FROM schedulers WHERE instance=?", (instance,))

    async def release_all(self, owner: str) -> None:
        """Drop every lease ``owner`` holds (on shutdown, so the next run need not wait them out)."""
        await self.db.execute("UPDATE tasks SET lease_owner=NULL, lease_until=NULL WHERE lease_owner=?", (owner,))

    async def next_due_at(self, *, now: float, user: str | None = None) -> float | None:
        """When this process should look again: the soonest due task, or a held lease's expiry."""
        # A task held by a live process is not ours to take before its lease runs out.
        when = "CASE WHEN lease_until IS NOT NULL AND lease_until>? THEN lease_until ELSE next_check_at END"
        where = "finished_at IS NULL AND status<>'waiting'"
        params: list[Any] = [now]
        if user is not None:
            where += ' AND "user"=?'
            params.append(user)
        rows = await self.db.fetch(f"SELECT MIN({when}) AS due FROM tasks WHERE {where}", params)
        due = rows[0]["due"] if rows else None
        return float(due) if due is not None else None

    async def make_due(self, task_id: str, *, now: float) -> None:
        await self.db.execute("UPDATE tasks SET next_check_at=? WHERE id=? AND finished_at IS NULL", (now, task_id))

    async def record_callback(self, task_id: str, token: str, *, now: float, min_interval: float) -> str:
        """A provider callback: "bad" (unknown task or token), "ignored" (final, or too soon after
        the last one: a replayed link costs nothing), or "due" (the task is checked at once)."""
        from hmac import compare_digest

        rows = await self.db.fetch(
            "SELECT callback_token, finished_at, last_callback_at FROM tasks WHERE id=?", (task_id,)
        )
        if not rows or not rows[0]["callback_token"] or not compare_digest(str(rows[0]["callback_token"]), token):
            return "bad"
        changed = await self.db.execute(
            "UPDATE tasks SET next_check_at=?, last_callback_at=? WHERE id=? AND finished_at IS NULL "
            "AND (last_callback_at IS NULL OR last_callback_at<?)",
            (now, now, task_id, now - min_interval),
        )
        return "due" if changed else "ignored"

    # -- reading -------------------------------------------------------------------------------

    async def get(self, task_id: str, *, user: str | None = None) -> Task | None:
        """One task; with ``user``, only if that user owns it."""
        if user is None:
            rows = await self.db.fetch("SELECT * FROM tasks WHERE id=?", (task_id,))
        else:
            rows = await self.db.fetch('SELECT * FROM tasks WHERE id=? AND "user"=?', (task_id, user))
        tasks = self._tasks(rows)
        return tasks[0] if tasks else None

    async def get_raw(self, task_id: str) -> dict[str, Any] | None:
        """The row as the database holds it (diagnostics and tests)."""
        rows = await self.db.fetch("SELECT * FROM tasks WHERE id=?", (task_id,))
        return rows[0] if rows else None

    async def state(self, task_id: str) -> TaskState | None:
        states = self._states(await self.db.fetch("SELECT * FROM tasks WHERE id=?", (task_id,)))
        return states[0] if states else None

    async def by_request_key(self, user: str, key: str) -> Task | None:
        tasks = self._tasks(await self.db.fetch('SELECT * FROM tasks WHERE "user"=? AND request_key=?', (user, key)))
        return tasks[0] if tasks else None

    async def page_for_user(
        self, user: str, *, limit: int = 20, offset: int = 0, statuses: Iterable[str] | None = None
    ) -> Page:
        """A page of a user's tasks, newest first, and whether more follow (no count of every row)."""
        params: list[Any] = [user]
        where = '"user"=?'
        wanted = list(statuses or [])
        if wanted:
            where += f" AND status IN ({','.join('?' for _ in wanted)})"
            params += wanted
        rows = await self.db.fetch(
            f"SELECT * FROM tasks WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
            (*params, limit + 1, max(0, min(offset, MAX_OFFSET))),
        )
        tasks = self._tasks(rows[:limit])
        return Page(tasks=tasks, has_more=len(rows) > limit)

    async def list_for_user(
        self, user: str, *, limit: int = 20, offset: int = 0, statuses: Iterable[str] | None = None
    ) -> list[Task]:
        """A user's tasks, newest first."""
        return (await self.page_for_user(user, limit=limit, offset=offset, statuses=statuses)).tasks

    async def count_for_user(self, user: str, *, statuses: Iterable[str] | None = None) -> int:
        wanted = list(statuses or [])
        where = '"user"=?' + (f" AND status IN ({','.join('?' for _ in wanted)})" if wanted else "")
        rows = await self.db.fetch(f"SELECT COUNT(*) AS n FROM tasks WHERE {where}", (user, *wanted))
        return int(rows[0]["n"])

    async def unfinished(self, *, user: str | None = None) -> list[Task]:
        """Every task not yet final: still running, or succeeded but not downloaded."""
        if user is None:
            rows = await self.db.fetch("SELECT * FROM tasks WHERE finished_at IS NULL ORDER BY created_at")
        else:
            rows = await self.db.fetch(
                'SELECT * FROM tasks WHERE finished_at IS NULL AND "user"=? ORDER BY created_at', (user,)
            )
        return self._tasks(rows)

    async def count_in_line(self, user: str) -> int:
        """How many of the user's tasks wait for a slot (as `waiting` lists them: a story's held
        later shots are not in line)."""
        rows = await self.db.fetch(
            f'SELECT COUNT(*) AS n FROM tasks WHERE status=? AND "user"=? AND {_IN_LINE}',
            (TaskStatus.WAITING.value, user),
        )
        return int(rows[0]["n"])

    async def count_unfinished(self) -> int:
        rows = await self.db.fetch("SELECT COUNT(*) AS n FROM tasks WHERE finished_at IS NULL")
        return int(rows[0]["n"])

    async def undelivered(self, target_prefix: str) -> list[Task]:
        """Final tasks for a front end's targets that it has not delivered yet."""
        rows = await self.db.fetch(
            "SELECT * FROM tasks WHERE delivered_at IS NULL AND substr(target, 1, ?) = ? "
            "AND finished_at IS NOT NULL ORDER BY finished_at",
            (len(target_prefix), target_prefix),
        )
        return self._tasks(rows)

    async def mark_delivered(self, task_id: str, *, user: str | None = None) -> bool:
        """Record delivery once; False when it was already recorded or (with ``user``) not theirs."""
        if user is None:
            return await self.set_if(task_id, "delivered_at IS NULL", (), delivered_at=time.time())
        return await self.set_if(task_id, 'delivered_at IS NULL AND "user"=?', (user,), delivered_at=time.time())

    async def recent_run_times(
        self, provider: str, model: str, resolution: str | None, duration: int | None, *, limit: int = 20
    ) -> list[float]:
        """True run times (submit to done) of the latest tasks of the same kind.

        Only ``run_seconds`` is read: it is written when the provider said when the task finished,
        or when the finish was seen within one poll gap; a late look never teaches the schedule.
        """
        return [run for run, _ in await self.recent_runs(provider, model, resolution, duration, limit=limit)]

    async def recent_runs(
        self, provider: str, model: str, resolution: str | None, duration: int | None, *, limit: int = 20
    ) -> list[tuple[float, float]]:
        """`recent_run_times` with when each of those tasks was submitted: ``(run seconds, submitted)``."""
        rows = await self.db.fetch(
            "SELECT request, run_seconds, done_at FROM tasks WHERE provider=? AND model=? AND run_seconds IS NOT NULL "
            "ORDER BY done_at DESC LIMIT ?",
            (provider, model, limit * 5),
        )
        runs: list[tuple[float, float]] = []
        for row in rows:
            if _same_kind(row, resolution, duration):
                run = float(row["run_seconds"])
                runs.append((run, float(row["done_at"]) - run))
            if len(runs) >= limit:
                break
        return runs

    async def running_since(
        self, provider: str, model: str, resolution: str | None, duration: int | None, *,
        submitted_from: float, submitted_until: float,
    ) -> list[float]:
        """When each still-running task of the same kind submitted between the two times was
        submitted: the tasks that run times, all learned from finished tasks, have not seen yet."""
        rows = await self.db.fetch(
            "SELECT request, submitted_at FROM tasks WHERE finished_at IS NULL AND status IN ('queued','running') "
            "AND provider=? AND model=? AND submitted_at >= ? AND submitted_at <= ?",
            (provider, model, submitted_from, submitted_until),
        )
        return [float(row["submitted_at"]) for row in rows if _same_kind(row, resolution, duration)]

    # -- rows <-> models -------------------------------------------------------------------------

    def _tasks(self, rows: Sequence[Row]) -> list[Task]:
        return [state.task for state in self._states(rows)]

    def _states(self, rows: Sequence[Row]) -> list[TaskState]:
        """Rows as states; a damaged row is reported and skipped, never fatal to the others."""
        states = []
        for row in rows:
            try:
                states.append(self._state(row))
            except (ValidationError, ValueError, TypeError, KeyError) as exc:
                log.error("task %s in %s is damaged and was skipped (%s)", row.get("id"), self.location,
                          type(exc).__name__)
        return states

    @staticmethod
    def _to_row(task: Task) -> dict[str, Any]:
        return {
            "id": task.id,
            "user": task.user,
            "provider": task.provider,
            "model": task.model,
            "request": task.request.model_dump_json(),
            "status": task.status.value,
            "remote_id": task.remote_id,
            "video_url": task.video_url,
            "video_path": task.video_path,
            "last_frame_url": task.last_frame_url,
            "last_frame_path": task.last_frame_path,
            "cost_unit": task.cost.unit,
            "cost_estimated": task.cost.estimated,
            "cost_actual": task.cost.actual,
            "usd_estimated": task.cost.usd_estimated,
            "usd_actual": task.cost.usd_actual,
            "error_code": task.error.code if task.error else None,
            "error_message": task.error.message if task.error else None,
            "progress": task.progress,
            "target": task.target,
            "request_key": task.request_key,
            "scope": task.scope,
            "after_task_id": task.after_task_id,
            "story_id": task.story_id,
            "shot_index": task.shot_index,
            "created_at": _ts(task.created_at),
            "updated_at": _ts(task.updated_at),
            "submitted_at": _ts(task.submitted_at),
            "finished_at": _ts(task.finished_at),
            "delivered_at": _ts(task.delivered_at),
        }

    @staticmethod
    def _state(row: Row) -> TaskState:
        error = TaskError(code=row["error_code"], message=row["error_message"] or "") if row["error_code"] else None
        task = Task(
            id=row["id"],
            user=row["user"],
            provider=row["provider"],
            model=row["model"],
            request=VideoRequest.model_validate_json(row["request"]),
            status=TaskStatus(row["status"]),
            remote_id=row["remote_id"],
            video_url=row["video_url"],
            video_path=row["video_path"],
            last_frame_url=row["last_frame_url"],
            last_frame_path=row["last_frame_path"],
            cost=Cost(
                unit=row["cost_unit"],
                estimated=row["cost_estimated"],
                actual=row["cost_actual"],
                usd_estimated=row.get("usd_estimated"),
                usd_actual=row.get("usd_actual"),
            ),
            error=error,
            progress=row["progress"],
            target=row["target"],
            request_key=row["request_key"],
            scope=row.get("scope"),
            story_id=row.get("story_id"),
            shot_index=row.get("shot_index"),
            after_task_id=row.get("after_task_id"),
            created_at=_dt(row["created_at"]) or datetime.now(UTC),
            updated_at=_dt(row["updated_at"]) or datetime.now(UTC),
            submitted_at=_dt(row["submitted_at"]),
            finished_at=_dt(row["finished_at"]),
            delivered_at=_dt(row["delivered_at"]),
        )
        return TaskState(
            task=task,
            submit_started_at=row.get("submit_started_at"),
            submit_alive_at=row.get("submit_alive_at"),
            next_check_at=row.get("next_check_at"),
            last_checked_at=row.get("last_checked_at"),
            check_gap=row.get("check_gap"),
            polls=int(row.get("polls") or 0),
            poll_errors=int(row.get("poll_errors") or 0),
            lease_owner=row.get("lease_owner"),
            lease_until=row.get("lease_until"),
            callback_token=row.get("callback_token"),
        )


def _same_kind(row: Row, resolution: str | None, duration: int | None) -> bool:
    """Whether the row's request has this resolution and duration (a garbled request has neither)."""
    try:
        request = json.loads(row["request"])
    except ValueError:
        return False
    return bool(request.get("resolution") == resolution and request.get("duration") == duration)
