"""Isolation (core + CLI): another user's task is invisible and unchanged on every path.

Alice owns three tasks: a finished one, a finished one still waiting for delivery, and one that stays queued
(a very slow sandbox). Mallory then tries every read, list, wait, cancel and delivery path of `VideoService`
and every CLI command with ``SEEDANCE_USER`` set to herself (plus look-alike user ids). She must get
`TaskNotFoundError` / exit 2 / an empty history, and Alice's rows must not change by a single column.
Provider callbacks are checked the same way from an unauthenticated caller: only the task's own token counts.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cli.app import main
from core.config import Limits, ProviderSettings, Settings
from core.errors import TaskNotFoundError
from core.models import Task, TaskStatus, VideoRequest
from core.service import VideoService, open_service
from tests.conftest import clean_environ

ROOT = Path(__file__).resolve().parents[2]
ALICE = "cli:alice"
MALLORY = "cli:mallory"
LOOK_ALIKES = (MALLORY, "cli:alice ", " cli:alice", "CLI:alice", "cli:Alice", "cli:alice\x00", "cli:alic",
               "cli:alice%", "cli:%", "%", "_", "cli:ali_e", "", "discord:alice", "mcp:alice", "cli:alice' OR '1'='1")
NO_LIMITS = Limits(max_running_per_user=None, max_tasks_per_day=None, daily_budget=None)
# Columns only a watcher of Alice's own task may touch; anything else changing is a leak.
VOLATILE = {"lease_owner", "lease_until", "updated_at"}


@dataclass
class World:
    home: Path
    done: Task  # succeeded, delivered
    undelivered: Task  # succeeded, target set, not delivered yet
    queued: Task  # stays queued for minutes


async def _snapshot(service: VideoService, *ids: str) -> dict[str, dict[str, Any]]:
    rows = {}
    for task_id in ids:
        raw = await service.store.get_raw(task_id)
        assert raw is not None
        rows[task_id] = {k: v for k, v in raw.items() if k not in VOLATILE}
    return rows


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Built once (rendering the videos takes a second or two); tests only read it, or add other users' rows."""
    return asyncio.run(_build_world(tmp_path_factory.mktemp("isolation") / "home"))


async def _build_world(home: Path) -> World:
    fast = Settings(home=home, sandbox_speed=20, limits=NO_LIMITS)
    async with open_service(fast) as service:
        done = await service.submit(ALICE, VideoRequest(prompt="alice's fox", return_last_frame=True))
        parked = await service.submit(ALICE, VideoRequest(prompt="alice's owl"), target="discord:1:2",
                                      request_key="alice-key-1")
        async with asyncio.timeout(30):
            done = await service.wait(ALICE, done.id, interval=0.05)
            parked = await service.wait(ALICE, parked.id, interval=0.05)
        assert done.status is TaskStatus.SUCCEEDED and parked.status is TaskStatus.SUCCEEDED
        assert await service.mark_delivered(done.id)
    slow = Settings(home=home, sandbox_speed=0.001, limits=NO_LIMITS)  # queued for ~17 minutes
    async with open_service(slow, resume=False) as service:
        queued = await service.submit(ALICE, VideoRequest(prompt="alice's slow whale"))
        assert queued.status is TaskStatus.QUEUED
    return World(home, done, parked, queued)


@pytest.fixture
async def slow_service(world: World) -> AsyncIterator[VideoService]:
    async with open_service(Settings(home=world.home, sandbox_speed=0.001, limits=NO_LIMITS), resume=False) as svc:
        yield svc


# -- VideoService ---------------------------------------------------------------------------------


@pytest.mark.parametrize("intruder", LOOK_ALIKES)
async def test_every_service_path_hides_another_users_task(world: World, slow_service: VideoService,
                                                           intruder: str) -> None:
    service = slow_service
    ids = (world.done.id, world.undelivered.id, world.queued.id)
    before = await _snapshot(service, *ids)
    for task_id in ids:
        for refresh in (True, False):
            with pytest.raises(TaskNotFoundError):
                await service.get(intruder, task_id, refresh=refresh)
        with pytest.raises(TaskNotFoundError):
            await service.wait(intruder, task_id, timeout=0.1)
        with pytest.raises(TaskNotFoundError):
            await service.cancel(intruder, task_id)
        # A task id in another case or with padding is not a back door either.
        for variant in (task_id.upper(), f" {task_id}", f"{task_id}%", "%", "_" * len(task_id)):
            with pytest.raises(TaskNotFoundError):
                await service.get(intruder, variant, refresh=False)
    assert await service.list_tasks(intruder) == []
    for status in ("queued", "succeeded", "pending", "running"):
        assert await service.list_tasks(intruder, status=status, limit=100) == []
    assert await service.count_tasks(intruder) == 0
    assert await _snapshot(service, *ids) == before
    # The sandbox was never asked to cancel Alice's queued task.
    owner_view = await service.get(ALICE, world.queued.id, refresh=False)
    assert owner_view.status is TaskStatus.QUEUED and owner_view.error is None


async def test_the_owner_still_sees_everything(world: World, slow_service: VideoService) -> None:
    """The positive control: the same calls as Alice succeed, so the refusals above mean something."""
    tasks = await slow_service.list_tasks(ALICE, limit=100)
    assert {t.id for t in tasks} == {world.done.id, world.undelivered.id, world.queued.id}
    assert await slow_service.count_tasks(ALICE) == 3
    assert (await slow_service.get(ALICE, world.done.id)).video_path


async def test_a_request_key_never_returns_another_users_task(world: World, slow_service: VideoService) -> None:
    other = "cli:mallory-keys"  # her own rows must not show up in the tests that expect Mallory to have none
    mine = await slow_service.submit(other, VideoRequest(prompt="mallory's cat"), request_key="alice-key-1")
    assert mine.id != world.undelivered.id and mine.user == other
    assert mine.request.prompt == "mallory's cat"
    assert (await slow_service.get(ALICE, world.undelivered.id, refresh=False)).request_key == "alice-key-1"


async def test_progress_needs_a_task_only_its_owner_can_load(world: World, slow_service: VideoService) -> None:
    """`progress(task)` takes a `Task`, which only a user-scoped `get` / `list_tasks` hands out."""
    assert list(inspect.signature(slow_service.progress).parameters) == ["task"]
    progress = await slow_service.progress(await slow_service.get(ALICE, world.queued.id, refresh=False))
    assert 0 <= progress.fraction < 1


async def test_mark_delivered_checks_the_owner(world: World, slow_service: VideoService) -> None:
    assert await slow_service.mark_delivered(world.undelivered.id, user=MALLORY) is False
    assert (await slow_service.get(ALICE, world.undelivered.id, refresh=False)).delivered_at is None


async def test_delivery_queue_is_per_front_end_prefix(world: World, slow_service: VideoService) -> None:
    """`undelivered` is for a front end's delivery loop (server side, by target prefix), not a user view."""
    assert [t.id for t in await slow_service.undelivered("discord:")] == [world.undelivered.id]
    for other in ("mcp", "cli", "discord:9", "%", "_iscord:"):
        assert await slow_service.undelivered(other) == []


# -- provider callbacks: an unauthenticated HTTP caller ---------------------------------------------


async def test_callbacks_need_the_tasks_own_token(tmp_path: Path) -> None:
    from tests.fakes import FakeArk

    async with FakeArk("byteplus", api_key="sk-isolation-test", running_for=600.0) as fake:
        settings = Settings(
            provider="byteplus", home=tmp_path / "home", limits=NO_LIMITS, public_url="https://studio.example",
            providers={"byteplus": ProviderSettings(api_key="sk-isolation-test", base_url=fake.base_url)},
        )
        async with open_service(settings) as service:
            first = await service.submit(ALICE, VideoRequest(prompt="alice's heron"))
            second = await service.submit(ALICE, VideoRequest(prompt="alice's crane"))
            raw_first = await service.store.get_raw(first.id)
            raw_second = await service.store.get_raw(second.id)
            assert raw_first and raw_second
            token, other_token = raw_first["callback_token"], raw_second["callback_token"]
            assert token and other_token and token != other_token and len(token) >= 24
            callback = fake.requests_for("submit")[0].json["callback_url"]
            assert callback.endswith(f"/callbacks/{first.id}/{token}")
            before = await _snapshot(service, first.id)
            for guess in ("", "None", "null", token[:-1], token.upper(), token + "x", other_token, " " + token):
                assert await service.handle_callback(first.id, guess) is False
            assert await service.handle_callback("no-such-task", token) is False
            assert await service.handle_callback(second.id, token) is False
            assert await _snapshot(service, first.id) == before
            assert await service.handle_callback(first.id, token) is True  # the real one is accepted


# -- the CLI -------------------------------------------------------------------------------------------


@pytest.fixture
def as_user(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def use(user: str) -> None:
        for key in list(os.environ):
            if key.startswith(("SEEDANCE_", "DISCORD_")):
                monkeypatch.delenv(key)
        monkeypatch.setenv("SEEDANCE_HOME", str(world.home))
        monkeypatch.setenv("SEEDANCE_SANDBOX_SPEED", "0.001")
        monkeypatch.setenv("SEEDANCE_USER", user)

    yield use


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("intruder", [MALLORY, "cli:alice ", "CLI:alice", "cli:%", "%"])
async def test_cli_as_another_user_sees_and_changes_nothing(world: World, as_user: Any, intruder: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    as_user(intruder)
    ids = (world.done.id, world.undelivered.id, world.queued.id)

    def run() -> list[tuple[int, str, str]]:
        results = []
        for task_id in ids:
            for argv in (["status", task_id, "--no-wait"], ["status", task_id, "--json"], ["status", task_id],
                         ["cancel", task_id], ["cancel", task_id, "--json"]):
                results.append(_cli(capsys, *argv))
        results.append(_cli(capsys, "history", "--json", "--limit", "100"))
        results.append(_cli(capsys, "history"))
        return results

    async with open_service(Settings(home=world.home, limits=NO_LIMITS), resume=False) as service:
        before = await _snapshot(service, *ids)
    results = await asyncio.to_thread(run)  # main() runs its own event loop
    *per_task, (hist_code, hist_json, _), (plain_code, plain_out, _) = results
    for code, out, err in per_task:
        assert code == 2 and "no task" in err and err.count("\n") == 1
        assert out == "" or json.loads(out)["error"]["code"] == "task_not_found"  # --json: the error as JSON
    assert hist_code == 0 and json.loads(hist_json) == []
    assert plain_code == 0 and "no tasks yet" in plain_out
    async with open_service(Settings(home=world.home, limits=NO_LIMITS), resume=False) as service:
        assert await _snapshot(service, *ids) == before


async def test_cli_owner_control(world: World, as_user: Any, capsys: pytest.CaptureFixture[str]) -> None:
    as_user(ALICE)
    code, out, _ = await asyncio.to_thread(_cli, capsys, "status", world.done.id, "--json")
    assert code == 0 and json.loads(out)["id"] == world.done.id
    code, out, _ = await asyncio.to_thread(_cli, capsys, "history", "--json")
    assert code == 0 and len(json.loads(out)) == 3


def test_cli_subprocess_as_another_user(world: World) -> None:
    for argv in (["status", world.queued.id, "--no-wait"], ["cancel", world.queued.id]):
        env = clean_environ(world.home, SEEDANCE_USER=MALLORY, SEEDANCE_SANDBOX_SPEED="0.001")
        proc = subprocess.run([sys.executable, "-m", "cli", *argv], cwd=ROOT, env=env, capture_output=True,
                              timeout=60, check=False)
        assert proc.returncode == 2 and b"no task" in proc.stderr and proc.stdout == b""
    env = clean_environ(world.home, SEEDANCE_USER=MALLORY)
    proc = subprocess.run([sys.executable, "-m", "cli", "history", "--json"], cwd=ROOT, env=env,
                          capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0 and json.loads(proc.stdout) == []
