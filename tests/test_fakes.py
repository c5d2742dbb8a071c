"""The fake provider servers, exercised over real HTTP with httpx.

Most tests drive time with a ManualClock, so no test sleeps to let a task progress.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.fakes import (
    FAKES_BY_PROVIDER,
    MINIMAL_SUBMIT,
    FakeAceData,
    FakeApimart,
    FakeArk,
    FakeSeedanceApi,
    ManualClock,
    MediaHost,
    sample_mp4,
    sample_png,
)
from tests.fakes.apimart import is_task_id
from tests.fakes.ark import MIX_MESSAGE

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
TASKS = "/contents/generations/tasks"
BP_20 = "dreamina-seedance-2-0-260128"
VE_20 = "doubao-seedance-2-0-260128"


def text(prompt: str = "a cat") -> list[dict[str, Any]]:
    return [{"type": "text", "text": prompt}]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def ark(clock: ManualClock) -> Iterator[FakeArk]:
    with FakeArk("byteplus", api_key=KEY, clock=clock, queued_for=2, running_for=3) as fake:
        yield fake


# Clients are shared: building one loads TLS certificates, which costs ~0.1 s each time.
@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(headers=AUTH, timeout=5) as client:
        yield client


@pytest.fixture(scope="module")
def plain() -> Iterator[httpx.Client]:
    """A client without credentials, as a media download should be."""
    with httpx.Client(timeout=5) as client:
        yield client


def ark_submit(http: httpx.Client, fake: FakeArk, body: dict[str, Any]) -> httpx.Response:
    return http.post(fake.base_url + TASKS, json=body)


class CallbackSink:
    """A tiny HTTP receiver for provider callbacks; answers each POST with the next scripted code."""

    def __init__(self, codes: list[int] | None = None) -> None:
        self.bodies: list[Any] = []
        self.codes = list(codes or [])
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                sink.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(sink.codes.pop(0) if sink.codes else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- Ark: happy path, shapes, timing -----------------------------------------------------------


def test_ark_task_runs_queued_running_succeeded_and_video_downloads_without_auth(
        ark: FakeArk, http: httpx.Client, clock: ManualClock, plain: httpx.Client) -> None:
    # The official SDK sends every unset keyword as null; the fake must treat null as absent.
    body = {"model": BP_20, "content": text(), "callback_url": None, "frames": None, "tools": None,
            "service_tier": None}
    created = ark_submit(http, ark, body)
    assert created.status_code == 200
    task_id = created.json()["id"]
    assert set(created.json()) == {"id"} and task_id.startswith("cgt-") and len(task_id) == 24
    url = f"{ark.base_url}{TASKS}/{task_id}"

    queued = http.get(url).json()
    assert queued["status"] == "queued" and "content" not in queued and "usage" not in queued
    assert queued["ratio"] == "adaptive" and queued["duration"] == 5
    clock.advance(2.5)
    assert http.get(url).json()["status"] == "running"
    clock.advance(3)
    done = http.get(url).json()
    assert done["status"] == "succeeded"
    assert done["usage"] == {"completion_tokens": 108900, "total_tokens": 108900}  # the documented sample
    assert done["ratio"] == "16:9" and done["resolution"] == "720p" and done["generate_audio"] is True
    assert done["framespersecond"] == 24 and done["updated_at"] >= done["created_at"]
    video_url = done["content"]["video_url"]
    assert "X-Tos-Expires=86400" in video_url and "X-Tos-Signature=" in video_url

    video = plain.get(video_url)  # a signed link is fetched without the API key
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content == sample_mp4() and video.content[4:8] == b"ftyp"
    assert ark.media.auth_leaks() == []
    assert ark.submits == 1
    assert [r.route for r in ark.requests] == ["submit", "get", "get", "get"]
    assert ark.requests[0].json == body and ark.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_ark_media_host_records_a_leaked_authorization_header(ark: FakeArk, http: httpx.Client,
                                                             clock: ManualClock) -> None:
    task_id = ark_submit(http, ark, {"model": BP_20, "content": text()}).json()["id"]
    clock.advance(10)
    video_url = http.get(f"{ark.base_url}{TASKS}/{task_id}").json()["content"]["video_url"]
    http.get(video_url)  # the client still carries the Authorization header: a leak
    assert len(ark.media.auth_leaks()) == 1
    assert ark.media.host in ("127.0.0.2", "127.0.0.1") and ark.media.root_url != ark.root_url


def test_ark_scripted_outcomes_resolve_auto_duration_ratio_and_cost(ark: FakeArk, http: httpx.Client,
                                                                    clock: ManualClock, plain: httpx.Client) -> None:
    ark.script("succeeded", duration=11, ratio="9:16", actual_cost=1234, queued_for=0, running_for=1)
    ark.script("failed", error_code="OutputAudioSensitiveContentDetected", error_message="nope")
    ok = ark_submit(http, ark, {"model": BP_20, "content": text(), "duration": -1, "return_last_frame": True})
    bad = ark_submit(http, ark, {"model": BP_20, "content": text()})
    assert http.get(f"{ark.base_url}{TASKS}/{ok.json()['id']}").json()["duration"] == -1
    clock.advance(6)
    done = http.get(f"{ark.base_url}{TASKS}/{ok.json()['id']}").json()
    assert (done["duration"], done["ratio"], done["usage"]["completion_tokens"]) == (11, "9:16", 1234)
    png = plain.get(done["content"]["last_frame_url"])
    assert png.status_code == 200 and png.content == sample_png()
    failed = http.get(f"{ark.base_url}{TASKS}/{bad.json()['id']}").json()
    assert failed["status"] == "failed" and "content" not in failed
    assert failed["error"] == {"code": "OutputAudioSensitiveContentDetected", "message": "nope"}


def test_ark_task_expires_after_execution_expires_after(ark: FakeArk, http: httpx.Client,
                                                        clock: ManualClock) -> None:
    ark.script(queued_for=5000)
    task_id = ark_submit(http, ark, {"model": BP_20, "content": text(),
                                     "execution_expires_after": 3600}).json()["id"]
    clock.advance(3599)
    assert http.get(f"{ark.base_url}{TASKS}/{task_id}").json()["status"] == "queued"
    clock.advance(2)
    expired = http.get(f"{ark.base_url}{TASKS}/{task_id}").json()
    assert expired["status"] == "expired" and expired["error"]["code"]


def test_ark_frames_model_reports_frames_not_duration_and_legacy_params_apply(
        clock: ManualClock, http: httpx.Client) -> None:
    with FakeArk("volcengine", clock=clock, queued_for=0, running_for=1) as fake:
        framed = ark_submit(http, fake, {"model": "doubao-seedance-1-0-pro-250528", "content": text(),
                                         "frames": 49})
        legacy = ark_submit(http, fake, {"model": VE_20, "content": text("a cat --rs 480p --dur 7 --rt 1:1 "
                                                                         "--seed 4 --wm true --cf maybe")})
        loose = ark_submit(http, fake, {"model": VE_20, "content": text("a cat --rs 4k --dur 99")})
        clock.advance(2)
        f = http.get(f"{fake.base_url}{TASKS}/{framed.json()['id']}").json()
        assert f["frames"] == 49 and "duration" not in f and f["resolution"] == "1080p"
        assert f["usage"]["completion_tokens"] == round(1920 * 1088 * 49 / 1024)  # 1.0 pixel table
        assert f["generate_audio"] is False
        g = http.get(f"{fake.base_url}{TASKS}/{legacy.json()['id']}").json()
        assert (g["resolution"], g["duration"], g["ratio"], g["seed"]) == ("480p", 7, "1:1", 4)
        h = http.get(f"{fake.base_url}{TASKS}/{loose.json()['id']}").json()
        assert (h["resolution"], h["duration"]) == ("720p", 5)  # bad legacy values fall back silently


BAD_ARK_BODIES: list[tuple[dict[str, Any], int, str, str, str]] = [
    # body, http status, error code, param, text in message
    ({"content": text()}, 400, "MissingParameter", "model", "missing"),
    ({"model": BP_20}, 400, "MissingParameter", "content", "missing"),
    ({"model": "no-such-model", "content": text()}, 404, "InvalidEndpointOrModel.NotFound", "model",
     "does not exist"),
    ({"model": BP_20, "content": [*text(), {"type": "image_url", "image_url": "https://x/a.png"}]},
     400, "InvalidParameter", "content[1].image_url", "must be an object"),
    ({"model": BP_20, "content": [*text(), {"type": "image_url", "image_url": {"url": "https://x/a.png"}},
                                  {"type": "video_url", "video_url": {"url": "https://x/v.mp4"},
                                   "role": "reference_video"}]},
     400, "InvalidParameter", "content", MIX_MESSAGE),
    ({"model": BP_20, "content": [*text(), {"type": "video_url", "role": "reference_video",
                                            "video_url": {"url": "data:video/mp4;base64,AAAA"}}]},
     400, "InvalidParameter", "content[1].video_url.url", "reference_video must be provided as a web url"),
    ({"model": BP_20, "content": [*text(), {"type": "audio_url", "role": "reference_audio",
                                            "audio_url": {"url": "https://x/a.mp3"}}]},
     400, "InvalidParameter", "content", "cannot be used alone"),
    ({"model": BP_20, "content": [*text(), {"type": "image_url", "image_url": {
        "url": "data:image/PNG;base64," + base64.b64encode(b"x").decode()}}]},
     400, "InvalidParameter", "content[1].image_url.url", "lowercase"),
    ({"model": BP_20, "content": [{"type": "image_url", "image_url": {"url": "https://x/a.png"}},
                                  {"type": "image_url", "image_url": {"url": "https://x/b.png"},
                                   "role": "last_frame"}]},
     400, "InvalidParameter", "content", "role is required"),
    ({"model": BP_20, "content": text(), "duration": 16}, 400, "InvalidParameter", "duration", "[4, 15]"),
    ({"model": BP_20, "content": text(), "duration": "5"}, 400, "InvalidParameter", "duration", "integer"),
    ({"model": BP_20, "content": text(), "frames": 49}, 400, "InvalidParameter", "frames", "not supported"),
    ({"model": BP_20, "content": text(), "camera_fixed": True}, 400, "InvalidParameter", "camera_fixed",
     "not supported"),
    ({"model": BP_20, "content": text(), "service_tier": "flex"}, 400, "InvalidParameter", "service_tier",
     "not supported"),
    ({"model": "dreamina-seedance-2-0-fast-260128", "content": text(), "resolution": "1080p"}, 400,
     "InvalidParameter", "resolution", "not supported"),
    ({"model": BP_20, "content": text(), "ratio": "2:1"}, 400, "InvalidParameter", "ratio", "not supported"),
    ({"model": BP_20, "content": text(), "camerafixed": False}, 400, "InvalidParameter", "camerafixed",
     "unknown parameter"),
    ({"model": "seedance-1-0-pro-250528", "content": text(), "ratio": "adaptive"}, 400, "InvalidParameter",
     "ratio", "adaptive"),
    ({"model": "seedance-1-0-pro-250528", "content": text(), "frames": 50}, 400, "InvalidParameter",
     "frames", "25+4n"),
    ({"model": BP_20, "content": text(), "execution_expires_after": 345600}, 400, "InvalidParameter",
     "execution_expires_after", "3600"),
]


@pytest.mark.parametrize(("body", "status", "code", "param", "needle"), BAD_ARK_BODIES)
def test_ark_rejects_invalid_create_bodies_with_documented_errors(
        ark: FakeArk, http: httpx.Client, body: dict[str, Any], status: int, code: str, param: str,
        needle: str) -> None:
    response = ark_submit(http, ark, body)
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, param)
    assert needle in error["message"] and "Request id: " in error["message"]
    assert error["type"] == ("NotFound" if status == 404 else "BadRequest")
    assert ark.submits == 0


@pytest.mark.parametrize("header", [None, "Bearer wrong-key", "Basic dGVzdC1rZXk="])
def test_ark_refuses_missing_or_wrong_key_with_401(ark: FakeArk, header: str | None, plain: httpx.Client) -> None:
    headers = {"Authorization": header} if header else {}
    response = plain.post(ark.base_url + TASKS, json={"model": BP_20, "content": text()}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AuthenticationError"
    assert response.json()["error"]["type"] == "Unauthorized"
    assert ark.submits == 0


# --- Ark: list and delete ------------------------------------------------------------------------


def test_ark_list_filters_by_status_and_repeated_task_ids_and_pages(ark: FakeArk, http: httpx.Client,
                                                                    clock: ManualClock) -> None:
    ark.script(queued_for=0, running_for=0)
    ids = [ark_submit(http, ark, {"model": BP_20, "content": text()}).json()["id"] for _ in range(3)]
    listing = ark.base_url + TASKS
    everything = http.get(listing).json()
    assert everything["total"] == 3 and [t["id"] for t in everything["items"]] == ids[::-1]
    assert http.get(listing, params={"filter.status": "succeeded"}).json()["total"] == 1
    assert http.get(listing, params={"filter.status": "queued"}).json()["total"] == 2
    picked = http.get(listing, params=[("filter.task_ids", ids[0]), ("filter.task_ids", ids[2])]).json()
    assert sorted(t["id"] for t in picked["items"]) == sorted([ids[0], ids[2]])
    page = http.get(listing, params={"page_num": 2, "page_size": 2}).json()
    assert page["total"] == 3 and [t["id"] for t in page["items"]] == [ids[0]]
    bad = http.get(listing, params={"page_num": 0})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "page_num"
    clock.advance(7 * 86400)  # only the last 7 days can be listed
    assert http.get(listing).json() == {"total": 0, "items": []}


def test_ark_list_reads_a_batch_of_ids_page_by_page_and_counts_requests(clock: ManualClock,
                                                                        http: httpx.Client) -> None:
    with FakeArk("volcengine", api_key=KEY, clock=clock, max_page_size=2) as fake:
        ids = [ark_submit(http, fake, {"model": VE_20, "content": text()}).json()["id"] for _ in range(5)]
        listing = fake.base_url + TASKS
        query = [*(("filter.task_ids", i) for i in [*ids, "cgt-20250101000000-nope0"]), ("page_size", 6)]
        pages = [http.get(listing, params=[*query, ("page_num", n)]).json() for n in (1, 2, 3, 4)]
        assert [p["total"] for p in pages] == [5] * 4  # unknown ids are simply not there
        assert [len(p["items"]) for p in pages] == [2, 2, 1, 0]  # the server serves 2 a page
        assert sorted(t["id"] for p in pages for t in p["items"]) == sorted(ids)
        assert all(t["updated_at"] >= t["created_at"] for p in pages for t in p["items"])
        too_big = http.get(listing, params=[*query[:1], ("page_size", 501)])
        assert too_big.status_code == 400 and too_big.json()["error"]["param"] == "page_size"
        fake.clear_requests()  # long benchmarks drop the bodies but keep the counts
        assert fake.requests == []
        assert fake.request_counts == {"submit": 5, "list": 5}
        fake.reset_counts()
        assert fake.request_counts == {}


def test_acedata_batch_retrieve_is_its_own_route_for_counts_and_faults(clock: ManualClock,
                                                                       http: httpx.Client) -> None:
    with FakeAceData(clock=clock) as fake:
        ids = [http.post(fake.base_url + "/seedance/videos",
                         json={"model": VE_20, "content": text(), "async": True}).json()["task_id"]
               for _ in range(3)]
        tasks = fake.base_url + "/seedance/tasks"
        fake.inject("batch", status=429)
        limited = http.post(tasks, json={"ids": ids, "action": "retrieve_batch"})
        assert limited.status_code == 429 and limited.json()["error"]["code"] == "too_many_requests"
        assert http.post(tasks, json={"id": ids[0], "action": "retrieve"}).status_code == 200
        batch = http.post(tasks, json={"ids": [*ids, "nope"], "action": "retrieve_batch"}).json()
        assert batch["count"] == 3 and [r["id"] for r in batch["items"]] == ids
        assert [r.route for r in fake.requests][-3:] == ["batch", "get", "batch"]
        assert fake.request_counts == {"submit": 3, "batch": 2, "get": 1}


def test_ark_delete_cancels_queued_refuses_running_and_deletes_finished(ark: FakeArk, http: httpx.Client,
                                                                       clock: ManualClock) -> None:
    queued = ark_submit(http, ark, {"model": BP_20, "content": text()}).json()["id"]
    ark.script(queued_for=0, running_for=100)
    running = ark_submit(http, ark, {"model": BP_20, "content": text()}).json()["id"]
    ark.script(queued_for=0, running_for=0)
    finished = ark_submit(http, ark, {"model": BP_20, "content": text()}).json()["id"]
    url = f"{ark.base_url}{TASKS}/"

    assert http.delete(url + queued).status_code == 200
    assert http.get(url + queued).json()["status"] == "cancelled"
    again = http.delete(url + queued)
    assert again.status_code == 400 and again.json()["error"]["code"] == "InvalidParameter"
    refused = http.delete(url + running)
    assert refused.status_code == 400 and "running" in refused.json()["error"]["message"]
    assert http.get(url + running).json()["status"] == "running"
    assert http.delete(url + finished).status_code == 200
    gone = http.get(url + finished)
    assert gone.status_code == 404 and gone.json()["error"]["type"] == "NotFound"
    assert http.delete(url + "cgt-20260101000000-zzzzz").status_code == 404
    clock.advance(86400)  # a cancelled task disappears after 24 h
    assert http.get(url + queued).status_code == 404


def test_apiyi_flavour_has_prefix_and_no_cancel_or_list(http: httpx.Client) -> None:
    with FakeArk("apiyi") as fake:
        assert fake.base_url.endswith("/seedance/api/v3")
        created = ark_submit(http, fake, {"model": "doubao-seedance-2-0-fast-260128", "content": text()})
        task_id = created.json()["id"]
        assert http.get(f"{fake.base_url}{TASKS}/{task_id}").status_code == 200
        assert http.delete(f"{fake.base_url}{TASKS}/{task_id}").status_code in (404, 405)
        assert http.get(fake.base_url + TASKS).status_code in (404, 405)
        assert http.get(f"{fake.root_url}/api/v3{TASKS}/{task_id}").status_code == 404  # /api dropped
        no_channel = ark_submit(http, fake, {"model": BP_20, "content": text()})
        assert "no available channel" in no_channel.json()["error"]["message"]
        assert fake.task_state(task_id) == "queued"


def test_apiyi_gzip_quirk_needs_accept_encoding_identity(http: httpx.Client) -> None:
    with FakeArk("apiyi", gzip_quirk=True, queued_for=0, running_for=0) as fake:
        body = {"model": "doubao-seedance-2-0-fast-260128", "content": text()}
        with pytest.raises(httpx.DecodingError):
            ark_submit(http, fake, body)
        created = http.post(fake.base_url + TASKS, json=body, headers={"Accept-Encoding": "identity"})
        assert created.status_code == 200 and created.json()["id"] in fake.task_ids


def test_ark_callbacks_post_every_status_change_and_retry_a_failed_delivery(
        clock: ManualClock, http: httpx.Client) -> None:
    sink = CallbackSink(codes=[200, 200, 500, 200])
    try:
        with FakeArk("volcengine", clock=clock, queued_for=1, running_for=1, callback_timeout=2) as fake:
            task_id = ark_submit(http, fake,
                                 {"model": VE_20, "content": text(), "callback_url": sink.url}).json()["id"]
            fake.wait_for(lambda f: len(f.callbacks) >= 1)
            clock.advance(5)
            fake.wait_for(lambda f: len(f.callbacks) >= 4)
            attempts = fake.callbacks
    finally:
        sink.close()
    assert [b["status"] for b in sink.bodies] == ["queued", "running", "succeeded", "succeeded"]
    assert [a.http_status for a in attempts] == [200, 200, 500, 200]
    assert all(b["id"] == task_id for b in sink.bodies)
    assert sink.bodies[-1]["content"]["video_url"]


# --- faults --------------------------------------------------------------------------------------


def test_injected_429_carries_retry_after_and_the_ark_body(ark: FakeArk, http: httpx.Client) -> None:
    ark.inject("submit", status=429, headers={"Retry-After": "1"}, times=2)
    body = {"model": BP_20, "content": text()}
    for _ in range(2):
        response = ark_submit(http, ark, body)
        assert response.status_code == 429 and response.headers["Retry-After"] == "1"
        assert response.json()["error"]["type"] == "TooManyRequests"
    assert ark_submit(http, ark, body).status_code == 200
    assert ark.submits == 1 and len(ark.requests_for("submit")) == 3


def test_injected_gateway_errors_are_html_and_other_faults_misbehave(ark: FakeArk, http: httpx.Client) -> None:
    body = {"model": BP_20, "content": text()}
    ark.inject("submit", status=502)
    bad_gateway = ark_submit(http, ark, body)
    assert bad_gateway.status_code == 502 and bad_gateway.headers["content-type"].startswith("text/html")
    ark.inject("submit", status=503, body="<html>busy</html>")
    assert ark_submit(http, ark, body).text == "<html>busy</html>"
    ark.inject("submit", drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        ark_submit(http, ark, body)
    assert ark.submits == 0  # dropped before the task was created
    ark.inject("get", delay=0.5)
    with pytest.raises(httpx.ReadTimeout):
        http.get(f"{ark.base_url}{TASKS}/cgt-x", timeout=0.1)
    ark.inject("submit", delay=0.5, after_create=True)  # created at once, answered too late
    with pytest.raises(httpx.ReadTimeout):
        http.post(ark.base_url + TASKS, json=body, timeout=0.1)
    assert ark.submits == 1


@pytest.mark.parametrize("fault", [{"drop": True}, {"status": 500}, {"malformed": True},
                                   {"wrong_encoding": True}])
def test_after_create_faults_lose_the_answer_but_the_task_exists(ark: FakeArk, http: httpx.Client,
                                                                 fault: dict[str, Any]) -> None:
    ark.inject("submit", after_create=True, **fault)
    with pytest.raises((httpx.HTTPError, json.JSONDecodeError)):
        response = ark_submit(http, ark, {"model": BP_20, "content": text()})
        response.raise_for_status()
        response.json()
    assert ark.submits == 1
    listed = http.get(ark.base_url + TASKS).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == ark.task_ids[0]


def test_wrong_content_encoding_on_get_breaks_decoding(ark: FakeArk, http: httpx.Client) -> None:
    task_id = ark_submit(http, ark, {"model": BP_20, "content": text()}).json()["id"]
    ark.inject("get", wrong_encoding=True)
    with pytest.raises(httpx.DecodingError):
        http.get(f"{ark.base_url}{TASKS}/{task_id}")
    ark.inject("get", wrong_encoding=True)  # the bytes themselves are plain JSON
    with http.stream("GET", f"{ark.base_url}{TASKS}/{task_id}") as raw:
        assert raw.headers["content-encoding"] == "gzip"
        assert json.loads(b"".join(raw.iter_raw()))["id"] == task_id


# --- media host ----------------------------------------------------------------------------------


def test_media_links_expire_and_misbehave_on_request(clock: ManualClock, plain: httpx.Client) -> None:
    with MediaHost(clock=clock, ttl=100, oversize_bytes=4 * 1024 * 1024) as media:
        url = media.publish("v1", "mp4")
        assert plain.get(url).status_code == 200
        ranged = plain.get(url, headers={"Range": "bytes=0-9"})
        assert ranged.status_code == 206 and ranged.content == sample_mp4()[:10]
        tampered = url.replace("X-Tos-Signature=", "X-Tos-Signature=00")
        assert plain.get(tampered).status_code == 403
        clock.advance(101)
        expired = plain.get(url)
        assert expired.status_code == 403 and b"AccessDenied" in expired.content

        media.publish("v2", "mp4", fault="truncated")
        with pytest.raises(httpx.RemoteProtocolError):
            plain.get(media.url_for("v2.mp4"))
        media.publish("v3", "mp4", signed=False)
        assert media.url_for("v3.mp4").endswith("/cdn/v3.mp4")
        media.set_fault("v3", "missing")
        assert plain.get(media.url_for("v3.mp4")).status_code == 404
        media.set_fault("v3", None)
        assert plain.get(media.url_for("v3.mp4")).status_code == 200
        media.expire("v3")
        assert plain.get(media.url_for("v3.mp4")).status_code == 403

        for fault in ("oversize", "oversize_chunked"):
            media.publish(fault, "mp4", fault=fault)  # type: ignore[arg-type]
            with plain.stream("GET", media.url_for(f"{fault}.mp4")) as response:
                declared = response.headers.get("content-length")
                assert declared == (str(4 * 1024 * 1024) if fault == "oversize" else None)
                received = 0
                for chunk in response.iter_bytes():
                    received += len(chunk)
                    if received > 1024 * 1024:  # a client's size cap stops reading early
                        break
            assert received > 1024 * 1024
        assert media.auth_leaks() == []


# --- AceData -------------------------------------------------------------------------------------


def test_acedata_async_task_record_goes_from_pending_to_flat_result(clock: ManualClock,
                                                                    http: httpx.Client, plain: httpx.Client) -> None:
    with FakeAceData(clock=clock, queued_for=1, running_for=1) as fake:
        created = http.post(fake.base_url + "/seedance/videos", json={
            "model": VE_20, "content": text(), "async": True, "return_last_frame": True, "camerafixed": False})
        assert created.status_code == 200
        head = created.json()
        assert head["success"] is True and set(head) == {"success", "task_id", "trace_id"}
        retrieve = {"id": head["task_id"], "action": "retrieve"}
        pending = http.post(fake.base_url + "/seedance/tasks", json=retrieve).json()
        assert pending["id"] == head["task_id"] and pending["type"] == "videos" and "response" not in pending
        assert pending["request"]["model"] == VE_20
        clock.advance(3)
        record = http.post(fake.base_url + "/seedance/tasks", json={"id": head["task_id"]}).json()
        response = record["response"]
        assert response["success"] is True and response["task_id"] == head["task_id"]
        data = response["data"]
        assert data["status"] == "succeeded" and data["task_id"].startswith("cgt-")
        assert data["model"] == VE_20 and data["last_frame_url"]
        assert plain.get(data["video_url"]).content == sample_mp4()
        batch = http.post(fake.base_url + "/seedance/tasks",
                          json={"ids": [head["task_id"], "nope"], "action": "retrieve_batch"}).json()
        assert batch["count"] == 1 and batch["items"][0]["id"] == head["task_id"]
        missing = http.post(fake.base_url + "/seedance/tasks", json={"id": "nope"})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_acedata_processing_style_and_ark_data_shape(clock: ManualClock, http: httpx.Client) -> None:
    with FakeAceData(clock=clock, queued_for=1, running_for=1, pending_style="processing",
                     data_shape="ark") as fake:
        task_id = http.post(fake.base_url + "/seedance/videos", json={
            "model": VE_20, "content": text(), "async": True, "ratio": "16:9"}).json()["task_id"]
        pending = http.post(fake.base_url + "/seedance/tasks", json={"id": task_id}).json()
        assert pending["response"]["data"]["status"] == "queued"
        assert "content" not in pending["response"]["data"]
        clock.advance(3)
        data = http.post(fake.base_url + "/seedance/tasks", json={"id": task_id}).json()["response"]["data"]
        assert data["status"] == "succeeded" and data["id"].startswith("cgt-")
        assert data["content"]["video_url"] and data["usage"]["completion_tokens"] == 108900


def test_acedata_sync_mode_holds_until_done_and_failures_carry_error(http: httpx.Client) -> None:
    with FakeAceData(queued_for=0.05, running_for=0.1) as fake:
        body = {"model": VE_20, "content": text()}
        done = http.post(fake.base_url + "/seedance/videos", json=body).json()
        assert done["success"] is True and done["data"]["video_url"]
        fake.script("failed", error_code="api_error", error_message="content rejected")
        failed = http.post(fake.base_url + "/seedance/videos", json=body).json()
        assert failed["success"] is False and failed["error"] == {"code": "api_error",
                                                                  "message": "content rejected"}


def test_acedata_callback_mode_answers_task_id_then_posts_the_envelope(clock: ManualClock, plain: httpx.Client) -> None:
    sink = CallbackSink()
    try:
        with FakeAceData(clock=clock, queued_for=1, running_for=1) as fake:
            created = plain.post(fake.base_url + "/seedance/videos", headers=AUTH, json={
                "model": VE_20, "content": text(), "callback_url": sink.url})
            assert created.json() == {"task_id": created.json()["task_id"]}
            clock.advance(3)
            fake.wait_for(lambda f: len(f.callbacks) >= 1)
    finally:
        sink.close()
    assert len(sink.bodies) == 1
    assert sink.bodies[0]["task_id"] == created.json()["task_id"] and sink.bodies[0]["success"] is True


@pytest.mark.parametrize(("patch", "message"), [
    ({"camera_fixed": True}, "camera_fixed is not allowed."),
    ({"model": "doubao-seedance-9"}, "model is invalid."),
    ({"content": [{"type": "text", "text": "x" * 1001}]}, "content[0].text is invalid."),
    ({"content": [*text(), {"type": "audio_url", "audio_url": {"url": "https://x/a.mp3"}}]},
     "content[1].role is required."),
    ({"content": [*text(), {"type": "image_url", "image_url": "https://x/a.png"}]},
     "content[1].image_url is invalid."),
    ({"content": [{"type": "text", "text": "x", "role": "first_frame"}]}, "content[0].role is not allowed."),
    ({"model": "doubao-seedance-2-0-fast-260128", "resolution": "1080p"}, "resolution is invalid."),
    ({"duration": 31}, "duration is invalid."),
])
def test_acedata_rejects_bodies_outside_its_schema(http: httpx.Client, patch: dict[str, Any],
                                                   message: str) -> None:
    with FakeAceData() as fake:
        response = http.post(fake.base_url + "/seedance/videos",
                             json={"model": VE_20, "content": text(), "async": True, **patch})
        assert response.status_code == 400
        assert response.json()["error"] == {"code": "bad_request", "message": message}
        assert response.json()["trace_id"] and fake.submits == 0


def test_acedata_auth_errors_follow_its_docs(plain: httpx.Client) -> None:
    with FakeAceData() as fake:
        missing = plain.post(fake.base_url + "/seedance/tasks", json={"id": "x"})
        wrong = plain.post(fake.base_url + "/seedance/tasks", json={"id": "x"},
                           headers={"authorization": "Bearer nope"})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "no_token"
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_token"


# --- seedanceapi.org -----------------------------------------------------------------------------


def test_seedanceapi_v1_runs_to_success_with_credits_from_the_table(clock: ManualClock,
                                                                    http: httpx.Client, plain: httpx.Client) -> None:
    with FakeSeedanceApi(clock=clock, queued_for=1, running_for=1) as fake:
        body = {"prompt": "eagle", "aspect_ratio": "9:21", "resolution": "720p", "duration": "8"}
        created = http.post(fake.base_url + "/v1/generate", json=body).json()
        assert created["code"] == 200 and created["message"] == "success"
        assert created["data"]["status"] == "IN_PROGRESS"
        task_id = created["data"]["task_id"]
        status_url = fake.base_url + "/v1/status"
        pending = http.get(status_url, params={"task_id": task_id}).json()["data"]
        assert pending["status"] == "IN_PROGRESS" and pending["consumed_credits"] == 0
        clock.advance(3)
        data = http.get(status_url, params={"task_id": task_id}).json()["data"]
        assert data["status"] == "SUCCESS" and data["consumed_credits"] == 28
        assert data["request"] == body and data["error_message"] is None
        assert data["created_at"].endswith("Z")
        assert plain.get(data["response"][0]).content == sample_mp4()
        assert http.get(fake.base_url + "/v2/status", params={"task_id": task_id}).status_code == 404


@pytest.mark.parametrize(("path", "patch", "code"), [
    ("/v1/generate", {"duration": 8}, "INVALID_DURATION"),
    ("/v1/generate", {"duration": "5"}, "INVALID_DURATION"),
    ("/v1/generate", {"image_urls": ["https://x/a.png", "https://x/b.png"]}, "TOO_MANY_IMAGES"),
    ("/v1/generate", {"resolution": "1080p"}, "INVALID_RESOLUTION"),
    ("/v1/generate", {"aspect_ratio": "2:1"}, "INVALID_ASPECT_RATIO"),
    ("/v1/generate", {"prompt": " "}, "INVALID_PROMPT"),
    ("/v2/generate", {"duration": "10"}, "INVALID_DURATION"),
    ("/v2/generate", {"duration": 7}, "INVALID_DURATION"),
    ("/v2/generate", {"model": "seedance-3"}, "INVALID_MODEL"),
])
def test_seedanceapi_rejects_invalid_bodies(http: httpx.Client, path: str, patch: dict[str, Any],
                                            code: str) -> None:
    base = {"prompt": "eagle", "duration": "4"} if path.startswith("/v1") else {"prompt": "eagle"}
    with FakeSeedanceApi() as fake:
        response = http.post(fake.base_url + path, json={**base, **patch})
    assert response.status_code == 400
    assert response.json()["code"] == code and response.json()["data"] is None


def test_seedanceapi_ids_are_plain_and_known_only_to_the_version_that_made_them(http: httpx.Client) -> None:
    with FakeSeedanceApi() as fake:
        made = {v: http.post(fake.base_url + f"/{v}/generate", json={"prompt": "x", "duration": d}).json()
                for v, d in (("v1", "4"), ("v2", 5))}
        for version, answer in made.items():
            task_id = answer["data"]["task_id"]
            assert ":" not in task_id and task_id in fake.task_ids  # as a dashboard would show it
            other = "v2" if version == "v1" else "v1"
            ok = http.get(fake.base_url + f"/{version}/status", params={"task_id": task_id})
            assert ok.status_code == 200 and ok.json()["data"]["task_id"] == task_id
            wrong = http.get(fake.base_url + f"/{other}/status", params={"task_id": task_id})
            assert wrong.status_code == 404 and wrong.json()["code"] == "TASK_NOT_FOUND"
        prefixed = http.get(fake.base_url + "/v2/status", params={"task_id": "v2:" + made["v2"]["data"]["task_id"]})
        assert prefixed.status_code == 404
        assert fake.request_counts == {"submit": 2, "get": 5}


def test_seedanceapi_v2_credits_failure_refund_and_402(clock: ManualClock, http: httpx.Client) -> None:
    with FakeSeedanceApi(clock=clock, queued_for=0, running_for=1, credits=500) as fake:
        fast = http.post(fake.base_url + "/v2/generate",
                         json={"prompt": "x", "model": "seedance-2.0-fast", "duration": 10}).json()
        assert fake.credits == 180
        broke = http.post(fake.base_url + "/v2/generate", json={"prompt": "x", "duration": 5})
        assert broke.status_code == 402 and broke.json()["code"] == "INSUFFICIENT_CREDITS"
        fake.set_credits(1000)
        fake.script("failed", error_message="policy")
        failed = http.post(fake.base_url + "/v2/generate", json={"prompt": "x", "duration": 5}).json()
        mini = http.post(fake.base_url + "/v2/generate", json={
            "prompt": "x", "model": "seedance-2.0-mini", "duration": 4, "resolution": "480p"}).json()
        clock.advance(2)
        first = http.get(fake.base_url + "/v2/status", params={"task_id": fast["data"]["task_id"]}).json()
        assert first["data"]["consumed_credits"] == 320
        lost = http.get(fake.base_url + "/v2/status", params={"task_id": failed["data"]["task_id"]}).json()
        assert lost["data"]["status"] == "FAILED" and lost["data"]["consumed_credits"] == 0
        assert lost["data"]["error_message"] == "policy" and lost["data"]["response"] == []
        small = http.get(fake.base_url + "/v2/status", params={"task_id": mini["data"]["task_id"]}).json()
        assert small["data"]["consumed_credits"] == 57  # ceil(14.25 × 4)
        assert fake.credits == 1000 - 57  # the failed task's 240 came back


def test_seedanceapi_wrong_key_is_invalid_api_key(plain: httpx.Client) -> None:
    with FakeSeedanceApi() as fake:
        response = plain.get(fake.base_url + "/v1/status", params={"task_id": "x"},
                             headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401 and response.json()["code"] == "INVALID_API_KEY"


# --- APIMart -------------------------------------------------------------------------------------


def test_apimart_task_progresses_and_completes_with_url_list(
        clock: ManualClock, http: httpx.Client, plain: httpx.Client) -> None:
    with FakeApimart(clock=clock, queued_for=1, running_for=10) as fake:
        created = http.post(fake.base_url + "/v1/videos/generations", json={
            "model": "doubao-seedance-2.0", "prompt": "kitten", "size": "9:16", "duration": 6}).json()
        assert created["code"] == 200 and created["data"][0]["status"] == "submitted"
        task_id = created["data"][0]["task_id"]
        assert is_task_id(task_id)
        url = f"{fake.base_url}/v1/tasks/{task_id}"
        assert http.get(url).json()["data"]["status"] == "pending"
        clock.advance(6)
        running = http.get(url, params={"language": "en"}).json()["data"]
        assert running["status"] == "processing" and 1 <= running["progress"] <= 99
        assert "result" not in running and "completed" not in running
        clock.advance(10)
        done = http.get(url).json()["data"]
        assert done["status"] == "completed" and done["progress"] == 100
        video = done["result"]["videos"][0]
        assert isinstance(video["url"], list) and video["expires_at"] > done["created"]
        assert done["actual_time"] == 11 and done["completed"] >= done["created"]
        assert plain.get(video["url"][0]).content == sample_mp4()
        missing = http.get(f"{fake.base_url}/v1/tasks/task_nope")
        assert missing.status_code == 404 and missing.json()["error"]["message"]


def test_apimart_failed_and_cancelled_outcomes(clock: ManualClock, http: httpx.Client) -> None:
    with FakeApimart(clock=clock, queued_for=0, running_for=1) as fake:
        fake.script("failed", error_message="violates policy")
        fake.script("cancelled")
        ids = [http.post(fake.base_url + "/v1/videos/generations", json={
            "model": "doubao-seedance-2.0-fast", "prompt": "x"}).json()["data"][0]["task_id"] for _ in range(2)]
        clock.advance(2)
        failed, cancelled = (http.get(f"{fake.base_url}/v1/tasks/{i}").json()["data"] for i in ids)
    assert failed["status"] == "failed" and failed["error"]["message"] == "violates policy"
    assert cancelled["status"] == "cancelled" and "result" not in cancelled


@pytest.mark.parametrize(("patch", "needle"), [
    ({"model": "seedance-2.0"}, "invalid model"),
    ({"duration": 3}, "duration"),
    ({"duration": 16}, "duration"),
    ({"size": "1280x720"}, "size"),
    ({"model": "doubao-seedance-2.0-fast", "resolution": "1080p"}, "resolution"),
    ({"image_urls": ["https://x/a.png"], "image_with_roles": [{"url": "https://x/b.png", "role": "first_frame"}]},
     "mutually exclusive"),
    ({"audio_urls": ["https://x/a.mp3"]}, "audio"),
    ({"aspect_ratio": "16:9"}, "unknown parameter"),
])
def test_apimart_rejects_invalid_bodies(http: httpx.Client, patch: dict[str, Any], needle: str) -> None:
    with FakeApimart() as fake:
        response = http.post(fake.base_url + "/v1/videos/generations",
                             json={"model": "doubao-seedance-2.0", "prompt": "x", **patch})
    assert response.status_code == 400
    assert needle in response.json()["error"]["message"]


# --- every provider ------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", sorted(FAKES_BY_PROVIDER))
def test_every_fake_accepts_its_minimal_submit_refuses_a_wrong_key_and_injects_faults(
        provider: str, plain: httpx.Client) -> None:
    path, body = MINIMAL_SUBMIT[provider]
    with FAKES_BY_PROVIDER[provider](api_key=KEY) as fake:
        url = fake.base_url + path
        assert plain.post(url, json=body, headers=AUTH).status_code == 200
        assert plain.post(url, json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
        fake.inject("submit", status=500)
        failed = plain.post(url, json=body, headers=AUTH)
        assert failed.status_code == 500 and failed.json()
        assert fake.submits == 1 and len(fake.requests_for("submit")) == 3


def test_a_subprocess_can_talk_to_a_fake(ark: FakeArk) -> None:
    code = (
        "import json, sys, urllib.request\n"
        "req = urllib.request.Request(sys.argv[1], data=json.dumps({'model': sys.argv[2], 'content': "
        "[{'type': 'text', 'text': 'x'}]}).encode(), headers={'Authorization': 'Bearer test-key', "
        "'Content-Type': 'application/json'})\n"
        "print(json.load(urllib.request.urlopen(req))['id'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code, ark.base_url + TASKS, BP_20],
                         capture_output=True, text=True, timeout=20, check=True)
    assert out.stdout.strip() == ark.task_ids[0]


async def test_fakes_serve_async_clients_inside_the_test_loop() -> None:
    async with FakeArk("volcengine", queued_for=0, running_for=0) as fake, \
            httpx.AsyncClient(headers=AUTH) as client, httpx.AsyncClient() as plain:
        created = await client.post(fake.base_url + TASKS, json={"model": VE_20, "content": text()})
        done = (await client.get(f"{fake.base_url}{TASKS}/{created.json()['id']}")).json()
        video = await plain.get(done["content"]["video_url"])
    assert done["status"] == "succeeded" and video.content == sample_mp4()
