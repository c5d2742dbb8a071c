"""The seedanceapi.org adapter (API v1 and v2) over real HTTP against the fake seedanceapi server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import pathlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from core.errors import (
    AuthenticationError,
    InsufficientCreditsError,
    InvalidRequestError,
    NotSupportedError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    SubmitUncertainError,
    TaskNotFoundError,
)
from core.http import HttpClient
from core.media import DownloadError
from core.models import ImageInput, ImageRole, MediaInput, TaskStatus, VideoRequest
from core.providers.seedanceapi import SeedanceApiProvider
from tests.clock import ManualClock
from tests.clock import RecordingSleep as Sleeps
from tests.fakes.media import sample_mp4
from tests.fakes.seedanceapi import FakeSeedanceApi

KEY = "sk-seedanceapi-test-secret-42"
IMG_A = "https://img.example.com/first.png"
IMG_B = "https://img.example.com/last.png"
IMG_C = "https://img.example.com/style.png"
CLIP = "https://media.example.com/motion.mp4"
FINISH = 10.0  # virtual seconds that take any default task to its outcome


@contextlib.contextmanager
def serve(clock: ManualClock, **options: Any) -> Iterator[FakeSeedanceApi]:
    with FakeSeedanceApi(api_key=KEY, clock=clock, **options) as server:
        server.media.secrets = (KEY,)
        yield server


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[FakeSeedanceApi]:
    with serve(clock) as server:
        yield server


@pytest.fixture
def adapter(fake: FakeSeedanceApi, http: HttpClient) -> SeedanceApiProvider:
    return SeedanceApiProvider(http=http, api_key=KEY, base_url=fake.base_url)


def v1(**fields: Any) -> VideoRequest:
    return VideoRequest(**{"prompt": "A cinematic shot of mountains at sunrise", "model": "seedance-1.5", **fields})


def v2(model: str = "seedance-2.0", **fields: Any) -> VideoRequest:
    return VideoRequest(**{"prompt": "A compact product reveal", "model": model, **fields})


def calls(server: FakeSeedanceApi, route: str, version: str = "v1") -> list[Any]:
    """Recorded requests to ``route`` ("submit" or "get") of one API version."""
    return [r for r in server.requests_for(route) if r.path.startswith(f"/{version}/")]


def only_submit(server: FakeSeedanceApi, version: str = "v1") -> Any:
    (record,) = calls(server, "submit", version)
    return record


# -- the adapter's declared capabilities -------------------------------------------------------------


def test_class_vars_follow_the_design_table(adapter: SeedanceApiProvider) -> None:
    assert SeedanceApiProvider.name == "seedanceapi"
    assert SeedanceApiProvider.max_batch == 1  # one status call per task
    assert SeedanceApiProvider.default_base_url == "https://seedanceapi.org"
    assert SeedanceApiProvider.supports_callback is True
    assert SeedanceApiProvider.supports_cancel is False
    assert SeedanceApiProvider.supports_reconcile is False
    assert KEY not in repr(adapter)


async def test_cancel_is_not_offered(adapter: SeedanceApiProvider) -> None:
    with pytest.raises(NotSupportedError):
        await adapter.cancel("seed15abc")


# -- v1 request shapes ---------------------------------------------------------------------------


async def test_v1_text_to_video_sends_the_documented_fields_with_duration_as_a_string_and_no_model(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider
) -> None:
    request = v1(resolution="720p", ratio="16:9", duration=8, generate_audio=True, camera_fixed=True)
    remote_id = await adapter.submit(request)

    record = only_submit(fake)
    assert record.path == "/v1/generate"
    assert record.headers["Authorization"] == f"Bearer {KEY}"
    assert record.json == {
        "prompt": "A cinematic shot of mountains at sunrise",
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "duration": "8",
        "generate_audio": True,
        "fixed_lens": True,
    }
    assert remote_id == fake.task_ids[0]  # v1 ids are the provider's own, unprefixed
    assert remote_id.startswith("seed15")


async def test_v1_omits_every_field_left_unset(fake: FakeSeedanceApi, adapter: SeedanceApiProvider) -> None:
    await adapter.submit(v1(duration=4))
    assert only_submit(fake).json == {"prompt": "A cinematic shot of mountains at sunrise", "duration": "4"}


async def test_v1_first_frame_goes_in_a_one_element_image_urls(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider
) -> None:
    await adapter.submit(v1(duration=4, images=(ImageInput(url=IMG_A),)))
    assert only_submit(fake).json["image_urls"] == [IMG_A]
    assert fake.submits == 1


async def test_v1_callback_url_is_sent_top_level(fake: FakeSeedanceApi, adapter: SeedanceApiProvider) -> None:
    await adapter.submit(v1(duration=4), callback_url="https://hooks.example.com/seedance?t=1")
    assert only_submit(fake).json["callback_url"] == "https://hooks.example.com/seedance?t=1"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"images": (ImageInput(url=IMG_A), ImageInput(url=IMG_B, role=ImageRole.LAST_FRAME))}, "images"),
        ({"images": (ImageInput(url=IMG_C, role=ImageRole.REFERENCE_IMAGE),)}, "images"),
        ({"videos": (MediaInput(url=CLIP),)}, "videos"),
        ({"audios": (MediaInput(url="https://media.example.com/a.mp3"),)}, "audios"),
    ],
)
async def test_v1_refuses_inputs_it_cannot_carry_before_sending_anything(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await adapter.submit(v1(**fields))
    assert info.value.field == field
    assert fake.requests == []


# -- v2 request shapes ---------------------------------------------------------------------------


async def test_v2_text_to_video_sends_model_and_an_integer_duration_and_returns_the_providers_own_id(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider
) -> None:
    remote_id = await adapter.submit(v2("seedance-2.0-fast", resolution="720p", ratio="9:16", duration=10))

    record = only_submit(fake, "v2")
    assert record.path == "/v2/generate"
    assert record.json == {
        "model": "seedance-2.0-fast",
        "prompt": "A compact product reveal",
        "aspect_ratio": "9:16",
        "resolution": "720p",
        "duration": 10,
    }
    assert remote_id == fake.task_ids[0]  # as the dashboard shows it: no version prefix
    task = await adapter.get(remote_id, model="seedance-2.0-fast")
    assert task.remote_id == remote_id
    assert calls(fake, "get", "v2")[0].query["task_id"] == remote_id
    assert calls(fake, "get", "v1") == []


async def test_v2_images_go_in_images_first_frame_first(fake: FakeSeedanceApi, adapter: SeedanceApiProvider) -> None:
    await adapter.submit(v2(duration=5, images=(ImageInput(url=IMG_A),)))
    await adapter.submit(
        v2(
            duration=5,
            images=(
                ImageInput(url=IMG_C, role=ImageRole.REFERENCE_IMAGE),
                ImageInput(url=IMG_A, role=ImageRole.FIRST_FRAME),
            ),
        )
    )
    first, mixed = (r.json for r in calls(fake, "submit", "v2"))
    assert first["images"] == [IMG_A]
    assert mixed["images"] == [IMG_A, IMG_C]
    assert "image_urls" not in first
    assert fake.submits == 2


@pytest.mark.parametrize("mini", ["seedance-2-mini", "seedance-2.0-mini"])
async def test_v2_mini_takes_reference_videos_as_reference_video_urls(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider, mini: str
) -> None:
    await adapter.submit(v2(mini, duration=7, resolution="480p", ratio="1:1", videos=(MediaInput(url=CLIP),)))
    assert only_submit(fake, "v2").json == {
        "model": mini,
        "prompt": "A compact product reveal",
        "aspect_ratio": "1:1",
        "resolution": "480p",
        "duration": 7,
        "reference_video_urls": [CLIP],
    }
    assert fake.submits == 1


async def test_v2_reference_videos_on_a_model_other_than_mini_are_refused_locally(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await adapter.submit(v2(videos=(MediaInput(url=CLIP),)))
    assert info.value.field == "videos"
    assert fake.requests == []


async def test_v2_callback_and_audio_flags_are_sent_when_set(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider
) -> None:
    await adapter.submit(v2(duration=5, generate_audio=False), callback_url="https://hooks.example.com/x")
    body = only_submit(fake, "v2").json
    assert body["generate_audio"] is False
    assert body["callback_url"] == "https://hooks.example.com/x"


# -- status parsing ------------------------------------------------------------------------------


async def test_in_progress_then_success_with_url_credits_time_and_prompt(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider, clock: ManualClock
) -> None:
    remote_id = await adapter.submit(v1(resolution="720p", ratio="16:9", duration=8))

    running = await adapter.get(remote_id)
    assert running.status is TaskStatus.RUNNING
    assert running.video_url is None
    assert running.error is None
    assert running.extra == {}

    clock.advance(FINISH)
    done = await adapter.get(remote_id)
    assert done.status is TaskStatus.SUCCEEDED
    assert done.video_url == fake.video_url(remote_id)
    assert done.actual_cost == 28.0  # 720p, 8 s, no audio (seed 004's table)
    assert done.prompt == "A cinematic shot of mountains at sunrise"
    assert isinstance(done.created_at, datetime)
    assert done.created_at.tzinfo is not None
    assert abs((datetime.now(UTC) - done.created_at).total_seconds()) < 120
    assert calls(fake, "get", "v1")[0].query["task_id"] == remote_id


async def test_a_scripted_credit_count_is_the_actual_cost(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider, clock: ManualClock
) -> None:
    fake.script("succeeded", actual_cost=56)
    remote_id = await adapter.submit(v2(duration=5))
    clock.advance(FINISH)
    assert (await adapter.get(remote_id)).actual_cost == 56.0


async def test_failed_task_carries_the_providers_error_message_and_costs_nothing(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider, clock: ManualClock
) -> None:
    fake.script("failed", error_message="Content policy violation: the prompt was flagged")
    remote_id = await adapter.submit(v1(duration=4))
    clock.advance(FINISH)

    task = await adapter.get(remote_id)
    assert task.status is TaskStatus.FAILED
    assert task.error is not None
    assert task.error.code == "generation_failed"
    assert task.error.message == "Content policy violation: the prompt was flagged"
    assert task.video_url is None
    assert task.actual_cost == 0.0


async def test_an_expired_task_reads_as_failed_because_the_api_has_no_expired_state(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider, clock: ManualClock
) -> None:
    fake.script("expired")
    remote_id = await adapter.submit(v1(duration=4))
    clock.advance(FINISH)

    task = await adapter.get(remote_id)
    assert task.status is TaskStatus.FAILED
    assert task.error is not None and task.error.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("IN_PROGRESS", TaskStatus.RUNNING),
        ("SUCCESS", TaskStatus.SUCCEEDED),
        ("FAILED", TaskStatus.FAILED),
        ("in_progress", TaskStatus.RUNNING),
        ("PENDING", TaskStatus.QUEUED),
    ],
)
async def test_every_status_word_maps_to_our_status(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider, raw: str, expected: TaskStatus
) -> None:
    fake.inject("get", status=200, body={"code": 200, "message": "success", "data": {"task_id": "t1", "status": raw}})
    task = await adapter.get("t1")
    assert task.status is expected
    assert "raw_status" not in task.extra


async def test_an_unknown_status_keeps_the_task_running_and_is_logged(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider, caplog: pytest.LogCaptureFixture
) -> None:
    fake.inject("get", status=200, body={"code": 200, "data": {"task_id": "t1", "status": "MODERATING"}})
    with caplog.at_level(logging.WARNING, logger="core.providers.seedanceapi"):
        task = await adapter.get("t1")
    assert task.status is TaskStatus.RUNNING
    assert task.extra["raw_status"] == "MODERATING"
    assert "MODERATING" in caplog.text
    assert KEY not in caplog.text


async def test_null_and_missing_fields_are_tolerated(fake: FakeSeedanceApi, adapter: SeedanceApiProvider) -> None:
    fake.inject(
        "get",
        status=200,
        body={
            "code": 200,
            "data": {
                "task_id": "t1",
                "status": "SUCCESS",
                "consumed_credits": None,
                "created_at": None,
                "request": None,
                "response": None,
                "error_message": None,
            },
        },
    )
    task = await adapter.get("t1")
    assert task.status is TaskStatus.SUCCEEDED
    assert (task.video_url, task.actual_cost, task.created_at, task.prompt) == (None, None, None, None)


async def test_a_failed_task_without_a_message_still_gets_a_readable_error(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider
) -> None:
    fake.inject("get", status=200, body={"code": 200, "data": {"task_id": "t1", "status": "FAILED"}})
    task = await adapter.get("t1")
    assert task.error is not None
    assert task.error.code == "generation_failed"
    assert "failed" in task.error.message


# -- callbacks -----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[tuple[str, asyncio.Queue[Any]]]:
    """A local endpoint the fake can POST callbacks to."""
    received: asyncio.Queue[Any] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        await received.put(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/hook", received
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("request_", [v1(duration=4), v2(duration=5)], ids=["v1", "v2"])
async def test_a_real_callback_names_the_task_by_the_id_submit_returned(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider, clock: ManualClock, request_: VideoRequest
) -> None:
    async with receiver() as (url, received):
        remote_id = await adapter.submit(request_, callback_url=url)
        clock.advance(FINISH)
        body = await asyncio.wait_for(received.get(), timeout=10)

    # The service never trusts the body: it re-reads the task the callback names, by the same id.
    assert body["data"]["task_id"] == remote_id
    polled = await adapter.get(remote_id, model=request_.model)
    assert polled.status is TaskStatus.SUCCEEDED
    assert polled.video_url == body["data"]["response"][0]


# -- documented errors ---------------------------------------------------------------------------


async def test_validation_error_400_is_an_invalid_request_with_the_providers_code(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await adapter.submit(v1(duration=4, ratio="adaptive"))
    assert "INVALID_ASPECT_RATIO" in str(info.value)
    assert fake.submits == 0


async def test_a_v2_duration_the_model_refuses_is_an_invalid_request(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await adapter.submit(v2(duration=7))
    assert "INVALID_DURATION" in str(info.value)
    assert fake.submits == 0


async def test_wrong_key_401_is_an_authentication_error_that_never_shows_the_key(
    fake: FakeSeedanceApi, http: HttpClient
) -> None:
    adapter = SeedanceApiProvider(http=http, api_key="sk-wrong-key-123", base_url=fake.base_url)
    with pytest.raises(AuthenticationError) as info:
        await adapter.submit(v1(duration=4))
    assert info.value.status_code == 401
    assert info.value.provider_code == "INVALID_API_KEY"
    assert "sk-wrong-key-123" not in str(info.value)
    assert fake.submits == 0


@pytest.mark.parametrize("style", ["name", "http"])
async def test_insufficient_credits_402_is_its_own_error_in_either_error_body_style(
    clock: ManualClock, http: HttpClient, style: str
) -> None:
    with serve(clock, credits=10, error_code_style=style) as server:
        adapter = SeedanceApiProvider(http=http, api_key=KEY, base_url=server.base_url)
        with pytest.raises(InsufficientCreditsError) as info:
            await adapter.submit(v1(duration=8, resolution="720p"))  # 28 credits
        assert info.value.provider_code == "INSUFFICIENT_CREDITS"
        assert server.submits == 0


async def test_unknown_task_404_is_task_not_found(fake: FakeSeedanceApi, adapter: SeedanceApiProvider) -> None:
    with pytest.raises(TaskNotFoundError):
        await adapter.get("seed15doesnotexist")


async def test_the_model_picks_the_status_endpoint_so_a_v2_task_read_as_v1_is_not_found(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider
) -> None:
    remote_id = await adapter.submit(v2(duration=5))
    with pytest.raises(TaskNotFoundError):
        await adapter.get(remote_id, model="seedance-1.5")
    assert (await adapter.get(remote_id, model="seedance-2.0")).remote_id == remote_id


async def test_429_with_retry_after_is_retried_and_then_succeeds(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider, sleeps: Sleeps
) -> None:
    fake.inject("submit", status=429, headers={"Retry-After": "2"})
    remote_id = await adapter.submit(v1(duration=4))
    assert remote_id in fake.task_ids
    assert len(calls(fake, "submit", "v1")) == 2
    assert fake.submits == 1
    assert sleeps.delays == [2.0]


async def test_429_that_never_ends_is_a_rate_limit_error(fake: FakeSeedanceApi, adapter: SeedanceApiProvider) -> None:
    fake.inject("get", status=429, times=None)
    with pytest.raises(RateLimitError):
        await adapter.get("seed15x")


async def test_5xx_during_polling_is_retried_then_succeeds(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider, clock: ManualClock
) -> None:
    remote_id = await adapter.submit(v1(duration=4))
    clock.advance(FINISH)
    fake.inject("get", status=503, times=2)
    fake.inject("get", status=502)  # an nginx HTML page, not JSON
    task = await adapter.get(remote_id)
    assert task.status is TaskStatus.SUCCEEDED
    assert len(calls(fake, "get", "v1")) == 4


async def test_5xx_that_never_ends_while_polling_is_provider_unavailable(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider
) -> None:
    fake.inject("get", status=500, times=None)
    with pytest.raises(ProviderUnavailableError):
        await adapter.get("seed15x")


@pytest.mark.parametrize("after_create", [False, True])
async def test_submit_5xx_is_uncertain_and_never_resent(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider, after_create: bool
) -> None:
    fake.inject("submit", status=500, after_create=after_create)
    with pytest.raises(SubmitUncertainError):
        await adapter.submit(v1(duration=4))
    assert len(calls(fake, "submit", "v1")) == 1
    assert fake.submits == (1 if after_create else 0)


async def test_a_dropped_submit_connection_is_uncertain_and_never_resent(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider
) -> None:
    fake.inject("submit", drop=True, after_create=True)
    with pytest.raises(SubmitUncertainError):
        await adapter.submit(v2(duration=5))
    assert len(calls(fake, "submit", "v2")) == 1
    assert fake.submits == 1


# -- errors carried inside an HTTP 200 envelope ----------------------------------------------------


@pytest.mark.parametrize(
    ("envelope", "error"),
    [
        ({"code": 402, "message": "Not enough credits for this operation", "data": None}, InsufficientCreditsError),
        ({"code": "INSUFFICIENT_CREDITS", "message": "Not enough credits", "data": None}, InsufficientCreditsError),
        ({"code": "INVALID_API_KEY", "message": "API key is missing or invalid", "data": None}, AuthenticationError),
        ({"code": 401, "message": "INVALID_API_KEY", "data": None}, AuthenticationError),
        ({"code": "INVALID_PROMPT", "message": "The prompt is invalid or empty", "data": None}, InvalidRequestError),
        ({"code": 400, "message": "TOO_MANY_IMAGES: Maximum 1 image URL", "data": None}, InvalidRequestError),
        ({"code": 500, "message": "INTERNAL_ERROR", "data": None}, ProviderUnavailableError),
        ({"error": "INVALID_DURATION", "message": "Duration must be 4, 8, or 12", "data": None}, InvalidRequestError),
    ],
)
async def test_an_error_envelope_inside_http_200_on_submit_raises_the_same_errors(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider, envelope: dict[str, Any], error: type[Exception]
) -> None:
    fake.inject("submit", status=200, body=envelope)
    with pytest.raises(error):
        await adapter.submit(v1(duration=4))
    assert len(calls(fake, "submit", "v1")) == 1


async def test_task_not_found_inside_http_200_is_task_not_found(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider
) -> None:
    fake.inject("get", status=200, body={"code": "TASK_NOT_FOUND", "message": "Task ID not found", "data": None})
    with pytest.raises(TaskNotFoundError):
        await adapter.get("seed15x")


# -- malformed answers ----------------------------------------------------------------------------


async def test_truncated_json_is_a_malformed_response(fake: FakeSeedanceApi, adapter: SeedanceApiProvider) -> None:
    remote_id = await adapter.submit(v1(duration=4))
    fake.inject("get", malformed=True)
    with pytest.raises(ProviderError) as info:
        await adapter.get(remote_id)
    assert info.value.code == "malformed_response"


@pytest.mark.parametrize(
    "body",
    [
        {"code": 200, "message": "success", "data": None},
        {"code": 200, "message": "success", "data": ["seed15x"]},
        {"code": 200, "message": "success", "data": {"status": "IN_PROGRESS"}},
        ["seed15x"],
    ],
)
async def test_an_accepted_submit_answer_of_the_wrong_shape_is_uncertain_not_a_crash(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider, body: Any
) -> None:
    fake.inject("submit", status=200, body=json.dumps(body))  # a string: the fake sends it verbatim
    # HTTP 200 means the provider took it: a task may exist, so it is reconciled, never resent.
    with pytest.raises(SubmitUncertainError) as info:
        await adapter.submit(v1(duration=4))
    assert info.value.code == "submit_uncertain"


@pytest.mark.parametrize("body", [{"code": 200, "data": None}, {"code": 200, "data": "SUCCESS"}, [1, 2]])
async def test_a_status_answer_of_the_wrong_shape_is_malformed_not_a_crash(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider, body: Any
) -> None:
    fake.inject("get", status=200, body=json.dumps(body))
    with pytest.raises(ProviderError) as info:
        await adapter.get("seed15x")
    assert info.value.code == "malformed_response"


# -- downloads -------------------------------------------------------------------------------------


async def test_download_fetches_the_video_without_sending_credentials_to_the_media_host(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    remote_id = await adapter.submit(v1(duration=4))
    clock.advance(FINISH)
    task = await adapter.get(remote_id)
    assert task.video_url is not None

    dest = tmp_path / "media" / "video.mp4"
    size = await adapter.download(task.video_url, dest, max_bytes=10 * 1024 * 1024)

    assert size == len(sample_mp4())
    assert dest.read_bytes() == sample_mp4()
    assert fake.media.requests, "the media host was not asked"
    assert fake.media.auth_leaks() == []
    assert all("Authorization" not in r.headers for r in fake.media.requests)


async def test_an_expired_result_link_is_a_download_error(
    fake: FakeSeedanceApi, adapter: SeedanceApiProvider, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    remote_id = await adapter.submit(v1(duration=4))
    clock.advance(FINISH)
    task = await adapter.get(remote_id)
    assert task.video_url is not None
    fake.media.expire(task.video_url)

    dest = tmp_path / "video.mp4"
    with pytest.raises(DownloadError) as info:
        await adapter.download(task.video_url, dest, max_bytes=10 * 1024 * 1024)
    assert info.value.code == "link_expired"
    assert not dest.exists()
