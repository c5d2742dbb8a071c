"""Benchmark: the service's watcher against a fixed 10-second poller, on the same fake tasks.

Each fake task finishes a set time after it is submitted (120 s ± 15 % by default). For every task
the real engine (`VideoService` with its scheduler loop running for every task, as a long-lived
process runs it: learned schedule, real SQLite store, real download and PyAV check) and a fixed
poller that asks every 10 s and then downloads both watch the same remote task. We record,
per side, the delay from the moment the task was done to the moment its video was on disk, and
how many status requests it spent.

Two runs: "cold" (empty history) and "warm" (after ten tasks of the same kind have finished).
Time is scaled (default 1 virtual second = 50 ms) so the benchmark takes seconds, not hours; both
sides run under the same scaled clock.

    python bench/polling.py [--tasks 20] [--scale 0.05] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import Limits, ProviderSettings, Settings  # noqa: E402
from core.http import HttpClient  # noqa: E402
from core.media import verify_video  # noqa: E402
from core.models import TaskStatus, VideoRequest  # noqa: E402
from core.providers.base import Provider, RemoteTask  # noqa: E402
from core.service import VideoService  # noqa: E402
from core.store import TaskStore  # noqa: E402
from tests.media_sample import tiny_mp4  # noqa: E402

FIXED_INTERVAL = 10.0


class ScaledClock:
    """Virtual seconds that run ``1/scale`` times faster than real ones."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self._real0 = time.monotonic()
        self._virtual0 = time.time()

    def __call__(self) -> float:
        return self._virtual0 + (time.monotonic() - self._real0) / self.scale

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0) * self.scale)


@dataclass
class FakeTask:
    done_at: float
    polls: dict[str, int] = field(default_factory=lambda: {"watcher": 0, "fixed": 0})
    seen_at: dict[str, float] = field(default_factory=dict)


class BenchProvider(Provider):
    """An in-process provider whose tasks finish at a chosen (virtual) time."""

    name: ClassVar[str] = "byteplus"

    def __init__(self, clock: ScaledClock, run_time: Any) -> None:
        super().__init__(http=HttpClient(), api_key="bench")
        self.clock = clock
        self.run_time = run_time
        self.tasks: dict[str, FakeTask] = {}

    async def submit(self, request: VideoRequest, *, callback_url: str | None = None) -> str:
        remote_id = f"cgt-{len(self.tasks):05d}"
        self.tasks[remote_id] = FakeTask(done_at=self.clock() + self.run_time())
        return remote_id

    def poll(self, remote_id: str, side: str) -> RemoteTask:
        task = self.tasks[remote_id]
        task.polls[side] += 1
        now = self.clock()
        if now < task.done_at:
            return RemoteTask(remote_id=remote_id, status=TaskStatus.RUNNING)
        task.seen_at.setdefault(side, now)
        return RemoteTask(remote_id=remote_id, status=TaskStatus.SUCCEEDED, video_url="bench://video.mp4")

    async def get(self, remote_id: str, *, model: str | None = None) -> RemoteTask:
        return self.poll(remote_id, "watcher")  # max_batch 1: the scheduler asks task by task

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> int:
        # A real (tiny) MP4: the engine opens every result with PyAV before calling it done.
        data = tiny_mp4()
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        return len(data)

    async def find_submitted(self, request: VideoRequest, *, since: datetime) -> list[RemoteTask]:
        return []


async def fixed_poller(provider: BenchProvider, remote_id: str, scratch: Path) -> float:
    """The seed guide's loop: ask every 10 s, then download. Returns when the video is on disk.

    Like the engine, it opens the file (PyAV) before calling it done: at small time scales every
    real millisecond of work is many virtual ones, and both sides should pay for the same work.
    """
    while True:
        await provider.clock.sleep(FIXED_INTERVAL)
        answer = provider.poll(remote_id, "fixed")
        if answer.status is TaskStatus.SUCCEEDED and answer.video_url:
            dest = scratch / f"{remote_id}.mp4"
            await provider.download(answer.video_url, dest, max_bytes=1 << 20)
            await asyncio.to_thread(verify_video, dest)
            return provider.clock()


async def run_batch(
    service: VideoService, provider: BenchProvider, count: int, duration: int
) -> list[tuple[float, float, int, int]]:
    """Submit ``count`` tasks of one kind at once; both sides watch each.

    Returns per task: (watcher delay, fixed-poller delay, watcher requests, fixed-poller requests).
    """
    request = VideoRequest(prompt="a lighthouse in a storm", resolution="720p", duration=duration)

    async def one(i: int) -> tuple[float, float, int, int]:
        task = await service.submit(f"bench:{i % 10}", request)
        assert task.remote_id is not None
        fixed = asyncio.create_task(fixed_poller(provider, task.remote_id, service.settings.home / "fixed"))
        final = await service.wait(task.user, task.id, interval=0.5)
        on_disk = provider.clock()
        fixed_on_disk = await fixed
        fake = provider.tasks[task.remote_id]
        assert final.status is TaskStatus.SUCCEEDED and final.video_path, final
        delays = (on_disk - fake.done_at, fixed_on_disk - fake.done_at)
        return (*delays, fake.polls["watcher"], fake.polls["fixed"])

    return await asyncio.gather(*(one(i) for i in range(count)))


def summarize(label: str, rows: list[tuple[float, float, int, int]]) -> None:
    def p95(values: list[float]) -> float:
        return statistics.quantiles(values, n=20, method="inclusive")[18]

    watcher_delay = [r[0] for r in rows]
    fixed_delay = [r[1] for r in rows]
    watcher_polls = [float(r[2]) for r in rows]
    fixed_polls = [float(r[3]) for r in rows]
    print(f"\n{label} ({len(rows)} tasks)")
    print(f"  {'side':<16}{'median delay':>14}{'p95 delay':>12}{'requests/task':>16}")
    for side, delays, polls in (("watcher", watcher_delay, watcher_polls), ("fixed 10 s", fixed_delay, fixed_polls)):
        print(f"  {side:<16}{statistics.median(delays):>13.2f}s{p95(delays):>11.2f}s{statistics.mean(polls):>16.1f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--scale", type=float, default=0.05, help="real seconds per virtual second")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mean", type=float, default=120.0, help="mean task time in seconds")
    parser.add_argument("--spread", type=float, default=0.15, help="± fraction of the mean")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    clock = ScaledClock(args.scale)

    def run_time() -> float:
        return args.mean * (1 + rng.uniform(-args.spread, args.spread))

    with tempfile.TemporaryDirectory() as home:
        settings = Settings(
            provider="byteplus",
            # The request budget is per real minute: scaled so that it is 600 a virtual minute.
            providers={"byteplus": ProviderSettings(  # type: ignore[arg-type]
                api_key="bench", requests_per_minute=600 / args.scale)},
            home=Path(home),
            limits=Limits(max_running_per_user=None, max_tasks_per_day=None),
        )
        store = await TaskStore.open(settings.db_path)
        provider = BenchProvider(clock, run_time)
        service = VideoService(
            settings=settings, store=store, http=HttpClient(), providers={"byteplus": provider},
            clock=clock, sleep=clock.sleep,
        )
        try:
            # The engine's scheduler loop for every task, as a long-lived process runs it
            # (open_service(resume=True)); `wait` then only waits for the task's change event.
            await service.resume()
            print(f"tasks take {args.mean:.0f} s ± {args.spread:.0%}; time scale {args.scale} real s per virtual s")
            # The history is per kind (provider, model, resolution, duration): the cold run and the
            # warm run use different durations so the cold run's tasks do not teach the warm run.
            summarize("cold: no history", await run_batch(service, provider, args.tasks, duration=4))
            await run_batch(service, provider, 10, duration=6)
            summarize("warm: after ten tasks of this kind", await run_batch(service, provider, args.tasks, duration=6))
        finally:
            await service.close()
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
