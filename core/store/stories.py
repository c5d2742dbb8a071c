"""The stories table: one row per long video made of shots (the shots are rows of the tasks table).

A story row holds what the shots share (owner, community, delivery target, the common options), the
joined video once it exists, and why it stopped when it did. Its lease (``lease_owner`` /
``lease_until``) names the one process joining it, exactly as a task's lease names the one process
checking it; ``finished_at`` makes it final until a retry opens it again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.models import TaskError, VideoRequest
from core.store.database import Database, Row


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


@dataclass(frozen=True)
class StoryRecord:
    """A story row as stored (its status comes from its shots; see `core.engine.story`)."""

    id: str
    user: str
    scope: str | None
    target: str | None
    request: VideoRequest  # the options every shot shares (no prompt, no images)
    shots: int
    video_path: str | None
    error: TaskError | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    delivered_at: datetime | None
    lease_owner: str | None
    lease_until: float | None


def new_story_row(
    story_id: str, user: str, request: VideoRequest, shots: int, *, scope: str | None, target: str | None, now: float
) -> dict[str, Any]:
    """The row `TaskStore.insert_story` writes for a new story."""
    return {
        "id": story_id,
        "user": user,
        "scope": scope,
        "target": target,
        "request": request.model_dump_json(),
        "shots": shots,
        "created_at": now,
        "updated_at": now,
    }


class StoryRows:
    """Typed access to the stories table over either database driver."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, story_id: str, *, user: str | None = None) -> StoryRecord | None:
        """One story; with ``user``, only if that user owns it."""
        sql, params = "SELECT * FROM stories WHERE id=?", [story_id]
        if user is not None:
            sql += ' AND "user"=?'
            params.append(user)
        rows = await self.db.fetch(sql, params)
        return _record(rows[0]) if rows else None

    async def page_for_user(self, user: str, *, limit: int = 20, offset: int = 0) -> tuple[list[StoryRecord], bool]:
        """A page of the user's stories, newest first, and whether more follow."""
        rows = await self.db.fetch(
            'SELECT * FROM stories WHERE "user"=? ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?',
            (user, limit + 1, offset),
        )
        return [_record(r) for r in rows[:limit]], len(rows) > limit

    async def due(self, *, now: float, limit: int, user: str | None = None) -> list[StoryRecord]:
        """Stories not final, not being joined, with something to do: every shot final (to join), or
        a shot's current attempt final without a video (to record as failed). Oldest first."""
        sql = (
            "SELECT * FROM stories s WHERE s.finished_at IS NULL AND (s.lease_until IS NULL OR s.lease_until<?) "
            "AND (NOT EXISTS (SELECT 1 FROM tasks t WHERE t.story_id=s.id AND t.finished_at IS NULL) "
            "OR EXISTS (SELECT 1 FROM tasks t WHERE t.story_id=s.id AND t.finished_at IS NOT NULL "
            "AND (t.status<>'succeeded' OR t.video_path IS NULL) AND NOT EXISTS (SELECT 1 FROM tasks n "
            "WHERE n.story_id=t.story_id AND n.shot_index=t.shot_index AND n.created_at>t.created_at)))"
        )
        params: list[Any] = [now]
        if user is not None:
            sql += ' AND s."user"=?'
            params.append(user)
        rows = await self.db.fetch(sql + " ORDER BY s.created_at, s.id LIMIT ?", (*params, limit))
        return [_record(r) for r in rows]

    async def lease(self, story_id: str, owner: str, *, now: float, seconds: float) -> bool:
        """Take the story for joining; False when it is final or another live process holds it."""
        changed = await self.db.execute(
            "UPDATE stories SET lease_owner=?, lease_until=? WHERE id=? AND finished_at IS NULL "
            "AND (lease_until IS NULL OR lease_until<? OR lease_owner=?)",
            (owner, now + seconds, story_id, now, owner),
        )
        return changed > 0

    async def renew(self, story_id: str, owner: str, *, now: float, seconds: float) -> bool:
        return await self.db.execute(
            "UPDATE stories SET lease_until=? WHERE id=? AND lease_owner=?", (now + seconds, story_id, owner)
        ) > 0

    async def release(self, story_id: str, owner: str) -> None:
        await self.db.execute(
            "UPDATE stories SET lease_owner=NULL, lease_until=NULL WHERE id=? AND lease_owner=?", (story_id, owner)
        )

    async def finish(
        self,
        story_id: str,
        *,
        now: float,
        owner: str | None = None,
        video_path: str | None = None,
        error: TaskError | None = None,
        unless_retried: tuple[int, float] | None = None,
    ) -> bool:
        """Make the story final (joined or failed) once; with ``owner``, only under its lease.

        ``unless_retried`` (shot index, created_at of its failed attempt): not if that shot has a newer
        attempt by now (a retry that came in between must not be undone)."""
        sql = (
            "UPDATE stories SET video_path=?, error_code=?, error_message=?, finished_at=?, updated_at=?, "
            "lease_owner=NULL, lease_until=NULL WHERE id=? AND finished_at IS NULL"
        )
        params: list[Any] = [
            video_path, error.code if error else None, error.message if error else None, now, now, story_id,
        ]
        if owner is not None:
            sql += " AND lease_owner=?"
            params.append(owner)
        if unless_retried is not None:
            sql += (
                " AND NOT EXISTS (SELECT 1 FROM tasks n WHERE n.story_id=stories.id AND n.shot_index=? "
                "AND n.created_at>?)"
            )
            params += list(unless_retried)
        return await self.db.execute(sql, params) > 0

    async def cancel(self, story_id: str, user: str, *, now: float) -> bool:
        """Cancel a story not joined and not being joined (a failed one too); False otherwise."""
        return await self.db.execute(
            "UPDATE stories SET error_code='cancelled', error_message='cancelled by its owner', "
            "finished_at=COALESCE(finished_at, ?), updated_at=? WHERE id=? AND \"user\"=? AND video_path IS NULL "
            "AND COALESCE(error_code, '') <> 'cancelled' AND (lease_until IS NULL OR lease_until<?)",
            (now, now, story_id, user, now),
        ) > 0

    async def reopen(self, story_id: str, *, now: float) -> bool:
        """A failed story goes on (a retried shot): no longer final, no error. Never a joined or cancelled one."""
        return await self.db.execute(
            "UPDATE stories SET finished_at=NULL, error_code=NULL, error_message=NULL, updated_at=?, "
            "delivered_at=NULL WHERE id=? AND video_path IS NULL AND COALESCE(error_code, '') <> 'cancelled'",
            (now, story_id),
        ) > 0

    async def undelivered(self, target_prefix: str) -> list[StoryRecord]:
        """Final stories for a front end's targets that it has not delivered yet."""
        rows = await self.db.fetch(
            "SELECT * FROM stories WHERE delivered_at IS NULL AND substr(target, 1, ?) = ? "
            "AND finished_at IS NOT NULL ORDER BY finished_at",
            (len(target_prefix), target_prefix),
        )
        return [_record(r) for r in rows]

    async def mark_delivered(self, story_id: str, *, user: str | None = None) -> bool:
        """Record delivery once; False when already recorded or (with ``user``) not theirs."""
        sql, params = "UPDATE stories SET delivered_at=? WHERE id=? AND delivered_at IS NULL", [time.time(), story_id]
        if user is not None:
            sql += ' AND "user"=?'
            params.append(user)
        return await self.db.execute(sql, params) > 0

    async def set_target(self, story_id: str, user: str, target: str) -> bool:
        return await self.db.execute(
            'UPDATE stories SET target=? WHERE id=? AND "user"=?', (target, story_id, user)
        ) > 0


def _record(row: Row) -> StoryRecord:
    error = TaskError(code=row["error_code"], message=row["error_message"] or "") if row["error_code"] else None
    return StoryRecord(
        id=str(row["id"]),
        user=str(row["user"]),
        scope=row["scope"],
        target=row["target"],
        request=VideoRequest.model_validate_json(row["request"]),
        shots=int(row["shots"]),
        video_path=row["video_path"],
        error=error,
        created_at=_dt(row["created_at"]) or datetime.now(UTC),
        updated_at=_dt(row["updated_at"]) or datetime.now(UTC),
        finished_at=_dt(row["finished_at"]),
        delivered_at=_dt(row["delivered_at"]),
        lease_owner=row["lease_owner"],
        lease_until=row["lease_until"],
    )
