"""The Ark v3 adapters (BytePlus, Volcengine, APIYI) over real HTTP against the fake Ark server."""

from __future__ import annotations

import asyncio
import logging
import pathlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

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
from core.providers.ark import ApiyiProvider, ArkProvider, BytePlusProvider, VolcengineProvider
from tests.clock import ManualClock
from tests.clock import RecordingSleep as Sleeps
from tests.fakes.ark import FakeArk

KEY = "sk-ark-test-secret-0123456789"
ADAPTERS: dict[str, type[ArkProvider]] = {
    "byteplus": BytePlusProvider,
    "volcengine": VolcengineProvider,
    "apiyi": ApiyiProvider,
}
V2 = {
    "byteplus": "dreamina-seedance-2-0-260128",
    "volcengine": "doubao-seedance-2-0-260128",
    "apiyi": "doubao-seedance-2-0-260128",
}
FAST = {"byteplus": "dreamina-seedance-2-0-fast-260128", "volcengine": "doubao-seedance-2-0-fast-260128"}
PRO_1_0 = {"byteplus": "seedance-1-0-pro-250528", "volcengine": "doubao-seedance-1-0-pro-250528"}
PRO_1_5 = {"byteplus": "seedance-1-5-pro-251215", "volcengine": "doubao-seedance-1-5-pro-251215"}
IMG_A = "https://img.example.com/first.png"
IMG_B = "https://img.example.com/last.jpeg"
FINISH = 10.0  # virtual seconds that take any default task to its outcome


def _serve(flavour: str, clock: ManualClock) -> Iterator[FakeArk]:
    with FakeArk(flavour, api_key=KEY, clock=clock) as server:  # type: ignore[arg-type]
        server.media.secrets = (KEY,)
        yield server


@pytest.fixture(params=["byteplus", "volcengine", "apiyi"])
def fake(request: pytest.FixtureRequest, clock: ManualClock) -> Iterator[FakeArk]:
    """Every flavour."""
    yield from _serve(request.param, clock)


@pytest.fixture(params=["byteplus", "volcengine"])
def official(request: pytest.FixtureRequest, clock: ManualClock) -> Iterator[FakeArk]:
    """The two official hosts, which have list and cancel."""
    yield from _serve(request.param, clock)


@pytest.fixture
def apiyi(clock: ManualClock) -> Iterator[FakeArk]:
    yield from _serve("apiyi", clock)


def adapter_for(server: FakeArk, http: HttpClient, key: str = KEY) -> ArkProvider:
    return ADAPTERS[server.flavour](http=http, api_key=key, base_url=server.base_url)


def submitted_body(server: FakeArk) -> object:
    (record,) = server.requests_for("submit")
    return record.json


# -- request shapes ------------------------------------------------------------------------------


async def test_text_to_video_sends_only_the_set_fields_top_level_with_bearer_auth(
    fake: FakeArk, http: HttpClient
) -> None:
    adapter = adapter_for(fake, http)
    request = VideoRequest(
        prompt="A kitten yawns at the camera",
        model=V2[fake.flavour],
        resolution="720p",
        ratio="16:9",
        duration=5,
        generate_audio=False,
    )
    remote_id = await adapter.submit(request)

    assert remote_id in fake.task_ids and remote_id.startswith("cgt-")
    assert submitted_body(fake) == {
        "model": V2[fake.flavour],
        "content": [{"type": "text", "text": "A kitten yawns at the camera"}],
        "resolution": "720p",
        "ratio": "16:9",
        "duration": 5,
        "generate_audio": False,
    }
    (record,) = fake.requests_for("submit")
    assert record.path.endswith("/contents/generations/tasks")
    assert record.headers["Authorization"] == f"Bearer {KEY}"
    assert record.headers["Content-Type"] == "application/json"


async def test_a_request_with_only_prompt_and_model_sends_no_nulls(fake: FakeArk, http: HttpClient) -> None:
    await adapter_for(fake, http).submit(VideoRequest(prompt="Waves", model=V2[fake.flavour]))
    assert submitted_body(fake) == {"model": V2[fake.flavour], "content": [{"type": "text", "text": "Waves"}]}


async def test_first_frame_image_is_an_object_with_its_role(fake: FakeArk, http: HttpClient) -> None:
    request = VideoRequest(prompt="She smiles", model=V2[fake.flavour], images=(ImageInput(url=IMG_A),))
    await adapter_for(fake, http).submit(request)
    assert submitted_body(fake) == {
        "model": V2[fake.flavour],
        "content": [
            {"type": "text", "text": "She smiles"},
            {"type": "image_url", "image_url": {"url": IMG_A}, "role": "first_frame"},
        ],
    }


async def test_first_and_last_frame_keep_their_roles_and_order(fake: FakeArk, http: HttpClient) -> None:
    request = VideoRequest(
        prompt="360-degree shot",
        model=V2[fake.flavour],
        images=(ImageInput(url=IMG_A), ImageInput(url=IMG_B, role=ImageRole.LAST_FRAME)),
    )
    await adapter_for(fake, http).submit(request)
    body = submitted_body(fake)
    assert isinstance(body, dict)
    assert body["content"][1:] == [
        {"type": "image_url", "image_url": {"url": IMG_A}, "role": "first_frame"},
        {"type": "image_url", "image_url": {"url": IMG_B}, "role": "last_frame"},
    ]


async def test_reference_images_videos_and_audio_each_carry_their_reference_role(
    fake: FakeArk, http: HttpClient
) -> None:
    data_url = "data:image/png;base64,iVBORw0KGgo="
    request = VideoRequest(
        prompt="The cat from image 1 dances to the audio",
        model=V2[fake.flavour],
        generate_audio=True,
        images=(
            ImageInput(url=IMG_A, role=ImageRole.REFERENCE_IMAGE),
            ImageInput(url=data_url, role=ImageRole.REFERENCE_IMAGE),
        ),
        videos=(MediaInput(url="https://media.example.com/clip.mp4"),),
        audios=(MediaInput(url="https://media.example.com/beat.mp3"),),
    )
    await adapter_for(fake, http).submit(request)
    body = submitted_body(fake)
    assert isinstance(body, dict)
    assert body["generate_audio"] is True
    assert body["content"] == [
        {"type": "text", "text": "The cat from image 1 dances to the audio"},
        {"type": "image_url", "image_url": {"url": IMG_A}, "role": "reference_image"},
        {"type": "image_url", "image_url": {"url": data_url}, "role": "reference_image"},
        {"type": "video_url", "video_url": {"url": "https://media.example.com/clip.mp4"}, "role": "reference_video"},
        {"type": "audio_url", "audio_url": {"url": "https://media.example.com/beat.mp3"}, "role": "reference_audio"},
    ]


async def test_seed_camera_fixed_watermark_last_frame_flex_expiry_and_callback_are_top_level(
    official: FakeArk, http: HttpClient, clock: ManualClock
) -> None:
    adapter = adapter_for(official, http)
    request = VideoRequest(
        prompt="A lighthouse at dusk",
        model=PRO_1_0[official.flavour],
        resolution="1080p",
        ratio="16:9",
        duration=5,
        seed=42,
        camera_fixed=True,
        watermark=True,
        return_last_frame=True,
        service_tier="flex",
        execution_expires_after=3600,
    )
    hook = official.root_url + "/hook"
    remote_id = await adapter.submit(request, callback_url=hook)

    assert submitted_body(official) == {
        "model": PRO_1_0[official.flavour],
        "content": [{"type": "text", "text": "A lighthouse at dusk"}],
        "resolution": "1080p",
        "ratio": "16:9",
        "duration": 5,
        "seed": 42,
        "camera_fixed": True,
        "watermark": True,
        "return_last_frame": True,
        "service_tier": "flex",
        "execution_expires_after": 3600,
        "callback_url": hook,
    }
    clock.advance(FINISH)
    task = await adapter.get(remote_id)
    assert task.status is TaskStatus.SUCCEEDED
    assert task.last_frame_url is not None and task.video_url is not None
    assert task.extra["seed"] == 42 and task.extra["service_tier"] == "flex"


async def test_draft_is_sent_and_return_last_frame_false_is_left_out(official: FakeArk, http: HttpClient) -> None:
    request = VideoRequest(prompt="Draft", model=PRO_1_5[official.flavour], resolution="480p", draft=True)
    await adapter_for(official, http).submit(request)
    assert submitted_body(official) == {
        "model": PRO_1_5[official.flavour],
        "content": [{"type": "text", "text": "Draft"}],
        "resolution": "480p",
        "draft": True,
    }


async def test_apiyi_asks_for_identity_encoding_and_sends_no_callback_url(apiyi: FakeArk, http: HttpClient) -> None:
    adapter = adapter_for(apiyi, http)
    remote_id = await adapter.submit(
        VideoRequest(prompt="Drone shot", model=V2["apiyi"]), callback_url="https://hooks.example.com/x"
    )
    await adapter.get(remote_id)

    body = submitted_body(apiyi)
    assert isinstance(body, dict) and "callback_url" not in body
    assert [r.headers["Accept-Encoding"] for r in apiyi.requests] == ["identity", "identity"]
    assert apiyi.requests[0].path == "/seedance/api/v3/contents/generations/tasks"


async def test_official_hosts_do_not_force_identity_encoding(official: FakeArk, http: HttpClient) -> None:
    await adapter_for(official, http).submit(VideoRequest(prompt="x", model=V2[official.flavour]))
    assert official.requests[0].headers["Accept-Encoding"] != "identity"


async def test_a_body_mislabelled_as_gzip_is_still_read(apiyi: FakeArk, http: HttpClient) -> None:
    adapter = adapter_for(apiyi, http)
    remote_id = await adapter.submit(VideoRequest(prompt="x", model=V2["apiyi"]))
    apiyi.inject("get", wrong_encoding=True)
    assert (await adapter.get(remote_id)).status is TaskStatus.QUEUED


def test_class_settings_match_the_design() -> None:
    assert (BytePlusProvider.name, VolcengineProvider.name, ApiyiProvider.name) == ("byteplus", "volcengine", "apiyi")
    assert BytePlusProvider.default_base_url == "https://ark.ap-southeast.bytepluses.com/api/v3"
    assert VolcengineProvider.default_base_url == "https://ark.cn-beijing.volces.com/api/v3"
    assert ApiyiProvider.default_base_url == "https://api.apiyi.com/seedance/api/v3"
    for cls in (BytePlusProvider, VolcengineProvider):
        assert cls.supports_cancel and cls.supports_reconcile and cls.supports_callback
        assert cls.max_batch == 100  # a ~4 KB request line of filter.task_ids (the list pages up to 500)
    assert not ApiyiProvider.supports_cancel and not ApiyiProvider.supports_reconcile
    assert ApiyiProvider.max_batch == 1  # no list endpoint


async def test_repr_and_errors_never_show_the_key(fake: FakeArk, http: HttpClient) -> None:
    adapter = adapter_for(fake, http, key="sk-wrong-key-do-not-print")
    assert "sk-wrong" not in repr(adapter)
    with pytest.raises(AuthenticationError) as caught:
        await adapter.submit(VideoRequest(prompt="x", model=V2[fake.flavour]))
    assert "sk-wrong" not in str(caught.value)


# -- task states ---------------------------------------------------------------------------------


async def test_a_task_goes_queued_running_succeeded_with_video_cost_and_creation_time(
    fake: FakeArk, http: HttpClient, clock: ManualClock
) -> None:
    adapter = adapter_for(fake, http)
    before = datetime.now(UTC) - timedelta(seconds=2)
    request = VideoRequest(prompt="Sunrise", model=V2[fake.flavour], resolution="720p", ratio="16:9", duration=5)
    remote_id = await adapter.submit(request)

    queued = await adapter.get(remote_id)
    assert queued.status is TaskStatus.QUEUED and queued.video_url is None and queued.actual_cost is None
    assert queued.remote_id == remote_id and queued.error is None
    assert queued.created_at is not None and before <= queued.created_at <= datetime.now(UTC)

    clock.advance(0.3)
    running = await adapter.get(remote_id)
    assert running.status is TaskStatus.RUNNING and running.video_url is None

    clock.advance(FINISH)
    done = await adapter.get(remote_id)
    assert done.status is TaskStatus.SUCCEEDED
    assert done.video_url == fake.video_url(remote_id)
    assert done.last_frame_url is None
    assert done.actual_cost == 108900.0  # 1280×720 × 121 frames / 1024, as the documented sample
    assert done.error is None
    assert done.extra["raw_status"] == "succeeded" and done.extra["model"] == V2[fake.flavour]


async def test_a_failed_task_carries_the_providers_code_and_message(
    fake: FakeArk, http: HttpClient, clock: ManualClock
) -> None:
    adapter = adapter_for(fake, http)
    fake.script(
        "failed",
        error_code="OutputVideoSensitiveContentDetected.PolicyViolation",
        error_message="The request failed because the output video may be related to copyright.",
    )
    remote_id = await adapter.submit(VideoRequest(prompt="Famous mouse", model=V2[fake.flavour]))
    clock.advance(FINISH)
    task = await adapter.get(remote_id)
    assert task.status is TaskStatus.FAILED
    assert task.error is not None
    assert task.error.code == "OutputVideoSensitiveContentDetected.PolicyViolation"
    assert task.error.message == "The request failed because the output video may be related to copyright."
    assert task.video_url is None


async def test_an_expired_task_is_expired_with_an_error(fake: FakeArk, http: HttpClient, clock: ManualClock) -> None:
    adapter = adapter_for(fake, http)
    fake.script("expired")
    remote_id = await adapter.submit(VideoRequest(prompt="Slow", model=V2[fake.flavour]))
    clock.advance(FINISH)
    task = await adapter.get(remote_id)
    assert task.status is TaskStatus.EXPIRED
    assert task.error is not None and task.error.code == "TaskExpired"


async def test_a_cancelled_status_is_parsed(apiyi: FakeArk, http: HttpClient) -> None:
    apiyi.inject("get", status=200, body={"id": "cgt-1", "status": "cancelled", "created_at": 1779348818})
    task = await adapter_for(apiyi, http).get("cgt-1")
    assert task.status is TaskStatus.CANCELLED
    assert task.created_at == datetime.fromtimestamp(1779348818, UTC)


async def test_an_unknown_status_is_running_logged_and_kept_raw(
    fake: FakeArk, http: HttpClient, caplog: pytest.LogCaptureFixture
) -> None:
    fake.inject("get", status=200, body={"id": "cgt-2", "status": "Paused"})
    with caplog.at_level(logging.WARNING, logger="core.providers.ark"):
        task = await adapter_for(fake, http).get("cgt-2")
    assert task.status is TaskStatus.RUNNING
    assert task.extra["raw_status"] == "Paused"
    assert any("Paused" in r.getMessage() for r in caplog.records)


async def test_null_and_missing_fields_are_tolerated(fake: FakeArk, http: HttpClient) -> None:
    adapter = adapter_for(fake, http)
    fake.inject(
        "get",
        status=200,
        body={
            "id": None,
            "status": "succeeded",
            "content": None,
            "usage": None,
            "error": None,
            "created_at": None,
        },
    )
    task = await adapter.get("cgt-3")
    assert task.remote_id == "cgt-3" and task.status is TaskStatus.SUCCEEDED
    assert (task.video_url, task.actual_cost, task.error, task.created_at) == (None, None, None, None)

    fake.inject("get", status=200, body={"id": "cgt-3", "status": "failed", "content": {}, "usage": {}})
    failed = await adapter.get("cgt-3")
    assert failed.status is TaskStatus.FAILED and failed.error is not None and failed.error.code == "failed"


async def test_truncated_json_is_a_malformed_response_error(fake: FakeArk, http: HttpClient) -> None:
    adapter = adapter_for(fake, http)
    remote_id = await adapter.submit(VideoRequest(prompt="x", model=V2[fake.flavour]))
    fake.inject("get", malformed=True)
    with pytest.raises(ProviderError) as caught:
        await adapter.get(remote_id)
    assert caught.value.code == "malformed_response"


@pytest.mark.parametrize("body", ['["not", "a", "task"]', '{"id": "cgt-4"}', '{"id": "cgt-4", "status": 3}'])
async def test_json_of_the_wrong_shape_is_a_malformed_response_error(
    fake: FakeArk, http: HttpClient, body: str
) -> None:
    fake.inject("get", status=200, body=body)
    with pytest.raises(ProviderError) as caught:
        await adapter_for(fake, http).get("cgt-4")
    assert caught.value.code == "malformed_response"
    assert len(str(caught.value).splitlines()) == 1


# -- errors --------------------------------------------------------------------------------------


async def test_a_400_validation_error_is_an_invalid_request_with_the_providers_text(
    fake: FakeArk, http: HttpClient
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await adapter_for(fake, http).submit(VideoRequest(prompt="x", model=V2[fake.flavour], duration=99))
    assert "duration" in str(caught.value) and "[InvalidParameter]" in str(caught.value)
    assert fake.submits == 0


async def test_a_wrong_key_is_an_authentication_error(fake: FakeArk, http: HttpClient) -> None:
    with pytest.raises(AuthenticationError) as caught:
        await adapter_for(fake, http, key="sk-nope").get("cgt-5")
    assert caught.value.status_code == 401 and caught.value.provider_code == "AuthenticationError"


async def test_an_overdue_account_is_insufficient_credits_and_access_denied_is_authentication(
    fake: FakeArk, http: HttpClient
) -> None:
    adapter = adapter_for(fake, http)
    request = VideoRequest(prompt="x", model=V2[fake.flavour])
    fake.inject(
        "submit",
        status=403,
        body={
            "error": {
                "code": "AccountOverdueError",
                "message": "Your account is overdue.",
                "param": "",
                "type": "Forbidden",
            }
        },
    )
    with pytest.raises(InsufficientCreditsError):
        await adapter.submit(request)
    fake.inject("submit", status=403)
    with pytest.raises(AuthenticationError) as caught:
        await adapter.submit(request)
    assert caught.value.provider_code == "AccessDenied"
    assert fake.submits == 0


async def test_an_unknown_task_id_is_task_not_found(fake: FakeArk, http: HttpClient) -> None:
    with pytest.raises(TaskNotFoundError):
        await adapter_for(fake, http).get("cgt-20990101000000-zzzzz")


async def test_an_unknown_model_at_submit_is_an_invalid_request_not_a_missing_task(
    official: FakeArk, http: HttpClient
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await adapter_for(official, http).submit(VideoRequest(prompt="x", model="seedance-9-9-pro"))
    assert caught.value.field == "model" and "InvalidEndpointOrModel.NotFound" in str(caught.value)


async def test_a_429_with_retry_after_is_honoured_then_the_submit_succeeds_once(
    fake: FakeArk, http: HttpClient, sleeps: Sleeps
) -> None:
    fake.inject("submit", status=429, headers={"Retry-After": "3"})
    remote_id = await adapter_for(fake, http).submit(VideoRequest(prompt="x", model=V2[fake.flavour]))
    assert remote_id in fake.task_ids
    assert sleeps.delays == [3.0]
    assert len(fake.requests_for("submit")) == 2 and fake.submits == 1


async def test_5xx_while_polling_is_retried_until_the_answer_comes(
    fake: FakeArk, http: HttpClient, sleeps: Sleeps
) -> None:
    adapter = adapter_for(fake, http)
    remote_id = await adapter.submit(VideoRequest(prompt="x", model=V2[fake.flavour]))
    fake.inject("get", status=502, times=2)
    assert (await adapter.get(remote_id)).status is TaskStatus.QUEUED
    assert len(fake.requests_for("get")) == 3 and len(sleeps.delays) == 2


@pytest.mark.parametrize("fault", [{"status": 500}, {"status": 503}, {"drop": True}])
async def test_a_submit_whose_answer_is_lost_is_uncertain_and_never_resent(
    fake: FakeArk, http: HttpClient, fault: dict[str, object]
) -> None:
    fake.inject("submit", after_create=True, **fault)  # type: ignore[arg-type]
    with pytest.raises(SubmitUncertainError):
        await adapter_for(fake, http).submit(VideoRequest(prompt="x", model=V2[fake.flavour]))
    assert len(fake.requests_for("submit")) == 1 and fake.submits == 1


async def test_an_accepted_submit_with_an_unreadable_answer_is_uncertain(fake: FakeArk, http: HttpClient) -> None:
    fake.inject("submit", malformed=True)
    with pytest.raises(SubmitUncertainError):
        await adapter_for(fake, http).submit(VideoRequest(prompt="x", model=V2[fake.flavour]))
    assert fake.submits == 1 and len(fake.requests_for("submit")) == 1


# -- cancel --------------------------------------------------------------------------------------


async def test_cancelling_a_queued_task_deletes_it_once_and_it_reads_cancelled(
    official: FakeArk, http: HttpClient
) -> None:
    adapter = adapter_for(official, http)
    remote_id = await adapter.submit(VideoRequest(prompt="x", model=V2[official.flavour]))
    await adapter.cancel(remote_id)
    assert (await adapter.get(remote_id)).status is TaskStatus.CANCELLED
    await adapter.cancel(remote_id)  # cancelling twice is not an error
    assert len(official.requests_for("cancel")) == 1


async def test_a_running_task_cannot_be_cancelled_and_no_delete_is_sent(
    official: FakeArk, http: HttpClient, clock: ManualClock
) -> None:
    adapter = adapter_for(official, http)
    remote_id = await adapter.submit(VideoRequest(prompt="x", model=V2[official.flavour]))
    clock.advance(0.3)
    with pytest.raises(InvalidRequestError, match="only a queued task can be cancelled"):
        await adapter.cancel(remote_id)
    assert official.requests_for("cancel") == []


async def test_a_finished_task_is_not_deleted_by_cancel(
    official: FakeArk, http: HttpClient, clock: ManualClock
) -> None:
    adapter = adapter_for(official, http)
    remote_id = await adapter.submit(VideoRequest(prompt="x", model=V2[official.flavour]))
    clock.advance(FINISH)
    with pytest.raises(InvalidRequestError, match="only a queued task can be cancelled"):
        await adapter.cancel(remote_id)
    assert (await adapter.get(remote_id)).video_url is not None  # the record (and its video) survive


async def test_a_refused_delete_says_only_a_queued_task_can_be_cancelled(official: FakeArk, http: HttpClient) -> None:
    adapter = adapter_for(official, http)
    remote_id = await adapter.submit(VideoRequest(prompt="x", model=V2[official.flavour]))
    official.inject("cancel", status=400)  # the task started between the read and the DELETE
    with pytest.raises(InvalidRequestError, match="only a queued task can be cancelled") as caught:
        await adapter.cancel(remote_id)
    assert caught.value.code == "not_cancellable"


async def test_cancelling_an_unknown_task_is_task_not_found(official: FakeArk, http: HttpClient) -> None:
    with pytest.raises(TaskNotFoundError):
        await adapter_for(official, http).cancel("cgt-20990101000000-zzzzz")


async def test_apiyi_has_no_cancel_and_sends_nothing(apiyi: FakeArk, http: HttpClient) -> None:
    with pytest.raises(NotSupportedError):
        await adapter_for(apiyi, http).cancel("cgt-6")
    assert apiyi.requests == []


# -- reconcile -----------------------------------------------------------------------------------


async def test_find_submitted_returns_the_task_a_lost_submit_created(
    official: FakeArk, http: HttpClient, clock: ManualClock
) -> None:
    adapter = adapter_for(official, http)
    model = V2[official.flavour]
    wanted = VideoRequest(prompt="Lost", model=model, resolution="720p", ratio="16:9", duration=5)
    older = await adapter.submit(wanted.model_copy(update={"prompt": "Same settings, a minute earlier"}))
    clock.advance(60)
    since = datetime.fromtimestamp(official.unix(), UTC)
    other_duration = await adapter.submit(wanted.model_copy(update={"duration": 8}))
    other_model = await adapter.submit(wanted.model_copy(update={"model": FAST[official.flavour]}))
    official.inject("submit", drop=True, after_create=True)
    with pytest.raises(SubmitUncertainError):
        await adapter.submit(wanted)
    (lost,) = [t for t in official.task_ids if t not in (older, other_duration, other_model)]

    found = await adapter.find_submitted(wanted, since=since)

    assert [t.remote_id for t in found] == [lost]
    assert found[0].status is TaskStatus.QUEUED
    (listing,) = official.requests_for("list")
    assert listing.query["page_num"] == "1" and listing.query["page_size"] == "50"
    assert listing.query["filter.model"] == model
    assert "filter.service_tier" not in listing.query  # the 2.0 series has no tiers; the list shows "default"


async def test_find_submitted_lists_flex_tasks_for_a_flex_request(official: FakeArk, http: HttpClient) -> None:
    adapter = adapter_for(official, http)
    since = datetime.fromtimestamp(official.unix(), UTC)
    request = VideoRequest(prompt="x", model=PRO_1_0[official.flavour], service_tier="flex")
    remote_id = await adapter.submit(request)
    found = await adapter.find_submitted(request, since=since)
    assert [t.remote_id for t in found] == [remote_id]
    assert official.requests_for("list")[0].query["filter.service_tier"] == "flex"


async def test_find_submitted_matches_adaptive_ratio_and_model_chosen_duration(
    official: FakeArk, http: HttpClient, clock: ManualClock
) -> None:
    adapter = adapter_for(official, http)
    since = datetime.fromtimestamp(official.unix(), UTC)
    official.script(duration=11, ratio="9:16")
    request = VideoRequest(prompt="x", model=V2[official.flavour], ratio="adaptive", duration=-1)
    remote_id = await adapter.submit(request)
    clock.advance(FINISH)  # the listed task now shows the concrete 9:16 and 11 s
    assert [t.remote_id for t in await adapter.find_submitted(request, since=since)] == [remote_id]


async def test_apiyi_cannot_reconcile(apiyi: FakeArk, http: HttpClient) -> None:
    with pytest.raises(NotSupportedError):
        await adapter_for(apiyi, http).find_submitted(
            VideoRequest(prompt="x", model=V2["apiyi"]), since=datetime.now(UTC)
        )
    assert apiyi.requests == []


# -- callbacks -----------------------------------------------------------------------------------


async def test_a_callback_names_the_task_by_the_id_submit_returned_and_a_re_read_agrees(
    official: FakeArk, http: HttpClient, clock: ManualClock
) -> None:
    adapter = adapter_for(official, http)
    remote_id = await adapter.submit(
        VideoRequest(prompt="x", model=V2[official.flavour]), callback_url=official.root_url + "/hook"
    )
    clock.advance(FINISH)
    await asyncio.to_thread(official.wait_for, lambda f: any(c.status == "succeeded" for c in f.callbacks))
    payload = next(c.payload for c in official.callbacks if c.status == "succeeded")

    # The service never trusts the body: it re-reads the task the callback names.
    assert payload["id"] == remote_id
    task = await adapter.get(remote_id)
    assert task.status is TaskStatus.SUCCEEDED and task.video_url == payload["content"]["video_url"]


# -- download ------------------------------------------------------------------------------------


async def test_the_result_downloads_without_any_credentials_reaching_the_media_host(
    fake: FakeArk, http: HttpClient, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    adapter = adapter_for(fake, http)
    remote_id = await adapter.submit(VideoRequest(prompt="x", model=V2[fake.flavour]))
    clock.advance(FINISH)
    task = await adapter.get(remote_id)
    assert task.video_url is not None
    dest = tmp_path / "out.mp4"

    size = await adapter.download(task.video_url, dest, max_bytes=50_000_000)

    assert size == dest.stat().st_size > 0
    assert dest.read_bytes()[4:8] == b"ftyp"
    assert fake.media.requests and fake.media.auth_leaks() == []


async def test_an_expired_result_link_is_a_download_error(
    fake: FakeArk, http: HttpClient, clock: ManualClock, tmp_path: pathlib.Path
) -> None:
    adapter = adapter_for(fake, http)
    remote_id = await adapter.submit(VideoRequest(prompt="x", model=V2[fake.flavour]))
    clock.advance(FINISH)
    url = (await adapter.get(remote_id)).video_url
    assert url is not None
    fake.media.expire(url)
    with pytest.raises(DownloadError) as caught:
        await adapter.download(url, tmp_path / "out.mp4", max_bytes=50_000_000)
    assert caught.value.code == "link_expired"
    assert not (tmp_path / "out.mp4").exists()
