"""The AceData Cloud adapter over real HTTP against the fake AceData server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pathlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.errors import (
    AuthenticationError,
    InsufficientCreditsError,
    InvalidRequestError,
    NotSupportedError,
    ProviderError,
    SubmitUncertainError,
    TaskNotFoundError,
)
from core.http import HttpClient
from core.media import DownloadError
from core.models import ImageInput, ImageRole, MediaInput, TaskStatus, VideoRequest
from core.providers.acedata import AceDataProvider
from tests.clock import ManualClock
from tests.clock import RecordingSleep as Sleeps
from tests.fakes.acedata import FakeAceData

KEY = "ace-test-secret-token-0123456789"
V2 = "doubao-seedance-2-0-260128"
PRO_1_0 = "doubao-seedance-1-0-pro-250528"
PRO_1_5 = "doubao-seedance-1-5-pro-251215"
IMG_A = "https://img.example.com/first.png"
IMG_B = "https://img.example.com/last.jpeg"
FINISH = 10.0


@contextlib.contextmanager
def serve(clock: ManualClock, **options: Any) -> Iterator[FakeAceData]:
    with FakeAceData(api_key=KEY, clock=clock, **options) as server:
        server.media.secrets = (KEY,)
        yield server


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[FakeAceData]:
    with serve(clock) as server:
        yield server


@pytest.fixture
def adapter(fake: FakeAceData, http: HttpClient) -> AceDataProvider:
    return AceDataProvider(http=http, api_key=KEY, base_url=fake.base_url)


def submitted_body(server: FakeAceData) -> Any:
    (record,) = server.requests_for("submit")
    return record.json


# -- request shapes ------------------------------------------------------------------------------


async def test_text_to_video_is_async_with_top_level_fields_and_no_inline_flags(
    fake: FakeAceData, adapter: AceDataProvider
) -> None:
    request = VideoRequest(
        prompt="A kitten yawning at the camera.",
        model=V2,
        resolution="720p",
        ratio="16:9",
        duration=5,
        generate_audio=False,
    )
    # The fake holds a sync-mode call until the task ends, which never happens on a stopped clock.
    remote_id = await asyncio.wait_for(adapter.submit(request), timeout=10)

    assert remote_id in fake.task_ids
    assert submitted_body(fake) == {
        "model": V2,
        "content": [{"type": "text", "text": "A kitten yawning at the camera."}],
        "resolution": "720p",
        "ratio": "16:9",
        "duration": 5,
        "generate_audio": False,
        "async": True,
    }
    (record,) = fake.requests_for("submit")
    assert record.path == "/seedance/videos"
    assert record.headers["Authorization"] == f"Bearer {KEY}"


async def test_first_frame_and_last_frame_images_always_carry_roles(
    fake: FakeAceData, adapter: AceDataProvider
) -> None:
    await adapter.submit(VideoRequest(prompt="Portrait", model=PRO_1_0, images=(ImageInput(url=IMG_A),)))
    await adapter.submit(
        VideoRequest(
            prompt="360-degree shot",
            model=PRO_1_0,
            images=(ImageInput(url=IMG_A), ImageInput(url=IMG_B, role=ImageRole.LAST_FRAME)),
        )
    )
    first, both = (r.json for r in fake.requests_for("submit"))
    assert first["content"] == [
        {"type": "text", "text": "Portrait"},
        {"type": "image_url", "image_url": {"url": IMG_A}, "role": "first_frame"},
    ]
    assert both["content"][1:] == [
        {"type": "image_url", "image_url": {"url": IMG_A}, "role": "first_frame"},
        {"type": "image_url", "image_url": {"url": IMG_B}, "role": "last_frame"},
    ]
    assert fake.submits == 2


async def test_reference_video_and_audio_items_carry_their_required_roles(
    fake: FakeAceData, adapter: AceDataProvider
) -> None:
    request = VideoRequest(
        prompt="Dance",
        model=V2,
        images=(ImageInput(url=IMG_A, role=ImageRole.REFERENCE_IMAGE),),
        videos=(MediaInput(url="https://media.example.com/clip.mp4"),),
        audios=(MediaInput(url="https://media.example.com/beat.mp3"),),
    )
    await adapter.submit(request)
    assert submitted_body(fake)["content"] == [
        {"type": "text", "text": "Dance"},
        {"type": "image_url", "image_url": {"url": IMG_A}, "role": "reference_image"},
        {"type": "video_url", "video_url": {"url": "https://media.example.com/clip.mp4"}, "role": "reference_video"},
        {"type": "audio_url", "audio_url": {"url": "https://media.example.com/beat.mp3"}, "role": "reference_audio"},
    ]


async def test_camera_fixed_is_spelled_camerafixed_and_the_rest_is_top_level(
    fake: FakeAceData, adapter: AceDataProvider
) -> None:
    request = VideoRequest(
        prompt="A lighthouse",
        model=PRO_1_0,
        resolution="1080p",
        ratio="4:3",
        duration=6,
        seed=11,
        camera_fixed=True,
        watermark=True,
        return_last_frame=True,
        service_tier="flex",
        execution_expires_after=7200,
    )
    await adapter.submit(request)
    body = submitted_body(fake)
    assert body == {
        "model": PRO_1_0,
        "content": [{"type": "text", "text": "A lighthouse"}],
        "resolution": "1080p",
        "ratio": "4:3",
        "duration": 6,
        "seed": 11,
        "camerafixed": True,
        "watermark": True,
        "return_last_frame": True,
        "service_tier": "flex",
        "execution_expires_after": 7200,
        "async": True,
    }
    assert "camera_fixed" not in body


async def test_audio_generation_and_a_callback_url_are_sent_alongside_async(
    fake: FakeAceData, adapter: AceDataProvider
) -> None:
    hook = fake.root_url + "/hook"
    remote_id = await adapter.submit(VideoRequest(prompt="Wind", model=PRO_1_5, generate_audio=True), callback_url=hook)
    body = submitted_body(fake)
    assert body["generate_audio"] is True and body["callback_url"] == hook and body["async"] is True
    assert remote_id in fake.task_ids  # the callback-mode answer is just {"task_id": …}


def test_class_settings_match_the_design() -> None:
    assert AceDataProvider.name == "acedata"
    assert AceDataProvider.default_base_url == "https://api.acedata.cloud"
    assert not AceDataProvider.supports_cancel and not AceDataProvider.supports_reconcile
    assert AceDataProvider.supports_callback


# -- task states ---------------------------------------------------------------------------------


async def test_a_record_without_response_is_queued_then_running_then_succeeded(
    fake: FakeAceData, adapter: AceDataProvider, clock: ManualClock
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)
    remote_id = await adapter.submit(VideoRequest(prompt="Sunrise", model=V2, return_last_frame=True))

    queued = await adapter.get(remote_id)
    assert queued.status is TaskStatus.QUEUED and queued.video_url is None
    assert queued.remote_id == remote_id and queued.prompt == "Sunrise"
    assert queued.created_at is not None and before <= queued.created_at <= datetime.now(UTC)
    (retrieve,) = fake.requests_for("get")
    assert retrieve.path == "/seedance/tasks" and retrieve.json == {"id": remote_id, "action": "retrieve"}

    clock.advance(0.3)
    assert (await adapter.get(remote_id)).status is TaskStatus.RUNNING

    clock.advance(FINISH)
    done = await adapter.get(remote_id)
    assert done.status is TaskStatus.SUCCEEDED
    assert done.video_url == fake.video_url(remote_id)
    assert done.last_frame_url is not None and done.last_frame_url.endswith(".png")
    assert done.actual_cost is None  # the flat shape carries no number
    assert done.extra["upstream_id"].startswith("cgt-") and done.extra["model"] == V2


async def test_a_processing_record_in_the_flat_shape_is_running(clock: ManualClock, http: HttpClient) -> None:
    with serve(clock, pending_style="processing", data_shape="flat") as server:
        adapter = AceDataProvider(http=http, api_key=KEY, base_url=server.base_url)
        remote_id = await adapter.submit(VideoRequest(prompt="x", model=V2))
        task = await adapter.get(remote_id)
        assert task.status is TaskStatus.RUNNING and task.video_url is None
        assert task.extra["raw_status"] == "processing"
        clock.advance(FINISH)
        assert (await adapter.get(remote_id)).status is TaskStatus.SUCCEEDED


async def test_the_ark_passthrough_shape_gives_states_video_and_token_cost(
    clock: ManualClock, http: HttpClient
) -> None:
    with serve(clock, pending_style="processing", data_shape="ark") as server:
        adapter = AceDataProvider(http=http, api_key=KEY, base_url=server.base_url)
        remote_id = await adapter.submit(
            VideoRequest(prompt="x", model=V2, resolution="720p", ratio="16:9", duration=5)
        )
        assert (await adapter.get(remote_id)).status is TaskStatus.QUEUED
        clock.advance(0.3)
        assert (await adapter.get(remote_id)).status is TaskStatus.RUNNING
        clock.advance(FINISH)
        done = await adapter.get(remote_id)
        assert done.status is TaskStatus.SUCCEEDED
        assert done.video_url == server.video_url(remote_id)
        assert done.actual_cost == 108900.0
        assert done.remote_id == remote_id and done.extra["upstream_id"].startswith("cgt-")


async def test_a_failed_task_carries_the_error_code_and_message(
    fake: FakeAceData, adapter: AceDataProvider, clock: ManualClock
) -> None:
    fake.script("failed", error_code="api_error", error_message="The output video may be related to copyright.")
    remote_id = await adapter.submit(VideoRequest(prompt="x", model=V2))
    clock.advance(FINISH)
    task = await adapter.get(remote_id)
    assert task.status is TaskStatus.FAILED
    assert task.error is not None
    assert (task.error.code, task.error.message) == ("api_error", "The output video may be related to copyright.")


async def test_an_expired_task_is_expired(fake: FakeAceData, adapter: AceDataProvider, clock: ManualClock) -> None:
    fake.script("expired")
    remote_id = await adapter.submit(VideoRequest(prompt="x", model=V2))
    clock.advance(FINISH)
    task = await adapter.get(remote_id)
    assert task.status is TaskStatus.EXPIRED
    assert task.error is not None and task.error.code == "task_expired"


async def test_an_unknown_status_is_running_logged_and_kept_raw(
    fake: FakeAceData, adapter: AceDataProvider, caplog: pytest.LogCaptureFixture
) -> None:
    fake.inject(
        "get",
        status=200,
        body={"id": "u1", "response": {"success": True, "task_id": "u1", "data": {"status": "rendering"}}},
    )
    with caplog.at_level(logging.WARNING, logger="core.providers.ark"):
        task = await adapter.get("u1")
    assert task.status is TaskStatus.RUNNING and task.extra["raw_status"] == "rendering"
    assert any("rendering" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("record", "status"),
    [
        ({"id": "u2", "response": None, "request": None}, TaskStatus.QUEUED),
        ({"id": "u2", "started_at": 1766329437.5}, TaskStatus.RUNNING),
        ({"id": "u2", "response": {"success": True, "task_id": "u2", "trace_id": "t"}}, TaskStatus.RUNNING),
        ({"id": "u2", "response": {"success": True, "data": {"status": None, "video_url": None}}}, TaskStatus.RUNNING),
        (
            {"id": "u2", "response": {"success": True, "data": {"video_url": "https://cdn.example.com/v.mp4"}}},
            TaskStatus.SUCCEEDED,
        ),
        ({"id": "u2", "response": {"success": False, "error": None}}, TaskStatus.FAILED),
    ],
)
async def test_null_and_missing_fields_are_tolerated(
    fake: FakeAceData, adapter: AceDataProvider, record: dict[str, Any], status: TaskStatus
) -> None:
    fake.inject("get", status=200, body=record)
    task = await adapter.get("u2")
    assert task.status is status and task.remote_id == "u2"
    if status is TaskStatus.FAILED:
        assert task.error is not None and task.error.code == "failed"


async def test_truncated_json_is_a_malformed_response_error(fake: FakeAceData, adapter: AceDataProvider) -> None:
    remote_id = await adapter.submit(VideoRequest(prompt="x", model=V2))
    fake.inject("get", malformed=True)
    with pytest.raises(ProviderError) as caught:
        await adapter.get(remote_id)
    assert caught.value.code == "malformed_response"


@pytest.mark.parametrize(
    "body",
    [
        '["not", "a", "record"]',
        '{"unrelated": 1}',
        '{"id": "u3", "response": "done"}',
        '{"id": "u3", "response": {"success": true, "data": [1, 2]}}',
    ],
)
async def test_json_of_the_wrong_shape_is_a_malformed_response_error(
    fake: FakeAceData, adapter: AceDataProvider, body: str
) -> None:
    fake.inject("get", status=200, body=body)
    with pytest.raises(ProviderError) as caught:
        await adapter.get("u3")
    assert caught.value.code == "malformed_response"


# -- errors --------------------------------------------------------------------------------------


async def test_a_400_validation_error_is_an_invalid_request(fake: FakeAceData, adapter: AceDataProvider) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await adapter.submit(VideoRequest(prompt="x", model=V2, duration=99))
    assert str(caught.value) == "acedata: duration is invalid. [bad_request]"
    assert fake.submits == 0


async def test_a_wrong_token_is_an_authentication_error(fake: FakeAceData, http: HttpClient) -> None:
    adapter = AceDataProvider(http=http, api_key="wrong-token-do-not-print", base_url=fake.base_url)
    with pytest.raises(AuthenticationError) as caught:
        await adapter.submit(VideoRequest(prompt="x", model=V2))
    assert caught.value.provider_code == "invalid_token" and "wrong-token" not in str(caught.value)
    assert "wrong-token" not in repr(adapter)


async def test_token_problems_sent_as_400_are_authentication_errors(
    fake: FakeAceData, adapter: AceDataProvider
) -> None:
    fake.inject(
        "submit",
        status=400,
        body={
            "success": False,
            "error": {"code": "no_token", "message": "No token specified for the request."},
            "trace_id": "t",
        },
    )
    with pytest.raises(AuthenticationError):
        await adapter.submit(VideoRequest(prompt="x", model=V2))


async def test_used_up_balance_is_insufficient_credits(fake: FakeAceData, adapter: AceDataProvider) -> None:
    fake.inject("submit", status=403)
    with pytest.raises(InsufficientCreditsError) as caught:
        await adapter.submit(VideoRequest(prompt="x", model=V2))
    assert caught.value.provider_code == "used_up"
    assert fake.submits == 0


async def test_an_error_envelope_with_status_200_is_still_an_error(fake: FakeAceData, adapter: AceDataProvider) -> None:
    fake.inject(
        "submit",
        status=200,
        body={
            "success": False,
            "error": {"code": "used_up", "message": "Your balance is not sufficient."},
            "trace_id": "t",
        },
    )
    with pytest.raises(InsufficientCreditsError):
        await adapter.submit(VideoRequest(prompt="x", model=V2))


@pytest.mark.parametrize("unknown_task", ["404", "empty"])
async def test_an_unknown_task_is_task_not_found(clock: ManualClock, http: HttpClient, unknown_task: str) -> None:
    with serve(clock, unknown_task=unknown_task) as server:
        adapter = AceDataProvider(http=http, api_key=KEY, base_url=server.base_url)
        with pytest.raises(TaskNotFoundError):
            await adapter.get("00000000-0000-4000-8000-000000000000")


async def test_a_429_with_retry_after_is_honoured_then_the_submit_succeeds_once(
    fake: FakeAceData, adapter: AceDataProvider, sleeps: Sleeps
) -> None:
    fake.inject("submit", status=429, headers={"Retry-After": "2"})
    remote_id = await adapter.submit(VideoRequest(prompt="x", model=V2))
    assert remote_id in fake.task_ids
    assert sleeps.delays == [2.0]
    assert len(fake.requests_for("submit")) == 2 and fake.submits == 1


async def test_5xx_while_polling_is_retried_because_a_retrieve_creates_nothing(
    fake: FakeAceData, adapter: AceDataProvider
) -> None:
    remote_id = await adapter.submit(VideoRequest(prompt="x", model=V2))
    fake.inject("get", status=500, times=2)
    assert (await adapter.get(remote_id)).status is TaskStatus.QUEUED
    assert len(fake.requests_for("get")) == 3


@pytest.mark.parametrize("fault", [{"status": 500}, {"status": 502}, {"drop": True}])
async def test_a_submit_whose_answer_is_lost_is_uncertain_and_never_resent(
    fake: FakeAceData, adapter: AceDataProvider, fault: dict[str, Any]
) -> None:
    fake.inject("submit", after_create=True, **fault)
    with pytest.raises(SubmitUncertainError):
        await adapter.submit(VideoRequest(prompt="x", model=V2))
    assert len(fake.requests_for("submit")) == 1 and fake.submits == 1


async def test_an_accepted_submit_with_an_unreadable_answer_is_uncertain(
    fake: FakeAceData, adapter: AceDataProvider
) -> None:
    fake.inject("submit", malformed=True)
    with pytest.raises(SubmitUncertainError):
        await adapter.submit(VideoRequest(prompt="x", model=V2))
    assert fake.submits == 1


async def test_there_is_no_cancel_and_no_reconcile(fake: FakeAceData, adapter: AceDataProvider) -> None:
    with pytest.raises(NotSupportedError):
        await adapter.cancel("u4")
    with pytest.raises(NotSupportedError):
        await adapter.find_submitted(VideoRequest(prompt="x", model=V2), since=datetime.now(UTC))
    assert fake.requests == []


# -- callbacks -----------------------------------------------------------------------------------


async def test_the_callback_envelope_names_the_task_by_the_id_submit_returned(
    fake: FakeAceData, adapter: AceDataProvider, clock: ManualClock
) -> None:
    remote_id = await adapter.submit(VideoRequest(prompt="x", model=V2), callback_url=fake.root_url + "/hook")
    clock.advance(FINISH)
    await asyncio.to_thread(fake.wait_for, lambda f: bool(f.callbacks))
    payload = fake.callbacks[0].payload

    # The service never trusts the body: it re-reads the task the callback names.
    assert payload["task_id"] == remote_id
    fetched = await adapter.get(remote_id)
    assert fetched.status is TaskStatus.SUCCEEDED and fetched.video_url == fake.video_url(remote_id)


# -- download ------------------------------------------------------------------------------------


async def test_the_result_downloads_without_any_credentials_reaching_the_cdn(
    fake: FakeAceData, adapter: AceDataProvider, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    remote_id = await adapter.submit(VideoRequest(prompt="x", model=V2))
    clock.advance(FINISH)
    url = (await adapter.get(remote_id)).video_url
    assert url is not None
    dest = tmp_path / "out.mp4"
    size = await adapter.download(url, dest, max_bytes=50_000_000)
    assert size == dest.stat().st_size > 0 and dest.read_bytes()[4:8] == b"ftyp"
    assert fake.media.requests and fake.media.auth_leaks() == []


async def test_an_expired_result_link_is_a_download_error(
    fake: FakeAceData, adapter: AceDataProvider, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    remote_id = await adapter.submit(VideoRequest(prompt="x", model=V2))
    clock.advance(FINISH)
    url = (await adapter.get(remote_id)).video_url
    assert url is not None
    fake.media.expire(url)
    with pytest.raises(DownloadError) as caught:
        await adapter.download(url, tmp_path / "out.mp4", max_bytes=50_000_000)
    assert caught.value.code == "link_expired"
