"""The streamable HTTP server on 127.0.0.1 (ephemeral port): tokens, per-user tasks, media links, callbacks."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import AsyncIterator
from typing import Any
from unittest import mock

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from core.config import Settings
from core.links import SECRET_FILE
from core.service import VideoService
from mcp_server.serve import RunningHttp, running_http
from tests.mcp.conftest import error_text, is_mp4, structured

ALICE, BOB = "alice-token-0123456789abcdef", "bob-token-0123456789abcdef"


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    from core.config import Limits

    return Settings(
        home=tmp_path,
        sandbox_speed=20,
        mcp_tokens={ALICE: "mcp:alice", BOB: "mcp:bob"},
        limits=Limits(max_running_per_user=10, max_tasks_per_day=100),
    )


@pytest.fixture
async def http(settings: Settings, service: VideoService) -> AsyncIterator[RunningHttp]:
    async with running_http(settings, service, host="127.0.0.1", port=0, handle_signals=False) as running:
        yield running


def client(http: RunningHttp, token: str) -> Client:
    headers = {"Authorization": f"Bearer {token}"}
    return Client(streamable_http_client(f"{http.base_url}/mcp", http_client=httpx2.AsyncClient(headers=headers)))


async def test_no_token_or_a_wrong_token_gets_401(http: RunningHttp) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient() as raw:
        missing = await raw.post(f"{http.base_url}/mcp", json=body, headers=headers)
        wrong = await raw.post(f"{http.base_url}/mcp", json=body, headers={**headers, "Authorization": "Bearer nope"})
        health = await raw.get(f"{http.base_url}/health")
    assert missing.status_code == 401 and wrong.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert health.status_code == 200


async def test_with_a_token_the_video_comes_back_with_a_link_served_here(http: RunningHttp) -> None:
    async with client(http, ALICE) as alice:
        tools = {t.name for t in (await alice.list_tools()).tools}
        task = structured(await alice.call_tool("generate_video", {"prompt": "a kite", "return_last_frame": True}))
    assert "generate_video" in tools
    assert task["status"] == "succeeded" and task["user"] == "mcp:alice"
    assert task["video_link"].startswith(f"{http.base_url}/media/")
    assert task["last_frame_link"].startswith(f"{http.base_url}/media/")
    async with httpx.AsyncClient() as raw:
        video = await raw.get(task["video_link"])
        frame = await raw.get(task["last_frame_link"])
        mac, name = task["video_link"].removeprefix(f"{http.base_url}/media/").split("/")
        forged = await raw.get(f"{http.base_url}/media/{'0' * len(mac)}/{name}")
        renamed = await raw.get(f"{http.base_url}/media/{mac}/{task['id']}-last-frame.png")
        escape = await raw.get(f"{http.base_url}/media/{mac}/..%2Fseedance.db")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp" and video.content == open(task["video_path"], "rb").read()
    assert frame.status_code == 200 and frame.headers["content-type"] == "image/png"
    assert forged.status_code == 404 and renamed.status_code == 404 and escape.status_code == 404
    assert is_mp4(task["video_path"])  # 127.0.0.1 without a public URL: the caller shares this machine


async def test_media_secret_is_owner_only(http: RunningHttp, settings: Settings) -> None:
    mode = stat.S_IMODE(os.stat(settings.home / SECRET_FILE).st_mode)
    assert mode == 0o600


async def test_users_over_http_see_only_their_own_tasks(http: RunningHttp) -> None:
    async with client(http, ALICE) as alice, client(http, BOB) as bob:
        task = structured(await alice.call_tool("generate_video", {"prompt": "alice only", "wait_seconds": 0}))
        assert "no task" in error_text(await bob.call_tool("get_video_task", {"task_id": task["id"]}))
        assert structured(await bob.call_tool("list_video_tasks", {}))["total"] == 0
        assert structured(await alice.call_tool("list_video_tasks", {}))["total"] == 1


@pytest.mark.parametrize(
    ("args", "field", "words"),
    [
        ({"first_frame": "/etc/hostname"}, "first_frame", "local file paths are not accepted"),
        ({"first_frame": "http://127.0.0.1:9/x.png"}, "first_frame", "local or private address"),
        ({"reference_images": ["https://192.168.1.20/a.png"]}, "reference_images", "local or private address"),
        ({"reference_videos": ["http://169.254.169.254/latest"]}, "reference_videos", "local or private address"),
        ({"reference_audios": ["http://[::1]/a.mp3"]}, "reference_audios", "local or private address"),
    ],
)
async def test_local_paths_and_private_urls_are_refused_over_http(
    http: RunningHttp, args: dict[str, Any], field: str, words: str
) -> None:
    async with client(http, ALICE) as alice:
        text = error_text(await alice.call_tool("generate_video", {"prompt": "x", **args}))
        listed = structured(await alice.call_tool("list_video_tasks", {}))
    assert text.removeprefix("Error executing tool generate_video: ").startswith(field), text
    assert words in text and listed["total"] == 0


async def test_provider_callback_route(http: RunningHttp, service: VideoService) -> None:
    async with httpx.AsyncClient() as raw:
        unknown = await raw.post(f"{http.base_url}/callbacks/abc123/not-the-token")
        with mock.patch.object(service, "handle_callback", mock.AsyncMock(return_value=True)) as handler:
            accepted = await raw.post(f"{http.base_url}/callbacks/abc123/the-token", json={"id": "x"})
        wrong_method = await raw.get(f"{http.base_url}/callbacks/abc123/the-token")
    assert unknown.status_code == 404
    assert accepted.status_code == 200
    handler.assert_awaited_once_with("abc123", "the-token")
    assert wrong_method.status_code == 405


async def test_behind_a_public_url_links_use_it_and_server_paths_stay_private(
    settings: Settings, service: VideoService
) -> None:
    public = settings.model_copy(update={"public_url": "https://videos.example.com/"})
    async with running_http(public, service, host="127.0.0.1", port=0, handle_signals=False) as running:
        local = f"http://127.0.0.1:{running.port}"
        async with client(RunningHttp(local, running.port, running.task, running.server), ALICE) as alice:
            task = structured(await alice.call_tool("generate_video", {"prompt": "a lighthouse"}))
        assert running.base_url == "https://videos.example.com"
        assert task["video_path"] is None and task["last_frame_path"] is None
        assert task["video_link"].startswith("https://videos.example.com/media/")
        async with httpx.AsyncClient() as raw:
            video = await raw.get(task["video_link"].replace("https://videos.example.com", local))
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"


async def test_media_links_never_serve_a_file_outside_the_media_folder(http: RunningHttp, settings: Settings) -> None:
    """Issue 11.4: a symbolic link planted in the media folder, or a symlinked media folder, serves nothing."""
    from core.links import MediaLinks, load_secret

    private = settings.home.parent / f"{settings.home.name}-private"
    private.mkdir()
    (private / "secret.mp4").write_bytes(b"the server user's private file")
    media = settings.media_dir
    media.mkdir(exist_ok=True)
    links = MediaLinks(load_secret(settings.home), media, http.base_url)
    (media / "planted.mp4").symlink_to(private / "secret.mp4")
    planted = links.url_for(str(media / "planted.mp4"))
    (media / "real.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 a real result")
    real = links.url_for(str(media / "real.mp4"))
    assert planted is not None and real is not None
    async with httpx.AsyncClient() as raw:
        assert (await raw.get(real)).status_code == 200
        assert (await raw.get(planted)).status_code == 404
        # The whole media folder swapped for a link to a folder holding a file of the same name.
        media.rename(media.with_name("media-old"))
        media.symlink_to(private)
        (private / "real.mp4").write_bytes(b"not from the media folder")
        assert (await raw.get(real)).status_code == 404


# -- issue 11.5: one token holder cannot lock everyone out with sessions ---------------------------------

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def open_session(raw: httpx.AsyncClient, url: str, token: str) -> httpx.Response:
    return await raw.post(url, json=INIT, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"})


async def still_open(raw: httpx.AsyncClient, url: str, token: str, session: str) -> bool:
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    answer = await raw.post(url, json=ping, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}",
                                                     "mcp-session-id": session, "mcp-protocol-version": "2025-11-25"})
    return answer.status_code == 200


async def test_a_users_sessions_are_capped_oldest_idle_first_and_others_are_unaffected(
    settings: Settings, service: VideoService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_server import http_app

    monkeypatch.setattr(http_app, "MAX_SESSIONS_PER_USER", 3)
    async with running_http(settings, service, host="127.0.0.1", port=0, handle_signals=False) as running, \
            httpx.AsyncClient(timeout=30) as raw:
        url = f"{running.base_url}/mcp"
        opened = []
        for _ in range(8):  # the attack was 10 000; the cap is 3
            answer = await open_session(raw, url, ALICE)
            assert answer.status_code == 200, answer.text
            opened.append(answer.headers["mcp-session-id"])
        alive = [sid for sid in opened if await still_open(raw, url, ALICE, sid)]
        assert alive == opened[-3:]  # the newest three; the older ones were closed, oldest first
        bob = await open_session(raw, url, BOB)
        assert bob.status_code == 200 and await still_open(raw, url, BOB, bob.headers["mcp-session-id"])


async def test_when_all_of_a_users_sessions_are_busy_a_new_one_is_refused_clearly(
    settings: Settings, service: VideoService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_server import http_app

    monkeypatch.setattr(http_app, "MAX_SESSIONS_PER_USER", 2)
    async with running_http(settings, service, host="127.0.0.1", port=0, handle_signals=False) as running, \
            httpx.AsyncClient(timeout=30) as raw, contextlib.AsyncExitStack() as streams:
        url = f"{running.base_url}/mcp"
        for _ in range(2):
            sid = (await open_session(raw, url, ALICE)).headers["mcp-session-id"]
            # An open GET stream keeps a request in flight: the session is busy, not idle.
            stream = await streams.enter_async_context(raw.stream("GET", url, headers={
                "Accept": "text/event-stream", "Authorization": f"Bearer {ALICE}", "mcp-session-id": sid,
                "mcp-protocol-version": "2025-11-25"}))
            assert stream.status_code == 200
        refused = await open_session(raw, url, ALICE)
        assert refused.status_code == 429 and refused.headers["retry-after"]
        assert "too many open sessions for this user (2, all busy)" in refused.json()["error"]["message"]
        assert (await open_session(raw, url, BOB)).status_code == 200


def test_sessions_expire_sooner_than_the_sdk_default() -> None:
    from mcp.server.streamable_http_manager import DEFAULT_MAX_SESSIONS, DEFAULT_SESSION_IDLE_TIMEOUT

    from mcp_server import http_app

    assert http_app.SESSION_IDLE_TIMEOUT <= 600 < DEFAULT_SESSION_IDLE_TIMEOUT
    assert http_app.MAX_SESSIONS < DEFAULT_MAX_SESSIONS


async def test_the_served_http_server_uses_the_connection_limits(http: RunningHttp) -> None:
    config = http.server.config
    assert getattr(config.http, "__name__", "") == "GuardedH11Protocol"
    assert config.backlog <= 128 and config.h11_max_incomplete_event_size is not None
