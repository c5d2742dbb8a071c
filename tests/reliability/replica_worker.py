"""The front end of one replica in the multi-replica test: submit a plan, deliver its results once.

    python -m tests.reliability.replica_worker --home H --provider-config C.toml --plan P.json \
        --sink S/ --events E.jsonl --prefix replica-a: [--concurrency 4] [--rate 8] [--timeout 120]

A replica is a `seedance serve` process (its scheduler claims, checks and downloads every due task)
plus this front end on the same ``SEEDANCE_HOME`` and database, as the Discord bot is inside
``seedance serve``: it submits through `VideoService.submit` (``request_key`` = plan id, ``target``
= prefix + plan id) and delivers the final tasks of its own prefix with the sink protocol of
`tests.reliability.crash_worker` (publish ``<sink>/<task id>`` with ``link()``, then
``mark_delivered``). The service is opened with ``resume=False``: the front end runs no scheduler
loop of its own (``seedance serve`` does); it only takes part in checks the way every submit does
(`refresh_user`). It never calls ``wait``: a delivery loop sweeps ``undelivered(prefix)``, since the
task may be finished by any process on any machine.

Media stay per machine: before delivering, the front end makes sure the video is in its own home
(`VideoService.local_video`, which downloads a copy when another replica saved the task), and the
sink entry names that local file. Homes of the test's "machines" share one disk, so a path in
another replica's home is treated as missing, as it would be on another machine.

Written to be SIGKILLed with its replica and started again: the restarted front end submits the
whole plan again (existing request keys return their tasks; nothing is sent twice) and delivers its
backlog. Exit status 0 when every plan item is final and delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from core.models import Task, TaskStatus
from core.service import VideoService, open_service
from tests.reliability.crash_worker import EventLog, PlanItem, Sink, Worker, load_plan, settings_for

SWEEP_SECONDS = 0.25
DELIVERIES = 8  # at once: a copy's download must not take every connection a submit needs
log = logging.getLogger("replica_worker")


class LocalSink(Sink):
    """The crash test's sink, naming the deliverer's own copy of the video."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.local: dict[str, str] = {}

    def put(self, task: Task) -> bool:
        return super().put(task.model_copy(update={"video_path": self.local.get(task.id, task.video_path)}))


class FrontEnd(Worker):
    """`crash_worker.Worker` without ``wait``: submit everything, then sweep and deliver."""

    sink: LocalSink

    def __init__(self, service: VideoService, plan: Sequence[PlanItem], sink: LocalSink, events: EventLog,
                 *, concurrency: int, prefix: str, rate: float | None = None) -> None:
        super().__init__(service, plan, sink, events, concurrency=concurrency, prefix=prefix)
        self._gap = 1.0 / rate if rate else 0.0  # users do not all click at once: submits start this far apart
        self._next_start = 0.0
        self._pace = asyncio.Lock()
        self.media_dir = service.settings.media_dir.resolve()
        self.tasks: dict[str, str] = {}  # plan id -> task id
        self._delivery_slots = asyncio.Semaphore(DELIVERIES)

    async def run_until_delivered(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        submits = asyncio.ensure_future(self._submit_all())
        try:
            while time.monotonic() < deadline:
                # Concurrently: a delivery may first download this machine's copy of the video.
                await asyncio.gather(*(self.deliver(task) for task in await self.service.undelivered(self.prefix)))
                if submits.done():
                    submits.result()  # a broken plan or configuration ends the run
                    if await self._all_delivered():
                        self.events("done", failures=0)
                        return 0
                await asyncio.sleep(SWEEP_SECONDS)
        finally:
            submits.cancel()
        log.error("not every plan item was delivered within %.0f s", timeout)
        self.events("done", failures=1)
        return 1

    async def _submit_all(self) -> None:
        await asyncio.gather(*(self._submit_one(item) for item in self.plan))
        self.events("submitted_all", tasks=len(self.tasks))

    async def _submit_one(self, item: PlanItem) -> None:
        async with self._submit_slots:
            async with self._pace:
                await asyncio.sleep(max(self._next_start - time.monotonic(), 0.0))
                self._next_start = time.monotonic() + self._gap
            task = await self._submit(item)
        self.tasks[item.id] = task.id
        self.events("submitted", plan=item.id, task=task.id, status=task.status.value)

    async def _all_delivered(self) -> bool:
        for task_id in list(self.tasks.values()):
            task = await self.service.store.get(task_id)
            if task is None or task.delivered_at is None:
                return False
        return True

    async def deliver(self, task: Task) -> None:
        async with self._delivery_slots:
            await self._deliver(task)

    async def _deliver(self, task: Task) -> None:
        if task.status is TaskStatus.SUCCEEDED and task.id not in self.sink.local:
            mine = task.video_path is not None and Path(task.video_path).resolve().is_relative_to(self.media_dir)
            local = await self.service.local_video(task if mine else task.model_copy(update={"video_path": None}))
            if local is None:
                log.error("task %s: no video to deliver", task.id)
                return
            self.sink.local[task.id] = str(local)
        await super().deliver(task)


async def main_async(args: argparse.Namespace) -> int:
    events = EventLog(args.events)
    events("start", prefix=args.prefix)
    try:
        settings = settings_for(args.home, args.provider_config)
        async with open_service(settings, resume=False) as service:
            events("ready", instance=service.instance, prefix=args.prefix)
            front = FrontEnd(service, load_plan(args.plan), LocalSink(args.sink), events,
                             concurrency=args.concurrency, prefix=args.prefix, rate=args.rate)
            return await front.run_until_delivered(args.timeout)
    finally:
        events.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="replica_worker", description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--provider-config", type=Path, required=True, help="TOML file (as SEEDANCE_CONFIG)")
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--sink", type=Path, required=True)
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--prefix", required=True, help="target prefix of this front end's deliveries")
    parser.add_argument("--concurrency", type=int, default=4, help="submits in flight at once")
    parser.add_argument("--rate", type=float, default=None, help="submits started per second at most")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
