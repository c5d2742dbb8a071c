"""`TaskStore` on a real SQLite file: schema, permissions, ownership, queries, leases and limits."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.config import Limits
from core.errors import LimitReachedError
from core.models import Cost, Task, TaskStatus, VideoRequest
from core.store import Conflict, TaskStore, start_of_day
from core.store.schema import SQLITE_MIGRATIONS

REQ = VideoRequest(prompt="a red fox", model="seedance-2-0", resolution="720p", duration=5)
NO_LIMITS = Limits(max_running_per_user=None, max_tasks_per_day=None, daily_budget=None)


def make_task(task_id: str, user: str = "alice", *, cost: float = 100.0, **fields: object) -> Task:
    return Task(id=task_id, user=user, provider="sandbox", model="seedance-2-0", request=REQ,
                cost=Cost(unit="tokens", estimated=cost), **fields)  # type: ignore[arg-type]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "seedance.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[TaskStore]:
    s = await TaskStore.open(db_path)
    yield s
    await s.close()


@pytest.fixture
async def second(db_path: Path, store: TaskStore) -> AsyncIterator[TaskStore]:
    """Another connection to the same file, as another process would have."""
    s = await TaskStore.open(db_path)
    yield s
    await s.close()


# -- the file ------------------------------------------------------------------------------------


async def test_migrations_set_user_version_and_wal_and_reopen_cleanly(store: TaskStore, db_path: Path) -> None:
    await store.insert(make_task("t1"))
    reopened = await TaskStore.open(db_path)  # migrating again must be a no-op
    try:
        assert (await reopened.get("t1")) is not None
    finally:
        await reopened.close()
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == len(SQLITE_MIGRATIONS)
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        indexes = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"tasks_user_status", "tasks_due", "tasks_request_key"} <= indexes


async def test_the_database_and_its_folder_are_owner_only(store: TaskStore, db_path: Path) -> None:
    await store.insert(make_task("t1"))
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700
    for side in db_path.parent.glob("seedance.db-*"):  # WAL and shared-memory files follow the db's mode
        assert stat.S_IMODE(side.stat().st_mode) & 0o077 == 0, side


# -- rows ----------------------------------------------------------------------------------------


async def test_insert_get_and_update_round_trip(store: TaskStore) -> None:
    task = make_task("t1", target="discord:1:2", request_key="k1")
    await store.insert(task)
    got = await store.get("t1")
    assert got is not None
    assert got.model_dump() == task.model_dump() | {"created_at": got.created_at, "updated_at": got.updated_at}
    assert abs(got.created_at.timestamp() - task.created_at.timestamp()) < 1e-3

    await store.update("t1", status=TaskStatus.SUCCEEDED, remote_id="r1", cost_actual=90.0, progress=1.0,
                       error_code="x", error_message="y", finished_at=time.time())
    got = await store.get("t1")
    assert got is not None and got.status is TaskStatus.SUCCEEDED and got.remote_id == "r1"
    assert got.cost.actual == 90.0 and got.error is not None and got.error.code == "x" and got.is_final
    assert got.updated_at >= task.updated_at
    with pytest.raises(ValueError):
        await store.update("t1", no_such_column=1)


async def test_get_with_another_user_returns_nothing(store: TaskStore) -> None:
    await store.insert(make_task("t1", user="alice"))
    assert await store.get("t1", user="bob") is None
    assert (await store.get("t1", user="alice")) is not None
    assert await store.get("missing") is None


async def test_list_is_per_user_newest_first_with_pagination_and_status_filter(store: TaskStore) -> None:
    base = time.time() - 100
    for i in range(7):
        await store.insert(make_task(f"a{i}", created_at=datetime.fromtimestamp(base + i, UTC)))
    await store.insert(make_task("b0", user="bob"))
    await store.update("a2", status=TaskStatus.FAILED)

    assert [t.id for t in await store.list_for_user("alice", limit=3)] == ["a6", "a5", "a4"]
    assert [t.id for t in await store.list_for_user("alice", limit=3, offset=3)] == ["a3", "a2", "a1"]
    assert [t.id for t in await store.list_for_user("alice", limit=3, offset=6)] == ["a0"]
    assert [t.id for t in await store.list_for_user("alice", statuses=["failed"])] == ["a2"]
    assert await store.count_for_user("alice") == 7
    assert [t.id for t in await store.list_for_user("bob")] == ["b0"]
    assert await store.list_for_user("carol") == []


async def test_unfinished_and_undelivered(store: TaskStore) -> None:
    now = time.time()
    await store.insert(make_task("running", target="discord:1"))
    await store.insert(make_task("done", target="discord:2"))
    await store.insert(make_task("downloading", target="discord:3"))
    await store.insert(make_task("mcp", target="mcp:s1"))
    await store.insert(make_task("no-target"))
    await store.update("done", status=TaskStatus.SUCCEEDED, finished_at=now)
    await store.update("downloading", status=TaskStatus.SUCCEEDED)  # not downloaded yet: not final
    await store.update("mcp", status=TaskStatus.FAILED, finished_at=now)
    await store.update("no-target", status=TaskStatus.FAILED, finished_at=now)

    assert {t.id for t in await store.unfinished()} == {"running", "downloading"}
    assert [t.id for t in await store.undelivered("discord:")] == ["done"]
    assert [t.id for t in await store.undelivered("mcp:")] == ["mcp"]


async def test_mark_delivered_succeeds_once(store: TaskStore, second: TaskStore) -> None:
    await store.insert(make_task("t1", target="discord:1"))
    await store.update("t1", status=TaskStatus.SUCCEEDED, finished_at=time.time())
    results = await asyncio.gather(store.mark_delivered("t1"), second.mark_delivered("t1"))
    assert sorted(results) == [False, True]
    assert await store.mark_delivered("t1") is False
    assert await store.mark_delivered("missing") is False
    assert await store.undelivered("discord:") == []


async def test_request_key_is_unique_per_user(store: TaskStore) -> None:
    await store.insert(make_task("t1", request_key="k"))
    with pytest.raises(Conflict):
        await store.insert(make_task("t2", request_key="k"))
    await store.insert(make_task("t3", user="bob", request_key="k"))
    await store.insert(make_task("t4"))  # no key: never a conflict
    await store.insert(make_task("t5"))
    found = await store.by_request_key("alice", "k")
    assert found is not None and found.id == "t1"
    assert await store.by_request_key("carol", "k") is None
    await store.insert(make_task("t6"))  # the failed insert left no transaction open


async def test_a_remote_id_is_adopted_by_one_task_only(store: TaskStore) -> None:
    await store.insert(make_task("t1"))
    await store.insert(make_task("t2"))
    await store.update("t1", remote_id="r1")
    with pytest.raises(Conflict):
        await store.update("t2", remote_id="r1")


async def test_recent_run_times_match_the_kind_newest_first(store: TaskStore) -> None:
    now = time.time()
    other = REQ.model_copy(update={"resolution": "1080p"})
    for i, (request, took) in enumerate([(REQ, 100.0), (REQ, 110.0), (other, 300.0), (REQ, 120.0)]):
        task = Task(id=f"t{i}", user="alice", provider="sandbox", model="seedance-2-0", request=request)
        await store.insert(task)
        await store.update(task.id, status=TaskStatus.SUCCEEDED, submitted_at=now - 1000 + i,
                           done_at=now - 1000 + i + took, run_seconds=took)
    await store.insert(make_task("still-running"))
    await store.update("still-running", submitted_at=now)
    await store.insert(make_task("failed"))
    await store.update("failed", status=TaskStatus.FAILED, submitted_at=now - 50, done_at=now)
    await store.insert(make_task("seen-late"))  # its finish was seen long after it happened: not learned
    await store.update("seen-late", status=TaskStatus.SUCCEEDED, submitted_at=now - 900, done_at=now)

    times = await store.recent_run_times("sandbox", "seedance-2-0", "720p", 5)
    assert times == pytest.approx([120.0, 110.0, 100.0])
    assert await store.recent_run_times("sandbox", "seedance-2-0", "1080p", 5) == pytest.approx([300.0])
    assert await store.recent_run_times("sandbox", "seedance-2-0", "720p", 5, limit=1) == pytest.approx([120.0])
    assert await store.recent_run_times("byteplus", "seedance-2-0", "720p", 5) == []


# -- leases --------------------------------------------------------------------------------------


async def test_a_lease_is_exclusive_between_connections_until_released_or_expired(
    store: TaskStore, second: TaskStore
) -> None:
    await store.insert(make_task("t1"))
    now = time.time()
    assert await store.claim("t1", "proc-a", 60, now=now) is True
    assert await second.claim("t1", "proc-b", 60, now=now) is False
    assert await store.claim("t1", "proc-a", 60, now=now + 1) is True  # renewing is fine
    assert await second.claim("t1", "proc-b", 60, now=now + 30) is False
    assert await second.claim("t1", "proc-b", 60, now=now + 62) is True  # a's lease ran out
    assert await store.claim("t1", "proc-a", 60, now=now + 63) is False
    await store.release("t1", "proc-a")  # releasing someone else's lease does nothing
    assert await store.claim("t1", "proc-a", 60, now=now + 64) is False
    await second.release("t1", "proc-b")
    assert await store.claim("t1", "proc-a", 60, now=now + 65) is True


async def test_concurrent_leases_from_two_connections_give_one_winner(store: TaskStore, second: TaskStore) -> None:
    await store.insert(make_task("t1"))
    now = time.time()
    results = await asyncio.gather(
        *(s.claim("t1", f"owner-{i}", 60, now=now) for i, s in enumerate([store, second] * 5))
    )
    assert sum(results) == 1


# -- limits --------------------------------------------------------------------------------------


async def test_running_limit(store: TaskStore) -> None:
    limits = Limits(max_running_per_user=2, max_tasks_per_day=None)
    await store.insert(make_task("t1"), limits=limits)
    await store.insert(make_task("t2"), limits=limits)
    with pytest.raises(LimitReachedError) as info:
        await store.insert(make_task("t3"), limits=limits)
    assert "2 videos in progress" in str(info.value) and "\n" not in str(info.value)
    await store.insert(make_task("b1", user="bob"), limits=limits)
    await store.update("t1", status=TaskStatus.SUCCEEDED)
    await store.insert(make_task("t3"), limits=limits)
    assert await store.get("t3") is not None


async def test_tasks_per_day_limit_counts_sent_tasks_of_today(store: TaskStore) -> None:
    limits = Limits(max_running_per_user=None, max_tasks_per_day=2)
    now = time.time()
    for task_id in ("t1", "t2"):
        await store.insert(make_task(task_id), limits=limits, now=now)
        await store.update(task_id, submit_started_at=now, status=TaskStatus.SUCCEEDED)
    with pytest.raises(LimitReachedError) as info:
        await store.insert(make_task("t3"), limits=limits, now=now)
    assert "resets at 00:00 UTC" in str(info.value)
    await store.insert(make_task("t3"), limits=limits, now=start_of_day(now) + 86400 + 1)  # tomorrow


async def test_per_day_limit_counts_rows_not_yet_sent(store: TaskStore) -> None:
    limits = Limits(max_running_per_user=None, max_tasks_per_day=2)
    await store.insert(make_task("t1"), limits=limits)
    await store.insert(make_task("t2"), limits=limits)  # both in flight, submit not started yet
    with pytest.raises(LimitReachedError):
        await store.insert(make_task("t3"), limits=limits)


async def test_two_connections_never_overshoot_the_daily_task_limit(store: TaskStore, second: TaskStore) -> None:
    limits = Limits(max_running_per_user=None, max_tasks_per_day=4)
    jobs = [s.insert(make_task(f"t{i}"), limits=limits) for i, s in enumerate([store, second] * 6)]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 4
    assert all(not isinstance(r, BaseException) or isinstance(r, LimitReachedError) for r in results), results


async def test_budget_reserves_estimates_and_settles_with_actual_cost(store: TaskStore) -> None:
    limits = Limits(max_running_per_user=None, max_tasks_per_day=None, daily_budget=1000)
    await store.insert(make_task("t1", cost=400), limits=limits)
    await store.insert(make_task("t2", cost=400), limits=limits)
    with pytest.raises(LimitReachedError) as info:
        await store.insert(make_task("t3", cost=400), limits=limits)
    assert "only 200 of your daily 1,000 are left" in str(info.value)
    await store.update("t1", cost_actual=100.0)  # settled lower than estimated: frees 300
    await store.insert(make_task("t3", cost=400), limits=limits)
    await store.update("t2", status=TaskStatus.FAILED)  # a failed task costs nothing: 100 + 0 + 400 spent
    await store.insert(make_task("t4", cost=500), limits=limits)  # exactly the budget
    with pytest.raises(LimitReachedError):
        await store.insert(make_task("t5", cost=1), limits=limits)
    await store.insert(make_task("other", user="bob", cost=900), limits=limits)  # per user


async def test_concurrent_inserts_on_one_connection_never_overshoot_the_budget(store: TaskStore) -> None:
    limits = Limits(max_running_per_user=None, max_tasks_per_day=None, daily_budget=1000)
    results = await asyncio.gather(
        *(store.insert(make_task(f"t{i}", cost=100), limits=limits) for i in range(40)),
        *(store.update("t0", progress=i / 10) for i in range(10)),  # unrelated writes interleaved
        return_exceptions=True,
    )
    inserted = results[:40]
    assert sum(not isinstance(r, BaseException) for r in inserted) == 10
    assert all(not isinstance(r, BaseException) or isinstance(r, LimitReachedError) for r in inserted), inserted
    assert await store.count_for_user("alice") == 10


async def test_two_connections_never_overshoot_the_budget(store: TaskStore, second: TaskStore) -> None:
    limits = Limits(max_running_per_user=None, max_tasks_per_day=None, daily_budget=1000)
    jobs = [s.insert(make_task(f"t{i}", cost=100), limits=limits) for i, s in enumerate([store, second] * 15)]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 10
    assert all(not isinstance(r, BaseException) or isinstance(r, LimitReachedError) for r in results), results
    assert await second.count_for_user("alice") == 10


async def test_a_transaction_cancelled_mid_begin_never_wedges_the_connection(store: TaskStore) -> None:
    """Cancelling a claim while its BEGIN is on the connection's thread left the shared connection
    inside a transaction: every later BEGIN failed and nothing committed again."""
    await store.insert(make_task("t1"))
    for _ in range(50):
        claim = asyncio.ensure_future(store.claim_due("me", now=time.time(), seconds=30, limit=10))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        claim.cancel()
        await asyncio.gather(claim, return_exceptions=True)
        await store.claim_due("other", now=time.time() + 3600, seconds=30, limit=10)  # raises when wedged
    await store.release_all("other")
    assert await store.update_unfinished("t1", progress=0.5)


async def test_a_huge_offset_is_an_empty_page_not_an_overflow(store: TaskStore) -> None:
    await store.insert(make_task("t1"))
    page = await store.page_for_user("alice", limit=20, offset=2**63)
    assert page.tasks == [] and page.has_more is False
    assert [t.id for t in (await store.page_for_user("alice", offset=-5)).tasks] == ["t1"]
