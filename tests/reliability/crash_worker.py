"""A minimal front end for the crash test: submit a plan, watch it, deliver each result exactly once.

    python -m tests.reliability.crash_worker --home H --provider-config C.toml --plan P.json \
        --sink S/ --events E.jsonl [--concurrency 6] [--delivery-pause 0.3] [--prefix crash:]

It uses only the public service API, as the CLI, MCP server and Discord bot do, and is written to be
SIGKILLed at any instruction and started again:

- every plan item is submitted with ``request_key = plan id``, so a restarted worker that submits
  the whole plan again gets the existing task back instead of paying twice; only a task that
  provably reached no provider (``never_sent``) frees its key, and the worker sends that item again;
- ``open_service(resume=True)`` resumes whatever the dead worker left unfinished;
- a final task is "delivered" by publishing ``<sink>/<task_id>`` with ``link()`` (atomic, and it
  refuses to overwrite), then ``mark_delivered``. A kill between the two leaves the file without the
  mark; the next run finds the task in ``undelivered()``, sees the file and only marks it. The file
  system is the idempotent sink that makes delivery exactly-once rather than at-least-once.

Progress goes to an append-only JSON-lines event log (one ``write`` per line) that the test reads to
time its kills and to count deliveries. Exit status 0 means every plan item is final and delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import Settings
from core.errors import InvalidRequestError, LimitReachedError
from core.models import Task, VideoRequest
from core.service import VideoService, open_service

TARGET_PREFIX = "crash:"
SENDS_PER_ITEM = 3  # a plan item whose attempt provably reached no provider is sent again, this often
log = logging.getLogger("crash_worker")


@dataclass(frozen=True)
class PlanItem:
    id: str
    user: str
    provider: str
    prompt: str
    params: dict[str, Any] = field(default_factory=dict)

    def request(self) -> VideoRequest:
        return VideoRequest(prompt=self.prompt, **self.params)


def load_plan(path: Path) -> list[PlanItem]:
    raw = json.loads(path.read_text())
    return [PlanItem(**item) for item in raw["tasks"]]


def write_plan(path: Path, items: Sequence[PlanItem]) -> None:
    data = {"tasks": [item.__dict__ for item in items]}
    path.write_text(json.dumps(data, indent=1))


class EventLog:
    """Append-only JSON lines; each line is one ``write`` so a kill never interleaves two lines."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def __call__(self, event: str, **fields: Any) -> None:
        line = json.dumps({"ev": event, "pid": os.getpid(), "t": time.time(), **fields}) + "\n"
        os.write(self._fd, line.encode())

    def close(self) -> None:
        os.close(self._fd)


class Sink:
    """A folder of delivered results; ``put`` publishes ``<task_id>`` at most once, ever."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def put(self, task: Task) -> bool:
        """Publish the task's result; False when an earlier run already published it."""
        body = json.dumps({
            "task_id": task.id,
            "plan_id": task.request_key,
            "user": task.user,
            "status": task.status.value,
            "video_path": task.video_path,
            "error": task.error.code if task.error else None,
        }).encode()
        tmp = self.folder / f".{task.id}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            # link() is atomic and fails if the name exists: readers never see a half-written
            # entry and two runs can never both publish the same task.
            os.link(tmp, self.folder / task.id)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink()


class Worker:
    def __init__(
        self,
        service: VideoService,
        plan: Sequence[PlanItem],
        sink: Sink,
        events: EventLog,
        *,
        concurrency: int = 6,
        delivery_pause: float = 0.0,
        prefix: str = TARGET_PREFIX,
    ) -> None:
        self.service = service
        self.plan = list(plan)
        self.sink = sink
        self.events = events
        self.delivery_pause = delivery_pause
        self.prefix = prefix  # this worker's targets: two workers on one home deliver only their own
        self._submit_slots = asyncio.Semaphore(concurrency)
        self._delivering: dict[str, asyncio.Lock] = {}

    async def run(self) -> int:
        """Deliver what a dead run left behind, then drive the whole plan to delivery."""
        backlog = await self.service.undelivered(self.prefix)
        self.events("backlog", tasks=[t.id for t in backlog])
        await asyncio.gather(*(self.deliver(task) for task in backlog))
        results = await asyncio.gather(*(self._one(item) for item in self.plan), return_exceptions=True)
        failures = [(item.id, r) for item, r in zip(self.plan, results, strict=True) if isinstance(r, BaseException)]
        for plan_id, exc in failures:
            log.error("plan item %s: %s: %s", plan_id, type(exc).__name__, exc)
        left = await self.service.undelivered(self.prefix)
        # Finished by a watcher after its own waiter returned (or not in this plan): deliver them too.
        await asyncio.gather(*(self.deliver(task) for task in left))
        self.events("done", failures=len(failures))
        return 1 if failures else 0

    async def _one(self, item: PlanItem) -> None:
        for _ in range(SENDS_PER_ITEM):
            async with self._submit_slots:
                task = await self._submit(item)
            self.events("submitted", plan=item.id, task=task.id, status=task.status.value)
            task = await self.service.wait(item.user, task.id)
            await self.deliver(task)
            if not task.never_sent:
                return
            # A kill stopped the earlier attempt before any provider had it ("not created, safe to
            # try again"): as a user would, send it again. The same key now starts a new task.

    async def _submit(self, item: PlanItem) -> Task:
        kwargs: dict[str, Any] = {"provider": item.provider, "target": self.prefix + item.id, "request_key": item.id}
        try:
            return await self.service.submit(item.user, item.request(), **kwargs)
        except (InvalidRequestError, LimitReachedError):
            raise  # nothing was stored: a broken plan or configuration, not something to retry
        except Exception as exc:  # noqa: BLE001 - the row exists and says what happened
            # The provider refused (row marked failed) or something else broke after the row
            # was written: the same request_key returns that row, never a second submit.
            log.warning("plan item %s: submit raised %s: %s", item.id, type(exc).__name__, exc)
            return await self.service.submit(item.user, item.request(), **kwargs)

    async def deliver(self, task: Task) -> None:
        lock = self._delivering.setdefault(task.id, asyncio.Lock())
        async with lock:
            task = await self.service.get(task.user, task.id, refresh=False)
            if task.delivered_at is not None or not task.is_final:
                return
            self.events("deliver_begin", task=task.id)
            # The pause widens the window between publishing and recording, so the test can kill
            # inside it on purpose; split so kills land on both sides of the publish.
            if self.delivery_pause:
                await asyncio.sleep(self.delivery_pause / 2)
            created = self.sink.put(task)
            if self.delivery_pause:
                await asyncio.sleep(self.delivery_pause / 2)
            marked = await self.service.mark_delivered(task.id, user=task.user)
            self.events("delivered", task=task.id, created=created, marked=marked, status=task.status.value)


def settings_for(home: Path, provider_config: Path | None) -> Settings:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEEDANCE_")}
    for key in ("SEEDANCE_SANDBOX_SPEED", "SEEDANCE_MAX_RUNNING_PER_USER", "SEEDANCE_MAX_TASKS_PER_DAY",
                "SEEDANCE_DAILY_BUDGET"):
        if key in os.environ:
            env[key] = os.environ[key]
    env["SEEDANCE_HOME"] = str(home)
    if provider_config is not None:
        env["SEEDANCE_CONFIG"] = str(provider_config)
    return Settings.from_env(env)


async def main_async(args: argparse.Namespace) -> int:
    events = EventLog(args.events)
    events("start")
    try:
        settings = settings_for(args.home, args.provider_config)
        async with open_service(settings, resume=True) as service:
            events("ready")
            worker = Worker(service, load_plan(args.plan), Sink(args.sink), events,
                            concurrency=args.concurrency, delivery_pause=args.delivery_pause, prefix=args.prefix)
            return await worker.run()
    finally:
        events.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crash_worker", description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--provider-config", type=Path, default=None, help="TOML file (as SEEDANCE_CONFIG)")
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--sink", type=Path, required=True)
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--concurrency", type=int, default=6, help="submits in flight at once")
    parser.add_argument("--delivery-pause", type=float, default=0.0, help="seconds spent inside each delivery")
    parser.add_argument("--prefix", default=TARGET_PREFIX, help="target prefix of this worker's deliveries")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
