"""Our own queue (issue 10 §1): a request over a limit waits instead of being refused, shows its
place, starts by itself in fair order, survives a restart and can be cancelled for free; limits
about money still refuse. Also the per-community settings the core enforces (issue 10 §3)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from core.config import Limits, ProviderSettings
from core.errors import LimitReachedError
from core.models import TaskStatus, VideoRequest
from core.service import open_service
from tests.conftest import make_settings

REQ = VideoRequest(prompt="a red fox running through snow", resolution="480p", duration=5)
TIMEOUT = 60.0


def sandbox_submits(home: Path) -> int:
    return len(list((home / "sandbox").glob("sbx-*.json")))


async def test_over_the_running_limit_a_request_waits_in_line_and_starts_by_itself(home: Path) -> None:
    settings = make_settings(home, speed=10.0, limits=Limits(max_running_per_user=1, max_tasks_per_day=None))
    async with open_service(settings, resume=False) as svc:
        first = await svc.submit("alice", REQ)
        second = await svc.submit("alice", REQ)
        third = await svc.submit("alice", REQ)
        assert first.status is TaskStatus.QUEUED
        assert second.status is TaskStatus.WAITING and third.status is TaskStatus.WAITING
        assert second.queue is not None and (second.queue.yours, second.queue.overall) == (1, 1)
        assert third.queue is not None and (third.queue.yours, third.queue.waiting) == (2, 2)
        assert third.to_json()["queue"] == {"yours": 2, "overall": 2, "waiting": 2}
        assert sandbox_submits(home) == 1  # nothing sent for the waiting ones
        done = [await asyncio.wait_for(svc.wait("alice", t.id), TIMEOUT) for t in (first, second, third)]
    assert [d.status for d in done] == [TaskStatus.SUCCEEDED] * 3
    assert done[0].submitted_at and done[1].submitted_at and done[2].submitted_at
    assert done[0].submitted_at < done[1].submitted_at < done[2].submitted_at  # in line, in order


async def test_the_queue_survives_a_restart(home: Path) -> None:
    settings = make_settings(home, speed=10.0, limits=Limits(max_running_per_user=1, max_tasks_per_day=None))
    async with open_service(settings, resume=False) as svc:
        first = await svc.submit("alice", REQ)
        waiting = await svc.submit("alice", REQ)
        assert waiting.status is TaskStatus.WAITING
    async with open_service(settings, resume=True) as svc:  # another process, later
        done = await asyncio.wait_for(svc.wait("alice", waiting.id), TIMEOUT)
        assert (await svc.get("alice", first.id)).is_final
    assert done.status is TaskStatus.SUCCEEDED and sandbox_submits(home) == 2


async def test_a_waiting_task_is_cancelled_for_free(home: Path) -> None:
    settings = make_settings(home, speed=1.0, limits=Limits(max_running_per_user=1, max_tasks_per_day=None))
    async with open_service(settings, resume=False) as svc:
        await svc.submit("alice", REQ)
        waiting = await svc.submit("alice", REQ)
        cancelled = await svc.cancel("alice", waiting.id)
    assert cancelled.status is TaskStatus.CANCELLED and cancelled.remote_id is None
    assert sandbox_submits(home) == 1


async def test_limits_about_money_still_refuse_before_anything_is_stored(home: Path) -> None:
    settings = make_settings(home, speed=1.0, limits=Limits(max_running_per_user=1, max_tasks_per_day=2))
    async with open_service(settings, resume=False) as svc:
        await svc.submit("alice", REQ)
        await svc.submit("alice", REQ)  # waits: the per-day limit counts it already
        with pytest.raises(LimitReachedError, match="2 videos for today"):
            await svc.submit("alice", REQ)
        assert len(await svc.list_tasks("alice")) == 2


async def test_requests_from_five_users_start_in_fair_order(home: Path) -> None:
    """The provider runs 2 at once for everybody: each user gets a turn, nobody hogs the line
    (bench/queue_fairness.py runs the 50-request version and prints the order)."""
    settings = make_settings(
        home, speed=3.0, limits=Limits(max_running_per_user=2, max_tasks_per_day=None),
        providers={"sandbox": ProviderSettings(max_concurrent=2)},
    )
    users = [f"user{i}" for i in range(5)]
    async with open_service(settings, resume=False) as svc:
        ids = []
        for user in users:  # each user asks four times in a row, the worst case for fairness
            for _ in range(4):
                ids.append((user, (await svc.submit(user, REQ, scope="discord:1")).id))
        svc.scheduler.start()
        done = [await asyncio.wait_for(svc.wait(user, task_id), TIMEOUT * 3) for user, task_id in ids]
    assert all(t.status is TaskStatus.SUCCEEDED for t in done)
    order = [t.user for t in sorted(done, key=lambda t: t.submitted_at or t.created_at)]
    # After the first user's two, every window of 5 starts gives each user one (round robin).
    for start in range(2, 17, 5):
        assert len(set(order[start : start + 5])) >= 4, order
    assert Counter(order) == Counter({u: 4 for u in users})


async def test_community_settings_set_limits_roles_and_channels(home: Path) -> None:
    settings = make_settings(home, speed=1.0, limits=Limits(max_running_per_user=3, max_tasks_per_day=None))
    async with open_service(settings, resume=False) as svc:
        updated = await svc.update_community_settings(
            "discord:1", "discord:admin", max_running_per_user=1, allowed_channels=("10",),
            role_overrides={"99": {"max_running_per_user": 5}},
        )
        assert updated.max_running_per_user == 1
        with pytest.raises(LimitReachedError, match="this channel"):
            await svc.submit("alice", REQ, scope="discord:1", channel="11")
        first = await svc.submit("alice", REQ, scope="discord:1", channel="10")
        second = await svc.submit("alice", REQ, scope="discord:1", channel="10")
        assert first.status is TaskStatus.QUEUED and second.status is TaskStatus.WAITING
        vip = [await svc.submit("bob", REQ, scope="discord:1", channel="10", roles=["99"]) for _ in range(4)]
        # the role may have 5, but the operator's ceiling of 3 holds
        assert [t.status for t in vip] == [TaskStatus.QUEUED] * 3 + [TaskStatus.WAITING]
        usage = await svc.usage("bob", scope="discord:1", roles=["99"])
        assert usage.running == 3 and usage.waiting == 1 and usage.limits.max_running_per_user == 3
