"""One contract for the task store, kept by both drivers: each test runs on SQLite and on PostgreSQL.

Several `TaskStore` instances on one database stand for several processes (or machines): limits
hold across them, a row is never claimed twice, migrations run once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from core.config import Limits
from core.errors import LimitReachedError
from core.models import Cost, Task, TaskError, TaskStatus, VideoRequest
from core.store import Conflict, TaskStore, start_of_day
from tests.store.conftest import Backend, PortableSql

REQ = VideoRequest(prompt="a red fox", model="seedance-2-0", resolution="720p", duration=5)
NOW = 1_790_000_000.0  # a fixed moment, mid-day UTC, so "today" never flips during a test
DAY = start_of_day(NOW)


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def make_task(
    task_id: str,
    user: str = "alice",
    *,
    cost: float | None = 100.0,
    usd: float | None = None,
    unit: str = "tokens",
    created: float = NOW,
    status: TaskStatus = TaskStatus.PENDING,
    request: VideoRequest = REQ,
    **fields: object,
) -> Task:
    return Task(
        id=task_id,
        user=user,
        provider="sandbox",
        model="seedance-2-0",
        request=request,
        status=status,
        cost=Cost(unit=unit, estimated=cost, usd_estimated=usd),  # type: ignore[arg-type]
        created_at=at(created),
        updated_at=at(created),
        **fields,  # type: ignore[arg-type]
    )


def limits(
    running: int | None = None,
    per_day: int | None = None,
    budget: float | None = None,
    usd: float | None = None,
    unit: str = "tokens",
) -> Limits:
    return Limits(
        max_running_per_user=running,
        max_tasks_per_day=per_day,
        daily_budget=budget,
        daily_budget_unit=unit,  # type: ignore[arg-type]
        daily_budget_usd=usd,
    )


async def finish(store: TaskStore, task_id: str, status: TaskStatus = TaskStatus.SUCCEEDED, **fields: object) -> None:
    await store.update(task_id, status=status, finished_at=NOW + 60, done_at=NOW + 50, **fields)


# -- writing and reading one task -------------------------------------------------------------------


async def test_insert_then_get_round_trips_every_field(store: TaskStore) -> None:
    task = make_task(
        "t1",
        usd=0.42,
        remote_id=None,
        target="discord:1:2",
        request_key="key-1",
        scope="discord:guild",
        progress=0.25,
        error=TaskError(code="x", message="y"),
        video_url="https://example.invalid/v.mp4",
    )
    await store.insert(task, now=NOW, lease=("me", NOW + 30))
    got = await store.get("t1")
    assert got is not None
    assert got.model_dump(exclude={"created_at", "updated_at"}) == task.model_dump(exclude={"created_at", "updated_at"})
    assert abs(got.created_at.timestamp() - NOW) < 1e-3
    state = await store.state("t1")
    assert state is not None
    assert state.next_check_at == NOW and state.lease_owner == "me" and state.lease_until == NOW + 30
    assert state.polls == 0 and state.poll_errors == 0 and state.submit_started_at is None
    assert await store.get("nope") is None and await store.state("nope") is None


async def test_get_with_user_only_returns_the_owners_task(store: TaskStore) -> None:
    await store.insert(make_task("t1", "alice"), now=NOW)
    assert (await store.get("t1", user="alice")) is not None
    assert await store.get("t1", user="bob") is None
    assert await store.mark_delivered("t1", user="bob") is False


async def test_update_sets_columns_and_refuses_unknown_ones(store: TaskStore) -> None:
    await store.insert(make_task("t1"), now=NOW)
    await store.update("t1", status=TaskStatus.RUNNING, progress=0.5, submitted_at=at(NOW + 1), polls=3)
    state = await store.state("t1")
    assert state is not None and state.task.status is TaskStatus.RUNNING and state.task.progress == 0.5
    assert state.polls == 3 and state.task.submitted_at == at(NOW + 1)
    assert state.task.updated_at.timestamp() > NOW  # always refreshed
    with pytest.raises(ValueError, match="unknown column"):
        await store.update("t1", **{"status; DROP TABLE tasks": "x"})


async def test_update_unfinished_never_rewrites_a_final_row(store: TaskStore) -> None:
    await store.insert(make_task("t1"), now=NOW)
    assert await store.update_unfinished("t1", status=TaskStatus.RUNNING) is True
    await finish(store, "t1", video_path="/v.mp4")
    assert await store.update_unfinished("t1", status=TaskStatus.FAILED, video_path=None) is False
    got = await store.get("t1")
    assert got is not None and got.status is TaskStatus.SUCCEEDED and got.video_path == "/v.mp4"
    assert await store.update_unfinished("gone", status=TaskStatus.FAILED) is False


async def test_set_if_applies_only_when_the_condition_holds(store: TaskStore) -> None:
    await store.insert(make_task("t1"), now=NOW)
    assert await store.set_if("t1", "status=?", ("queued",), progress=0.1) is False
    assert await store.set_if("t1", "status=?", ("pending",), progress=0.2) is True
    got = await store.get("t1")
    assert got is not None and got.progress == 0.2


async def test_mark_submitted_once_and_never_on_a_settled_row(store: TaskStore) -> None:
    await store.insert(make_task("t1"), now=NOW)
    await store.insert(make_task("t2"), now=NOW)
    assert await store.mark_submitted("t1", "r-1", now=NOW + 1, next_check_at=NOW + 5) is True
    state = await store.state("t1")
    assert state is not None and state.task.status is TaskStatus.QUEUED and state.task.remote_id == "r-1"
    assert state.next_check_at == NOW + 5 and state.task.submitted_at == at(NOW + 1)
    assert await store.mark_submitted("t1", "r-other", now=NOW + 2, next_check_at=NOW + 6) is False
    await store.update("t2", status=TaskStatus.FAILED, finished_at=NOW + 1)
    assert await store.mark_submitted("t2", "r-2", now=NOW + 2, next_check_at=NOW + 6) is False


async def test_one_remote_task_is_adopted_by_one_row(store: TaskStore) -> None:
    await store.insert(make_task("t1"), now=NOW)
    await store.insert(make_task("t2"), now=NOW)
    assert await store.mark_submitted("t1", "r-1", now=NOW, next_check_at=NOW)
    with pytest.raises(Conflict):
        await store.mark_submitted("t2", "r-1", now=NOW, next_check_at=NOW)
    # The store is still usable after the refused write.
    assert await store.mark_submitted("t2", "r-2", now=NOW, next_check_at=NOW)


async def test_request_key_is_unique_per_user(store: TaskStore) -> None:
    await store.insert(make_task("t1", "alice", request_key="k"), now=NOW)
    with pytest.raises(Conflict):
        await store.insert(make_task("t2", "alice", request_key="k"), now=NOW, limits=limits(running=5))
    await store.insert(make_task("t3", "bob", request_key="k"), now=NOW)
    await store.insert(make_task("t4", "alice"), now=NOW)  # no key: never a conflict
    await store.insert(make_task("t5", "alice"), now=NOW)
    found = await store.by_request_key("alice", "k")
    assert found is not None and found.id == "t1"
    assert await store.by_request_key("carol", "k") is None
    assert await store.get("t2") is None  # the refused insert left nothing behind


async def test_same_task_id_twice_is_a_conflict(store: TaskStore) -> None:
    await store.insert(make_task("t1"), now=NOW)
    with pytest.raises(Conflict):
        await store.insert(make_task("t1"), now=NOW)


# -- limits, checked inside the insert's transaction ---------------------------------------------------


async def test_running_limit_counts_only_active_tasks(store: TaskStore) -> None:
    lim = limits(running=2)
    await store.insert(make_task("t1"), now=NOW, limits=lim)
    await store.insert(make_task("t2"), now=NOW, limits=lim)
    with pytest.raises(LimitReachedError, match="2 videos in progress"):
        await store.insert(make_task("t3"), now=NOW, limits=lim)
    with pytest.raises(LimitReachedError):
        await store.check_limits(make_task("t3"), lim, now=NOW)
    await store.insert(make_task("b1", "bob"), now=NOW, limits=lim)  # another user's own count
    await finish(store, "t1")
    await store.check_limits(make_task("t3"), lim, now=NOW)
    await store.insert(make_task("t3"), now=NOW, limits=lim)
    assert await store.get("t3") is not None


async def test_tasks_per_day_counts_today_and_sent_or_in_flight_ones(store: TaskStore) -> None:
    lim = limits(per_day=2)
    await store.insert(make_task("old", created=DAY - 10), now=NOW, limits=lim)  # yesterday
    await store.insert(make_task("t1"), now=NOW, limits=lim)
    # Failed before its submit started: not charged against the day.
    await store.insert(make_task("t2"), now=NOW, limits=lim)
    await store.update("t2", status=TaskStatus.FAILED, finished_at=NOW)
    await store.insert(make_task("t3"), now=NOW, limits=lim)
    with pytest.raises(LimitReachedError, match="your 2 videos for today"):
        await store.insert(make_task("t4"), now=NOW, limits=lim)
    # A finished task whose submit had started counts; tomorrow the count resets.
    await store.update("t1", status=TaskStatus.SUCCEEDED, submit_started_at=NOW, finished_at=NOW)
    with pytest.raises(LimitReachedError):
        await store.insert(make_task("t4"), now=NOW, limits=lim)
    await store.insert(make_task("t5", created=DAY + 86400 + 5), now=DAY + 86400 + 5, limits=lim)


async def test_daily_budget_in_dollars(store: TaskStore) -> None:
    lim = limits(usd=1.0)
    await store.insert(make_task("t1", usd=0.4), now=NOW, limits=lim)
    await store.insert(make_task("t2", usd=0.4, unit="credits"), now=NOW, limits=lim)  # one budget, any unit
    with pytest.raises(LimitReachedError, match=r"\$0\.40 but only \$0\.20 of your daily \$1\.00"):
        await store.insert(make_task("t3", usd=0.4), now=NOW, limits=lim)
    # A failure refunds its reservation, unless the submit may have reached the provider.
    await store.update("t1", status=TaskStatus.FAILED, finished_at=NOW, error_code="submit_uncertain")
    with pytest.raises(LimitReachedError):
        await store.insert(make_task("t3", usd=0.4), now=NOW, limits=lim)
    await store.update("t1", error_code="provider_error")
    await store.insert(make_task("t3", usd=0.4), now=NOW, limits=lim)
    # The actual price replaces the estimate once known.
    await store.update("t2", usd_actual=0.1)
    await store.insert(make_task("t4", usd=0.4), now=NOW, limits=lim)
    # Yesterday's spending is not today's.
    await store.insert(make_task("y", usd=5.0, created=DAY - 1), now=DAY - 1, limits=limits(usd=10.0))
    with pytest.raises(LimitReachedError):
        await store.insert(make_task("t5", usd=0.2), now=NOW, limits=lim)
    # A dollar budget cannot count a video nobody priced: refused, not let through.
    with pytest.raises(LimitReachedError, match="no price"):
        await store.insert(make_task("t6", usd=None), now=NOW, limits=limits(usd=100.0))
    assert await store.get("t6") is None


async def test_daily_budget_in_units_counts_only_that_unit(store: TaskStore) -> None:
    lim = limits(budget=1000)
    await store.insert(make_task("t1", cost=600), now=NOW, limits=lim)
    with pytest.raises(LimitReachedError, match="bills in credits"):
        await store.insert(make_task("c1", cost=10, unit="credits"), now=NOW, limits=lim)
    with pytest.raises(LimitReachedError, match="500 tokens but only 400 of your daily 1,000"):
        await store.insert(make_task("t2", cost=500), now=NOW, limits=lim)
    await store.update("t1", cost_actual=300)
    await store.insert(make_task("t2", cost=500), now=NOW, limits=lim)
    await store.insert(make_task("free", cost=None), now=NOW, limits=lim)  # nothing to count
    await store.insert(make_task("c2", cost=900, unit="credits"), now=NOW, limits=limits(budget=1000, unit="credits"))
    with pytest.raises(LimitReachedError):
        await store.insert(make_task("t3", cost=201), now=NOW, limits=lim)


@pytest.mark.parametrize("kind", ["running", "per_day", "budget"])
async def test_concurrent_inserts_from_two_stores_never_exceed_a_limit(backend: Backend, kind: str) -> None:
    first, second = await backend.open(), await backend.open()
    lim = {"running": limits(running=3), "per_day": limits(per_day=4), "budget": limits(usd=1.0)}[kind]
    await first.insert(make_task("other", "bob", usd=0.9), now=NOW, limits=lim)

    async def one(i: int) -> bool:
        store = first if i % 2 else second
        await asyncio.sleep(random.random() / 100)
        try:
            await store.insert(make_task(f"t{i}", usd=0.25), now=NOW, limits=lim)
        except LimitReachedError:
            return False
        return True

    results = await asyncio.gather(*(one(i) for i in range(20)))
    assert sum(results) == {"running": 3, "per_day": 4, "budget": 4}[kind]
    assert await first.count_for_user("alice") == sum(results)
    assert await second.count_for_user("bob") == 1


# -- pages -----------------------------------------------------------------------------------------


async def test_page_for_user_newest_first_with_has_more_offset_and_status(store: TaskStore) -> None:
    for i in range(5):
        await store.insert(make_task(f"a{i}", created=NOW + i), now=NOW)
    await store.insert(make_task("tie-b", created=NOW + 10), now=NOW)
    await store.insert(make_task("tie-a", created=NOW + 10), now=NOW)
    await store.insert(make_task("bob1", "bob", created=NOW + 20), now=NOW)
    await store.update("a1", status=TaskStatus.SUCCEEDED)
    await store.update("a3", status=TaskStatus.FAILED)

    page = await store.page_for_user("alice", limit=3)
    assert [t.id for t in page.tasks] == ["tie-b", "tie-a", "a4"] and page.has_more
    page = await store.page_for_user("alice", limit=3, offset=3)
    assert [t.id for t in page.tasks] == ["a3", "a2", "a1"] and page.has_more
    page = await store.page_for_user("alice", limit=3, offset=6)
    assert [t.id for t in page.tasks] == ["a0"] and not page.has_more
    page = await store.page_for_user("alice", limit=7)
    assert len(page.tasks) == 7 and not page.has_more
    page = await store.page_for_user("alice", limit=1, statuses=["succeeded", "failed"])
    assert [t.id for t in page.tasks] == ["a3"] and page.has_more
    page = await store.page_for_user("alice", limit=5, statuses=["succeeded"])
    assert [t.id for t in page.tasks] == ["a1"] and not page.has_more
    assert (await store.page_for_user("carol")).tasks == []
    assert [t.id for t in await store.list_for_user("alice", limit=2, offset=1)] == ["tie-a", "a4"]
    assert await store.count_for_user("alice") == 7
    assert await store.count_for_user("alice", statuses=["pending"]) == 5
    assert [t.id for t in await store.unfinished(user="bob")] == ["bob1"]
    assert {t.id for t in await store.unfinished()} == {"a0", "a1", "a2", "a3", "a4", "tie-a", "tie-b", "bob1"}
    await finish(store, "a0")
    assert "a0" not in {t.id for t in await store.unfinished(user="alice")}


async def test_a_damaged_row_is_skipped_and_reported(
    backend: Backend, store: TaskStore, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(3):
        await store.insert(make_task(f"t{i}", created=NOW + i), now=NOW)
    backend.raw("UPDATE tasks SET request='{not json' WHERE id='t1'")
    backend.raw("UPDATE tasks SET status='exploded' WHERE id='t2'")
    with caplog.at_level(logging.ERROR, logger="seedance.store"):
        page = await store.page_for_user("alice")
        assert [t.id for t in page.tasks] == ["t0"]
        assert await store.get("t1") is None
        assert [t.id for t in await store.unfinished()] == ["t0"]
        claimed = await store.claim_due("me", now=NOW + 1, seconds=30, limit=10)
    assert [s.task.id for s in claimed] == ["t0"]
    assert "t1" in caplog.text and "damaged" in caplog.text
    assert "not json" not in caplog.text  # the row's content stays out of the log


# -- leases and the schedule ------------------------------------------------------------------------


async def test_claim_takes_free_expired_or_own_leases_only(store: TaskStore) -> None:
    await store.insert(make_task("t1"), now=NOW)
    assert await store.claim("t1", "a", 30, now=NOW) is True
    assert await store.claim("t1", "b", 30, now=NOW + 10) is False  # held
    assert await store.claim("t1", "a", 30, now=NOW + 10) is True  # ours: renewed
    state = await store.state("t1")
    assert state is not None and state.lease_until == NOW + 40
    assert await store.claim("t1", "b", 30, now=NOW + 41) is True  # expired: taken over
    state = await store.state("t1")
    assert state is not None and state.lease_owner == "b"
    await finish(store, "t1")
    assert await store.claim("t1", "b", 30, now=NOW + 50) is False  # final rows are nobody's work
    assert await store.claim("missing", "b", 30, now=NOW) is False


async def test_claim_due_filters_and_order(store: TaskStore) -> None:
    await store.insert(make_task("late"), now=NOW + 30)
    await store.insert(make_task("soon"), now=NOW + 10)
    await store.insert(make_task("first"), now=NOW)
    await store.insert(make_task("bob", "bob"), now=NOW + 5)
    await store.insert(make_task("held"), now=NOW, lease=("other", NOW + 100))
    await store.insert(make_task("expired"), now=NOW + 1, lease=("dead", NOW - 1))
    await store.insert(make_task("done"), now=NOW)
    await finish(store, "done")

    got = await store.claim_due("me", now=NOW, seconds=30, limit=10, due_by=NOW + 10)
    assert [s.task.id for s in got] == ["first", "expired", "bob", "soon"]
    assert all(s.lease_owner == "me" and s.lease_until == NOW + 30 for s in got)
    # Claimed rows are held: nobody else gets them until the lease runs out.
    assert await store.claim_due("you", now=NOW + 1, seconds=30, limit=10, due_by=NOW + 10) == []
    got = await store.claim_due("you", now=NOW + 1, seconds=30, limit=1)
    assert [s.task.id for s in got] == ["late"]
    await store.release_all("me")
    await store.release_all("you")

    got = await store.claim_due("me", now=NOW, seconds=30, limit=10, user="bob")
    assert [s.task.id for s in got] == ["bob"]
    await store.release_all("me")
    await store.update("soon", last_checked_at=NOW - 1)
    await store.update("first", last_checked_at=NOW - 20)
    got = await store.claim_due("me", now=NOW, seconds=30, limit=10, user="alice", checked_before=NOW - 5)
    assert [s.task.id for s in got] == ["first", "expired", "late"]  # "soon" was looked at just now


async def test_two_stores_claiming_at_once_never_get_the_same_row(backend: Backend) -> None:
    first, second = await backend.open(), await backend.open()
    for i in range(60):
        await first.insert(make_task(f"t{i:02}", created=NOW), now=NOW + i / 100)
    claimed: dict[str, str] = {}

    async def worker(store: TaskStore, owner: str) -> None:
        while True:
            got = await store.claim_due(owner, now=NOW + 1, seconds=60, limit=4)
            if not got:
                return
            for state in got:
                assert state.task.id not in claimed, f"{state.task.id} claimed by {claimed.get(state.task.id)} too"
                claimed[state.task.id] = owner
            await asyncio.sleep(0)

    stores = (("a", first), ("b", second))
    await asyncio.gather(*(worker(store, f"{name}{n}") for n in range(3) for name, store in stores))
    assert len(claimed) == 60


async def test_renew_release_and_release_all(store: TaskStore) -> None:
    for name in ("t1", "t2", "t3"):
        await store.insert(make_task(name), now=NOW)
    await store.claim("t1", "me", 30, now=NOW)
    await store.claim("t2", "me", 30, now=NOW)
    await store.claim("t3", "other", 30, now=NOW)
    assert await store.renew("me", now=NOW + 20, seconds=30, sending=["t1", "t3"]) == 2
    s1, s2, s3 = [await store.state(n) for n in ("t1", "t2", "t3")]
    assert s1 is not None and s1.lease_until == NOW + 50 and s1.submit_alive_at == NOW + 20
    assert s2 is not None and s2.lease_until == NOW + 50 and s2.submit_alive_at is None
    assert s3 is not None and s3.lease_until == NOW + 30 and s3.submit_alive_at is None  # not ours

    await store.release("t1", "other")  # not the holder: nothing happens
    s1 = await store.state("t1")
    assert s1 is not None and s1.lease_owner == "me"
    await store.release("t1", "me", next_check_at=NOW + 99)
    s1 = await store.state("t1")
    assert s1 is not None and s1.lease_owner is None and s1.lease_until is None and s1.next_check_at == NOW + 99
    await store.release("t2", "me")
    s2 = await store.state("t2")
    assert s2 is not None and s2.lease_owner is None and s2.next_check_at == NOW

    await store.claim("t1", "me", 30, now=NOW + 20)
    await store.release_all("me")
    states = [await store.state(n) for n in ("t1", "t2", "t3")]
    assert [s.lease_owner if s else "gone" for s in states] == [None, None, "other"]
    assert await store.renew("me", now=NOW, seconds=30) == 0


async def test_next_due_at_make_due_and_held_leases(store: TaskStore) -> None:
    assert await store.next_due_at(now=NOW) is None
    await store.insert(make_task("t1"), now=NOW + 50)
    await store.insert(make_task("t2"), now=NOW + 20)
    await store.insert(make_task("t3"), now=NOW + 1)
    await store.insert(make_task("b1", "bob"), now=NOW + 40)
    await finish(store, "t3")
    assert await store.next_due_at(now=NOW) == NOW + 20
    assert await store.next_due_at(now=NOW, user="bob") == NOW + 40
    assert await store.next_due_at(now=NOW, user="carol") is None
    await store.make_due("t1", now=NOW + 5)
    assert await store.next_due_at(now=NOW) == NOW + 5
    await store.make_due("t3", now=NOW)  # final: unchanged
    assert await store.next_due_at(now=NOW) == NOW + 5
    # A task another process holds is not due before its lease runs out.
    assert await store.claim("t1", "other", 30, now=NOW)
    assert await store.next_due_at(now=NOW) == NOW + 20
    assert await store.next_due_at(now=NOW + 31) == NOW + 5


async def test_record_callback_bad_ignored_due_and_rate_limited(store: TaskStore) -> None:
    await store.insert(make_task("t1"), now=NOW + 100)
    await store.update("t1", callback_token="secret-token")
    await store.insert(make_task("t2"), now=NOW + 100)  # no token
    assert await store.record_callback("t1", "wrong", now=NOW, min_interval=10) == "bad"
    assert await store.record_callback("missing", "secret-token", now=NOW, min_interval=10) == "bad"
    assert await store.record_callback("t2", "", now=NOW, min_interval=10) == "bad"
    assert await store.record_callback("t1", "secret-token", now=NOW, min_interval=10) == "due"
    state = await store.state("t1")
    assert state is not None and state.next_check_at == NOW
    assert await store.record_callback("t1", "secret-token", now=NOW + 5, min_interval=10) == "ignored"
    assert await store.record_callback("t1", "secret-token", now=NOW + 11, min_interval=10) == "due"
    await finish(store, "t1")
    assert await store.record_callback("t1", "secret-token", now=NOW + 60, min_interval=10) == "ignored"


async def test_recent_run_times_reads_only_true_durations_of_the_same_kind(store: TaskStore) -> None:
    other_res = REQ.model_copy(update={"resolution": "1080p"})
    other_len = REQ.model_copy(update={"duration": 10})
    rows = [
        ("a", REQ, 40.0, NOW + 1),
        ("b", REQ, 42.0, NOW + 3),
        ("c", REQ, None, NOW + 4),  # finish seen late: no run time
        ("d", other_res, 90.0, NOW + 5),
        ("e", other_len, 70.0, NOW + 6),
        ("f", REQ, 41.0, NOW + 2),
    ]
    for name, req, run, done in rows:
        await store.insert(make_task(name, request=req), now=NOW)
        await store.update(name, status=TaskStatus.SUCCEEDED, done_at=done, finished_at=done, run_seconds=run)
    await store.insert(make_task("g", request=REQ).model_copy(update={"model": "other"}), now=NOW)
    await store.update("g", done_at=NOW + 9, run_seconds=5.0)
    assert await store.recent_run_times("sandbox", "seedance-2-0", "720p", 5) == [42.0, 41.0, 40.0]
    assert await store.recent_run_times("sandbox", "seedance-2-0", "720p", 5, limit=2) == [42.0, 41.0]
    assert await store.recent_run_times("sandbox", "seedance-2-0", "1080p", 5) == [90.0]
    assert await store.recent_run_times("sandbox", "seedance-2-0", "720p", 10) == [70.0]
    assert await store.recent_run_times("ark", "seedance-2-0", "720p", 5) == []


async def test_undelivered_and_mark_delivered_once(store: TaskStore) -> None:
    await store.insert(make_task("d1", target="discord:1:1"), now=NOW)
    await store.insert(make_task("d2", target="discord:1:2"), now=NOW)
    await store.insert(make_task("m1", target="mcp:x"), now=NOW)
    await store.insert(make_task("running", target="discord:1:3"), now=NOW)
    await store.insert(make_task("none"), now=NOW)
    await store.update("d2", status=TaskStatus.SUCCEEDED, finished_at=NOW + 1)
    await store.update("d1", status=TaskStatus.FAILED, finished_at=NOW + 2)
    await store.update("m1", status=TaskStatus.SUCCEEDED, finished_at=NOW + 1)
    await store.update("none", status=TaskStatus.SUCCEEDED, finished_at=NOW + 1)
    assert [t.id for t in await store.undelivered("discord:")] == ["d2", "d1"]
    assert [t.id for t in await store.undelivered("mcp:")] == ["m1"]
    assert await store.mark_delivered("d2") is True
    assert await store.mark_delivered("d2") is False
    assert await store.mark_delivered("d1", user="alice") is True
    assert await store.undelivered("discord:") == []
    got = await store.get("d2")
    assert got is not None and got.delivered_at is not None


# -- opening ----------------------------------------------------------------------------------------


async def test_migrations_run_once_when_stores_open_at_once(backend: Backend) -> None:
    stores = await asyncio.gather(*(backend.open() for _ in range(4)))
    await stores[0].insert(make_task("t1"), now=NOW)
    for store in stores:
        assert (await store.get("t1")) is not None
    again = await backend.open()  # migrating an up-to-date database is a no-op
    assert (await again.get("t1")) is not None
    assert isinstance(again.db, PortableSql)


async def test_a_newer_schema_is_refused(backend: Backend) -> None:
    from core.errors import StoreError

    await (await backend.open()).close()
    if backend.name == "sqlite":
        backend.raw("PRAGMA user_version=99")
    else:
        backend.raw("UPDATE seedance_schema SET version=99")
    with pytest.raises(StoreError, match="newer Seedance Studio") as caught:
        await backend.open()
    assert "\n" not in str(caught.value)


async def test_wait_notified_times_out_without_a_notify(store: TaskStore) -> None:
    began = time.monotonic()
    assert await store.db.wait_notified(0.2) is False
    assert 0.15 <= time.monotonic() - began < 3
    await store.db.notify("t1")  # never an error, shared or not


def test_placeholder_check_catches_non_portable_statements() -> None:
    from tests.store.conftest import check_portable

    check_portable('SELECT 1 FROM tasks WHERE id=? AND "user"=?', ("a", "b"))
    check_portable("UPDATE tasks SET remote_id = substr(remote_id, 4) WHERE remote_id LIKE 'v2:%'", ())
    with pytest.raises(AssertionError):
        check_portable("SELECT 1 FROM tasks WHERE id=? AND request LIKE '%x'", ("a",))
    with pytest.raises(AssertionError):
        check_portable("SELECT '?' FROM tasks WHERE id=?", ("a",))


async def test_every_store_statement_was_checked(store: TaskStore) -> None:
    """The contract runs through `PortableSql`: a statement the driver would misread fails a test."""
    assert isinstance(store.db, PortableSql)
    await store.insert(make_task("t1"), now=NOW, limits=limits(running=3, per_day=3, budget=1000))
    await store.claim_due("me", now=NOW + 1, seconds=30, limit=5, due_by=NOW + 2, user="alice", checked_before=NOW)
    assert any("INSERT INTO tasks" in sql for sql in store.db.seen)
    assert any("SELECT id FROM tasks" in sql for sql in store.db.seen)
    if store.db.dialect == "postgres":
        assert store.db.skip_locked == " FOR UPDATE SKIP LOCKED"


def test_the_fixed_moment_is_mid_day() -> None:
    assert DAY + 3600 < NOW < DAY + timedelta(days=1).total_seconds() - 3600


async def test_running_since_lists_the_unfinished_tasks_of_the_same_kind(store: TaskStore) -> None:
    other_res = REQ.model_copy(update={"resolution": "1080p"})
    rows = [
        ("early", REQ, TaskStatus.RUNNING, NOW - 100),  # submitted before the window
        ("queued", REQ, TaskStatus.QUEUED, NOW + 1),
        ("running", REQ, TaskStatus.RUNNING, NOW + 2),
        ("done", REQ, TaskStatus.SUCCEEDED, NOW + 3),  # finished: it is a sample, not a censored run
        ("other-res", other_res, TaskStatus.RUNNING, NOW + 4),
    ]
    for name, req, status, submitted in rows:
        await store.insert(make_task(name, request=req), now=NOW)
        fields = {"finished_at": NOW + 50} if status is TaskStatus.SUCCEEDED else {}
        await store.update(name, status=status, submitted_at=submitted, **fields)
    window = {"submitted_from": NOW, "submitted_until": NOW + 10}
    assert sorted(await store.running_since("sandbox", "seedance-2-0", "720p", 5, **window)) == [NOW + 1, NOW + 2]
    assert await store.running_since("sandbox", "seedance-2-0", "1080p", 5, **window) == [NOW + 4]
    assert await store.running_since("sandbox", "other-model", "720p", 5, **window) == []
    # Younger than the window's end: left out (too young to change what was learned).
    assert await store.running_since("sandbox", "seedance-2-0", "720p", 5, submitted_from=NOW,
                                     submitted_until=NOW + 1.5) == [NOW + 1]
    runs = [("a", 40.0, NOW + 45), ("b", 42.0, NOW + 50)]
    for name, run, done in runs:
        await store.insert(make_task(name, request=REQ), now=NOW)
        await store.update(name, status=TaskStatus.SUCCEEDED, done_at=done, finished_at=done, run_seconds=run)
    assert await store.recent_runs("sandbox", "seedance-2-0", "720p", 5) == [(42.0, NOW + 8), (40.0, NOW + 5)]


async def test_claim_due_can_take_only_downloads_only_checks_or_one_providers_checks(store: TaskStore) -> None:
    rows = [
        ("check-a", "sandbox", TaskStatus.RUNNING),
        ("check-b", "byteplus", TaskStatus.QUEUED),
        ("download", "sandbox", TaskStatus.SUCCEEDED),
        ("pending", "sandbox", TaskStatus.PENDING),  # a lost submit to settle: not a status check
    ]
    for name, provider, status in rows:
        await store.insert(make_task(name).model_copy(update={"provider": provider}), now=NOW)
        await store.update(name, status=status, next_check_at=NOW + 1)

    async def claim(owner: str, **kwargs: object) -> set[str]:
        states = await store.claim_due(owner, now=NOW + 2, seconds=30, limit=10, due_by=NOW + 2, **kwargs)
        return {s.task.id for s in states}

    assert await claim("w1", succeeded=True) == {"download"}
    assert await claim("w2", checking=True, provider="sandbox") == {"check-a"}
    assert await claim("w3", succeeded=False) == {"check-b", "pending"}
    assert await claim("w4") == set(), "everything is leased"


async def test_record_checks_writes_only_rows_the_owner_holds_unfinished(store: TaskStore) -> None:
    for name in ("held", "other", "final"):
        await store.insert(make_task(name), now=NOW)
    await store.claim_due("me", now=NOW, seconds=30, limit=10)
    await store.update("other", lease_owner="someone-else")
    await store.update("final", finished_at=NOW)
    written = await store.record_checks("me", [(n, {"polls": 7}) for n in ("held", "other", "final")])
    assert written == {"held"}
    assert [(await store.get_raw(n) or {}).get("polls") for n in ("held", "other", "final")] == [7, 0, 0]


async def test_beat_counts_the_live_schedulers_and_leave_takes_one_out(store: TaskStore) -> None:
    assert await store.beat("a", now=NOW, alive_for=30) == 1
    assert await store.beat("b", now=NOW + 5, alive_for=30) == 2
    assert await store.beat("a", now=NOW + 20, alive_for=30) == 2  # a heartbeat refreshes, never adds
    assert await store.beat("a", now=NOW + 40, alive_for=30) == 1, "b has been silent for 35 s"
    assert await store.beat("b", now=NOW + 41, alive_for=30) == 2
    await store.leave("b")
    assert await store.beat("a", now=NOW + 42, alive_for=30) == 1
