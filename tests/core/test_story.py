"""Long videos from shots (issue 10 §2), on the offline sandbox: one playable video of N×D seconds in
which each shot starts from the last frame of the one before; limits on the whole story before
anything is stored; a failed shot retried without paying again for the others; a restart resumes;
cancel; and the join itself (stream copy or re-encode, sound kept in step)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from core.config import Limits, ProviderSettings
from core.engine.story import rows
from core.errors import InvalidRequestError, LimitReachedError
from core.media_join import join_videos
from core.models import ImageInput, ImageRole, StoryStatus, TaskStatus, VideoRequest
from core.sandbox.render import probe_video, render_video
from core.service import open_service
from tests.conftest import make_settings

OPTIONS = VideoRequest(resolution="480p", duration=4, generate_audio=True)
SHOTS = ["a lighthouse at dawn", "the camera flies over the sea", "a storm rolls in at night"]
TIMEOUT = 120.0
FPS = 24
JOINT_TOLERANCE = 3.0  # mean absolute difference (0-255) between the two frames of a joint


def sandbox_submits(home: Path) -> int:
    return len(list((home / "sandbox").glob("sbx-*.json")))


def frames(path: Path) -> list[Any]:
    """Every frame of the video as an RGB array."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]


def difference(a: Any, b: Any) -> float:
    return float(np.abs(a - b).mean())


async def test_three_shots_make_one_video_in_which_each_shot_starts_where_the_last_ended(home: Path) -> None:
    async with open_service(make_settings(home), resume=True) as svc:
        story = await svc.create_story("alice", SHOTS, OPTIONS)
        assert story.id.startswith("story-") and len(story.shots) == 3
        assert [t.status for t in story.shots[1:]] == [TaskStatus.WAITING] * 2  # stored at once, unpaid
        assert [t.request.return_last_frame for t in story.shots] == [True, True, False]
        done = await asyncio.wait_for(svc.wait_story("alice", story.id), TIMEOUT)
    assert done.status is StoryStatus.SUCCEEDED, done.error
    assert done.video_path == str(home / "media" / f"{story.id}.mp4") and done.finished_at is not None
    assert sandbox_submits(home) == 3 and done.progress == [1.0, 1.0, 1.0]

    info = probe_video(Path(done.video_path))
    assert info.has_audio and info.video_codec == "h264"
    assert abs(info.duration - 3 * 4) <= 2 / FPS  # ± one frame per joint
    assert abs(info.frames - 3 * 4 * FPS) <= 2
    with av.open(done.video_path) as container:  # the sound runs the whole length, in step
        sound = sum(f.samples for f in container.decode(audio=0)) / container.streams.audio[0].sample_rate
    assert abs(sound - 12) < 0.1

    joined = frames(Path(done.video_path))
    shots = [frames(Path(t.video_path or "")) for t in done.shots]
    assert [len(s) for s in shots] == [4 * FPS] * 3
    for k in range(2):
        # shot k+1 starts from shot k's last frame (in the shots, and at the joint of the joined video)
        assert difference(shots[k][-1], shots[k + 1][0]) < JOINT_TOLERANCE
        assert difference(joined[(k + 1) * 4 * FPS - 1], joined[(k + 1) * 4 * FPS]) < JOINT_TOLERANCE
        # ... which means something: the shots themselves do not start alike
        assert difference(shots[k][0], shots[k + 1][0]) > 2 * JOINT_TOLERANCE
    assert difference(joined[0], shots[0][0]) < JOINT_TOLERANCE  # stream copy: the pictures are the shots'


async def test_the_story_json_shows_each_shot_with_its_progress(service: Any) -> None:
    story = await service.create_story("alice", SHOTS[:2], OPTIONS)
    data = story.to_json()
    assert data["kind"] == "story" and data["id"] == story.id and data["status"] in ("running", "waiting")
    assert [s["shot"] for s in data["shots"]] == [0, 1] and [s["story_id"] for s in data["shots"]] == [story.id] * 2
    assert all(0.0 <= s["progress"] <= 1.0 for s in data["shots"])
    assert data["cost"]["unit"] == "tokens" and data["cost"]["estimated"] == sum(
        t.cost.estimated or 0 for t in story.shots
    )
    done = await asyncio.wait_for(service.wait_story("alice", story.id), TIMEOUT)
    final = done.to_json()
    assert final["status"] == "succeeded" and final["progress"] == 1.0 and final["video_path"]
    assert final["cost"]["usd_estimated"] == 0.0  # the sandbox is free
    page = await service.page_stories("alice")
    assert [s.id for s in page.stories] == [story.id] and not page.has_more
    assert {t.story_id for t in await service.list_tasks("alice")} == {story.id}  # shots in the history too


async def test_a_story_over_a_money_limit_is_refused_before_anything_is_stored(home: Path) -> None:
    settings = make_settings(home, limits=Limits(max_running_per_user=None, max_tasks_per_day=4))
    async with open_service(settings, resume=False) as svc:
        await svc.submit("alice", OPTIONS.model_copy(update={"prompt": "one video first"}))
        with pytest.raises(LimitReachedError, match="4 shots of this story would go over a limit at shot 4"):
            await svc.create_story("alice", [*SHOTS, "one more"], OPTIONS)
        assert len(await svc.list_tasks("alice")) == 1 and (await svc.page_stories("alice")).stories == []
        assert sandbox_submits(home) == 1
        assert len((await svc.create_story("alice", SHOTS, OPTIONS)).shots) == 3  # three still fit

    one_shot = make_settings(home).limits  # the token budget counts the sum of the shots too
    async with open_service(make_settings(home, limits=one_shot), resume=False) as svc:
        tokens = svc.estimate(OPTIONS.model_copy(update={"prompt": "x", "return_last_frame": True})).amount
    budget = Limits(max_running_per_user=None, max_tasks_per_day=None, daily_budget=tokens * 2.5)
    async with open_service(make_settings(home, limits=budget), resume=False) as svc:
        with pytest.raises(LimitReachedError, match="at shot 1"):  # the first story already spent today's
            await svc.create_story("bob", SHOTS, OPTIONS.model_copy(update={"duration": 15}))
        with pytest.raises(LimitReachedError, match="at shot 3.*budget"):
            await svc.create_story("bob", SHOTS, OPTIONS)
        assert await svc.list_tasks("bob") == []
        assert len((await svc.create_story("bob", SHOTS[:2], OPTIONS)).shots) == 2


async def test_a_failed_shot_is_retried_without_paying_again_for_the_others(home: Path) -> None:
    async with open_service(make_settings(home), resume=True) as svc:
        story = await svc.create_story("alice", [SHOTS[0], "a forbidden shot #fail", SHOTS[2]], OPTIONS)
        failed = await asyncio.wait_for(svc.wait_story("alice", story.id), TIMEOUT)
        assert failed.status is StoryStatus.FAILED and failed.is_final
        assert failed.error is not None and failed.error.code == "shot_failed"
        assert "shot 2 of 3" in failed.error.message and "retry" in failed.error.message
        assert failed.shots[2].status is TaskStatus.WAITING  # held, not sent, not paid
        assert sandbox_submits(home) == 2
        first_video = failed.shots[0].video_path

        retried = await svc.retry_story("alice", story.id, prompt="a calm shot of the sea")
        assert retried.status in (StoryStatus.RUNNING, StoryStatus.WAITING) and retried.attempts == 4
        with pytest.raises(InvalidRequestError, match="only a failed story"):
            await svc.retry_story("alice", story.id)
        done = await asyncio.wait_for(svc.wait_story("alice", story.id), TIMEOUT)
    assert done.status is StoryStatus.SUCCEEDED, done.error
    assert sandbox_submits(home) == 4  # 3 shots + the failed one once more; shot 1 was not made again
    assert done.shots[0].video_path == first_video
    assert done.shots[1].id != failed.shots[1].id and done.shots[1].prompt == "a calm shot of the sea"
    assert done.shots[2].after_task_id == done.shots[1].id  # the next shot followed the new attempt
    assert abs(probe_video(Path(done.video_path or "")).duration - 12) <= 2 / FPS


async def test_retrying_with_the_same_prompt_pays_that_shot_again_and_cancel_stops_the_story(home: Path) -> None:
    async with open_service(make_settings(home), resume=True) as svc:
        story = await svc.create_story("alice", ["the first shot #fail", SHOTS[1]], OPTIONS)
        await asyncio.wait_for(svc.wait_story("alice", story.id), TIMEOUT)
        again = await asyncio.wait_for(svc.wait_story("alice", (await svc.retry_story("alice", story.id)).id),
                                       TIMEOUT)
        assert again.status is StoryStatus.FAILED and sandbox_submits(home) == 2
        cancelled = await svc.cancel_story("alice", story.id)
    assert cancelled.status is StoryStatus.CANCELLED and cancelled.is_final
    assert cancelled.shots[1].status is TaskStatus.CANCELLED and cancelled.shots[1].remote_id is None
    assert sandbox_submits(home) == 2


async def test_a_restart_in_the_middle_of_a_story_resumes_it(home: Path) -> None:
    settings = make_settings(home)
    async with open_service(settings, resume=False) as svc:
        story = await svc.create_story("alice", SHOTS, OPTIONS)
        first = await asyncio.wait_for(svc.wait("alice", story.shots[0].id), TIMEOUT)
        assert first.status is TaskStatus.SUCCEEDED
    # the process is gone: shot 1 is done, shots 2 and 3 wait in rows; another process carries on
    async with open_service(settings, resume=True) as svc:
        done = await asyncio.wait_for(svc.wait_story("alice", story.id), TIMEOUT)
    assert done.status is StoryStatus.SUCCEEDED, done.error
    assert sandbox_submits(home) == 3 and Path(done.video_path or "").is_file()


async def test_cancel_drops_the_waiting_shots_for_free(home: Path) -> None:
    async with open_service(make_settings(home, speed=0.5), resume=False) as svc:  # shot 1 queued for 2 s
        story = await svc.create_story("alice", SHOTS, OPTIONS)
        cancelled = await svc.cancel_story("alice", story.id)
        assert cancelled.status is StoryStatus.CANCELLED
        assert [t.status for t in cancelled.shots] == [TaskStatus.CANCELLED] * 3
        with pytest.raises(InvalidRequestError, match="already been cancelled"):
            await svc.cancel_story("alice", story.id)
        with pytest.raises(InvalidRequestError, match="only a failed story"):
            await svc.retry_story("alice", story.id)
        await svc.scheduler.tick()
    assert sandbox_submits(home) == 1  # shot 1 was sent, and cancelled while queued: nothing else


async def test_a_storys_later_shots_do_not_push_others_back_in_line(home: Path) -> None:
    settings = make_settings(home, speed=1.0, providers={"sandbox": ProviderSettings(max_concurrent=1)})
    async with open_service(settings, resume=False) as svc:
        story = await svc.create_story("alice", SHOTS, OPTIONS)
        bob = await svc.submit("bob", OPTIONS.model_copy(update={"prompt": "bob's video"}))
        assert story.shots[0].status is TaskStatus.QUEUED and bob.status is TaskStatus.WAITING
        assert bob.queue is not None and (bob.queue.overall, bob.queue.waiting) == (1, 1)
        assert (await svc.usage("alice")).waiting == 0  # shots 2 and 3 wait for shot 1, not for a slot


async def test_a_story_is_only_yours(service: Any) -> None:
    story = await service.create_story("alice", SHOTS[:2], OPTIONS)
    for call in (service.get_story, service.cancel_story, service.retry_story):
        with pytest.raises(Exception, match="no story"):
            await call("bob", story.id)


@pytest.mark.parametrize(
    ("shots", "options", "match"),
    [
        (["only one"], OPTIONS, "2 to 6 shots"),
        ([f"shot {i}" for i in range(7)], OPTIONS, "2 to 6 shots"),
        (["fine", "--dur 12 sneaky"], OPTIONS, "shot 2: prompt carries the inline flag"),
        (SHOTS, OPTIONS.model_copy(update={"duration": 99}), "^duration 99 is not allowed"),  # common to every shot
        (SHOTS, OPTIONS.model_copy(update={"images": (
            ImageInput(url="https://example.com/a.png", role=ImageRole.REFERENCE_IMAGE),)}), "only a first frame"),
    ],
)
async def test_invalid_stories_are_refused_before_anything_is_stored(
    service: Any, home: Path, shots: list[str], options: VideoRequest, match: str
) -> None:
    with pytest.raises(InvalidRequestError, match=match):
        await service.create_story("alice", shots, options)
    assert await service.list_tasks("alice") == [] and sandbox_submits(home) == 0


async def test_a_model_that_cannot_return_its_last_frame_cannot_make_stories(home: Path) -> None:
    settings = make_settings(
        home, provider="seedanceapi", providers={"seedanceapi": ProviderSettings(api_key="sk-test")}
    )
    async with open_service(settings, resume=False) as svc:
        with pytest.raises(InvalidRequestError, match="cannot continue one shot from the last frame"):
            await svc.create_story("alice", SHOTS, VideoRequest())
        assert await svc.list_tasks("alice") == []


async def test_only_one_process_joins_a_story(service: Any) -> None:
    story = await service.create_story("alice", SHOTS[:2], OPTIONS)
    store = rows(service._ctx)
    now = service._ctx.clock()
    assert await store.lease(story.id, "process-a", now=now, seconds=30)
    assert not await store.lease(story.id, "process-b", now=now, seconds=30)
    assert await store.lease(story.id, "process-b", now=now + 31, seconds=30)  # a dead holder's lease expires
    await store.release(story.id, "process-b")


async def test_two_processes_on_one_home_join_a_story_exactly_once(home: Path, caplog: Any) -> None:
    caplog.set_level("INFO", logger="seedance.story")
    settings = make_settings(home)
    async with open_service(settings, resume=True) as one, open_service(settings, resume=True) as two:
        story = await one.create_story("alice", SHOTS[:2], OPTIONS)
        seen = await asyncio.wait_for(
            asyncio.gather(one.wait_story("alice", story.id), two.wait_story("alice", story.id)), TIMEOUT
        )
    assert [s.status for s in seen] == [StoryStatus.SUCCEEDED] * 2 and seen[0].video_path == seen[1].video_path
    joins = [r for r in caplog.records if r.getMessage().startswith(f"story {story.id} joined")]
    assert len(joins) == 1 and sandbox_submits(home) == 2


# -- the join itself ---------------------------------------------------------------------------------


def test_matching_shots_are_stream_copied_and_keep_their_durations(tmp_path: Path) -> None:
    clips = [tmp_path / f"{i}.mp4" for i in range(3)]
    for i, clip in enumerate(clips):
        render_video(clip, width=320, height=192, duration=1 + i, audio=True, prompt=f"clip {i}", seed=i)
    result = join_videos(clips, tmp_path / "joined.mp4")
    info = probe_video(tmp_path / "joined.mp4")
    assert result.copied and result.frames == 6 * 24 == info.frames
    assert result.duration == pytest.approx(6.0) and info.duration == pytest.approx(6.0, abs=1 / 24)
    assert info.has_audio


def test_shots_that_differ_are_re_encoded_with_sound_kept_in_step(tmp_path: Path) -> None:
    loud, silent, other = tmp_path / "loud.mp4", tmp_path / "silent.mp4", tmp_path / "other.mp4"
    render_video(loud, width=320, height=192, duration=2, audio=True, prompt="loud", seed=1)
    render_video(silent, width=320, height=192, duration=1, audio=False, prompt="silent", seed=2)
    render_video(other, width=256, height=256, duration=1, audio=True, prompt="square", seed=3)
    result = join_videos([loud, silent, other], tmp_path / "joined.mp4")
    info = probe_video(tmp_path / "joined.mp4")
    assert not result.copied and (info.width, info.height) == (320, 192)
    assert info.frames == 4 * 24 and info.duration == pytest.approx(4.0, abs=1 / 24)
    with av.open(str(tmp_path / "joined.mp4")) as container:
        sound = sum(f.samples for f in container.decode(audio=0)) / 48_000
    assert sound == pytest.approx(4.0, abs=0.05)


async def test_a_storys_joined_video_is_fitted_to_an_upload_limit(home: Path) -> None:
    async with open_service(make_settings(home), resume=True) as svc:
        story = await svc.create_story("alice", SHOTS[:2], OPTIONS)
        done = await asyncio.wait_for(svc.wait_story("alice", story.id), TIMEOUT)
        joined = Path(done.video_path or "")
        limit = joined.stat().st_size * 2 // 3
        fitted = await svc.fit_video(done, limit)
        assert fitted is not None and fitted.stat().st_size <= limit
        assert fitted.name == f"{story.id}-fit-{limit}.mp4"
        assert abs(probe_video(fitted).duration - probe_video(joined).duration) <= 2 / FPS
        assert await svc.fit_video(done, 1000) is None, "far over the limit: a link, not a fit"
