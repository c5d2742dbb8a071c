"""`VideoService` end to end: the sped-up sandbox for the real flow, a scripted provider for the edges."""

from __future__ import annotations

import asyncio
import contextlib
import json
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.config import Limits, Settings
from core.errors import (
    AuthenticationError,
    InvalidRequestError,
    LimitReachedError,
    NotSupportedError,
    ProviderUnavailableError,
    RateLimitError,
    SubmitUncertainError,
    TaskNotFoundError,
)
from core.http import HttpClient
from core.media import DownloadError
from core.models import Task, TaskStatus, VideoRequest
from core.providers.base import Provider
from core.sandbox.provider import SandboxProvider
from core.sandbox.render import probe_video
from core.scheduling import Progress
from core.service import VideoService, open_service
from core.store import TaskState, TaskStore
from tests.clock import VirtualTime
from tests.conftest import make_settings
from tests.core.fake_provider import (
    UNCERTAIN_CREATED,
    UNCERTAIN_LOST,
    VIDEO_BYTES,
    ScriptedProvider,
)

# Small and quick to render: the sandbox draws every frame for real.
REQ = VideoRequest(prompt="a red fox running through snow", resolution="480p", duration=4)
REAL_TIMEOUT = 20.0  # real seconds any single sandbox task may take in a test


@contextlib.asynccontextmanager
async def scripted_service(
    settings: Settings,
    provider: Provider,
    vt: VirtualTime | None = None,
    *,
    resume: bool = False,
) -> AsyncIterator[VideoService]:
    """A service whose only provider is ``provider``; with ``vt`` its clock and sleeps are virtual."""
    store = await TaskStore.open(settings.db_path)
    http = HttpClient()
    kwargs: dict[str, Any] = {"clock": vt.clock, "sleep": vt.sleep} if vt else {}
    svc = VideoService(settings=settings, store=store, http=http, providers={"sandbox": provider}, **kwargs)
    if resume:
        await svc.resume()
    try:
        yield svc
    finally:
        await svc.close()
        await store.close()
        await http.aclose()


async def finish(svc: VideoService, user: str, task_id: str, timeout: float = REAL_TIMEOUT) -> Task:
    """Wait (in real time) until the task is final; fail the test if it is not."""
    task = await asyncio.wait_for(svc.wait(user, task_id), timeout)
    assert task.is_final, f"task still {task.status} after {timeout}s"
    return task


def sandbox_records(home: Path) -> list[Path]:
    return sorted((home / "sandbox").glob("sbx-*.json"))


@pytest.fixture
def vt() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
def fake(vt: VirtualTime) -> ScriptedProvider:
    return ScriptedProvider(clock=vt.clock)


# -- the real flow on the sandbox ------------------------------------------------------------------


async def test_submit_queues_then_succeeds_with_a_playable_video_on_disk(service: VideoService, home: Path) -> None:
    task = await service.submit("alice", REQ)
    assert task.status is TaskStatus.QUEUED
    assert task.remote_id and task.remote_id.startswith("sbx-")
    assert task.model == "seedance-2-0" and task.cost.estimated and task.cost.unit == "tokens"

    done = await finish(service, "alice", task.id)

    assert done.status is TaskStatus.SUCCEEDED and done.error is None
    assert done.video_path is not None
    video = Path(done.video_path)
    assert video.parent == home / "media"
    info = probe_video(video)
    assert info.duration == pytest.approx(4, abs=0.1) and info.fps == pytest.approx(24)
    assert stat.S_IMODE(video.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "media").stat().st_mode) == 0o700
    assert done.cost.actual is not None and done.finished_at is not None
    assert done.to_json()["status"] == "succeeded"
    assert len(sandbox_records(home)) == 1


async def test_audio_and_the_last_frame_are_delivered_when_asked(service: VideoService, home: Path) -> None:
    request = REQ.model_copy(update={"generate_audio": True, "return_last_frame": True})
    done = await finish(service, "alice", (await service.submit("alice", request)).id)
    assert done.status is TaskStatus.SUCCEEDED and done.video_path and done.last_frame_path
    assert probe_video(Path(done.video_path)).has_audio
    frame = Path(done.last_frame_path)
    assert frame.parent == home / "media" and frame.read_bytes().startswith(b"\x89PNG")
    silent = await finish(service, "alice", (await service.submit("alice", REQ.model_copy(
        update={"generate_audio": False}))).id)
    assert silent.video_path and not probe_video(Path(silent.video_path)).has_audio
    assert silent.last_frame_path is None


async def test_wait_calls_on_progress_with_sane_estimates(service: VideoService) -> None:
    seen: list[tuple[TaskStatus, Progress]] = []

    async def on_progress(task: Task, progress: Progress) -> None:
        seen.append((task.status, progress))

    task = await service.submit("alice", REQ)
    done = await asyncio.wait_for(service.wait("alice", task.id, on_progress=on_progress, interval=0.1), REAL_TIMEOUT)

    assert done.status is TaskStatus.SUCCEEDED
    assert seen, "on_progress was never called"
    for status, progress in seen:
        assert not status.is_final or status is TaskStatus.SUCCEEDED  # succeeded-but-downloading is shown
        assert 0.0 <= progress.fraction <= 1.0
        assert progress.elapsed >= 0 and progress.expected_total > 0
        assert progress.remaining is None or progress.remaining >= 0


async def test_wait_returns_the_unfinished_task_on_timeout_without_raising(
    settings: Settings, fake: ScriptedProvider
) -> None:
    fake.plan = [TaskStatus.RUNNING]
    async with scripted_service(settings, fake) as svc:
        task = await svc.submit("alice", REQ)
        result = await asyncio.wait_for(svc.wait("alice", task.id, timeout=0.3, interval=0.1), 5)
    assert result.status is TaskStatus.RUNNING or result.status is TaskStatus.QUEUED
    assert not result.is_final


async def test_a_fail_prompt_ends_failed_with_the_reason(service: VideoService) -> None:
    task = await service.submit("alice", REQ.model_copy(update={"prompt": "a storm #fail"}))
    done = await finish(service, "alice", task.id)
    assert done.status is TaskStatus.FAILED
    assert done.error is not None and done.error.code == "OutputVideoSensitiveContentDetected"
    assert "refused" in done.error.message and done.video_path is None


async def test_reads_lists_and_cancels_are_checked_against_the_owner(service: VideoService) -> None:
    task = await service.submit("alice", REQ)

    with pytest.raises(TaskNotFoundError):
        await service.get("bob", task.id)
    with pytest.raises(TaskNotFoundError):
        await service.wait("bob", task.id, timeout=1)
    with pytest.raises(TaskNotFoundError):
        await service.cancel("bob", task.id)
    with pytest.raises(TaskNotFoundError):
        await service.get("alice", "no-such-task")
    assert await service.list_tasks("bob") == []
    assert await service.count_tasks("bob") == 0

    assert [t.id for t in await service.list_tasks("alice")] == [task.id]
    assert await service.count_tasks("alice") == 1
    assert (await service.get("alice", task.id, refresh=False)).user == "alice"
    await finish(service, "alice", task.id)


async def test_list_tasks_is_newest_first_paginated_and_filtered(settings: Settings, fake: ScriptedProvider) -> None:
    fake.plan = [TaskStatus.QUEUED]
    async with scripted_service(settings, fake) as svc:
        ids = [(await svc.submit("alice", REQ.model_copy(update={"seed": i}))).id for i in range(5)]
        newest_first = list(reversed(ids))
        assert [t.id for t in await svc.list_tasks("alice", limit=2)] == newest_first[:2]
        assert [t.id for t in await svc.list_tasks("alice", limit=2, offset=2)] == newest_first[2:4]
        assert [t.id for t in await svc.list_tasks("alice", limit=0)] == newest_first[:1]  # clamped to >= 1
        assert [t.id for t in await svc.list_tasks("alice", status="queued")] == newest_first
        assert await svc.list_tasks("alice", status="succeeded") == []


# -- cancel -----------------------------------------------------------------------------------------


async def test_the_owner_cancels_a_queued_sandbox_task(home: Path) -> None:
    slow = make_settings(home, speed=0.2)  # queued for 5 s: time enough to cancel
    async with open_service(slow) as svc:
        task = await svc.submit("alice", REQ)
        with pytest.raises(TaskNotFoundError):
            await svc.cancel("bob", task.id)
        cancelled = await svc.cancel("alice", task.id)

        assert cancelled.status is TaskStatus.CANCELLED and cancelled.is_final
        assert cancelled.error is not None and cancelled.error.code == "cancelled"
        assert json.loads(sandbox_records(home)[0].read_text())["cancelled"] is True
        with pytest.raises(InvalidRequestError):
            await svc.cancel("alice", task.id)  # already final
        assert (await svc.get("alice", task.id)).status is TaskStatus.CANCELLED


async def test_a_cancelled_task_is_left_alone_by_its_watcher(settings: Settings, vt: VirtualTime) -> None:
    fake = ScriptedProvider(clock=vt.clock, plan=[TaskStatus.QUEUED])
    heard: list[tuple[TaskStatus, str | None]] = []
    async with scripted_service(settings, fake, vt, resume=True) as svc:
        svc.subscribe(lambda t: heard.append((t.status, t.error.message if t.error else None)))
        task = await svc.submit("alice", REQ)
        fake.polled.clear()
        await asyncio.wait_for(fake.polled.wait(), 5)  # the watcher is polling
        await svc.cancel("alice", task.id)
        for _ in range(2):  # time for a watcher that kept going to poll and apply twice
            fake.polled.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fake.polled.wait(), 0.5)
        final = await svc.get("alice", task.id, refresh=False)
    assert final.error is not None and final.error.message == "cancelled by its owner"
    assert [h for h in heard if h[0] is TaskStatus.CANCELLED] == [(TaskStatus.CANCELLED, "cancelled by its owner")]


async def test_cancel_where_the_provider_cannot_raises_not_supported_and_changes_nothing(settings: Settings) -> None:
    fake = ScriptedProvider.variant(cancel=False)(plan=[TaskStatus.QUEUED])
    async with scripted_service(settings, fake) as svc:
        task = await svc.submit("alice", REQ)
        with pytest.raises(NotSupportedError):
            await svc.cancel("alice", task.id)
        assert (await svc.get("alice", task.id, refresh=False)).status is TaskStatus.QUEUED
    assert fake.cancel_calls == 0


async def test_cancel_of_a_finished_task_is_refused(service: VideoService) -> None:
    task = await service.submit("alice", REQ)
    done = await finish(service, "alice", task.id)
    with pytest.raises(InvalidRequestError):
        await service.cancel("alice", done.id)


async def test_cancel_of_a_running_sandbox_task_is_refused_by_the_provider(home: Path) -> None:
    async with open_service(make_settings(home, speed=4)) as svc:
        running = asyncio.Event()
        svc.subscribe(lambda t: running.set() if t.status is TaskStatus.RUNNING else None)
        task = await svc.submit("alice", REQ)
        await asyncio.wait_for(running.wait(), REAL_TIMEOUT)
        with pytest.raises(NotSupportedError):
            await svc.cancel("alice", task.id)
        assert (await finish(svc, "alice", task.id)).status is TaskStatus.SUCCEEDED


async def test_cancel_while_the_submit_is_still_in_flight_is_refused(
    settings: Settings, fake: ScriptedProvider
) -> None:
    async with scripted_service(settings, fake) as svc:
        pending = Task(id="t-pending", user="alice", provider="sandbox", model="seedance-2-0", request=REQ)
        await svc.store.insert(pending)
        with pytest.raises(NotSupportedError):
            await svc.cancel("alice", "t-pending")


# -- submit: validation, limits, refusals, idempotency ------------------------------------------------


async def test_invalid_request_is_refused_before_anything_is_stored_or_sent(
    settings: Settings, fake: ScriptedProvider
) -> None:
    async with scripted_service(settings, fake) as svc:
        with pytest.raises(InvalidRequestError) as info:
            await svc.submit("alice", REQ.model_copy(update={"duration": 99}))
        assert info.value.field == "duration" and "\n" not in str(info.value)
        with pytest.raises(InvalidRequestError):
            await svc.submit("alice", VideoRequest(prompt="  \x07 ", resolution="480p", duration=4))
        assert await svc.count_tasks("alice") == 0
    assert fake.submit_calls == 0


async def test_estimate_prices_the_resolved_request(service: VideoService) -> None:
    est = service.estimate(REQ)
    assert est.provider == "sandbox" and est.model == "seedance-2-0" and est.unit == "tokens"
    assert est.amount > 0 and est.request.model == "seedance-2-0" and est.request.ratio is not None
    bigger = service.estimate(REQ.model_copy(update={"resolution": "1080p"}))
    assert bigger.amount > est.amount
    with pytest.raises(InvalidRequestError):
        service.estimate(REQ.model_copy(update={"duration": 99}))
    assert {s.provider for s in service.models()} == {"sandbox"} and service.models()


async def test_running_limit_refuses_with_a_clear_message_and_sends_nothing(home: Path) -> None:
    # With the queue turned off (it is on by default: see tests/core/test_queue.py).
    settings = make_settings(home, limits=Limits(max_running_per_user=1, max_tasks_per_day=None, queue=False))
    fake = ScriptedProvider(plan=[TaskStatus.RUNNING])
    async with scripted_service(settings, fake) as svc:
        await svc.submit("alice", REQ)
        with pytest.raises(LimitReachedError) as info:
            await svc.submit("alice", REQ)
        assert "limit 1" in str(info.value)
        await svc.submit("bob", REQ)  # limits are per user
        assert await svc.count_tasks("alice") == 1
    assert fake.submit_calls == 2


async def test_concurrent_submits_do_not_overshoot_the_daily_budget(home: Path) -> None:
    probe = make_settings(home)
    async with scripted_service(probe, ScriptedProvider()) as svc:
        price = svc.estimate(REQ).amount
    settings = make_settings(home, limits=Limits(max_running_per_user=None, max_tasks_per_day=None,
                                                 daily_budget=price * 3.5))
    fake = ScriptedProvider(plan=[TaskStatus.QUEUED])
    async with scripted_service(settings, fake) as svc:
        results = await asyncio.gather(*(svc.submit("alice", REQ) for _ in range(12)), return_exceptions=True)
    accepted = [r for r in results if isinstance(r, Task)]
    refused = [r for r in results if isinstance(r, LimitReachedError)]
    assert len(accepted) == 3 and len(refused) == 9, results
    assert fake.submit_calls == 3
    assert "budget" in str(refused[0])


async def test_concurrent_submits_do_not_overshoot_the_daily_task_limit(home: Path) -> None:
    settings = make_settings(home, limits=Limits(max_running_per_user=None, max_tasks_per_day=3))
    fake = ScriptedProvider(plan=[TaskStatus.QUEUED])
    async with scripted_service(settings, fake) as svc:
        results = await asyncio.gather(*(svc.submit("alice", REQ) for _ in range(10)), return_exceptions=True)
    assert sum(isinstance(r, Task) for r in results) == 3
    assert fake.submit_calls == 3


async def test_provider_refusal_marks_the_row_failed_and_raises(settings: Settings, fake: ScriptedProvider) -> None:
    fake.submit_script.append(AuthenticationError("fake: the API key is invalid", provider="fake"))
    async with scripted_service(settings, fake) as svc:
        with pytest.raises(AuthenticationError):
            await svc.submit("alice", REQ)
        (row,) = await svc.list_tasks("alice")
    assert row.status is TaskStatus.FAILED and row.is_final
    assert row.error is not None and row.error.code == "authentication_failed"
    assert row.remote_id is None and fake.created == 0


async def test_a_repeated_request_key_returns_the_same_task_without_paying_twice(
    settings: Settings, fake: ScriptedProvider
) -> None:
    async with scripted_service(settings, fake) as svc:
        first = await svc.submit("alice", REQ, request_key="req-1")
        again = await svc.submit("alice", REQ, request_key="req-1")
        other_user = await svc.submit("bob", REQ, request_key="req-1")
        assert again.id == first.id and other_user.id != first.id
        assert await svc.count_tasks("alice") == 1
    assert fake.submit_calls == 2


async def test_concurrent_duplicates_of_a_request_key_create_one_task(
    settings: Settings, fake: ScriptedProvider
) -> None:
    async with scripted_service(settings, fake) as svc:
        results = await asyncio.gather(*(svc.submit("alice", REQ, request_key="dup") for _ in range(8)))
        assert len({t.id for t in results}) == 1
        assert await svc.count_tasks("alice") == 1
    assert fake.submit_calls == 1


async def test_a_cancelled_caller_does_not_stop_the_submit(
    settings: Settings, fake: ScriptedProvider, vt: VirtualTime
) -> None:
    fake.submit_gate = asyncio.Event()
    async with scripted_service(settings, fake, vt) as svc:
        caller = asyncio.create_task(svc.submit("alice", REQ))
        await asyncio.wait_for(fake.submit_started.wait(), 5)
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        fake.submit_gate.set()
        (row,) = await svc.list_tasks("alice")
        done = await finish(svc, "alice", row.id)
    assert done.status is TaskStatus.SUCCEEDED and done.remote_id == "fake-1"
    assert fake.submit_calls == 1


# -- lost submit answers -------------------------------------------------------------------------------


class LosingSandbox(SandboxProvider):
    """The sandbox, except that the answer to every submit is lost after the task was created."""

    async def submit(self, request: VideoRequest, *, callback_url: str | None = None) -> str:
        await super().submit(request, callback_url=callback_url)
        raise SubmitUncertainError("sandbox: the answer was lost", provider="sandbox")


async def test_a_lost_submit_answer_is_reconciled_and_the_task_adopted(settings: Settings, home: Path) -> None:
    async with contextlib.AsyncExitStack() as stack:
        http = HttpClient()
        stack.push_async_callback(http.aclose)
        sandbox = LosingSandbox(http=http, home=home, speed=20)
        svc = await stack.enter_async_context(scripted_service(settings, sandbox))
        task = await svc.submit("alice", REQ)
        assert task.status is TaskStatus.PENDING and task.remote_id is None
        done = await finish(svc, "alice", task.id)

    (record,) = sandbox_records(home)  # exactly one submit, never resent
    assert done.status is TaskStatus.SUCCEEDED and done.remote_id == record.stem
    assert done.video_path and Path(done.video_path).is_file()


async def test_a_lost_submit_is_marked_uncertain_where_the_provider_cannot_reconcile(
    settings: Settings, vt: VirtualTime
) -> None:
    fake = ScriptedProvider.variant(reconcile=False)(clock=vt.clock)
    fake.submit_script.append(UNCERTAIN_CREATED)
    async with scripted_service(settings, fake, vt) as svc:
        task = await svc.submit("alice", REQ)
        done = await finish(svc, "alice", task.id)
    assert done.status is TaskStatus.FAILED
    assert done.error is not None and done.error.code == "submit_uncertain"
    assert "dashboard" in done.error.message
    assert fake.submit_calls == 1 and fake.get_calls == 0


async def test_a_lost_submit_that_created_nothing_ends_not_created_without_resending(
    settings: Settings, fake: ScriptedProvider, vt: VirtualTime
) -> None:
    fake.submit_script.append(UNCERTAIN_LOST)
    async with scripted_service(settings, fake, vt) as svc:
        task = await svc.submit("alice", REQ)
        done = await finish(svc, "alice", task.id)
    assert done.status is TaskStatus.FAILED
    assert done.error is not None and done.error.code == "not_created"
    assert fake.submit_calls == 1 and fake.created == 0 and fake.find_calls >= 2


async def test_a_lost_submit_found_by_reconcile_finishes_normally(
    settings: Settings, fake: ScriptedProvider, vt: VirtualTime
) -> None:
    fake.submit_script.append(UNCERTAIN_CREATED)
    async with scripted_service(settings, fake, vt) as svc:
        task = await svc.submit("alice", REQ)
        done = await finish(svc, "alice", task.id)
    assert done.status is TaskStatus.SUCCEEDED and done.remote_id == "fake-1"
    assert fake.submit_calls == 1 and fake.created == 1 and fake.downloads_done == 1


# -- crashes and resume ---------------------------------------------------------------------------------


async def test_resume_after_a_crash_finishes_the_sandbox_task_once(home: Path) -> None:
    settings = make_settings(home, speed=4)  # running for ~0.7 s: time to stop mid-task
    async with open_service(settings) as first:
        running = asyncio.Event()
        first.subscribe(lambda t: running.set() if t.status is TaskStatus.RUNNING else None)
        task = await first.submit("alice", REQ)
        await asyncio.wait_for(running.wait(), REAL_TIMEOUT)
        # leaving the block now stops the watcher mid-task, as a crash would
    async with open_service(settings, resume=False) as probe:
        assert not (await probe.get("alice", task.id, refresh=False)).is_final

    async with open_service(settings, resume=True) as second:
        done = await finish(second, "alice", task.id)
    assert done.status is TaskStatus.SUCCEEDED and done.video_path and Path(done.video_path).is_file()
    assert len(sandbox_records(home)) == 1
    assert len(list((home / "media").iterdir())) == 1  # one video, no leftover partial file
    async with open_service(settings, resume=False) as third:
        assert await third.resume() == 0  # nothing left to do


class StuckClaimStore(TaskStore):
    """A store whose claim_due() takes its leases and then never returns: the window close() can hit."""

    leased: asyncio.Event

    async def claim_due(self, owner: str, **kwargs: Any) -> list[TaskState]:
        taken = await super().claim_due(owner, **kwargs)
        if taken:
            self.leased.set()
            await asyncio.Event().wait()
        return taken


async def test_close_releases_every_lease_it_holds(settings: Settings, fake: ScriptedProvider) -> None:
    settings.home.mkdir(mode=0o700)
    plain = await TaskStore.open(settings.db_path)
    store = StuckClaimStore(plain.db)
    store.leased = asyncio.Event()
    http = HttpClient()
    svc = VideoService(settings=settings, store=store, http=http, providers={"sandbox": fake})
    try:
        task = await svc.submit("alice", REQ)
        await store.make_due(task.id, now=0)
        svc.scheduler.start()
        await asyncio.wait_for(store.leased.wait(), 5)
        assert (await store.get_raw(task.id) or {})["lease_owner"] == svc.instance
        await svc.close()
        raw = await store.get_raw(task.id)
    finally:
        await store.close()
        await http.aclose()
    assert raw is not None and raw["lease_owner"] is None


async def test_a_crash_during_the_download_downloads_once_after_resume(settings: Settings, vt: VirtualTime) -> None:
    fake = ScriptedProvider(clock=vt.clock)
    fake.download_gate, fake.download_started = asyncio.Event(), asyncio.Event()
    async with scripted_service(settings, fake, vt, resume=True) as first:
        task = await first.submit("alice", REQ)
        await asyncio.wait_for(fake.download_started.wait(), 5)
        # the process dies while the video is streaming

    fake.download_gate = None
    async with scripted_service(settings, fake, vt, resume=True) as second:
        done = await finish(second, "alice", task.id)
    assert done.status is TaskStatus.SUCCEEDED and done.video_path
    assert Path(done.video_path).read_bytes() == VIDEO_BYTES
    assert fake.downloads_done == 1 and fake.submit_calls == 1
    async with scripted_service(settings, fake, vt, resume=True):
        pass
    assert fake.downloads_done == 1 and fake.download_calls == 2


async def test_a_recent_row_a_crash_left_unsent_is_sent_once_on_resume(
    settings: Settings, fake: ScriptedProvider, vt: VirtualTime
) -> None:
    # submit_started_at is written before the provider is called, so its absence proves nothing
    # was sent: resuming sends it (once) instead of dropping the user's request.
    store = await TaskStore.open(settings.db_path)
    await store.insert(Task(id="crashed", user="alice", provider="sandbox", model="seedance-2-0", request=REQ))
    await store.close()
    async with scripted_service(settings, fake, vt, resume=True) as svc:
        done = await finish(svc, "alice", "crashed")
    assert done.status is TaskStatus.SUCCEEDED and done.video_path
    assert fake.submit_calls == 1 and fake.find_calls == 0


async def test_an_old_row_a_crash_left_unsent_becomes_not_submitted(
    settings: Settings, fake: ScriptedProvider, vt: VirtualTime
) -> None:
    store = await TaskStore.open(settings.db_path)
    await store.insert(Task(id="crashed", user="alice", provider="sandbox", model="seedance-2-0", request=REQ))
    await store.close()
    vt.advance(3600)  # found an hour later: too stale to send without asking its owner
    async with scripted_service(settings, fake, vt, resume=True) as svc:
        done = await finish(svc, "alice", "crashed")
    assert done.status is TaskStatus.FAILED
    assert done.error is not None and done.error.code == "not_submitted"
    assert fake.submit_calls == 0 and fake.find_calls == 0


async def test_a_crash_between_submit_and_recording_the_id_is_reconciled_on_resume(
    settings: Settings, home: Path
) -> None:
    async with open_service(settings) as svc:
        resolved = svc.estimate(REQ).request
        started = time.time()
        remote_id = await svc.provider().submit(resolved)  # reached the provider; then the process died
        await svc.store.insert(Task(id="halfway", user="alice", provider="sandbox", model=resolved.model or "",
                                    request=resolved))
        await svc.store.update("halfway", submit_started_at=started)

    async with open_service(settings, resume=True) as svc:
        done = await finish(svc, "alice", "halfway")
    assert done.status is TaskStatus.SUCCEEDED and done.remote_id == remote_id
    assert len(sandbox_records(home)) == 1


# -- events, delivery, callbacks --------------------------------------------------------------------------


async def test_subscribers_hear_every_change_including_the_final_one(settings: Settings, fake: ScriptedProvider,
                                                                     vt: VirtualTime) -> None:
    heard: list[Task] = []
    heard_async: list[str] = []

    def broken(task: Task) -> None:
        raise RuntimeError("a front end's bug")

    async def listener_async(task: Task) -> None:
        heard_async.append(task.id)

    async with scripted_service(settings, fake, vt) as svc:
        svc.subscribe(broken)
        svc.subscribe(heard.append)
        unsubscribe = svc.subscribe(listener_async)
        task = await svc.submit("alice", REQ)
        done = await finish(svc, "alice", task.id)
        unsubscribe()
        count = len(heard_async)
        other = await svc.submit("alice", REQ)
        await finish(svc, "alice", other.id)

    assert done.status is TaskStatus.SUCCEEDED
    mine = [t for t in heard if t.id == task.id]
    assert mine[-1].is_final and mine[-1].video_path == done.video_path
    assert TaskStatus.QUEUED in {t.status for t in mine}
    assert len(heard_async) == count > 0  # nothing after unsubscribing
    assert any(t.id == other.id and t.is_final for t in heard)


async def test_undelivered_lists_final_tasks_of_a_front_end_until_marked(
    settings: Settings, fake: ScriptedProvider, vt: VirtualTime
) -> None:
    async with scripted_service(settings, fake, vt) as svc:
        mine = await svc.submit("alice", REQ, target="discord:123:456")
        other = await svc.submit("alice", REQ, target="mcp:session")
        plain = await svc.submit("alice", REQ)
        for t in (mine, other, plain):
            await finish(svc, "alice", t.id)

        assert [t.id for t in await svc.undelivered("discord:")] == [mine.id]
        assert await svc.mark_delivered(mine.id) is True
        assert await svc.mark_delivered(mine.id) is False
        assert await svc.undelivered("discord:") == []
        assert [t.id for t in await svc.undelivered("mcp:")] == [other.id]
        assert (await svc.get("alice", mine.id)).delivered_at is not None


async def test_undelivered_skips_tasks_still_running(settings: Settings) -> None:
    fake = ScriptedProvider(plan=[TaskStatus.RUNNING])
    async with scripted_service(settings, fake) as svc:
        await svc.submit("alice", REQ, target="discord:1:2")
        assert await svc.undelivered("discord:") == []


async def test_callbacks_are_accepted_only_with_the_task_token_and_wake_the_watcher(home: Path) -> None:
    settings = make_settings(home, public_url="https://studio.example/")
    fake = ScriptedProvider.variant(callback=True)(expected=1200.0)  # the scheduler waits 10 s between polls
    async with scripted_service(settings, fake, resume=True) as svc:
        task = await svc.submit("alice", REQ)
        (url,) = fake.callback_urls
        assert url is not None and url.startswith(f"https://studio.example/callbacks/{task.id}/")
        token = url.rsplit("/", 1)[1]
        assert len(token) >= 24

        assert await svc.handle_callback(task.id, "not-the-token") is False
        assert await svc.handle_callback(task.id, "") is False
        assert await svc.handle_callback("other-task", token) is False
        raw = await svc.store.get_raw(task.id)
        assert raw is not None and raw["callback_token"] == token
        assert token not in json.dumps(task.to_json())

        fake.polled.clear()
        polls_before = fake.get_calls
        assert await svc.handle_callback(task.id, token) is True
        await asyncio.wait_for(fake.polled.wait(), 5)  # well before the 10 s nap would end
        assert fake.get_calls == polls_before + 1


async def test_without_any_callback_the_watcher_still_polls_to_the_end(home: Path, vt: VirtualTime) -> None:
    settings = make_settings(home, public_url="https://studio.example")
    fake = ScriptedProvider.variant(callback=True)(clock=vt.clock)
    async with scripted_service(settings, fake, vt) as svc:
        done = await finish(svc, "alice", (await svc.submit("alice", REQ)).id)
    assert done.status is TaskStatus.SUCCEEDED and fake.callback_urls[0] is not None
    assert fake.get_calls == len(fake.plan)


async def test_without_a_public_url_no_callback_is_registered(service: VideoService) -> None:
    task = await service.submit("alice", REQ)
    assert await service.handle_callback(task.id, "") is False
    raw = await service.store.get_raw(task.id)
    assert raw is not None and raw["callback_token"] is None
    await finish(service, "alice", task.id)


# -- faults while watching ---------------------------------------------------------------------------------


async def test_a_refused_download_is_recorded_while_the_task_stays_succeeded(
    settings: Settings, fake: ScriptedProvider, vt: VirtualTime
) -> None:
    fake.download_errors.append(DownloadError("the result link was refused (HTTP 403)", code="link_expired"))
    async with scripted_service(settings, fake, vt) as svc:
        task = await svc.submit("alice", REQ)
        done = await finish(svc, "alice", task.id)
    assert done.status is TaskStatus.SUCCEEDED and done.is_final
    assert done.video_path is None and done.video_url
    assert done.error is not None and done.error.code == "link_expired"
    assert fake.download_calls == 1  # an expired link is not retried


async def test_a_cut_download_is_retried(settings: Settings, fake: ScriptedProvider, vt: VirtualTime) -> None:
    fake.download_errors.append(DownloadError("the download was cut short"))
    async with scripted_service(settings, fake, vt) as svc:
        task = await svc.submit("alice", REQ)
        done = await finish(svc, "alice", task.id)
    assert done.video_path and done.error is None
    assert fake.download_calls == 2


async def test_poll_errors_are_retried_until_the_task_succeeds(
    settings: Settings, fake: ScriptedProvider, vt: VirtualTime
) -> None:
    fake.get_errors.extend([
        ProviderUnavailableError("fake is unavailable (HTTP 503)", provider="fake", status_code=503),
        RateLimitError("fake is rate limiting", retry_after=3.0, provider="fake", status_code=429),
        ProviderUnavailableError("fake did not answer (ReadTimeout)", provider="fake"),
    ])
    async with scripted_service(settings, fake, vt) as svc:
        task = await svc.submit("alice", REQ)
        done = await finish(svc, "alice", task.id)
    assert done.status is TaskStatus.SUCCEEDED and done.error is None and done.video_path
    assert fake.get_calls == 3 + len(fake.plan)
    assert max(vt.slept) >= 2.0  # backed off after errors


async def test_success_without_a_video_link_is_reported(
    settings: Settings, fake: ScriptedProvider, vt: VirtualTime
) -> None:
    fake.with_video_url = False
    async with scripted_service(settings, fake, vt) as svc:
        done = await finish(svc, "alice", (await svc.submit("alice", REQ)).id)
    assert done.status is TaskStatus.SUCCEEDED and done.is_final and done.video_path is None
    assert done.error is not None and done.error.code == "no_video"
    assert fake.download_calls == 0


async def test_a_task_the_provider_lost_ends_failed_lost_by_provider(
    settings: Settings, fake: ScriptedProvider, vt: VirtualTime
) -> None:
    fake.plan = [TaskStatus.RUNNING]
    async with scripted_service(settings, fake, vt) as svc:
        task = await svc.submit("alice", REQ)
        fake.remote["fake-1"].lost = True
        done = await finish(svc, "alice", task.id)
    assert done.status is TaskStatus.FAILED
    assert done.error is not None and done.error.code == "lost_by_provider"


async def test_a_provider_failure_is_recorded_with_its_reason(
    settings: Settings, fake: ScriptedProvider, vt: VirtualTime
) -> None:
    fake.plan = [TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.FAILED]
    async with scripted_service(settings, fake, vt) as svc:
        task = await svc.submit("alice", REQ)
        done = await finish(svc, "alice", task.id)
    assert done.status is TaskStatus.FAILED and fake.download_calls == 0
    assert done.error is not None and done.error.code == "OutputVideoSensitiveContentDetected"


async def test_a_task_that_never_finishes_expires(settings: Settings, fake: ScriptedProvider, vt: VirtualTime) -> None:
    fake.plan = [TaskStatus.RUNNING]
    async with scripted_service(settings, fake, vt) as svc:
        task = await svc.submit("alice", REQ.model_copy(update={"execution_expires_after": 3600}))
        vt.advance(3600 + 601)
        done = await finish(svc, "alice", task.id)
    assert done.status is TaskStatus.EXPIRED
    assert done.error is not None and done.error.code == "expired"


async def test_polling_learns_from_history(settings: Settings, vt: VirtualTime) -> None:
    """Finished tasks of the same kind feed the expectation the next task's polls follow."""
    fake = ScriptedProvider(clock=vt.clock, plan=[TaskStatus.RUNNING] * 3 + [TaskStatus.SUCCEEDED], expected=None)
    async with scripted_service(settings, fake, vt) as svc:
        cold = await svc.submit("alice", REQ)
        assert not (await svc.scheduler.expectation(cold.provider, cold.model, cold.request)).learned
        for _ in range(5):
            t = await svc.submit("alice", REQ)
            await finish(svc, "alice", t.id)
        warm = await svc.scheduler.expectation(cold.provider, cold.model, cold.request)
    assert warm.learned and warm.expected > 0


async def test_resume_removes_partial_downloads_a_killed_process_left(settings: Settings) -> None:
    import os
    import time

    settings.media_dir.mkdir(parents=True, exist_ok=True)
    stale = settings.media_dir / ".abc.mp4.1234.part"
    fresh = settings.media_dir / ".def.mp4.5678.part"
    for path in (stale, fresh):
        path.write_bytes(b"half a video")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    async with open_service(settings, resume=True):
        pass
    assert not stale.exists()
    assert fresh.exists()  # may belong to a download in flight in another process
