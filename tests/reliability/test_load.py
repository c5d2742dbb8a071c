"""Load: 1,000 tasks from 100 users at once through one service, and two services on one database.

Against a local fake BytePlus server with short task timings and its media host, with the per-user
limits lifted. Every task must be submitted once, finish, be downloaded and be recorded, and no
``database is locked`` may appear anywhere (logs, exceptions, worker output). Wall time and memory
are printed for docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core import catalog
from core.config import Limits, ProviderSettings, Settings
from core.http import HttpClient
from core.models import Task, TaskStatus, VideoRequest
from core.providers.ark import BytePlusProvider
from core.service import VideoService, open_service
from tests.fakes import FakeArk
from tests.reliability.crash_worker import PlanItem, write_plan

REPO = Path(__file__).resolve().parents[2]
NO_LIMITS = Limits(max_running_per_user=None, max_tasks_per_day=None, daily_budget=None)
LOCKED = "database is locked"


def ark_settings(home: Path, fake: FakeArk) -> Settings:
    return Settings(home=home, provider="byteplus", limits=NO_LIMITS,
                    providers={"byteplus": ProviderSettings(api_key=fake.api_key, base_url=fake.base_url)})


def memory_kb() -> tuple[int, int]:
    """(current RSS, peak RSS) of this process in kB."""
    fields = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


async def run_user(service: VideoService, user: str, count: int) -> list[Task | BaseException]:
    """One user fires ``count`` submits at once and waits for all of them."""

    async def one(n: int) -> Task:
        request = VideoRequest(prompt=f"{user} load task {n}: waves on a pier", duration=4, resolution="480p")
        task = await service.submit(user, request, target=f"load:{user}:{n}")
        return await service.wait(user, task.id, timeout=240)

    return list(await asyncio.gather(*(one(n) for n in range(count)), return_exceptions=True))


@pytest.mark.timeout(300)
async def test_thousand_tasks_from_hundred_users(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    users, per_user = 100, 10
    with FakeArk("byteplus", api_key="load-key", queued_for=0.2, running_for=0.5) as fake:
        settings = ark_settings(tmp_path / "home", fake)
        rss0, _ = memory_kb()
        started = time.monotonic()
        async with open_service(settings) as service:
            results = await asyncio.gather(*(run_user(service, f"user{u:03d}", per_user) for u in range(users)))
            wall = time.monotonic() - started
            flat = [r for per in results for r in per]
            errors = [r for r in flat if isinstance(r, BaseException)]
            tasks = [r for r in flat if isinstance(r, Task)]
            counts = {f"user{u:03d}": await service.count_tasks(f"user{u:03d}") for u in range(users)}
            history = await service.list_tasks("user042", limit=100)
        rss1, peak = memory_kb()
        media_gets = Counter(r.path for r in fake.media.requests)
        submits = fake.submits
        status_reads = len(fake.requests_for("get"))
    with sqlite3.connect(settings.db_path) as db:
        rows = db.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status").fetchall()
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    print(f"\nload: {len(tasks)} tasks from {users} users in {wall:.1f} s wall; {submits} submits, "
          f"{status_reads} status reads ({status_reads / max(submits, 1):.2f}/task), "
          f"{sum(media_gets.values())} downloads; "
          f"RSS {rss0 // 1024} -> {rss1 // 1024} MiB (peak {peak // 1024} MiB); rows {dict(rows)}")
    assert not errors, f"{len(errors)} submits failed, first: {errors[0]!r}"
    assert len(tasks) == users * per_user
    assert all(t.status is TaskStatus.SUCCEEDED and t.video_path and Path(t.video_path).is_file() for t in tasks)
    assert submits == users * per_user  # each once
    assert all(n == 1 for n in media_gets.values()) and len(media_gets) == users * per_user
    assert dict(rows) == {"succeeded": users * per_user} and integrity == "ok"
    assert set(counts.values()) == {per_user}
    assert {t.user for t in history} == {"user042"} and len(history) == per_user
    assert LOCKED not in caplog.text.lower()


@pytest.mark.timeout(300)
async def test_two_services_in_one_process_share_the_database(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two service instances (two connections, two lease owners) on one file, both submitting and resuming."""
    caplog.set_level(logging.WARNING)
    with FakeArk("byteplus", api_key="load-key", queued_for=0.2, running_for=0.5) as fake:
        settings = ark_settings(tmp_path / "home", fake)
        started = time.monotonic()
        async with open_service(settings) as first, open_service(settings) as second:
            results = await asyncio.gather(
                *(run_user(first, f"a{u:02d}", 10) for u in range(20)),
                *(run_user(second, f"b{u:02d}", 10) for u in range(20)),
            )
            # Each service reads the other's tasks as the same rows.
            cross = await first.get("b07", (await second.list_tasks("b07"))[0].id, refresh=False)
        wall = time.monotonic() - started
        flat = [r for per in results for r in per]
        errors = [r for r in flat if isinstance(r, BaseException)]
        media_gets = Counter(r.path for r in fake.media.requests)
        submits = fake.submits
    print(f"\ntwo services, one process: {len(flat)} tasks in {wall:.1f} s, {submits} submits, "
          f"{sum(media_gets.values())} downloads")
    assert not errors, errors[:3]
    assert all(isinstance(t, Task) and t.status is TaskStatus.SUCCEEDED for t in flat)
    assert submits == 400 and len(media_gets) == 400 and all(n == 1 for n in media_gets.values())
    assert cross.status is TaskStatus.SUCCEEDED
    assert LOCKED not in caplog.text.lower()


@pytest.mark.timeout(300)
def test_two_worker_processes_share_the_database(tmp_path: Path) -> None:
    """Two front-end processes on one home: 2 x 250 tasks, 25 users each, started together."""
    per_process = 250
    with FakeArk("byteplus", api_key="load-key", queued_for=0.2, running_for=0.5) as fake:
        toml = tmp_path / "seedance.toml"
        toml.write_text(f'provider = "byteplus"\n[providers.byteplus]\napi_key = "{fake.api_key}"\n'
                        f'base_url = "{fake.base_url}"\n'
                        "[limits]\nmax_running_per_user = 100000\nmax_tasks_per_day = 100000\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SEEDANCE_", "DISCORD_"))}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
        procs = []
        started = time.monotonic()
        for name in ("a", "b"):
            plan = [PlanItem(id=f"{name}{n:04d}", user=f"{name}-user{n % 25:02d}", provider="byteplus",
                             prompt=f"process {name} task {n}: rain on a window",
                             params={"duration": 4, "seed": n})
                    for n in range(per_process)]
            write_plan(tmp_path / f"plan-{name}.json", plan)
            log = open(tmp_path / f"worker-{name}.log", "wb")  # noqa: SIM115 - handed to the child
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "tests.reliability.crash_worker", "--home", str(tmp_path / "home"),
                 "--provider-config", str(toml), "--plan", str(tmp_path / f"plan-{name}.json"),
                 "--sink", str(tmp_path / "sink"), "--events", str(tmp_path / f"events-{name}.jsonl"),
                 "--concurrency", "250", "--prefix", f"load-{name}:"],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
            log.close()
        codes = [p.wait(timeout=240) for p in procs]
        wall = time.monotonic() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        media_gets = Counter(r.path for r in fake.media.requests)
        submits = fake.submits
        bodies = {rid: fake.task_body(rid) for rid in fake.task_ids}
    logs = {name: (tmp_path / f"worker-{name}.log").read_text() for name in ("a", "b")}
    with sqlite3.connect(tmp_path / "home" / "seedance.db") as db:
        rows = dict(db.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status").fetchall())
        undelivered = db.execute("SELECT COUNT(*) FROM tasks WHERE delivered_at IS NULL").fetchone()[0]
        linked = db.execute("SELECT remote_id, request FROM tasks WHERE remote_id IS NOT NULL").fetchall()
    # No row may hold a remote task submitted for another row (the other process must not adopt ours).
    mixed = [rid for rid, request in linked
             if bodies[rid]["content"][0]["text"] != json.loads(request)["prompt"]]
    doubled = sorted(path for path, n in media_gets.items() if n > 1)
    sink = [p for p in (tmp_path / "sink").iterdir() if not p.name.startswith(".")]
    print(f"\ntwo processes: {2 * per_process} tasks in {wall:.1f} s wall; exit codes {codes}; {submits} submits; "
          f"{sum(media_gets.values())} downloads; peak RSS of the largest worker {usage.ru_maxrss // 1024} MiB; "
          f"rows {rows}")
    print(f"rows holding another row's remote task: {len(mixed)}; videos downloaded more than once: {len(doubled)}")
    assert codes == [0, 0], logs
    assert not mixed, f"{len(mixed)} rows adopted another row's remote task"
    assert rows == {"succeeded": 2 * per_process} and undelivered == 0
    assert submits == 2 * per_process and len(media_gets) == 2 * per_process and not doubled
    assert len(sink) == 2 * per_process
    for name, text in logs.items():
        assert LOCKED not in text.lower(), f"worker {name}: {text[-2000:]}"
        assert "Traceback" not in text, f"worker {name}: {text[-2000:]}"
    events = [json.loads(line) for name in ("a", "b")
              for line in (tmp_path / f"events-{name}.jsonl").read_text().splitlines()]
    assert sum(1 for e in events if e["ev"] == "delivered" and e["created"]) == 2 * per_process


async def test_reconcile_finds_a_lost_submit_behind_fifty_newer_tasks() -> None:
    """Under load other submits of the same model land between our lost answer and the reconcile."""
    with FakeArk("byteplus", api_key="k", queued_for=5, running_for=5) as fake:
        http = HttpClient()
        try:
            adapter = BytePlusProvider(http=http, api_key="k", base_url=fake.base_url)
            since = datetime.now(UTC)
            ours = catalog.resolve(VideoRequest(prompt="ours", duration=4, seed=7), "byteplus")
            remote_id = await adapter.submit(ours)
            others = [catalog.resolve(VideoRequest(prompt=f"other {n}", duration=4, seed=100 + n), "byteplus")
                      for n in range(60)]
            await asyncio.gather(*(adapter.submit(r) for r in others))
            found = await adapter.find_submitted(ours, since=since)
        finally:
            await http.aclose()
    assert remote_id in [t.remote_id for t in found]


# --- two instances on one database: interleavings pinned on their own --------------------------------------


@pytest.mark.timeout(120)
async def test_two_instances_fetch_each_finished_video_once(tmp_path: Path) -> None:
    """Regression test for reliability BUG R5 (before e0d156f, 7 of 500 videos were fetched twice
    with two worker processes). Two schedulers on one database claim the same due work all the
    time; a download runs under its task's lease, and a finished row is never claimed again."""
    with FakeArk("byteplus", api_key="load-key", queued_for=0.2, running_for=0.5) as fake:
        settings = ark_settings(tmp_path / "home", fake)
        async with open_service(settings) as first, open_service(settings) as second:
            tasks = [await first.submit("u", VideoRequest(prompt=f"a heron in the reeds {i}", duration=4))
                     for i in range(20)]
            done = [await asyncio.wait_for(second.wait("u", t.id), 60) for t in tasks]
        downloads = len(fake.media.requests)
    assert all(t.status is TaskStatus.SUCCEEDED and t.video_path for t in done)
    assert downloads == len(tasks), f"{len(tasks)} videos were downloaded {downloads} times"


@pytest.mark.timeout(120)
async def test_second_instance_leaves_a_live_submit_alone(tmp_path: Path) -> None:
    """A CLI started while a bot waits for submit answers must not reconcile (and maybe swap) them."""
    with FakeArk("byteplus", api_key="load-key", queued_for=0.2, running_for=0.5) as fake:
        fake.inject("submit", after_create=True, delay=3, times=2)  # both answers are slow, none is lost
        settings = ark_settings(tmp_path / "home", fake)
        await asyncio.sleep(1.05 - time.time() % 1)  # both tasks in one of Ark's whole-second created_at
        async with open_service(settings) as first:
            jobs = [asyncio.create_task(first.submit(user, VideoRequest(prompt=prompt, duration=4)))
                    for user, prompt in (("alice", "alice's private cat"), ("bob", "bob's dog"))]
            await asyncio.to_thread(fake.wait_for, lambda f: f.submits == 2, 10)
            # A CLI or a second bot process starts now, while the first is waiting for the answers.
            async with open_service(settings) as second:
                results = await asyncio.gather(*jobs, return_exceptions=True)
                rows = [await second.wait(user, t.id, timeout=60) if isinstance(t, Task) else t
                        for user, t in zip(("alice", "bob"), results, strict=True)]
        bodies = {rid: fake.task_body(rid) for rid in fake.task_ids}
    assert all(isinstance(r, Task) for r in rows), f"a live submit failed: {rows!r}"
    for row in rows:
        assert isinstance(row, Task) and row.remote_id is not None
        assert bodies[row.remote_id]["content"][0]["text"] == row.prompt, f"{row.user} got another user's task"
