"""A story on PostgreSQL (the store's shared database): its statements run there as on SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path

from core.models import StoryStatus
from core.service import open_service
from tests.conftest import make_settings
from tests.core.test_story import OPTIONS, SHOTS, TIMEOUT, sandbox_submits


async def test_a_story_on_postgresql_fails_is_retried_joins_and_another_is_cancelled(home: Path, pg_url: str) -> None:
    async with open_service(make_settings(home, database_url=pg_url), resume=True) as svc:
        story = await svc.create_story("alice", [SHOTS[0], "refused #fail"], OPTIONS)
        failed = await asyncio.wait_for(svc.wait_story("alice", story.id), TIMEOUT)
        assert failed.status is StoryStatus.FAILED
        await svc.retry_story("alice", story.id, prompt="accepted")
        done = await asyncio.wait_for(svc.wait_story("alice", story.id), TIMEOUT)
        assert done.status is StoryStatus.SUCCEEDED and sandbox_submits(home) == 3
        other = await svc.create_story("alice", SHOTS, OPTIONS)
        assert (await svc.cancel_story("alice", other.id)).status is StoryStatus.CANCELLED
        assert [s.id for s in (await svc.page_stories("alice")).stories] == [other.id, story.id]
