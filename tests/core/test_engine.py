"""The task engine: the durable schedule, leases between processes, true run times, a damaged store.

Each test names the finding it keeps fixed: the new-user cases of issue 8 and the lease and
database findings of issue 11 (1–3, 11). Two services on one database file stand for two
processes; a virtual clock makes minutes pass in milliseconds.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from core.config import Limits, Settings
from core.engine.context import LEASE_SECONDS
from core.engine.scheduler import MAX_DOWNLOADS
from core.errors import StoreError
from core.http import HttpClient
from core.models import TaskStatus, VideoRequest
from core.providers.base import RemoteTask
from core.service import VideoService, open_service
from core.store import TaskStore
from tests.clock import VirtualTime
from tests.conftest import clean_environ, make_settings
from tests.core.fake_provider import VIDEO_BYTES, ScriptedProvider

REQ = VideoRequest(prompt="a red fox running through snow", resolution="480p", duration=5)
REAL_TIMEOUT = 20.0


@pytest.fixture
def vt() -> VirtualTime:
    return VirtualTime()


@asynccontextmanager
async def engine(
    settings: Settings, provider: ScriptedProvider, vt: VirtualTime | None = None, *, run: bool = True
) -> AsyncIterator[VideoService]:
    """One "process": its own store connection, its own instance id, optionally its scheduler."""
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = await TaskStore.open(settings.db_path)
    http = HttpClient()
    kwargs: dict[str, Any] = {"clock": vt.clock, "sleep": vt.sleep} if vt else {}
    svc = VideoService(settings=settings, store=store, http=http, providers={"sandbox": provider}, **kwargs)
    if run:
        svc.scheduler.start()
    try:
        yield svc
    finally:
        await svc.close()
        await store.close()
        await http.aclose()


async def until(check: Awaitable[bool] | Any, timeout: float = REAL_TIMEOUT) -> None:
    """Poll ``check()`` (a zero-argument coroutine function) until it is true, in real time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


# -- nothing shows stale (issue 8, new-user case 1) ---------------------------------------------------


async def test_no_wait_tasks_never_stay_queued_and_never_count_against_the_limit(home: Path) -> None:
    settings = make_settings(home, speed=20.0, limits=Limits(max_running_per_user=3, max_tasks_per_day=None))
    async with open_service(settings, resume=False) as svc:  # a CLI: no scheduler loop of its own
        ids = [(await svc.submit("alice", REQ)).id for _ in range(3)]
        await asyncio.sleep(1.0)  # the sandbox finishes them meanwhile; nobody is watching
        listed = await svc.list_tasks("alice")
        assert {t.id for t in listed} == set(ids)
        assert all(t.status is TaskStatus.SUCCEEDED for t in listed), [t.status for t in listed]
        fourth = await svc.submit("alice", REQ)  # refused before: "you already have 3 videos in progress"
        assert fourth.status is TaskStatus.QUEUED


async def test_status_of_a_no_wait_task_is_fresh_without_any_watcher(home: Path) -> None:
    settings = make_settings(home, speed=20.0)
    async with open_service(settings, resume=False) as svc:
        task = await svc.submit("alice", REQ)
    await asyncio.sleep(1.0)
    async with open_service(settings, resume=False) as svc:
        fresh = await svc.get("alice", task.id)
        assert fresh.status is TaskStatus.SUCCEEDED


# -- the schedule learns only true durations (issue 8, new-user case 2) ---------------------------------


async def test_a_late_check_never_teaches_the_schedule(settings: Settings, vt: VirtualTime) -> None:
    fake = ScriptedProvider(clock=vt.clock, plan=[TaskStatus.SUCCEEDED], expected=60.0)
    async with engine(settings, fake, vt, run=False) as svc:
        late = await svc.submit("alice", REQ)
        vt.advance(3600)  # first looked at an hour after it was submitted, done: a `status` run late
        done = await asyncio.wait_for(svc.wait("alice", late.id), REAL_TIMEOUT)
        assert done.status is TaskStatus.SUCCEEDED
        raw = await svc.store.get_raw(late.id)
        assert raw is not None and raw["run_seconds"] is None and raw["done_at"] is not None
        assert await svc.store.recent_run_times("sandbox", done.model, done.request.resolution, 5) == []

        fake.plan = [TaskStatus.RUNNING, TaskStatus.RUNNING, TaskStatus.SUCCEEDED]
        on_time = await svc.submit("alice", REQ)
        await asyncio.wait_for(svc.wait("alice", on_time.id), REAL_TIMEOUT)
        learned = await svc.store.recent_run_times("sandbox", done.model, done.request.resolution, 5)
    assert len(learned) == 1 and learned[0] < 600  # minutes at most, never the hour of the late one


async def test_the_providers_own_finish_time_is_learned_even_when_seen_late(
    settings: Settings, vt: VirtualTime
) -> None:
    class Timed(ScriptedProvider):
        def _answer(self, remote: Any) -> RemoteTask:
            answer = super()._answer(remote)
            if answer.status is TaskStatus.SUCCEEDED and answer.created_at is not None:
                from datetime import timedelta

                return RemoteTask(**{**answer.__dict__, "finished_at": answer.created_at + timedelta(seconds=42)})
            return answer

    fake = Timed(clock=vt.clock, plan=[TaskStatus.SUCCEEDED])
    async with engine(settings, fake, vt, run=False) as svc:
        task = await svc.submit("alice", REQ)
        vt.advance(900)
        done = await asyncio.wait_for(svc.wait("alice", task.id), REAL_TIMEOUT)
        learned = await svc.store.recent_run_times("sandbox", done.model, done.request.resolution, 5)
    assert learned == pytest.approx([42.0])


# -- leases between processes (issue 8 item 1, issue 11.1) ---------------------------------------------


async def test_a_slow_submit_is_never_declared_not_created_by_another_process(
    settings: Settings, vt: VirtualTime
) -> None:
    """The provider keeps the submit ~100 s (two 429s with Retry-After: 50) while another process
    runs its scheduler on the same database: the lease stays with the sender, so nobody fails the
    row "not created", and the billed task is followed to its video."""
    fake = ScriptedProvider(clock=vt.clock)
    fake.submit_gate = asyncio.Event()
    async with engine(settings, fake, vt, run=False) as sender, engine(settings, fake, vt, run=False) as other:
        submitting = asyncio.ensure_future(sender.submit("alice", REQ))
        await asyncio.wait_for(fake.submit_started.wait(), REAL_TIMEOUT)
        for _ in range(10):  # 100 s pass, the other process's scheduler keeps looking
            vt.advance(10)
            await sender.scheduler.renew_if_due()  # the sender's heartbeat, on the virtual clock
            await other.scheduler.tick()
        pending = await other.store.get_raw((await other.list_tasks("alice"))[0].id)
        assert pending is not None and pending["status"] == "pending" and pending["error_code"] is None
        assert pending["lease_owner"] == sender.instance
        fake.submit_gate.set()
        task = await asyncio.wait_for(submitting, REAL_TIMEOUT)
        assert task.status is TaskStatus.QUEUED and task.remote_id
        other.scheduler.start()
        done = await asyncio.wait_for(other.wait("alice", task.id), REAL_TIMEOUT)
    assert done.status is TaskStatus.SUCCEEDED and done.error is None and done.video_path
    assert fake.submit_calls == 1 and fake.find_calls == 0


async def test_a_dead_process_loses_its_tasks_when_its_lease_expires(settings: Settings, vt: VirtualTime) -> None:
    fake = ScriptedProvider(clock=vt.clock, plan=[TaskStatus.RUNNING] * 50 + [TaskStatus.SUCCEEDED])
    async with engine(settings, fake, vt, run=False) as dying:
        task = await dying.submit("alice", REQ)
        await dying.store.make_due(task.id, now=vt.clock())
        claimed = await dying.store.claim_due(dying.instance, now=vt.clock(), seconds=LEASE_SECONDS, limit=10)
        assert [s.task.id for s in claimed] == [task.id]
        dying._ctx.instance = "gone"  # a SIGKILL: close() must not release what the dead process held
        async with engine(settings, fake, vt, run=False) as survivor:
            assert await survivor.scheduler.tick() == 0  # still leased to the dead process
            vt.advance(LEASE_SECONDS + 0.1)
            assert await survivor.scheduler.tick() == 1  # taken over once the lease ran out
            survivor.scheduler.start()
            done = await asyncio.wait_for(survivor.wait("alice", task.id), REAL_TIMEOUT)
    assert done.status is TaskStatus.SUCCEEDED and fake.submit_calls == 1 and fake.downloads_done == 1


async def test_a_final_row_is_never_rewritten_by_a_late_submit_answer(settings: Settings, vt: VirtualTime) -> None:
    fake = ScriptedProvider(clock=vt.clock)
    fake.submit_gate = asyncio.Event()
    async with engine(settings, fake, vt, run=False) as svc:
        submitting = asyncio.ensure_future(svc.submit("alice", REQ))
        await asyncio.wait_for(fake.submit_started.wait(), REAL_TIMEOUT)
        (row,) = await svc.list_tasks("alice")
        await svc.store.update(row.id, status=TaskStatus.FAILED, error_code="not_created", finished_at=vt.clock())
        fake.submit_gate.set()
        task = await asyncio.wait_for(submitting, REAL_TIMEOUT)
    assert task.status is TaskStatus.FAILED and task.remote_id is None and task.error is not None
    assert task.error.code == "not_created"


# -- many videos finishing at once (bench/scale.py's completion phase) ------------------------------------


async def test_a_burst_of_finished_videos_claims_only_what_download_slots_can_take(
    settings: Settings, vt: VirtualTime
) -> None:
    """Twenty videos finish together while every download slot is busy: a round must not claim
    the backlog only to give it back (one write per row, every second, while due checks wait),
    and every slot comes back when its download ends."""
    fake = ScriptedProvider(clock=vt.clock, plan=[TaskStatus.SUCCEEDED])
    fake.download_gate = asyncio.Event()
    async with engine(settings, fake, vt, run=False) as svc:
        tasks = [await svc.submit(f"user{i}", REQ) for i in range(20)]
        vt.advance(600)
        assert await svc.scheduler.tick() == 20  # all checked: MAX_DOWNLOADS start, the rest wait
        await until(lambda: _true(fake.download_calls == MAX_DOWNLOADS))
        vt.advance(30)
        assert await svc.scheduler.tick() == 0, "claimed finished videos with no download slot free"
        fake.download_gate.set()
        svc.scheduler.start()
        for task in tasks:
            done = await asyncio.wait_for(svc.wait(task.user, task.id), REAL_TIMEOUT)
            assert done.status is TaskStatus.SUCCEEDED and done.video_path
        assert fake.downloads_done == 20 and fake.download_calls == 20


async def test_a_batched_request_with_room_takes_checks_due_in_a_moment(settings: Settings, vt: VirtualTime) -> None:
    """A batched status request costs the same for one task as for ten: a round with room in its
    batch also checks the tasks due within PULL_AHEAD, instead of a request of their own later."""
    from core.engine.scheduler import PULL_AHEAD

    class Batched(ScriptedProvider):
        max_batch = 10
        batches = 0

        async def get_many(self, refs: Any) -> dict[str, RemoteTask]:
            self.batches += 1
            return await super().get_many(refs)

    fake = Batched(clock=vt.clock, plan=[TaskStatus.RUNNING], expected=600.0)
    async with engine(settings, fake, vt, run=False) as svc:
        first = await svc.submit("alice", REQ)
        second = await svc.submit("bob", REQ)
        later = await svc.submit("carol", REQ)
        due = (await svc.store.get_raw(first.id) or {})["next_check_at"]
        await svc.store.update(second.id, next_check_at=due + PULL_AHEAD / 2)  # due in a moment
        await svc.store.update(later.id, next_check_at=due + PULL_AHEAD * 2)  # not yet
        vt.advance(due - vt.clock())
        assert await svc.scheduler.tick() == 2
        assert fake.batches == 1
        checked = {t.id: (await svc.store.get_raw(t.id) or {})["polls"] for t in (first, second, later)}
    assert checked == {first.id: 1, second.id: 1, later.id: 0}


async def test_the_next_checks_are_planned_within_the_providers_request_budget(home: Path, vt: VirtualTime) -> None:
    """Six tasks checked together all want their next look at the same moment. With a budget of
    120 requests a minute (a second holds one check: 120/60 x 80 %, one task per request), each is
    planned in its own second instead of all coming due together and waiting on the budget, late."""
    from core.config import ProviderSettings

    settings = make_settings(home, providers={"sandbox": ProviderSettings(requests_per_minute=120)})
    fake = ScriptedProvider(clock=vt.clock, plan=[TaskStatus.RUNNING], expected=600.0)
    async with engine(settings, fake, vt, run=False) as svc:
        tasks = [await svc.submit(f"user{i}", REQ) for i in range(6)]
        for task in tasks:  # all due at the same moment
            await svc.store.update(task.id, next_check_at=vt.clock())
        await svc.scheduler.tick()
        planned = sorted([(await svc.store.get_raw(t.id) or {})["next_check_at"] for t in tasks])
    seconds = [int(at) for at in planned]
    assert seconds == list(range(seconds[0], seconds[0] + 6)), planned
    assert len(svc.scheduler.stats.moved) == 5


async def test_processes_on_one_database_share_each_providers_request_budget(home: Path, vt: VirtualTime) -> None:
    """Replicas on one database must not each spend the whole budget the operator set: every live
    scheduler gets an equal share, re-divided as processes start and stop."""
    from core.config import ProviderSettings

    settings = make_settings(home, providers={"sandbox": ProviderSettings(requests_per_minute=600)})
    fake = ScriptedProvider(clock=vt.clock)
    async with engine(settings, fake, vt, run=False) as first:
        await first.scheduler.renew_if_due()
        assert first.scheduler.bucket("sandbox").per_minute == 600
        async with engine(settings, fake, vt, run=False) as second:
            vt.advance(10)  # the next heartbeat
            for svc in (second, first):
                await svc.scheduler.renew_if_due()
            assert first.scheduler.bucket("sandbox").per_minute == 300
            assert second.scheduler.bucket("sandbox").per_minute == 300
            assert first.scheduler.calendar("sandbox").per_second == pytest.approx(300 / 60 * 0.8)
        vt.advance(10)  # the next heartbeat, after the second process closed
        await first.scheduler.renew_if_due()
        assert first.scheduler.bucket("sandbox").per_minute == 600
        assert first.scheduler.calendar("sandbox").per_second == pytest.approx(600 / 60 * 0.8)


async def _true(value: bool) -> bool:
    return value


# -- callbacks (issue 11.11) -----------------------------------------------------------------------


async def test_a_replayed_callback_link_costs_at_most_one_status_request(home: Path, vt: VirtualTime) -> None:
    settings = make_settings(home, public_url="https://studio.example")
    fake = ScriptedProvider.variant(callback=True)(clock=vt.clock, plan=[TaskStatus.RUNNING] * 1000, expected=1200.0)
    async with engine(settings, fake, vt, run=False) as svc:
        task = await svc.submit("alice", REQ)
        token = (fake.callback_urls[0] or "").rsplit("/", 1)[1]
        before = fake.get_calls
        results = [await svc.handle_callback(task.id, token) for _ in range(133)]
        while await svc.scheduler.tick():
            pass
        assert all(results) and fake.get_calls - before <= 1
        await svc.store.update(task.id, status=TaskStatus.FAILED, finished_at=vt.clock())
        vt.advance(60)
        assert await svc.handle_callback(task.id, token) is True  # accepted, and ignored: it is final
        assert await svc.scheduler.tick() == 0


# -- database and disk trouble (issue 11.2, 11.3) -------------------------------------------------------


@pytest.mark.parametrize("damage", ["random-bytes", "foreign-table", "truncated"])
async def test_a_damaged_database_is_one_line_naming_the_file(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "seedance.db"
    if damage == "random-bytes":
        path.write_bytes(os.urandom(8192))
    elif damage == "foreign-table":
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE tasks (id INTEGER, something TEXT)")
    else:
        store = await TaskStore.open(path)
        await store.close()
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3] or b"SQLite format 3\x00")
    with pytest.raises(StoreError) as info:
        store = await TaskStore.open(path)
        await store.list_for_user("alice")
        await store.close()
    message = str(info.value)
    assert str(path) in message and "\n" not in message


def test_the_cli_on_a_damaged_database_exits_2_at_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "seedance.db").write_bytes(os.urandom(8192))
    os.chmod(home / "seedance.db", 0o600)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "cli", "history"], env=clean_environ(home), capture_output=True, text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert time.monotonic() - started < 30
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "seedance.db" in lines[0] and "Traceback" not in result.stderr


async def test_a_row_with_garbled_json_is_skipped_and_the_rest_still_work(settings: Settings, vt: VirtualTime) -> None:
    fake = ScriptedProvider(clock=vt.clock)
    async with engine(settings, fake, vt) as svc:
        good = await svc.submit("alice", REQ)
        bad = await svc.submit("alice", REQ)
        def garble() -> None:  # another program writes the row (in a thread: the engine may hold the lock)
            with sqlite3.connect(settings.db_path, timeout=30) as db:
                db.execute("UPDATE tasks SET request='{not json' WHERE id=?", (bad.id,))

        await asyncio.to_thread(garble)
        done = await asyncio.wait_for(svc.wait("alice", good.id), REAL_TIMEOUT)
        listed = await svc.list_tasks("alice")
    assert done.status is TaskStatus.SUCCEEDED
    assert [t.id for t in listed] == [good.id]


async def test_the_scheduler_outlives_a_locked_database(settings: Settings, vt: VirtualTime) -> None:
    fake = ScriptedProvider(clock=vt.clock)
    async with engine(settings, fake, vt, run=False) as svc:
        task = await svc.submit("alice", REQ)
        real = svc.store.claim_due
        failures = 3

        async def locked(*args: Any, **kwargs: Any) -> Any:
            nonlocal failures
            if failures:
                failures -= 1
                raise StoreError(f"task database {settings.db_path}: another program has held it locked")
            return await real(*args, **kwargs)

        svc.store.claim_due = locked  # type: ignore[method-assign]
        svc.scheduler.start()
        done = await asyncio.wait_for(svc.wait("alice", task.id), REAL_TIMEOUT)
    assert failures == 0 and done.status is TaskStatus.SUCCEEDED


async def test_a_full_disk_keeps_the_video_for_later_instead_of_failing(settings: Settings, vt: VirtualTime) -> None:
    fake = ScriptedProvider(clock=vt.clock)
    fake.download_errors.append(OSError(errno.ENOSPC, "No space left on device"))  # type: ignore[arg-type]
    async with engine(settings, fake, vt) as svc:
        task = await svc.submit("alice", REQ)
        done = await asyncio.wait_for(svc.wait("alice", task.id), REAL_TIMEOUT)
    assert done.status is TaskStatus.SUCCEEDED and done.error is None and done.video_path
    assert Path(done.video_path).read_bytes() == VIDEO_BYTES and fake.download_calls == 2


async def test_a_broken_video_is_never_called_done(settings: Settings, vt: VirtualTime) -> None:
    """Issue 11.12: the provider's link served an HTML page; the task must not end with that as its video."""

    class HtmlLink(ScriptedProvider):
        async def download(self, url: str, dest: Path, *, max_bytes: int) -> int:
            self.download_calls += 1
            dest.write_bytes(b"<html><body>Access denied</body></html>")
            return 40

    fake = HtmlLink(clock=vt.clock)
    async with engine(settings, fake, vt) as svc:
        task = await svc.submit("alice", REQ)
        done = await asyncio.wait_for(svc.wait("alice", task.id), REAL_TIMEOUT)
    assert done.is_final and done.video_path is None
    assert done.error is not None and done.error.code == "not_a_video"
    assert not (settings.media_dir / f"{task.id}.mp4").exists()


async def test_a_request_key_whose_task_was_never_created_can_be_sent_again(
    settings: Settings, vt: VirtualTime
) -> None:
    """A killed sender's row ends "not created … safe to try again": the same request key must then
    try again, not hand back the dead row for ever."""
    from tests.core.fake_provider import UNCERTAIN_LOST

    fake = ScriptedProvider(clock=vt.clock)
    fake.submit_script.append(UNCERTAIN_LOST)
    async with engine(settings, fake, vt) as svc:
        lost = await svc.submit("alice", REQ, request_key="k1")
        done = await asyncio.wait_for(svc.wait("alice", lost.id), REAL_TIMEOUT)
        assert done.error is not None and done.error.code == "not_created"
        again = await svc.submit("alice", REQ, request_key="k1")
        assert again.id != lost.id
        finished = await asyncio.wait_for(svc.wait("alice", again.id), REAL_TIMEOUT)
        assert (await svc.submit("alice", REQ, request_key="k1")).id == again.id  # now it is that task
    assert finished.status is TaskStatus.SUCCEEDED and fake.submit_calls == 2
