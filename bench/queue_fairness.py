"""Benchmark: queue order and fairness, 50 requests from 5 users, each at a running limit of 2.

Every user asks ten times in a row (the worst case for fairness: first come, first served would
run one user's ten before the next user's first). The sandbox provider runs at most
``--concurrency`` videos at once for everybody (``max_concurrent``), so requests queue. Printed:
the order in which requests were sent to the provider, per-user wait times, and the largest run
of starts by one user.

    python bench/queue_fairness.py                 # 50 requests, 5 users, limit 2, provider runs 2
    python bench/queue_fairness.py --speed 10      # faster sandbox
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from core.config import Limits, ProviderSettings, Settings
from core.models import VideoRequest
from core.service import open_service

REQUEST = VideoRequest(prompt="a red fox running through snow", resolution="480p", duration=4)


async def run(users: int, per_user: int, limit: int, concurrency: int, speed: float) -> None:
    home = Path(tempfile.mkdtemp(prefix="seedance-fairness-")) / "home"
    settings = Settings(
        home=home,
        sandbox_speed=speed,
        limits=Limits(max_running_per_user=limit, max_tasks_per_day=None),
        providers={"sandbox": ProviderSettings(max_concurrent=concurrency)},
    )
    names = [f"user{i}" for i in range(users)]
    started = time.monotonic()
    async with open_service(settings, resume=True) as service:
        submitted = []
        for name in names:
            for _ in range(per_user):
                task = await service.submit(name, REQUEST, scope="bench")
                submitted.append((name, task.id, task.created_at.timestamp()))
        done = [await service.wait(name, task_id, timeout=600) for name, task_id, _ in submitted]
    wall = time.monotonic() - started
    order = sorted(done, key=lambda t: t.submitted_at.timestamp() if t.submitted_at else float("inf"))
    sequence = [t.user.removeprefix("user") for t in order]
    longest, run_length = 1, 1
    for before, after in zip(sequence, sequence[1:], strict=False):
        run_length = run_length + 1 if before == after else 1
        longest = max(longest, run_length)
    waits: dict[str, list[float]] = {name: [] for name in names}
    for task in done:
        if task.submitted_at:
            waits[task.user].append(task.submitted_at.timestamp() - task.created_at.timestamp())
    print(f"{users} users x {per_user} requests, running limit {limit} each, provider runs {concurrency} at once, "
          f"sandbox speed {speed}")
    print(f"all {len(done)} finished: {Counter(t.status.value for t in done)}; wall {wall:.1f} s")
    print("start order (user number per start):")
    for i in range(0, len(sequence), 25):
        print("  " + " ".join(sequence[i : i + 25]))
    print(f"longest run of starts by one user: {longest}")
    for start in range(0, len(sequence), 10):
        window = sequence[start : start + 10]
        print(f"  starts {start + 1:>2}-{start + len(window):<2}: users {sorted(set(window))}")
    print("wait in line before being sent, per user (median / max, s):")
    for name in names:
        print(f"  {name}: {statistics.median(waits[name]):6.1f} / {max(waits[name]):6.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--per-user", type=int, default=10)
    parser.add_argument("--limit", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--speed", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(run(args.users, args.per_user, args.limit, args.concurrency, args.speed))


if __name__ == "__main__":
    main()
