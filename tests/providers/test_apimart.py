"""The APIMart adapter over real HTTP against the fake APIMart server."""

from __future__ import annotations

import contextlib
import json
import logging
import pathlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

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
from core.providers.apimart import ApimartProvider
from tests.clock import ManualClock
from tests.clock import RecordingSleep as Sleeps
from tests.fakes.apimart import FakeApimart, is_task_id
from tests.fakes.media import sample_mp4, sample_png

KEY = "sk-apimart-test-secret-7"
MODEL = "doubao-seedance-2.0"
FAST = "doubao-seedance-2.0-fast"
IMG_A = "https://img.example.com/first.png"
IMG_B = "https://img.example.com/last.png"
IMG_C = "https://img.example.com/tea1.jpg"
IMG_D = "https://img.example.com/tea2.jpg"
CLIP = "https://media.example.com/tea_video1.mp4"
SONG = "https://media.example.com/tea_audio1.mp3"
FINISH = 10.0  # virtual seconds that take any default task to its outcome


@contextlib.contextmanager
def serve(clock: ManualClock, **options: Any) -> Iterator[FakeApimart]:
    with FakeApimart(api_key=KEY, clock=clock, **options) as server:
        server.media.secrets = (KEY,)
        yield server


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[FakeApimart]:
    with serve(clock) as server:
        yield server


@pytest.fixture
def adapter(fake: FakeApimart, http: HttpClient) -> ApimartProvider:
    return ApimartProvider(http=http, api_key=KEY, base_url=fake.base_url)


def req(**fields: Any) -> VideoRequest:
    return VideoRequest(**{"prompt": "The kitten stands up and walks toward the camera", "model": MODEL, **fields})


def submitted_body(server: FakeApimart) -> Any:
    (record,) = server.requests_for("submit")
    return record.json


def task_json(**data: Any) -> str:
    """A status answer with HTTP 200 (as a string, which the fake sends verbatim)."""
    return json.dumps({"code": 200, "data": {"id": "task_X", **data}})


# -- the adapter's declared capabilities -------------------------------------------------------------


def test_class_vars(adapter: ApimartProvider) -> None:
    assert ApimartProvider.name == "apimart"
    assert ApimartProvider.default_base_url == "https://api.apimart.ai"
    assert ApimartProvider.supports_cancel is False
    assert ApimartProvider.supports_reconcile is False
    assert ApimartProvider.supports_callback is False
    assert KEY not in repr(adapter)


async def test_cancel_is_not_offered(adapter: ApimartProvider) -> None:
    with pytest.raises(NotSupportedError):
        await adapter.cancel("task_X")


# -- request shapes ------------------------------------------------------------------------------


async def test_text_to_video_sends_flat_fields_with_size_as_the_aspect_ratio(
    fake: FakeApimart, adapter: ApimartProvider
) -> None:
    request = VideoRequest(
        prompt='A man stops a woman and says: "Remember, never point at the moon."',
        model=MODEL,
        resolution="720p",
        ratio="16:9",
        duration=5,
        generate_audio=True,
    )
    remote_id = await adapter.submit(request)

    (record,) = fake.requests_for("submit")
    assert record.path == "/v1/videos/generations"
    assert record.headers["Authorization"] == f"Bearer {KEY}"
    assert record.json == {
        "model": MODEL,
        "prompt": 'A man stops a woman and says: "Remember, never point at the moon."',
        "duration": 5,
        "size": "16:9",
        "resolution": "720p",
        "generate_audio": True,
    }
    assert remote_id == fake.task_ids[0]
    assert is_task_id(remote_id)


async def test_seed_camera_fixed_watermark_and_last_frame_use_apimart_spellings(
    fake: FakeApimart, adapter: ApimartProvider
) -> None:
    await adapter.submit(
        req(model=FAST, duration=8, seed=42, camera_fixed=True, watermark=False, return_last_frame=True)
    )
    assert submitted_body(fake) == {
        "model": FAST,
        "prompt": "The kitten stands up and walks toward the camera",
        "duration": 8,
        "seed": 42,
        "camerafixed": True,
        "watermark": False,
        "return_last_frame": True,
    }


async def test_fields_left_unset_are_omitted_not_sent_as_null(fake: FakeApimart, adapter: ApimartProvider) -> None:
    await adapter.submit(req())
    assert submitted_body(fake) == {"model": MODEL, "prompt": "The kitten stands up and walks toward the camera"}


async def test_fields_apimart_lacks_are_not_sent(fake: FakeApimart, adapter: ApimartProvider) -> None:
    await adapter.submit(req(service_tier="flex", draft=True, execution_expires_after=7200))
    assert set(submitted_body(fake)) == {"model", "prompt"}


async def test_a_lone_first_frame_goes_in_image_urls(fake: FakeApimart, adapter: ApimartProvider) -> None:
    await adapter.submit(req(duration=5, images=(ImageInput(url=IMG_A),)))
    body = submitted_body(fake)
    assert body["image_urls"] == [IMG_A]
    assert "image_with_roles" not in body


async def test_first_and_last_frame_use_image_with_roles(fake: FakeApimart, adapter: ApimartProvider) -> None:
    await adapter.submit(req(images=(ImageInput(url=IMG_A), ImageInput(url=IMG_B, role=ImageRole.LAST_FRAME))))
    body = submitted_body(fake)
    assert body["image_with_roles"] == [
        {"url": IMG_A, "role": "first_frame"},
        {"url": IMG_B, "role": "last_frame"},
    ]
    assert "image_urls" not in body
    assert fake.submits == 1


async def test_multimodal_references_use_image_video_and_audio_url_lists(
    fake: FakeApimart, adapter: ApimartProvider
) -> None:
    # Seed 002, case 9: two reference images, one video, one audio.
    request = req(
        ratio="16:9",
        duration=11,
        generate_audio=True,
        images=(
            ImageInput(url=IMG_C, role=ImageRole.REFERENCE_IMAGE),
            ImageInput(url=IMG_D, role=ImageRole.REFERENCE_IMAGE),
        ),
        videos=(MediaInput(url=CLIP),),
        audios=(MediaInput(url=SONG),),
    )
    await adapter.submit(request)
    body = submitted_body(fake)
    assert body["image_urls"] == [IMG_C, IMG_D]
    assert body["video_urls"] == [CLIP]
    assert body["audio_urls"] == [SONG]
    assert fake.submits == 1


async def test_a_single_reference_image_keeps_its_role(fake: FakeApimart, adapter: ApimartProvider) -> None:
    await adapter.submit(req(images=(ImageInput(url=IMG_C, role=ImageRole.REFERENCE_IMAGE),)))
    assert submitted_body(fake)["image_with_roles"] == [{"url": IMG_C, "role": "reference_image"}]


async def test_video_reference_without_a_prompt_sends_no_prompt(fake: FakeApimart, adapter: ApimartProvider) -> None:
    await adapter.submit(VideoRequest(prompt="", model=MODEL, videos=(MediaInput(url=CLIP),)))
    assert submitted_body(fake) == {"model": MODEL, "video_urls": [CLIP]}
    assert fake.submits == 1


# -- status parsing ------------------------------------------------------------------------------


async def test_pending_processing_completed_with_progress_and_the_list_shaped_video_url(
    fake: FakeApimart, adapter: ApimartProvider, clock: ManualClock
) -> None:
    remote_id = await adapter.submit(req(duration=5))

    pending = await adapter.get(remote_id)
    assert pending.status is TaskStatus.QUEUED
    assert pending.progress == 0.0
    assert pending.video_url is None

    clock.advance(fake.queued_for + fake.running_for / 2)
    running = await adapter.get(remote_id)
    assert running.status is TaskStatus.RUNNING
    assert running.progress is not None and 0.0 < running.progress < 1.0

    clock.advance(FINISH)
    done = await adapter.get(remote_id)
    assert done.status is TaskStatus.SUCCEEDED
    assert done.progress == 1.0
    assert done.video_url == fake.video_url(remote_id)  # the fake sends it as ["https://…"]
    assert done.last_frame_url is None
    assert done.actual_cost is None
    assert done.error is None
    assert isinstance(done.created_at, datetime)
    assert abs((datetime.now(UTC) - done.created_at).total_seconds()) < 120
    (first_get, *_) = fake.requests_for("get")
    assert first_get.path == f"/v1/tasks/{remote_id}"


async def test_the_last_frame_is_read_when_asked_for(
    fake: FakeApimart, adapter: ApimartProvider, clock: ManualClock
) -> None:
    remote_id = await adapter.submit(req(return_last_frame=True))
    clock.advance(FINISH)
    done = await adapter.get(remote_id)
    assert done.last_frame_url is not None
    assert done.last_frame_url != done.video_url
    assert done.last_frame_url.split("?")[0].endswith(".png")


@pytest.mark.parametrize(
    "result",
    [
        {"videos": [{"url": "https://cdn.example/v.mp4"}]},
        {"videos": [{"url": ["https://cdn.example/v.mp4", "https://cdn.example/v2.mp4"]}]},
        {"videos": [{"url": []}, {"url": "https://cdn.example/v.mp4"}]},
    ],
)
async def test_the_video_url_may_be_a_string_or_a_list(
    fake: FakeApimart, adapter: ApimartProvider, result: dict[str, Any]
) -> None:
    fake.inject("get", status=200, body=task_json(status="completed", progress=100, result=result))
    assert (await adapter.get("task_X")).video_url == "https://cdn.example/v.mp4"


@pytest.mark.parametrize(
    "result",
    [
        {"last_frame_url": "https://cdn.example/f.png"},
        {"images": [{"url": ["https://cdn.example/f.png"]}]},
        {"videos": [{"url": "https://cdn.example/v.mp4", "last_frame_url": "https://cdn.example/f.png"}]},
    ],
)
async def test_the_last_frame_is_found_in_each_guessed_place(
    fake: FakeApimart, adapter: ApimartProvider, result: dict[str, Any]
) -> None:
    fake.inject("get", status=200, body=task_json(status="completed", result=result))
    assert (await adapter.get("task_X")).last_frame_url == "https://cdn.example/f.png"


async def test_failed_task_carries_the_providers_error_code_and_message(
    fake: FakeApimart, adapter: ApimartProvider, clock: ManualClock
) -> None:
    fake.script("failed", error_code="content_policy_violation", error_message="The output may violate the policy")
    remote_id = await adapter.submit(req())
    clock.advance(FINISH)

    task = await adapter.get(remote_id)
    assert task.status is TaskStatus.FAILED
    assert task.error is not None
    assert task.error.code == "content_policy_violation"
    assert task.error.message == "The output may violate the policy"
    assert task.video_url is None


async def test_a_cancelled_task_is_cancelled(fake: FakeApimart, adapter: ApimartProvider, clock: ManualClock) -> None:
    fake.script("cancelled")
    remote_id = await adapter.submit(req())
    clock.advance(FINISH)
    assert (await adapter.get(remote_id)).status is TaskStatus.CANCELLED


async def test_an_expired_task_reads_as_failed_with_a_reason(
    fake: FakeApimart, adapter: ApimartProvider, clock: ManualClock
) -> None:
    # APIMart has no expired state of its own; the fake reports a deadline as "failed".
    fake.script("expired", error_message="Task timed out")
    remote_id = await adapter.submit(req())
    clock.advance(FINISH)
    task = await adapter.get(remote_id)
    assert task.status is TaskStatus.FAILED
    assert task.error is not None and task.error.message == "Task timed out"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("submitted", TaskStatus.QUEUED),
        ("pending", TaskStatus.QUEUED),
        ("processing", TaskStatus.RUNNING),
        ("completed", TaskStatus.SUCCEEDED),
        ("failed", TaskStatus.FAILED),
        ("cancelled", TaskStatus.CANCELLED),
        ("Completed", TaskStatus.SUCCEEDED),
    ],
)
async def test_every_status_word_maps_to_our_status(
    fake: FakeApimart, adapter: ApimartProvider, raw: str, expected: TaskStatus
) -> None:
    fake.inject("get", status=200, body=task_json(status=raw))
    task = await adapter.get("task_X")
    assert task.status is expected
    assert "raw_status" not in task.extra


async def test_an_unknown_status_keeps_the_task_running_and_is_logged(
    fake: FakeApimart, adapter: ApimartProvider, caplog: pytest.LogCaptureFixture
) -> None:
    fake.inject("get", status=200, body=task_json(status="reviewing", progress=12))
    with caplog.at_level(logging.WARNING, logger="core.providers.apimart"):
        task = await adapter.get("task_X")
    assert task.status is TaskStatus.RUNNING
    assert task.extra["raw_status"] == "reviewing"
    assert task.progress == pytest.approx(0.12)
    assert "reviewing" in caplog.text
    assert KEY not in caplog.text


async def test_null_and_missing_fields_are_tolerated(fake: FakeApimart, adapter: ApimartProvider) -> None:
    fake.inject(
        "get", status=200, body=task_json(status="failed", progress=None, result=None, error=None, created=None)
    )
    task = await adapter.get("task_X")
    assert task.status is TaskStatus.FAILED
    assert task.error is not None
    assert task.error.code == "generation_failed"
    assert (task.progress, task.video_url, task.created_at) == (None, None, None)


# -- documented errors ---------------------------------------------------------------------------


async def test_validation_error_400_is_an_invalid_request_with_the_providers_text(
    fake: FakeApimart, adapter: ApimartProvider
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await adapter.submit(req(ratio="9:21"))
    assert "invalid size" in str(info.value)
    assert fake.submits == 0


async def test_wrong_key_401_is_an_authentication_error_that_never_shows_the_key(
    fake: FakeApimart, http: HttpClient
) -> None:
    adapter = ApimartProvider(http=http, api_key="sk-wrong-apimart", base_url=fake.base_url)
    with pytest.raises(AuthenticationError) as info:
        await adapter.submit(req())
    assert info.value.status_code == 401
    assert "sk-wrong-apimart" not in str(info.value)
    assert fake.submits == 0


async def test_403_is_an_authentication_error(fake: FakeApimart, adapter: ApimartProvider) -> None:
    fake.inject("submit", status=403, body={"error": {"code": 403, "message": "model not enabled", "type": "x"}})
    with pytest.raises(AuthenticationError):
        await adapter.submit(req())


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (402, {"error": {"code": 402, "message": "Insufficient balance", "type": "billing_error"}}),
        (403, {"error": {"code": "insufficient_quota", "message": "Your quota is used up", "type": "x"}}),
        (200, {"code": 402, "message": "Insufficient balance"}),
        (200, {"error": {"code": "insufficient_balance", "message": "Top up your account"}}),
    ],
)
async def test_no_balance_is_insufficient_credits(
    fake: FakeApimart, adapter: ApimartProvider, status: int, body: dict[str, Any]
) -> None:
    fake.inject("submit", status=status, body=body)
    with pytest.raises(InsufficientCreditsError):
        await adapter.submit(req())
    assert fake.submits == 0


async def test_unknown_task_404_is_task_not_found(fake: FakeApimart, adapter: ApimartProvider) -> None:
    with pytest.raises(TaskNotFoundError):
        await adapter.get("task_01KMCGF6BQGN3X28H3KSR50X5T")


async def test_429_with_retry_after_is_retried_and_then_succeeds(
    fake: FakeApimart, adapter: ApimartProvider, sleeps: Sleeps
) -> None:
    fake.inject("submit", status=429, headers={"Retry-After": "3"})
    remote_id = await adapter.submit(req())
    assert remote_id in fake.task_ids
    assert len(fake.requests_for("submit")) == 2
    assert fake.submits == 1
    assert sleeps.delays == [3.0]


async def test_429_that_never_ends_is_a_rate_limit_error(fake: FakeApimart, adapter: ApimartProvider) -> None:
    fake.inject("get", status=429, times=None)
    with pytest.raises(RateLimitError):
        await adapter.get("task_X")


async def test_5xx_during_polling_is_retried_then_succeeds(
    fake: FakeApimart, adapter: ApimartProvider, clock: ManualClock
) -> None:
    remote_id = await adapter.submit(req())
    clock.advance(FINISH)
    fake.inject("get", status=503)
    fake.inject("get", status=504)  # an nginx HTML page
    task = await adapter.get(remote_id)
    assert task.status is TaskStatus.SUCCEEDED
    assert len(fake.requests_for("get")) == 3


async def test_5xx_that_never_ends_while_polling_is_provider_unavailable(
    fake: FakeApimart, adapter: ApimartProvider
) -> None:
    fake.inject("get", status=502, times=None)
    with pytest.raises(ProviderUnavailableError):
        await adapter.get("task_X")


@pytest.mark.parametrize("after_create", [False, True])
async def test_submit_5xx_is_uncertain_and_never_resent(
    fake: FakeApimart, adapter: ApimartProvider, after_create: bool
) -> None:
    fake.inject("submit", status=503, after_create=after_create)
    with pytest.raises(SubmitUncertainError):
        await adapter.submit(req())
    assert len(fake.requests_for("submit")) == 1
    assert fake.submits == (1 if after_create else 0)


async def test_a_dropped_submit_connection_is_uncertain_and_never_resent(
    fake: FakeApimart, adapter: ApimartProvider
) -> None:
    fake.inject("submit", drop=True, after_create=True)
    with pytest.raises(SubmitUncertainError):
        await adapter.submit(req())
    assert len(fake.requests_for("submit")) == 1
    assert fake.submits == 1


async def test_an_error_inside_http_200_is_raised_not_parsed_as_a_task(
    fake: FakeApimart, adapter: ApimartProvider
) -> None:
    fake.inject("get", status=200, body={"code": 404, "message": "task not found", "data": None})
    with pytest.raises(TaskNotFoundError):
        await adapter.get("task_X")
    fake.inject("submit", status=200, body={"code": 500, "message": "upstream error"})
    with pytest.raises(ProviderUnavailableError):
        await adapter.submit(req())


# -- malformed answers ----------------------------------------------------------------------------


async def test_truncated_json_is_a_malformed_response(fake: FakeApimart, adapter: ApimartProvider) -> None:
    remote_id = await adapter.submit(req())
    fake.inject("get", malformed=True)
    with pytest.raises(ProviderError) as info:
        await adapter.get(remote_id)
    assert info.value.code == "malformed_response"


@pytest.mark.parametrize(
    "body",
    [
        {"code": 200, "data": []},
        {"code": 200, "data": [{"status": "submitted"}]},
        {"code": 200, "data": None},
        {"code": 200, "data": ["task_X"]},
        ["task_X"],
    ],
)
async def test_an_accepted_submit_answer_of_the_wrong_shape_is_uncertain_not_a_crash(
    fake: FakeApimart, adapter: ApimartProvider, body: Any
) -> None:
    fake.inject("submit", status=200, body=json.dumps(body))
    # HTTP 200 means the provider took it: a task may exist, so it is reconciled, never resent.
    with pytest.raises(SubmitUncertainError) as info:
        await adapter.submit(req())
    assert info.value.code == "submit_uncertain"


async def test_a_submit_answer_with_data_as_an_object_is_accepted(fake: FakeApimart, adapter: ApimartProvider) -> None:
    fake.inject("submit", status=200, body={"code": 200, "data": {"task_id": "task_OBJ"}})
    assert await adapter.submit(req()) == "task_OBJ"


@pytest.mark.parametrize("body", [{"code": 200, "data": None}, {"code": 200, "data": [1]}, "[1, 2]"])
async def test_a_status_answer_of_the_wrong_shape_is_malformed_not_a_crash(
    fake: FakeApimart, adapter: ApimartProvider, body: Any
) -> None:
    fake.inject("get", status=200, body=body if isinstance(body, str) else json.dumps(body))
    with pytest.raises(ProviderError) as info:
        await adapter.get("task_X")
    assert info.value.code == "malformed_response"


# -- downloads -------------------------------------------------------------------------------------


async def test_download_fetches_video_and_last_frame_without_credentials(
    fake: FakeApimart, adapter: ApimartProvider, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    remote_id = await adapter.submit(req(return_last_frame=True))
    clock.advance(FINISH)
    task = await adapter.get(remote_id)
    assert task.video_url is not None and task.last_frame_url is not None

    video_size = await adapter.download(task.video_url, tmp_path / "v.mp4", max_bytes=10 * 1024 * 1024)
    frame_size = await adapter.download(task.last_frame_url, tmp_path / "f.png", max_bytes=10 * 1024 * 1024)

    assert (tmp_path / "v.mp4").read_bytes() == sample_mp4()
    assert video_size == len(sample_mp4())
    assert (tmp_path / "f.png").read_bytes() == sample_png()
    assert frame_size == len(sample_png())
    assert len(fake.media.requests) == 2
    assert fake.media.auth_leaks() == []


async def test_an_expired_result_link_is_a_download_error(
    fake: FakeApimart, adapter: ApimartProvider, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    remote_id = await adapter.submit(req())
    clock.advance(FINISH)
    task = await adapter.get(remote_id)
    assert task.video_url is not None
    clock.advance(86400 + 60)  # past the signed link's 24 h

    with pytest.raises(DownloadError) as info:
        await adapter.download(task.video_url, tmp_path / "v.mp4", max_bytes=10 * 1024 * 1024)
    assert info.value.code == "link_expired"
    assert not (tmp_path / "v.mp4").exists()


async def test_a_result_over_the_size_cap_is_refused(
    fake: FakeApimart, adapter: ApimartProvider, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    remote_id = await adapter.submit(req())
    clock.advance(FINISH)
    task = await adapter.get(remote_id)
    assert task.video_url is not None
    with pytest.raises(DownloadError) as info:
        await adapter.download(task.video_url, tmp_path / "v.mp4", max_bytes=1000)
    assert info.value.code == "too_large"
    assert not (tmp_path / "v.mp4").exists()
