"""The durable task store: one SQLite file in WAL mode, shared by every front end and process.

A task row is written before the provider is called and updated as soon as anything is learned,
so a crash at any point leaves a row that says exactly how far the task got. Ownership is part of
every query that reads on a user's behalf. Several processes (a CLI, the server) may share the file:
``lease`` keeps two of them from polling and downloading the same task at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from core.config import Limits
from core.errors import LimitReachedError
from core.models import Cost, Task, TaskError, TaskStatus, VideoRequest

ACTIVE = ("pending", "queued", "running")

# aiosqlite logs every statement with its parameters at DEBUG: callback tokens and signed result
# links among them. Those must not reach a log even when an operator turns debugging on.
logging.getLogger("aiosqlite").setLevel(logging.INFO)

# Each entry moves the schema one version forward; PRAGMA user_version records how far we are.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        user TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        request TEXT NOT NULL,
        status TEXT NOT NULL,
        remote_id TEXT,
        video_url TEXT,
        video_path TEXT,
        last_frame_url TEXT,
        last_frame_path TEXT,
        cost_unit TEXT NOT NULL DEFAULT 'tokens',
        cost_estimated REAL,
        cost_actual REAL,
        error_code TEXT,
        error_message TEXT,
        progress REAL,
        target TEXT,
        request_key TEXT,
        callback_token TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        submit_started_at REAL,
        submitted_at REAL,
        done_at REAL,
        finished_at REAL,
        delivered_at REAL,
        lease_owner TEXT,
        lease_until REAL
    );
    CREATE INDEX tasks_user_created ON tasks (user, created_at DESC);
    CREATE INDEX tasks_unfinished ON tasks (status) WHERE finished_at IS NULL;
    CREATE INDEX tasks_undelivered ON tasks (target) WHERE delivered_at IS NULL AND target IS NOT NULL;
    CREATE INDEX tasks_history ON tasks (provider, model, done_at) WHERE done_at IS NOT NULL;
    CREATE UNIQUE INDEX tasks_request_key ON tasks (user, request_key) WHERE request_key IS NOT NULL;
    CREATE UNIQUE INDEX tasks_remote ON tasks (provider, remote_id) WHERE remote_id IS NOT NULL;
    """,
)

_COLUMNS = (
    "id user provider model request status remote_id video_url video_path last_frame_url last_frame_path "
    "cost_unit cost_estimated cost_actual error_code error_message progress target request_key callback_token "
    "created_at updated_at submit_started_at submitted_at done_at finished_at delivered_at"
).split()
_TIME_FIELDS = {"created_at", "updated_at", "submitted_at", "finished_at", "delivered_at"}


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def start_of_day(now: float) -> float:
    """Midnight UTC of the day ``now`` falls in: daily limits reset then."""
    return float(int(now // 86400) * 86400)


class TaskStore:
    """Async access to the tasks table. Open with ``await TaskStore.open(path)``."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        # One connection is shared by every coroutine of the process: writes and transactions take
        # turns, or one coroutine's BEGIN would swallow another's statements.
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, holding the write lock (other processes wait on SQLite's)."""
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def _write(self, sql: str, params: Sequence[Any]) -> int:
        async with self._lock, self._db.execute(sql, params) as cur:
            return cur.rowcount

    @classmethod
    async def open(cls, path: Path) -> TaskStore:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            # Create the file owner-only before SQLite opens it: it holds prompts and links.
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        # Autocommit mode: transactions are explicit (see _transaction), never opened implicitly.
        db = await aiosqlite.connect(path, timeout=30.0, isolation_level=None)
        db.row_factory = aiosqlite.Row
        await db.execute_fetchall("PRAGMA journal_mode=WAL")
        await db.execute_fetchall("PRAGMA synchronous=NORMAL")
        await db.execute_fetchall("PRAGMA busy_timeout=30000")
        store = cls(db)
        await store._migrate()
        return store

    async def close(self) -> None:
        await self._db.close()

    async def _migrate(self) -> None:
        version = int(await self._scalar("PRAGMA user_version", ()) or 0)
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            async with self._transaction():
                # Another process may have migrated while we waited for the lock.
                if int(await self._scalar("PRAGMA user_version", ()) or 0) >= number:
                    continue
                for statement in script.split(";"):
                    if statement.strip():
                        await self._db.execute(statement)
                await self._db.execute(f"PRAGMA user_version={number}")

    # -- writing -----------------------------------------------------------------------------

    async def insert(
        self,
        task: Task,
        *,
        limits: Limits | None = None,
        now: float | None = None,
        lease: tuple[str, float] | None = None,
    ) -> None:
        """Write a new task row, checking the user's limits in the same transaction.

        Raises:
            LimitReachedError: the user has too many tasks running, ran out of tasks or budget today.
        """
        now = time.time() if now is None else now
        async with self._transaction():
            if limits is not None:
                await self._check_limits(task.user, task.cost.unit, task.cost.estimated, limits, now)
            row = self._to_row(task)
            row["lease_owner"], row["lease_until"] = lease if lease else (None, None)
            columns = [*_COLUMNS, "lease_owner", "lease_until"]
            placeholders = ",".join("?" for _ in columns)
            await self._db.execute(
                f"INSERT INTO tasks ({','.join(columns)}) VALUES ({placeholders})", [row[c] for c in columns]
            )

    async def check_limits(
        self, user: str, unit: str, estimated: float | None, limits: Limits, *, now: float | None = None
    ) -> None:
        """The insert's limit checks without inserting (a front end refusing early). Raises like insert."""
        await self._check_limits(user, unit, estimated, limits, time.time() if now is None else now)

    async def _check_limits(self, user: str, unit: str, estimated: float | None, limits: Limits, now: float) -> None:
        day = start_of_day(now)
        resets = datetime.fromtimestamp(day + 86400, UTC).strftime("%H:%M UTC")
        if limits.max_running_per_user is not None:
            running = await self._scalar(
                f"SELECT COUNT(*) FROM tasks WHERE user=? AND status IN {ACTIVE}", (user,)
            )
            if running >= limits.max_running_per_user:
                raise LimitReachedError(
                    f"you already have {running} videos in progress (limit {limits.max_running_per_user}); "
                    "wait for one to finish or cancel one"
                )
        if limits.max_tasks_per_day is not None:
            today = await self._scalar(
                # Rows still in flight count too: their submit may not have started yet.
                "SELECT COUNT(*) FROM tasks WHERE user=? AND created_at>=? "
                f"AND (submit_started_at IS NOT NULL OR status IN {ACTIVE})",
                (user, day),
            )
            if today >= limits.max_tasks_per_day:
                raise LimitReachedError(
                    f"you have used your {limits.max_tasks_per_day} videos for today; the limit resets at {resets}"
                )
        if limits.daily_budget is not None and estimated is not None:
            spent = await self._scalar(
                "SELECT COALESCE(SUM(CASE WHEN cost_actual IS NOT NULL THEN cost_actual "
                # A lost submit may still be charged: it keeps its reservation until the day resets.
                "WHEN status IN ('failed','cancelled','expired') AND COALESCE(error_code, '') <> 'submit_uncertain' "
                "THEN 0 "
                "ELSE COALESCE(cost_estimated, 0) END), 0) "
                "FROM tasks WHERE user=? AND created_at>=? AND cost_unit=?",
                (user, day, unit),
            )
            if spent + estimated > limits.daily_budget:
                left = max(limits.daily_budget - spent, 0)
                raise LimitReachedError(
                    f"this video would cost about {estimated:,.0f} {unit} but only "
                    f"{left:,.0f} of your daily {limits.daily_budget:,.0f} are left; the budget resets at {resets}"
                )

    async def update(self, task_id: str, **fields: Any) -> None:
        """Set columns of one task (``updated_at`` is always refreshed)."""
        fields.setdefault("updated_at", time.time())
        for key, value in list(fields.items()):
            if key not in _COLUMNS:
                raise ValueError(f"unknown column {key}")
            if isinstance(value, datetime):
                fields[key] = value.timestamp()
            elif isinstance(value, TaskStatus):
                fields[key] = value.value
        assignments = ", ".join(f"{k}=?" for k in fields)
        await self._write(f"UPDATE tasks SET {assignments} WHERE id=?", [*fields.values(), task_id])

    async def set_if(self, task_id: str, condition: str, params: Sequence[Any], **fields: Any) -> bool:
        """Update only when ``condition`` (SQL over the row) holds; True when a row changed."""
        fields.setdefault("updated_at", time.time())
        assignments = ", ".join(f"{k}=?" for k in fields)
        changed = await self._write(
            f"UPDATE tasks SET {assignments} WHERE id=? AND ({condition})", [*fields.values(), task_id, *params]
        )
        return changed > 0

    async def lease(self, task_id: str, owner: str, seconds: float, *, now: float | None = None) -> bool:
        """Take or renew the right to poll and download this task for ``seconds``."""
        now = time.time() if now is None else now
        changed = await self._write(
            "UPDATE tasks SET lease_owner=?, lease_until=? WHERE id=? "
            "AND (lease_until IS NULL OR lease_until<? OR lease_owner=?)",
            (owner, now + seconds, task_id, now, owner),
        )
        return changed > 0

    async def release(self, task_id: str, owner: str) -> None:
        await self._write(
            "UPDATE tasks SET lease_owner=NULL, lease_until=NULL WHERE id=? AND lease_owner=?", (task_id, owner)
        )

    async def release_all(self, owner: str) -> None:
        """Drop every lease ``owner`` holds (on shutdown, so the next run need not wait them out)."""
        await self._write("UPDATE tasks SET lease_owner=NULL, lease_until=NULL WHERE lease_owner=?", (owner,))

    async def mark_delivered(self, task_id: str, *, user: str | None = None) -> bool:
        """Record delivery once; False when it was already recorded or (with ``user``) not theirs."""
        if user is None:
            return await self.set_if(task_id, "delivered_at IS NULL", (), delivered_at=time.time())
        return await self.set_if(task_id, "delivered_at IS NULL AND user=?", (user,), delivered_at=time.time())

    # -- reading -----------------------------------------------------------------------------

    async def get(self, task_id: str, *, user: str | None = None) -> Task | None:
        """One task; with ``user``, only if that user owns it."""
        if user is None:
            rows = await self._rows("SELECT * FROM tasks WHERE id=?", (task_id,))
        else:
            rows = await self._rows("SELECT * FROM tasks WHERE id=? AND user=?", (task_id, user))
        return self._from_row(rows[0]) if rows else None

    async def get_raw(self, task_id: str) -> dict[str, Any] | None:
        rows = await self._rows("SELECT * FROM tasks WHERE id=?", (task_id,))
        return dict(rows[0]) if rows else None

    async def by_request_key(self, user: str, key: str) -> Task | None:
        rows = await self._rows("SELECT * FROM tasks WHERE user=? AND request_key=?", (user, key))
        return self._from_row(rows[0]) if rows else None

    async def list_for_user(
        self, user: str, *, limit: int = 20, offset: int = 0, statuses: Iterable[str] | None = None
    ) -> list[Task]:
        """A user's tasks, newest first."""
        params: list[Any] = [user]
        where = "user=?"
        wanted = list(statuses or [])
        if wanted:
            where += f" AND status IN ({','.join('?' for _ in wanted)})"
            params += wanted
        rows = await self._rows(
            f"SELECT * FROM tasks WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [self._from_row(r) for r in rows]

    async def count_for_user(self, user: str) -> int:
        return int(await self._scalar("SELECT COUNT(*) FROM tasks WHERE user=?", (user,)))

    async def unfinished(self) -> list[Task]:
        """Every task not yet final for its user: still running, or succeeded but not downloaded."""
        rows = await self._rows("SELECT * FROM tasks WHERE finished_at IS NULL ORDER BY created_at", ())
        return [self._from_row(r) for r in rows]

    async def undelivered(self, target_prefix: str) -> list[Task]:
        """Final tasks for a front end's targets that it has not delivered yet."""
        rows = await self._rows(
            "SELECT * FROM tasks WHERE delivered_at IS NULL AND substr(target, 1, ?) = ? "
            "AND finished_at IS NOT NULL ORDER BY finished_at",
            (len(target_prefix), target_prefix),
        )
        return [self._from_row(r) for r in rows]

    async def recent_run_times(self, provider: str, model: str, resolution: str | None, duration: int | None,
                               *, limit: int = 20) -> list[float]:
        """Seconds from submit to done of the latest succeeded tasks of the same kind."""
        rows = await self._rows(
            "SELECT request, done_at - submitted_at AS took FROM tasks WHERE provider=? AND model=? "
            "AND status='succeeded' AND done_at IS NOT NULL AND submitted_at IS NOT NULL "
            "ORDER BY done_at DESC LIMIT ?",
            (provider, model, limit * 5),
        )
        times: list[float] = []
        for row in rows:
            req = json.loads(row["request"])
            if req.get("resolution") == resolution and req.get("duration") == duration:
                times.append(float(row["took"]))
            if len(times) >= limit:
                break
        return times

    # -- rows <-> models -------------------------------------------------------------------------

    async def _rows(self, sql: str, params: Sequence[Any]) -> list[aiosqlite.Row]:
        # Run and fetch in one trip to the connection's thread: a SELECT left half-read would hold
        # a read snapshot open, and a write from another coroutine in between would then fail at
        # once with "database is locked" whenever another process had written meanwhile.
        return list(await self._db.execute_fetchall(sql, params))

    async def _scalar(self, sql: str, params: Sequence[Any]) -> Any:
        rows = await self._rows(sql, params)
        return rows[0][0] if rows else None

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
            "error_code": task.error.code if task.error else None,
            "error_message": task.error.message if task.error else None,
            "progress": task.progress,
            "target": task.target,
            "request_key": task.request_key,
            "callback_token": None,
            "created_at": _ts(task.created_at),
            "updated_at": _ts(task.updated_at),
            "submit_started_at": None,
            "submitted_at": _ts(task.submitted_at),
            "done_at": None,
            "finished_at": _ts(task.finished_at),
            "delivered_at": _ts(task.delivered_at),
        }

    @staticmethod
    def _from_row(row: aiosqlite.Row) -> Task:
        error = TaskError(code=row["error_code"], message=row["error_message"] or "") if row["error_code"] else None
        return Task(
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
            cost=Cost(unit=row["cost_unit"], estimated=row["cost_estimated"], actual=row["cost_actual"]),
            error=error,
            progress=row["progress"],
            target=row["target"],
            request_key=row["request_key"],
            created_at=_dt(row["created_at"]) or datetime.now(UTC),
            updated_at=_dt(row["updated_at"]) or datetime.now(UTC),
            submitted_at=_dt(row["submitted_at"]),
            finished_at=_dt(row["finished_at"]),
            delivered_at=_dt(row["delivered_at"]),
        )
