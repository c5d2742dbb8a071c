"""Crash safety, proven: SIGKILL a real front end at random and chosen moments until a plan is done.

The campaign (`Campaign`, shared with ``bench/soak.py``) runs `crash_worker` as a subprocess over a
real SQLite home against three providers at once: the sandbox (reconcilable, renders real MP4s),
a fake BytePlus Ark server (reconcilable through its list endpoint) and a fake APIMart server (no
list: a lost submit answer cannot be reconciled). Submits, status reads and media bodies are held
back for a moment by the fakes so that a kill can land *inside* each window on purpose:

- ``submit``: a submit request is in flight (or a row is pending) when the worker dies;
- ``poll``: a status request is in flight;
- ``download``: a media body is half sent, or the sandbox is rendering / copying the video;
- ``delivery``: the worker is between "started delivering" and "recorded as delivered";
- ``random``: a random delay after start, wherever that lands.

After every kill the worker is started again; when the plan is done the test checks every row, every
remote task, every sink entry and every video file, and runs the worker once more to show that a
finished plan is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from core.config import Limits, ProviderSettings, Settings
from core.models import TaskStatus, VideoRequest
from core.sandbox.render import probe_video
from core.service import open_service
from core.store import TaskStore
from tests.fakes import FakeApimart, FakeArk, MediaHost, sample_mp4
from tests.fakes.base import Handler, route_of
from tests.reliability.crash_worker import TARGET_PREFIX, PlanItem, write_plan

REPO = Path(__file__).resolve().parents[2]
WINDOWS = ("submit", "poll", "download", "delivery")
# Errors a task may legitimately end with, and only if a kill caught its row mid-submit.
CRASH_ERRORS = {
    "submit_uncertain": "the submit answer was lost and the provider cannot be asked (no list endpoint)",
    "not_created": "the provider has no record of the task after a lost answer",
    "not_submitted": "the worker died after writing the row and before sending it",
}


# --- fakes that let the test see, and stretch, what is in flight ---------------------------------------


@dataclass
class Flight:
    route: str
    start: float  # time.monotonic()
    prompt: str | None = None
    end: float | None = None

    def open_at(self, moment: float) -> bool:
        return self.start <= moment and (self.end is None or self.end > moment)


class Tracking:
    """Mixin: record every request's start and end, and hold answers back by ``slow[route]`` seconds.

    The hold comes *after* the real handler ran, so a held submit has already created its task:
    a kill during the hold is the "provider accepted it, the answer never arrived" case.
    """

    slow: dict[str, float]
    flights: list[Flight]
    _lock: Any

    def _tracking_init(self, slow: dict[str, float]) -> None:
        self.slow = dict(slow)
        self.flights = []

    @web.middleware
    async def _track_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = (route_of(request) or "?").split(".")[0]
        flight = Flight(route, time.monotonic(), _prompt_of(await request.read()) if route == "submit" else None)
        with self._lock:
            self.flights.append(flight)
        try:
            response = await handler(request)
            hold = self.slow.get(route, 0.0)
            if hold and route != "media":  # media holds inside the body, see SlowMedia
                await asyncio.sleep(hold)
            return response
        finally:
            flight.end = time.monotonic()

    def open_flights(self, moment: float, route: str | None = None) -> list[Flight]:
        with self._lock:
            return [f for f in self.flights if f.open_at(moment) and (route is None or f.route == route)]


def _prompt_of(raw: bytes) -> str | None:
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("prompt"), str):
        return str(body["prompt"])
    for item in body.get("content") or []:
        if isinstance(item, dict) and item.get("type") == "text":
            return str(item.get("text"))
    return None


class TrackedArk(Tracking, FakeArk):
    def __init__(self, *, slow: dict[str, float], **kwargs: Any) -> None:
        super().__init__("byteplus", **kwargs)
        self._tracking_init(slow)

    def _middlewares(self) -> list[Any]:
        return [self._track_mw, *super()._middlewares()]


class TrackedApimart(Tracking, FakeApimart):
    def __init__(self, *, slow: dict[str, float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tracking_init(slow)

    def _middlewares(self) -> list[Any]:
        return [self._track_mw, *super()._middlewares()]


class SlowMedia(Tracking, MediaHost):
    """A media host that sends half of each body, pauses, then the rest: a kill leaves a half file."""

    def __init__(self, *, slow: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tracking_init({"media": slow})

    def _middlewares(self) -> list[Any]:
        return [self._track_mw, *super()._middlewares()]

    async def _serve_asset(self, request: web.Request) -> web.StreamResponse:
        response = await super()._serve_asset(request)
        hold = self.slow.get("media", 0.0)
        if not hold or not isinstance(response, web.Response) or response.status != 200:
            return response
        body = response.body if isinstance(response.body, bytes) else b""
        out = web.StreamResponse(headers={"Content-Type": response.content_type})
        out.content_length = len(body)
        await out.prepare(request)
        with contextlib.suppress(ConnectionResetError, RuntimeError):  # the worker may die meanwhile
            await out.write(body[: len(body) // 2])
            await asyncio.sleep(hold)
            await out.write(body[len(body) // 2:])
            await out.write_eof()
        return out


# --- the campaign ----------------------------------------------------------------------------------------


@dataclass
class CampaignConfig:
    tasks: int = 120
    users: int = 6
    # Relative weights of the providers in the plan.
    mix: tuple[tuple[str, int], ...] = (("sandbox", 4), ("byteplus", 5), ("apimart", 3))
    kills: int = 22
    seed: int = 20260807
    concurrency: int = 6
    slow: float = 0.3  # seconds each API answer and media body is held back
    delivery_pause: float = 0.3
    random_delay: tuple[float, float] = (0.3, 5.0)
    trigger_timeout: float = 15.0  # give up waiting for a window after this long (the worker keeps running)
    finish_timeout: float = 240.0
    sandbox_speed: float = 20.0


# Targets in order: submits only exist early, so the schedule starts with them.
OPENING = ["submit:byteplus", "random", "submit:apimart", "download:sandbox", "submit:byteplus",
           "delivery", "poll", "download", "random"]
CYCLE = ["poll", "download", "delivery", "random", "download:sandbox", "delivery", "download", "random"]


@dataclass
class Kill:
    number: int
    target: str
    at: float  # seconds since the campaign started
    uptime: float  # seconds the killed worker had been running
    windows: set[str]
    detail: dict[str, int]


@dataclass
class CampaignResult:
    config: CampaignConfig
    wall: float
    kills: list[Kill]
    missed_targets: Counter[str]
    starts: int
    statuses: Counter[str]
    by_provider: dict[str, Counter[str]]
    remote_tasks: dict[str, int]  # provider -> tasks created at the provider
    orphans: dict[str, int]  # provider -> remote tasks no row points to (paid but not tracked)
    crash_errors: Counter[str]
    sink_entries: int
    deliveries_created: int
    redeliveries_absorbed: int
    double_deliveries: int
    stale_partials: int
    problems: list[str] = field(default_factory=list)

    def window_counts(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for kill in self.kills:
            counts.update(kill.windows)
        return counts

    def summary(self) -> str:
        windows = self.window_counts()
        targets = Counter(k.target for k in self.kills)
        lines = [
            f"tasks {self.config.tasks} ({', '.join(f'{p}={sum(c.values())}' for p, c in self.by_provider.items())}),"
            f" users {self.config.users}, worker starts {self.starts}, kills {len(self.kills)}, wall {self.wall:.1f} s",
            "kills by target: " + ", ".join(f"{t}={n}" for t, n in sorted(targets.items())),
            "kills that hit each window: " + ", ".join(f"{w}={windows[w]}" for w in WINDOWS),
            "targets never reached in time: "
            + (", ".join(f"{t}={n}" for t, n in self.missed_targets.items()) or "none"),
            "final statuses: " + ", ".join(f"{s}={n}" for s, n in sorted(self.statuses.items())),
            "per provider: " + "; ".join(f"{p}: " + ", ".join(f"{s}={n}" for s, n in sorted(c.items()))
                                        for p, c in self.by_provider.items()),
            "crash-caused errors: " + (", ".join(f"{c}={n}" for c, n in self.crash_errors.items()) or "none"),
            "remote tasks created: " + ", ".join(f"{p}={n}" for p, n in self.remote_tasks.items())
            + "; untracked (orphan) remote tasks: " + ", ".join(f"{p}={n}" for p, n in self.orphans.items()),
            f"sink entries {self.sink_entries}: published and recorded by one run {self.deliveries_created}, "
            "published by a run killed before recording it and only recorded by the next "
            f"{self.redeliveries_absorbed}; "
            f"published twice {self.double_deliveries}",
            f"stale .part files left by killed downloads: {self.stale_partials}",
            "problems: " + ("; ".join(self.problems) if self.problems else "none"),
        ]
        return "\n".join(lines)


class Campaign:
    """Run a plan through `crash_worker` while killing it; then check what survived."""

    def __init__(self, workdir: Path, config: CampaignConfig | None = None) -> None:
        self.config = config or CampaignConfig()
        self.rng = random.Random(self.config.seed)
        self.dir = workdir
        self.home = workdir / "home"
        self.sink = workdir / "sink"
        self.events = workdir / "events.jsonl"
        self.plan_path = workdir / "plan.json"
        self.toml = workdir / "seedance.toml"
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.plan: list[PlanItem] = []
        self.kills: list[Kill] = []
        self.missed: Counter[str] = Counter()
        self.starts = 0
        self.pending_at_kill: set[str] = set()  # rows that were mid-submit when a worker died
        self._t0 = time.monotonic()

    # -- setup --------------------------------------------------------------------------------------

    def make_plan(self) -> list[PlanItem]:
        cfg = self.config
        providers = [p for p, weight in cfg.mix for _ in range(weight)]
        items = []
        for n in range(cfg.tasks):
            provider = providers[n % len(providers)]
            params: dict[str, Any] = {"duration": 4, "resolution": "480p", "seed": 1000 + n}
            if provider == "sandbox":
                params["generate_audio"] = n % 4 == 0  # a few with an audio track, to render both kinds
            # Unique prompts and seeds: reconcile matches a lost submit by its parameters (and the
            # user's safety_identifier), so one user's identical requests lost together could swap.
            items.append(PlanItem(id=f"p{n:04d}", user=f"user{n % cfg.users}", provider=provider,
                                  prompt=f"crash plan {n:04d}: a paper boat on a pond, take {n}", params=params))
        return items

    def write_config(self, ark: FakeArk, mart: FakeApimart) -> None:
        self.toml.write_text(
            'provider = "sandbox"\n'
            f"sandbox_speed = {self.config.sandbox_speed}\n"
            "[providers.byteplus]\n"
            f'api_key = "{ark.api_key}"\nbase_url = "{ark.base_url}"\n'
            "[providers.apimart]\n"
            f'api_key = "{mart.api_key}"\nbase_url = "{mart.base_url}"\n'
            "[limits]\nmax_running_per_user = 100000\nmax_tasks_per_day = 100000\n"
        )

    # -- running ------------------------------------------------------------------------------------

    def _start(self, concurrency: int | None = None) -> tuple[subprocess.Popen[bytes], int, float]:
        self.starts += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SEEDANCE_", "DISCORD_"))}
        env["PYTHONPATH"] = str(REPO)
        log = open(self.logs / f"worker-{self.starts:03d}.log", "wb")  # noqa: SIM115 - closed by the child's end
        offset = self.events.stat().st_size if self.events.exists() else 0
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.crash_worker", "--home", str(self.home),
             "--provider-config", str(self.toml), "--plan", str(self.plan_path), "--sink", str(self.sink),
             "--events", str(self.events), "--concurrency", str(concurrency or self.config.concurrency),
             "--delivery-pause", str(self.config.delivery_pause)],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        return proc, offset, time.monotonic()

    def _events_since(self, offset: int) -> list[dict[str, Any]]:
        if not self.events.exists():
            return []
        with open(self.events, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
        out = []
        for line in data.splitlines():
            with contextlib.suppress(ValueError):  # a torn last line of a killed worker
                out.append(json.loads(line))
        return out

    def _partials(self) -> set[Path]:
        found: set[Path] = set()
        for folder in (self.home / "media", self.home / "sandbox"):
            if folder.is_dir():
                found.update(folder.glob(".*.part"))
        return found

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.home / "seedance.db", timeout=30)
        db.row_factory = sqlite3.Row
        return db

    def _rows(self) -> list[sqlite3.Row]:
        if not (self.home / "seedance.db").exists():
            return []
        with contextlib.closing(self._db()) as db:
            try:
                return list(db.execute("SELECT * FROM tasks"))
            except sqlite3.OperationalError:  # schema not created yet
                return []

    def _possible(self, target: str) -> bool:
        """Whether the window can still occur (so we do not wait for a submit after the last one)."""
        rows = self._rows()
        by_provider = Counter(r["provider"] for r in rows)
        planned = Counter(item.provider for item in self.plan)
        unfinished = [r for r in rows if r["finished_at"] is None]
        if target.startswith("submit:"):
            return by_provider[target.split(":")[1]] < planned[target.split(":")[1]]
        if target == "download:sandbox":
            return any(r["provider"] == "sandbox" for r in unfinished) or by_provider["sandbox"] < planned["sandbox"]
        if target in ("poll", "download"):
            http = [p for p in planned if p != "sandbox"]
            return any(r["provider"] != "sandbox" for r in unfinished) or any(by_provider[p] < planned[p] for p in http)
        if target == "delivery":
            return len(rows) < len(self.plan) or any(r["delivered_at"] is None for r in rows)
        return True

    def _triggered(self, target: str, started: float, delay: float, offset: int,
                   ark: TrackedArk, mart: TrackedApimart, media: SlowMedia, partials0: set[Path]) -> bool:
        now = time.monotonic()
        if target == "random":
            return now - started >= delay
        if target == "submit:byteplus":
            return bool(ark.open_flights(now, "submit"))
        if target == "submit:apimart":
            return bool(mart.open_flights(now, "submit"))
        if target == "poll":
            return bool(ark.open_flights(now, "get") or mart.open_flights(now, "get"))
        if target == "download":
            return bool(media.open_flights(now))
        if target == "download:sandbox":
            return bool(self._partials() - partials0)
        if target == "delivery":
            return bool(self._open_deliveries(offset))
        raise ValueError(target)

    def _open_deliveries(self, offset: int) -> set[str]:
        begun: set[str] = set()
        for event in self._events_since(offset):
            if event["ev"] == "deliver_begin":
                begun.add(event["task"])
            elif event["ev"] == "delivered":
                begun.discard(event["task"])
        return begun

    def _kill(self, proc: subprocess.Popen[bytes], target: str, started: float, offset: int,
              ark: TrackedArk, mart: TrackedApimart, media: SlowMedia, partials0: set[Path],
              pending0: set[str]) -> None:
        if target == "delivery":
            # Land before or after the sink write, at random.
            time.sleep(self.rng.uniform(0.0, self.config.delivery_pause))
        moment = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # Classify after the fact, against the moment of the kill: what was really in flight.
        windows: set[str] = set()
        detail: Counter[str] = Counter()
        for name, fake in (("byteplus", ark), ("apimart", mart)):
            for flight in fake.open_flights(moment):
                if flight.route == "submit":
                    windows.add("submit")
                    detail[f"submit:{name}"] += 1
                elif flight.route == "get":
                    windows.add("poll")
                    detail[f"poll:{name}"] += 1
        if media.open_flights(moment):
            windows.add("download")
            detail["download:media"] += len(media.open_flights(moment))
        new_partials = self._partials() - partials0
        if new_partials:
            windows.add("download")
            detail["download:partial_files"] += len(new_partials)
        open_deliveries = self._open_deliveries(offset)
        if open_deliveries:
            windows.add("delivery")
            detail["delivery"] += len(open_deliveries)
        pending = {r["id"] for r in self._rows() if r["status"] == "pending"}
        if pending - pending0:
            windows.add("submit")
            detail["submit:pending_rows"] += len(pending - pending0)
        self.pending_at_kill |= pending
        self.kills.append(Kill(len(self.kills) + 1, target, moment - self._t0, moment - started, windows, dict(detail)))

    def run(self) -> CampaignResult:
        cfg = self.config
        self._t0 = time.monotonic()
        self.plan = self.make_plan()
        write_plan(self.plan_path, self.plan)
        sample_size = len(sample_mp4())
        with SlowMedia(slow=cfg.slow) as media, \
                TrackedArk(slow={"submit": cfg.slow, "get": cfg.slow}, media=media, api_key="crash-key-byteplus",
                           queued_for=0.3, running_for=1.0) as ark, \
                TrackedApimart(slow={"submit": cfg.slow, "get": cfg.slow}, media=media, api_key="crash-key-apimart",
                               queued_for=0.3, running_for=1.0) as mart:
            self.write_config(ark, mart)
            schedule = OPENING + CYCLE * (cfg.kills // len(CYCLE) + 1)
            proc, offset, started = self._start()
            for target in schedule:
                if len(self.kills) >= cfg.kills or proc.poll() is not None:
                    break
                if not self._possible(target):
                    self.missed[target] += 1
                    continue
                delay = self.rng.uniform(*cfg.random_delay)
                partials0 = self._partials()
                pending0 = {r["id"] for r in self._rows() if r["status"] == "pending"}
                deadline = time.monotonic() + cfg.trigger_timeout
                hit = False
                while proc.poll() is None and time.monotonic() < deadline:
                    if self._triggered(target, started, delay, offset, ark, mart, media, partials0):
                        hit = True
                        break
                    time.sleep(0.005)
                if not hit:
                    self.missed[target] += 1
                    continue
                self._kill(proc, target, started, offset, ark, mart, media, partials0, pending0)
                proc, offset, started = self._start()
            # Let the last worker finish undisturbed.
            try:
                code = proc.wait(timeout=cfg.finish_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                code = -1
            problems: list[str] = []
            if code != 0:
                problems.append(f"the final worker exited with {code} (see {self.logs})")
            # Run once more on the finished plan: it must submit and deliver nothing new.
            submits_before = (ark.submits, mart.submits, self._sandbox_submits())
            sink_before = sorted(p.name for p in self.sink.iterdir())
            proc, offset, _ = self._start()
            if proc.wait(timeout=120) != 0:
                problems.append("the idempotency run failed")
            if (ark.submits, mart.submits, self._sandbox_submits()) != submits_before:
                problems.append("the idempotency run submitted again")
            if sorted(p.name for p in self.sink.iterdir()) != sink_before:
                problems.append("the idempotency run delivered again")
            if any(e["ev"] == "delivered" for e in self._events_since(offset)):
                problems.append("the idempotency run recorded a delivery")
            return self._verify(ark, mart, sample_size, problems)

    def _sandbox_submits(self) -> int:
        folder = self.home / "sandbox"
        return len(list(folder.glob("sbx-*.json"))) if folder.is_dir() else 0

    # -- checking -----------------------------------------------------------------------------------

    def _verify(self, ark: FakeArk, mart: FakeApimart, sample_size: int, problems: list[str]) -> CampaignResult:
        plan_by_id = {item.id: item for item in self.plan}
        with contextlib.closing(self._db()) as db:
            integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
            if integrity != "ok":
                problems.append(f"integrity_check: {integrity}")
            rows = list(db.execute("SELECT * FROM tasks"))
        tasks = {}
        for row in rows:
            try:
                tasks[row["id"]] = TaskStore._state(dict(row)).task
            except Exception as exc:  # noqa: BLE001 - reported as a corrupted row
                problems.append(f"row {row['id']} does not parse: {exc}")
        # One row holds each plan item's key. A row that provably reached no provider gave its key up
        # (the worker sent that item again): it keeps no key and is matched to its item by content.
        keys = Counter(t.request_key for t in tasks.values() if t.request_key is not None)
        if set(keys) != set(plan_by_id) or any(n != 1 for n in keys.values()):
            problems.append(f"rows per plan item differ from one: {len(tasks)} rows for {len(plan_by_id)} items")
        by_content = {(item.user, item.prompt, item.provider): item for item in self.plan}

        statuses: Counter[str] = Counter()
        by_provider: dict[str, Counter[str]] = {}
        crash_errors: Counter[str] = Counter()
        for task in tasks.values():
            if task.request_key is None and not task.never_sent:
                problems.append(f"row {task.id} lost its request key though it may have reached the provider")
            item = plan_by_id.get(task.request_key) if task.request_key else by_content.get(
                (task.user, task.prompt, task.provider))
            if item is None or item.user != task.user or item.prompt != task.prompt or item.provider != task.provider:
                problems.append(f"row {task.id} does not match its plan item {task.request_key}")
            label = task.status.value if task.error is None else f"{task.status.value}:{task.error.code}"
            statuses[label] += 1
            by_provider.setdefault(task.provider, Counter())[label] += 1
            if not task.is_final:
                problems.append(f"task {task.id} is not final ({task.status.value})")
            if task.status is not TaskStatus.SUCCEEDED or task.error is not None:
                code = task.error.code if task.error else "?"
                if code not in CRASH_ERRORS:
                    problems.append(f"task {task.id} ({task.provider}) ended {label}")
                elif task.id not in self.pending_at_kill:
                    problems.append(f"task {task.id} ended {code} but no kill caught it mid-submit")
                elif code == "submit_uncertain" and task.provider != "apimart":
                    problems.append(f"task {task.id} on {task.provider} was not reconciled")
                else:
                    crash_errors[code] += 1
            if task.status is TaskStatus.SUCCEEDED and task.error is None:
                problems += self._check_video(task.id, task.provider, task.video_path, sample_size)

        # Remote side: each plan item created at most once, and every remote task tracked by a row.
        remote = {"byteplus": {t: ark.task_body(t) for t in ark.task_ids},
                  "apimart": {t: mart.task_body(t) for t in mart.task_ids},
                  "sandbox": self._sandbox_records()}
        remote_counts, orphans = {}, {}
        linked = {(t.provider, t.remote_id): t for t in tasks.values() if t.remote_id}
        for provider, bodies in remote.items():
            prompts = Counter(_prompt_of(json.dumps(body).encode()) for body in bodies.values())
            twice = [p for p, n in prompts.items() if n > 1]
            if twice:
                problems.append(f"{provider}: {len(twice)} plan items were submitted more than once")
            planned = sum(1 for item in self.plan if item.provider == provider)
            if len(bodies) > planned:
                problems.append(f"{provider}: {len(bodies)} remote tasks for {planned} plan items")
            remote_counts[provider] = len(bodies)
            orphan_ids = [rid for rid in bodies if (provider, rid) not in linked]
            orphans[provider] = len(orphan_ids)
            uncertain = sum(1 for t in tasks.values() if t.provider == provider and t.error
                            and t.error.code == "submit_uncertain")
            if len(orphan_ids) > uncertain:
                problems.append(f"{provider}: {len(orphan_ids)} remote tasks are tracked by no row "
                                f"(only {uncertain} rows admit a lost submit)")
            for rid, body in bodies.items():
                task = linked.get((provider, rid))
                if task is not None and _prompt_of(json.dumps(body).encode()) != task.prompt:
                    problems.append(f"row {task.id} ({task.user}) adopted remote task {rid} of another prompt")

        # Delivery: one sink entry per final task, each recorded, none published twice.
        entries = {p.name: json.loads(p.read_text()) for p in self.sink.iterdir() if not p.name.startswith(".")}
        if set(entries) != set(tasks):
            missing = set(tasks) - set(entries)
            extra = set(entries) - set(tasks)
            problems.append(f"sink mismatch: {len(missing)} undelivered, {len(extra)} unknown entries")
        for task_id, entry in entries.items():
            task = tasks.get(task_id)
            if task is None or entry["task_id"] != task_id or entry["status"] != task.status.value:
                problems.append(f"sink entry {task_id} does not describe its task")
        undelivered = [t.id for t in tasks.values() if t.delivered_at is None]
        if undelivered:
            problems.append(f"{len(undelivered)} tasks not marked delivered")
        events = self._events_since(0)
        created = Counter(e["task"] for e in events if e["ev"] == "delivered" and e["created"])
        absorbed = sum(1 for e in events if e["ev"] == "delivered" and not e["created"])
        doubles = sum(1 for e in events if e["ev"] == "delivered" and e["created"] and not e["marked"])
        if any(n > 1 for n in created.values()):
            problems.append("a task was published to the sink twice")
        if doubles:
            problems.append(f"{doubles} deliveries were published although already recorded")
        return CampaignResult(
            config=self.config, wall=time.monotonic() - self._t0, kills=self.kills, missed_targets=self.missed,
            starts=self.starts, statuses=statuses, by_provider=by_provider, remote_tasks=remote_counts,
            orphans=orphans, crash_errors=crash_errors, sink_entries=len(entries),
            deliveries_created=sum(created.values()), redeliveries_absorbed=absorbed, double_deliveries=doubles,
            stale_partials=len(self._partials()), problems=problems,
        )

    def _sandbox_records(self) -> dict[str, dict[str, Any]]:
        folder = self.home / "sandbox"
        out = {}
        for path in sorted(folder.glob("sbx-*.json")) if folder.is_dir() else []:
            out[path.stem] = json.loads(path.read_text())["request"]
        return out

    def _check_video(self, task_id: str, provider: str, video_path: str | None, sample_size: int) -> list[str]:
        if not video_path or not Path(video_path).is_file():
            return [f"task {task_id}: succeeded without a video file"]
        path = Path(video_path)
        if provider != "sandbox" and path.stat().st_size != sample_size:
            return [f"task {task_id}: video is {path.stat().st_size} bytes, the host served {sample_size}"]
        try:
            info = probe_video(path)
        except Exception as exc:  # noqa: BLE001 - a corrupt file is the finding
            return [f"task {task_id}: video does not open ({type(exc).__name__})"]
        if provider == "sandbox" and (info.duration < 3.9 or info.frames < 90):
            return [f"task {task_id}: sandbox video is incomplete ({info.duration:.2f} s, {info.frames} frames)"]
        return []


@pytest.mark.timeout(420)
def test_sigkill_campaign_loses_nothing(tmp_path: Path) -> None:
    result = Campaign(tmp_path).run()
    print("\n" + result.summary())
    for kill in result.kills:
        print(f"  kill {kill.number:2d} at {kill.at:6.1f} s (worker up {kill.uptime:5.2f} s) target {kill.target:17s}"
              f" hit {sorted(kill.windows)} {kill.detail}")
    assert not result.problems, result.summary()
    assert len(result.kills) >= 12, result.summary()
    windows = result.window_counts()
    assert all(windows[w] >= 1 for w in WINDOWS), f"a window was never hit: {windows}"
    assert result.config.tasks >= 100 and len(result.by_provider) == 3
    # Nothing that could be kept was lost: every crash-caused failure is a task whose submit a kill
    # interrupted, and only the provider without a list endpoint may leave one unreconciled.
    assert result.statuses["succeeded"] >= result.config.tasks - sum(result.crash_errors.values())


# --- interleavings shown on their own ------------------------------------------------------------------------


async def test_reconcile_never_adopts_another_users_task(tmp_path: Path) -> None:
    """Two users submit the same settings in the same second; the process dies before either answer.

    Regression test for reliability BUG R1 (alice got bob's video), fixed in 49dc668."""
    with FakeArk("byteplus", api_key="k-recon", queued_for=0.2, running_for=0.3) as fake:
        # The provider creates both tasks but holds the answers until long after the "crash".
        fake.inject("submit", after_create=True, delay=30, times=2)
        settings = Settings(home=tmp_path / "home", provider="byteplus", sandbox_speed=20,
                            providers={"byteplus": ProviderSettings(api_key="k-recon", base_url=fake.base_url)},
                            limits=Limits(max_running_per_user=None, max_tasks_per_day=None))
        # Ark's created_at is whole seconds: start early in a second so both tasks share it.
        await asyncio.sleep(1.05 - time.time() % 1)
        async with open_service(settings) as service:
            jobs = [asyncio.create_task(service.submit(user, VideoRequest(prompt=prompt, duration=4)))
                    for user, prompt in (("alice", "alice's private cat"), ("bob", "bob's dog"))]
            await asyncio.to_thread(fake.wait_for, lambda f: f.submits == 2, 10)
        # Leaving the block closed the service mid-submit, exactly as a kill would leave the rows.
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        async with open_service(settings) as service:
            # As the crash left them (a read through the service would reconcile them first).
            rows = await service.store.list_for_user("alice") + await service.store.list_for_user("bob")
            assert [t.status for t in rows] == [TaskStatus.PENDING, TaskStatus.PENDING]
            alice = await service.wait("alice", rows[0].id, timeout=30)
            bob = await service.wait("bob", rows[1].id, timeout=30)
        assert fake.submits == 2
        for task in (alice, bob):
            assert task.remote_id is not None, task.error
            assert _prompt_of(json.dumps(fake.task_body(task.remote_id)).encode()) == task.prompt, (
                f"{task.user}'s row holds the other user's video")


async def test_worker_delivers_backlog_once(tmp_path: Path) -> None:
    """The sink protocol on its own: a published-but-unrecorded delivery is recorded, not repeated."""
    from tests.reliability.crash_worker import EventLog, Sink, Worker

    settings = Settings(home=tmp_path / "home", sandbox_speed=20,
                        limits=Limits(max_running_per_user=None, max_tasks_per_day=None))
    sink = Sink(tmp_path / "sink")
    plan = [PlanItem(id="a", user="u", provider="sandbox", prompt="a lantern", params={"duration": 4})]
    async with open_service(settings) as service:
        events = EventLog(tmp_path / "events.jsonl")
        task = await service.submit("u", plan[0].request(), target=TARGET_PREFIX + "a", request_key="a")
        task = await service.wait("u", task.id, timeout=30)
        assert sink.put(task)  # published, then "killed" before mark_delivered
        assert [t.id for t in await service.undelivered(TARGET_PREFIX)] == [task.id]
        assert await Worker(service, plan, sink, events).run() == 0
        events.close()
        assert await service.undelivered(TARGET_PREFIX) == []
    lines = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    delivered = [e for e in lines if e["ev"] == "delivered"]
    assert delivered == [{**delivered[0], "created": False, "marked": True}]
    assert [p.name for p in (tmp_path / "sink").iterdir()] == [task.id]


async def test_row_never_sent_is_sent_after_restart(tmp_path: Path) -> None:
    """A kill between writing the row and starting the submit: nothing reached the provider, so
    sending it on restart is safe. Regression test for reliability BUG R2 (before 49dc668 such rows
    were failed as not_submitted: 11 of 120 tasks in the first campaign)."""
    from core.models import Cost, Task

    settings = Settings(home=tmp_path / "home", sandbox_speed=20,
                        limits=Limits(max_running_per_user=None, max_tasks_per_day=None))
    async with open_service(settings) as service:
        estimate = service.estimate(VideoRequest(prompt="a kite over the dunes", duration=4))
        # Exactly the row `submit` writes before `_send` records submit_started_at.
        row = Task(id="feedc0ffee01", user="u", provider=estimate.provider, model=estimate.model,
                   request=estimate.request, cost=Cost(unit=estimate.unit, estimated=estimate.amount),
                   target=TARGET_PREFIX + "k", request_key="k")
        await service.store.insert(row)
    async with open_service(settings) as service:
        task = await service.wait("u", row.id, timeout=30)
    assert task.status is TaskStatus.SUCCEEDED, task.error


async def test_worker_sends_again_an_item_that_never_reached_the_provider_and_a_rerun_sends_nothing(
    tmp_path: Path,
) -> None:
    """A kill as the request left ends the row ``not_created`` ("safe to try again") while a new
    worker already waits on it. The worker delivers that outcome, sends the plan item again under
    the same key, and a second run of the whole plan submits and delivers nothing more. (A campaign
    in CI caught this: its idempotency run re-sent such an item because the worker never had.)"""
    from core.models import Cost, Task
    from tests.reliability.crash_worker import EventLog, Sink, Worker

    settings = Settings(home=tmp_path / "home", sandbox_speed=20,
                        limits=Limits(max_running_per_user=None, max_tasks_per_day=None))
    sink = Sink(tmp_path / "sink")
    plan = [PlanItem(id="k", user="u", provider="sandbox", prompt="a kite over the dunes", params={"duration": 4})]
    async with open_service(settings) as service:
        estimate = service.estimate(plan[0].request())
        dead = Task(id="deadbeef0001", user="u", provider=estimate.provider, model=estimate.model,
                    request=estimate.request, cost=Cost(unit=estimate.unit, estimated=estimate.amount),
                    target=TARGET_PREFIX + "k", request_key="k")
        await service.store.insert(dead)
        # A sender that died as it began the submit, long enough ago that reconciliation gives up:
        # the worker's submit returns this pending row and its wait sees it end not_created.
        await service.store.update(dead.id, submit_started_at=time.time() - 200)
        for run in range(2):
            events = EventLog(tmp_path / f"events{run}.jsonl")
            assert await Worker(service, plan, sink, events).run() == 0
            events.close()
        rows = {t.id: t for t in await service.store.list_for_user("u")}
    sandbox_tasks = list((settings.home / "sandbox").glob("sbx-*.json"))
    assert len(sandbox_tasks) == 1, "the item reached the provider exactly once"
    assert set(rows) == {p.name for p in (tmp_path / "sink").iterdir()}, "each row delivered once"
    assert rows[dead.id].request_key is None and rows[dead.id].never_sent
    (retry,) = [t for t in rows.values() if t.id != dead.id]
    assert retry.request_key == "k" and retry.status is TaskStatus.SUCCEEDED
    second = [json.loads(line) for line in (tmp_path / "events1.jsonl").read_text().splitlines()]
    assert [e["ev"] for e in second if e["ev"] == "delivered"] == [], "the rerun delivered again"
