"""Benchmark: 10,000 tasks in flight in one process, on the real store and the real scheduler.

The local Ark fake (tests/fakes/ark.py, list endpoint with ``filter.task_ids``) runs in a child
process on 127.0.0.1, so its CPU and memory are not the engine's. Its result links serve the tiny
MP4 of tests/media_sample.py from a media host also on 127.0.0.1, so every download is real (HTTP,
then PyAV opens the file) but cheap.

How tasks get in flight: the child creates each remote task through the fake's own create endpoint
(POST, scripted to finish after a random 60-180 s, a few percent failing), and this process then
writes the row through the store exactly as a successful submit does (`TaskStore.insert`, then
`TaskStore.mark_submitted` with the engine's own first-check delay). Submits arrive evenly over
``--ramp`` seconds, so with the default 30 s ramp every task is in flight at once from t=30 s to
t=60 s. The engine process then runs only the scheduler loop (`Scheduler.start()`, as
`open_service(resume=True)` does) until every task is final: downloaded, or failed.

Time: one virtual clock (``virtual = t0 + real_elapsed / scale``) drives the fake, the engine's
clock and sleeps, and the request budget is configured in virtual time (``--rpm`` / scale per
real minute), so ``--scale 0.5`` is the same run at twice the speed and twice the load.

Measured: peak RSS of this process (``getrusage``; the fake is another process), scheduler lag
p50/p99 (`Scheduler.stats.lags`: due time -> the provider's answer in hand, virtual seconds; a
check pulled ahead into a batch and answered before it was due has none), how many checks the
budget calendar planned later than the schedule wanted and by how much, status
requests on the wire (the fake's own counters, list + get) against one-request-per-task polling at
the same delay, computed from the same schedule: every check of every task would be one GET
(`Scheduler.stats.checks`). ``--max-batch 1`` runs the engine with Ark's batch forced to 1 instead.

    python bench/scale.py                      # 10,000 tasks, real time (about 4 minutes)
    python bench/scale.py --quick              # 2,000 tasks at --scale 0.25 (about 1 minute)
    python bench/scale.py --scale 0.5          # 10,000 tasks at twice the real load
    python bench/scale.py --profile            # and the engine's cProfile top functions
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import logging
import multiprocessing as mp
import pstats
import random
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.config import Limits, ProviderSettings, Settings  # noqa: E402
from core.engine import submit as submitting  # noqa: E402
from core.http import HttpClient  # noqa: E402
from core.models import VideoRequest  # noqa: E402
from core.scheduling import Expectation, next_poll_delay  # noqa: E402
from core.service import VideoService  # noqa: E402
from core.store import open_store  # noqa: E402

API_KEY = "bench-key"
PROVIDER = "byteplus"
STEP = 0.5  # virtual seconds between submit batches during the ramp


class VirtualClock:
    """Virtual seconds that run ``1/scale`` times faster than real ones, equal at ``t0``."""

    def __init__(self, t0: float, scale: float) -> None:
        self.t0 = t0
        self.scale = scale

    def __call__(self) -> float:
        return self.t0 + (time.time() - self.t0) / self.scale

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0) * self.scale)


# -- the fake, in a child process -------------------------------------------------------------------


def serve_fake(conn: Any, t0: float, scale: float) -> None:
    """Child process: the Ark fake and its media host on 127.0.0.1, driven over ``conn``.

    Messages: ("create", body, [(queued_for, running_for, outcome), ...]) -> [(remote_id, created)];
    ("counts",) -> (provider counts, media counts); ("stop",).
    """
    import httpx

    import tests.fakes.media as fake_media
    from tests.fakes import FakeArk, MediaHost
    from tests.media_sample import tiny_mp4

    fake_media.sample_mp4 = tiny_mp4  # this child only: every result is the few-hundred-byte MP4

    class LoopbackMedia(MediaHost):
        def _bind(self) -> Any:  # 127.0.0.1 only (the default prefers 127.0.0.2)
            import socket

            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sock.listen(512)
            self._host = "127.0.0.1"
            return sock

    clock = VirtualClock(t0, scale)
    media = LoopbackMedia(clock=clock).start()
    fake = FakeArk(PROVIDER, api_key=API_KEY, clock=clock, media=media).start()
    conn.send(fake.base_url)
    with httpx.Client(headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30) as client:
        while True:
            message = conn.recv()
            if message[0] == "stop":
                break
            if message[0] == "counts":
                conn.send((fake.request_counts, media.request_counts))
            elif message[0] == "create":
                _, body, runs = message
                made = []
                for queued, running, outcome in runs:
                    fake.script(outcome, queued_for=queued, running_for=running)
                    created = clock()
                    answer = client.post(fake.base_url + "/contents/generations/tasks", json=body)
                    answer.raise_for_status()
                    made.append((answer.json()["id"], created))
                conn.send(made)
            # The fakes record every request; a long run would otherwise keep them all.
            fake.clear_requests()
            media.clear_requests()
    fake.stop()
    media.stop()


class FakeHandle:
    """The parent's end of the child: one request, one answer, off the event loop."""

    def __init__(self, t0: float, scale: float) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=serve_fake, args=(child, t0, scale), daemon=True)
        self.proc.start()
        self.base_url: str = self._conn.recv()
        self._lock = asyncio.Lock()

    async def ask(self, *message: Any) -> Any:
        async with self._lock:
            self._conn.send(message)
            return await asyncio.to_thread(self._conn.recv)

    def stop(self) -> None:
        self._conn.send(("stop",))
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()


# -- the run ----------------------------------------------------------------------------------------


@dataclass
class Run:
    inserted: int = 0
    remote_done: dict[str, float] = field(default_factory=dict)  # remote id -> when the fake finishes it
    rss_samples: list[tuple[float, int]] = field(default_factory=list)  # (real s, RSS KiB)
    all_in_at: float | None = None  # real s when the last task was written
    finished_at: float | None = None  # real s when the last task was final


def rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() // 1024


def peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


async def ramp(args: argparse.Namespace, service: VideoService, fake: FakeHandle, clock: VirtualClock,
               run: Run, real0: float) -> None:
    """Submit ``args.tasks`` tasks evenly over ``args.ramp`` virtual seconds, rows through the store."""
    rng = random.Random(args.seed)
    request = VideoRequest(prompt="a lighthouse in a storm, waves breaking, night", resolution="720p", duration=5)
    est = service.estimate(request, PROVIDER)
    body = {"model": est.model, "content": [{"type": "text", "text": request.prompt}],
            "resolution": "720p", "duration": 5}
    adapter = service.provider(PROVIDER)
    first_delay = next_poll_delay(Expectation.from_history([], adapter.expected_seconds(est.request)), 0, 0)
    batches = max(1, round(args.ramp / STEP))
    start = clock()
    for batch in range(batches):
        due = start + batch * STEP
        if (wait := due - clock()) > 0:
            await clock.sleep(wait)
        count = args.tasks * (batch + 1) // batches - args.tasks * batch // batches
        runs = []
        for _ in range(count):
            total = rng.uniform(args.min_run, args.max_run)
            queued = total * rng.uniform(0.0, 0.15)
            outcome = "failed" if rng.random() < args.fail_rate else "succeeded"
            runs.append((queued, total - queued, outcome))
        made = await fake.ask("create", body, runs)
        for (remote_id, created), (queued, running, _) in zip(made, runs, strict=True):
            user = f"discord:{rng.randrange(args.users)}"
            when = datetime.fromtimestamp(created, UTC)
            task = submitting.new_task(user, est).model_copy(update={"created_at": when, "updated_at": when})
            # As `submit` does: the row is born leased to this process, so no scheduler round
            # takes it for a lost submit before its remote id is written, then it is given up.
            await service.store.insert(task, now=created, lease=(service.instance, created + 30))
            await service.store.mark_submitted(task.id, remote_id, now=created, next_check_at=created + first_delay)
            await service.store.release(task.id, service.instance)
            run.remote_done[remote_id] = created + queued + running
            run.inserted += 1
    run.all_in_at = time.monotonic() - real0


async def monitor(args: argparse.Namespace, service: VideoService, clock: VirtualClock, run: Run,
                  real0: float) -> None:
    """Sample RSS every second, print progress every ten, stop when every task is final."""
    stats = service.scheduler.stats
    last_print = 0.0
    while True:
        await asyncio.sleep(1.0)
        elapsed = time.monotonic() - real0
        run.rss_samples.append((elapsed, rss_kib()))
        rows = await service.store.db.fetch("SELECT COUNT(*) AS n FROM tasks WHERE finished_at IS NULL")
        open_tasks = int(rows[0]["n"])
        if elapsed - last_print >= 10 or (run.inserted == args.tasks and open_tasks == 0):
            last_print = elapsed
            lags = list(stats.lags)[-5000:]
            print(f"  {elapsed:6.0f} s real  {clock() - clock.t0:6.0f} s virtual  written {run.inserted:6}  "
                  f"unfinished {open_tasks:6}  checks {stats.checks:7}  requests {stats.requests:5}  "
                  f"lag p99 (last 5000) {pct(lags, 99):6.2f} s  RSS {rss_kib() / 1024:5.0f} MiB", flush=True)
        if run.inserted == args.tasks and open_tasks == 0:
            run.finished_at = elapsed
            return
        if elapsed > args.timeout:
            print(f"  stopped after {args.timeout:.0f} s real with {open_tasks} tasks unfinished", flush=True)
            return


async def main_async(args: argparse.Namespace) -> int:
    t0 = time.time()
    clock = VirtualClock(t0, args.scale)
    fake = FakeHandle(t0, args.scale)
    home = Path(tempfile.mkdtemp(prefix="seedance-scale-"))
    settings = Settings(
        provider=PROVIDER,
        providers={PROVIDER: ProviderSettings(  # type: ignore[arg-type]
            api_key=API_KEY, base_url=fake.base_url, requests_per_minute=args.rpm / args.scale)},
        home=home,
        limits=Limits(max_running_per_user=None, max_tasks_per_day=None),
    )
    store = await open_store(path=settings.db_path)
    http = HttpClient()
    service = VideoService(settings=settings, store=store, http=http, clock=clock, sleep=clock.sleep)
    adapter = service.provider(PROVIDER)
    if args.max_batch is not None:
        adapter.max_batch = args.max_batch  # type: ignore[misc]  # this instance only
    baseline = rss_kib()
    profiler = cProfile.Profile() if args.profile else None
    run = Run()
    print_parameters(args, settings, adapter.max_batch, fake.base_url)
    real0 = time.monotonic()
    try:
        if profiler:
            profiler.enable()
        service.scheduler.start()  # what open_service(resume=True) runs: every task, this process
        await asyncio.gather(ramp(args, service, fake, clock, run, real0), monitor(args, service, clock, run, real0))
        if profiler:
            profiler.disable()
        counts, media_counts = await fake.ask("counts")
        await report(args, service, run, counts, media_counts, baseline, profiler)
    finally:
        await service.close()
        await http.aclose()
        await store.close()
        fake.stop()
        shutil.rmtree(home, ignore_errors=True)
    return 0


def print_parameters(args: argparse.Namespace, settings: Settings, max_batch: int, base_url: str) -> None:
    print("bench/scale.py: parameters")
    rows = [
        ("tasks", f"{args.tasks:,} over {args.users:,} users, submitted evenly over {args.ramp:.0f} s"),
        ("run time per task", f"{args.min_run:.0f}-{args.max_run:.0f} s (uniform), {args.fail_rate:.0%} fail"),
        ("time scale", f"{args.scale} real s per virtual s (all times below are virtual unless said)"),
        ("request budget", f"{args.rpm:.0f} requests/min (virtual) = {args.rpm / args.scale:.0f}/min real"),
        ("Ark max_batch", f"{max_batch}" + (" (forced)" if args.max_batch is not None else " (adapter default)")),
        ("rows written by", "TaskStore.insert (leased), mark_submitted, release: what a successful submit writes"),
        ("store", f"SQLite {settings.db_path}"),
        ("fake", f"{base_url} (child process), media on 127.0.0.1, tiny_mp4 results"),
    ]
    for name, value in rows:
        print(f"  {name:<18} {value}")
    print("progress:")


async def report(args: argparse.Namespace, service: VideoService, run: Run, counts: dict[str, int],
                 media_counts: dict[str, int], baseline: int, profiler: cProfile.Profile | None) -> None:
    stats = service.scheduler.stats
    lags = list(stats.lags)
    rows = await service.store.db.fetch("SELECT remote_id, status, finished_at, video_path, polls FROM tasks")
    final = [r for r in rows if r["finished_at"] is not None]
    delays = [r["finished_at"] - run.remote_done[r["remote_id"]] for r in final if r["remote_id"] in run.remote_done]
    polls = [float(r["polls"]) for r in rows]
    statuses: dict[str, int] = {}
    for r in rows:
        key = r["status"] if r["finished_at"] is not None else "unfinished"
        statuses[key] = statuses.get(key, 0) + 1
    status_requests = counts.get("list", 0) + counts.get("get", 0)
    per_task_polling = stats.checks  # one GET per check of each task, on the same schedule
    ratio = per_task_polling / status_requests if status_requests else float("inf")
    peak = peak_rss_kib() / 1024
    peak_sampled = max((kib for _, kib in run.rss_samples), default=0) / 1024

    print("\nresults")
    print(f"  {'measure':<44}{'value':>16}  {'target':>10}  met")
    print("  " + "-" * 78)

    def line(name: str, value: str, target: str = "", met: bool | None = None) -> None:
        mark = "" if met is None else ("yes" if met else "NO")
        print(f"  {name:<44}{value:>16}  {target:>10}  {mark}")

    line("tasks final / written", f"{len(final):,} / {run.inserted:,}", f"{args.tasks:,}", len(final) == args.tasks)
    line("  of which " + ", ".join(f"{k} {v:,}" for k, v in sorted(statuses.items())), "")
    line("wall time, all final", f"{run.finished_at or float('nan'):.0f} s real")
    line("peak RSS of the engine process (getrusage)", f"{peak:.0f} MiB", "<= 300", peak <= 300)
    line("  RSS before the run / peak sampled", f"{baseline / 1024:.0f} / {peak_sampled:.0f} MiB")
    line("scheduler lag p50 (due -> answered)", f"{pct(lags, 50):.3f} s")
    line("scheduler lag p99", f"{pct(lags, 99):.3f} s", "<= 1 s", pct(lags, 99) <= 1.0)
    line("scheduler lag max", f"{max(lags, default=float('nan')):.3f} s")
    line("  lag p99 in real seconds (x scale)", f"{pct(lags, 99) * args.scale:.3f} s")
    line("  lag samples (status checks answered)", f"{len(lags):,}")
    moved = list(stats.moved)
    line("checks planned later to fit the budget", f"{len(moved):,}")
    if moved:
        line("  by p50 / p99 / max", f"{pct(moved, 50):.2f} / {pct(moved, 99):.2f} / {max(moved):.2f} s")
    line("status checks (Scheduler.stats.checks)", f"{stats.checks:,}")
    line("  checks per task, mean / max", f"{sum(polls) / max(len(polls), 1):.1f} / {max(polls, default=0):.0f}")
    line("status requests counted by the engine", f"{stats.requests:,}")
    line("status requests on the wire (fake: list+get)",
         f"{status_requests:,}", "", None)
    line(f"  list {counts.get('list', 0):,}, get {counts.get('get', 0):,}, submit {counts.get('submit', 0):,}", "")
    line("one-request-per-task polling, same schedule", f"{per_task_polling:,}")
    line("status requests per task: batched", f"{status_requests / max(run.inserted, 1):.2f}")
    line("status requests per task: one per task", f"{per_task_polling / max(run.inserted, 1):.2f}")
    line("fewer requests than one-per-task polling", f"{ratio:.1f}x", ">= 10x", ratio >= 10)
    line("video downloads (media host requests)", f"{media_counts.get('media', 0):,}")
    line("done -> final (video on disk) p50 / p99",
         f"{pct(delays, 50):.1f} / {pct(delays, 99):.1f} s")
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print("\nengine process profile (top 25 by own time)")
        print(out.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--ramp", type=float, default=30.0, help="virtual seconds over which tasks are submitted")
    parser.add_argument("--min-run", type=float, default=60.0, help="shortest task, virtual seconds")
    parser.add_argument("--max-run", type=float, default=180.0, help="longest task, virtual seconds")
    parser.add_argument("--fail-rate", type=float, default=0.03)
    parser.add_argument("--scale", type=float, default=1.0, help="real seconds per virtual second")
    parser.add_argument("--rpm", type=float, default=600.0, help="status request budget per virtual minute "
                        "(the engine's default when SEEDANCE_REQUESTS_PER_MINUTE is unset)")
    parser.add_argument("--max-batch", type=int, default=None, help="force Ark's batch size (1: one request per task)")
    parser.add_argument("--timeout", type=float, default=290.0, help="real seconds before giving up")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="2,000 tasks at --scale 0.25")
    parser.add_argument("--profile", action="store_true", help="cProfile the engine process")
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.scale = 2_000, 0.25
    logging.basicConfig(level=logging.WARNING, format="  [%(levelname)s %(name)s] %(message)s")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
