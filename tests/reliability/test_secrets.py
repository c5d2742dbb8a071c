"""Secrets: API keys and bot/MCP tokens go to the provider's own Authorization header and nowhere else.

Representative flows (success with download, failed task, refused submit, 5xx during polling, a lost submit,
cancel, the CLI in-process and as a subprocess, the MCP tools) run with distinctive canary secrets while
everything is captured: every log record of every logger at DEBUG (with tracebacks), stdout/stderr, raised
exceptions (str, repr, args and their cause chains), task JSON and reprs, every row of every SQLite table, the
raw bytes of every file under SEEDANCE_HOME (database, WAL, media), and every request the fakes received.
The only place a secret may appear is the ``Authorization`` header of a request to its own provider's fake.

`SecretScanner` is the "plugin": a module-scoped autouse fixture installs it on the root logger for the whole
module and fails at teardown if any captured record carries a secret. It can be moved to tests/conftest.py
as a session fixture to scan the whole suite's logs.

The database and the media folder must be created owner-only (0600 / 0700) whatever the umask.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sqlite3
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.app import main
from core.config import Limits, ProviderSettings, Settings
from core.errors import SeedanceError
from core.http import HttpClient, RetryPolicy
from core.models import Task, TaskStatus, VideoRequest
from core.service import VideoService, open_service
from core.store import TaskStore
from tests.clock import VirtualTime
from tests.conftest import clean_environ
from tests.fakes import FAKES_BY_PROVIDER, FakeProvider, RecordedRequest

ROOT = Path(__file__).resolve().parents[2]
_RUN = secrets.token_hex(8)  # unique per run: a hit can only come from this run's flows
API_KEY = f"sk-SECRET-CANARY-{_RUN}-apikey"
OTHER_KEY = f"sk-SECRET-CANARY-{_RUN}-otherkey"  # a second provider's key in the same configuration
DISCORD_TOKEN = f"MTA5.CANARY-{_RUN}.discord-bot-token"
MCP_TOKEN = f"mcp-CANARY-{_RUN}-bearer"
SECRETS = (API_KEY, OTHER_KEY, DISCORD_TOKEN, MCP_TOKEN)
PROVIDERS = ("byteplus", "volcengine", "apiyi", "acedata", "seedanceapi", "apimart")
NO_LIMITS = Limits(max_running_per_user=None, max_tasks_per_day=None, daily_budget=None)
USER = "cli:secrets"


def leaks(text: str | bytes, *, where: str) -> list[str]:
    """Which secrets (or their random core, to catch truncated copies) ``text`` carries."""
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    needles = [s.encode() for s in SECRETS] + [_RUN.encode()]
    return [f"{where}: {n.decode()[:24]}…" for n in needles if n in data]


# -- the log scanner (module-wide) --------------------------------------------------------------------


class SecretScanner(logging.Handler):
    """Keeps every record (formatted with its traceback) so it can be searched for secrets."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    paused = False  # set while a test that is known to leak (a strict xfail) runs

    def emit(self, record: logging.LogRecord) -> None:
        if self.paused:
            return
        try:
            text = self.format(record)
        except Exception:  # noqa: BLE001 - a record that cannot format is kept raw
            text = f"{record.msg!r} {record.args!r}"
        self.texts.append(text + " " + repr(record.args))

    def found(self) -> list[str]:
        return [hit for text in self.texts for hit in leaks(text, where="log")]


@pytest.fixture(scope="module", autouse=True)
def log_scanner() -> Iterator[SecretScanner]:
    scanner = SecretScanner()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(scanner)
    root.setLevel(logging.DEBUG)
    try:
        yield scanner
    finally:
        root.removeHandler(scanner)
        root.setLevel(old_level)
    print(f"\nsecret scan: {len(scanner.texts)} log records, {sum(map(len, scanner.texts))} characters")
    assert scanner.texts, "the scanner saw no log records at all: it is not wired up"
    assert scanner.found() == [], scanner.found()[:5]


# Tests whose leak is a known core bug (strict xfail): their records are not scanned, or the module would fail
# twice for one bug. Remove a name here once its xfail is gone.
KNOWN_LEAKS: set[str] = set()


@pytest.fixture(autouse=True)
def _pause_for_known_leaks(request: pytest.FixtureRequest, log_scanner: SecretScanner) -> Iterator[None]:
    log_scanner.paused = request.node.originalname in KNOWN_LEAKS
    yield
    log_scanner.paused = False


# -- what gets scanned ------------------------------------------------------------------------------


def scan_exception(exc: BaseException) -> list[str]:
    hits: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        for text in (str(seen), repr(seen), repr(seen.args), repr(vars(seen)) if hasattr(seen, "__dict__") else ""):
            hits += leaks(text, where=f"exception {type(seen).__name__}")
        seen = seen.__cause__ or seen.__context__
    return hits


def scan_home(home: Path) -> list[str]:
    """Every row of every table, then the raw bytes of every file (freed pages, WAL and media included)."""
    hits: list[str] = []
    db = home / "seedance.db"
    if db.exists():
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for table in tables:
                for row in conn.execute(f'SELECT * FROM "{table}"'):
                    hits += leaks(repr(row), where=f"table {table}")
    for path in home.rglob("*"):
        if path.is_file():
            hits += leaks(path.read_bytes(), where=f"file {path.relative_to(home)}")
    return hits


def scan_provider_requests(fake: FakeProvider, own_key: str) -> list[str]:
    """The key may only be the Authorization header of its own provider; no other secret may arrive."""
    hits: list[str] = []
    for rec in fake.requests:
        hits += _scan_request(rec, where=f"{fake.name} {rec.method} {rec.path}", allowed_auth=f"Bearer {own_key}")
        if rec.route is not None:
            assert rec.headers.get("Authorization") == f"Bearer {own_key}", "a provider call without its key"
    return hits


def scan_host_requests(records: Iterable[RecordedRequest], where: str) -> list[str]:
    """A host that is not the provider (the media host): no Authorization header, no secret at all."""
    hits: list[str] = []
    for rec in records:
        if "Authorization" in rec.headers:
            hits.append(f"{where}: Authorization header sent to {rec.path}")
        hits += _scan_request(rec, where=where, allowed_auth=None)
    return hits


def _scan_request(rec: RecordedRequest, *, where: str, allowed_auth: str | None) -> list[str]:
    hits: list[str] = []
    for name, value in rec.headers.items():
        if name.lower() == "authorization" and value == allowed_auth:
            continue
        hits += leaks(f"{name}: {value}", where=f"{where} header {name}")
    hits += leaks(rec.path + "?" + str(rec.query), where=f"{where} URL")
    hits += leaks(rec.body, where=f"{where} body")
    return hits


def scan_task(task: Task) -> list[str]:
    return leaks(repr(task) + str(task.to_json()) + task.model_dump_json(), where=f"task {task.id}")


# -- a fast service against a fake ----------------------------------------------------------------




async def _no_sleep(_: float) -> None:
    await asyncio.sleep(0)


def canary_settings(home: Path, providers: dict[str, ProviderSettings], default: str) -> Settings:
    return Settings(
        provider=default, providers=providers, home=home, limits=NO_LIMITS, max_download_mb=2,
        discord_token=DISCORD_TOKEN,  # type: ignore[arg-type]
        mcp_tokens={MCP_TOKEN: "mcp:alice"}, public_url="https://studio.example",
    )


@asynccontextmanager
async def fast_service(settings: Settings, vt: VirtualTime) -> AsyncIterator[VideoService]:
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = await TaskStore.open(settings.db_path)
    http = HttpClient(httpx.AsyncClient(timeout=httpx.Timeout(0.5, connect=0.5)),
                      policy=RetryPolicy(initial_delay=0.01, max_delay=0.02), sleep=_no_sleep)
    service = VideoService(settings=settings, store=store, http=http, clock=vt.clock, sleep=vt.sleep)
    try:
        yield service
    finally:
        await service.close()
        await store.close()
        await http.aclose()


async def _settle(service: VideoService, task_id: str) -> Task:
    async with asyncio.timeout(20):
        return await service.wait(USER, task_id, interval=0.05)


# -- the flows ------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_service_flows_keep_every_secret_where_it_belongs(
    provider: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vt = VirtualTime()
    home = tmp_path / "home"
    hits: list[str] = []
    async with FAKES_BY_PROVIDER[provider](api_key=API_KEY, clock=vt.mono) as fake:
        fake.media.secrets = SECRETS
        settings = canary_settings(home, {provider: ProviderSettings(api_key=API_KEY, base_url=fake.base_url)},
                                   provider)
        hits += leaks(repr(settings), where="settings")
        async with fast_service(settings, vt) as service:
            hits += leaks(repr(service.provider()) + repr(service), where="reprs")
            tasks: list[Task] = []
            errors: list[BaseException] = []
            # 1. success, with the last frame where the model has one, and a 5xx while polling
            ok = await service.submit(USER, VideoRequest(prompt="a canary sings", return_last_frame=True)
                                      if provider not in ("seedanceapi",) else VideoRequest(prompt="a canary sings"))
            fake.inject("get", status=500, times=2)
            tasks.append(await _settle(service, ok.id))
            assert tasks[-1].status is TaskStatus.SUCCEEDED and tasks[-1].video_path
            # 2. a failed task
            fake.script("failed", error_message="moderation refused the canary")
            tasks.append(await _settle(service, (await service.submit(USER, VideoRequest(prompt="b"))).id))
            # 3. a refused submit (the key "revoked")
            fake.inject("submit", status=401)
            try:
                await service.submit(USER, VideoRequest(prompt="c"))
            except SeedanceError as exc:
                errors.append(exc)
            # 4. a submit whose answer is lost after the task was created
            fake.inject("submit", drop=True, after_create=True)
            lost = await service.submit(USER, VideoRequest(prompt="d"))
            tasks.append(await _settle(service, lost.id))
            # 5. cancel (supported or not), then a task id that does not exist
            fake.script("succeeded", queued_for=3600.0)
            queued = await service.submit(USER, VideoRequest(prompt="e"))
            for call in (service.cancel(USER, queued.id), service.get(USER, "nope")):
                try:
                    await call
                except SeedanceError as exc:
                    errors.append(exc)
            tasks += await service.list_tasks(USER, limit=100)
        for error in errors:
            hits += scan_exception(error)
        for task in tasks:
            hits += scan_task(task)
        hits += scan_provider_requests(fake, API_KEY)
        hits += scan_host_requests(fake.media.requests, "media host")
        assert fake.media.auth_leaks() == []
        assert fake.media.requests, "no video was downloaded: the flow did not reach the media host"
    out, err = capsys.readouterr()
    hits += leaks(out + err, where="stdout/stderr")
    hits += scan_home(home)
    assert hits == []


@pytest.mark.parametrize("show", [
    pytest.param(repr, id="repr"),
    pytest.param(str, id="str"),
    pytest.param(lambda s: s.model_dump_json(), id="json"),
    pytest.param(lambda s: repr(s.model_dump()), id="dump"),
    pytest.param(lambda s: f"{s}", id="format"),
])
def test_settings_never_show_a_secret(show: Any) -> None:
    settings = canary_settings(Path("/tmp/unused"), {"byteplus": ProviderSettings(api_key=API_KEY)}, "byteplus")
    assert leaks(show(settings), where="settings") == []


async def test_each_provider_only_ever_sees_its_own_key(tmp_path: Path) -> None:
    vt = VirtualTime()
    home = tmp_path / "home"
    async with FAKES_BY_PROVIDER["byteplus"](api_key=API_KEY, clock=vt.mono) as ark, \
            FAKES_BY_PROVIDER["apimart"](api_key=OTHER_KEY, clock=vt.mono) as mart:
        settings = canary_settings(home, {
            "byteplus": ProviderSettings(api_key=API_KEY, base_url=ark.base_url),
            "apimart": ProviderSettings(api_key=OTHER_KEY, base_url=mart.base_url),
        }, "byteplus")
        async with fast_service(settings, vt) as service:
            for provider in ("byteplus", "apimart", "byteplus"):
                task = await service.submit(USER, VideoRequest(prompt="two keys"), provider=provider)
                assert (await _settle(service, task.id)).status is TaskStatus.SUCCEEDED
        assert scan_provider_requests(ark, API_KEY) == []
        assert scan_provider_requests(mart, OTHER_KEY) == []
        assert len(ark.requests_for("submit")) == 2 and len(mart.requests_for("submit")) == 1
        assert scan_host_requests([*ark.media.requests, *mart.media.requests], "media hosts") == []
    assert scan_home(home) == []


@pytest.mark.parametrize("provider", ["byteplus", "apimart"])
async def test_a_provider_that_echoes_the_key_does_not_make_us_leak_it(provider: str, tmp_path: Path) -> None:
    vt = VirtualTime()
    async with FAKES_BY_PROVIDER[provider](api_key=API_KEY, clock=vt.mono) as fake:
        fake.inject("submit", status=401, body={"error": {
            "code": "InvalidApiKey", "message": f"Incorrect API key provided: Bearer {API_KEY}"}})
        settings = canary_settings(tmp_path / "home",
                                   {provider: ProviderSettings(api_key=API_KEY, base_url=fake.base_url)}, provider)
        async with fast_service(settings, vt) as service:
            with pytest.raises(SeedanceError) as caught:
                await service.submit(USER, VideoRequest(prompt="echo"))
            rows = await service.list_tasks(USER)
    assert scan_exception(caught.value) == []
    assert [hit for task in rows for hit in scan_task(task)] == []


# -- the CLI ------------------------------------------------------------------------------------------


@pytest.fixture
def ark_fake() -> Iterator[FakeProvider]:
    with FAKES_BY_PROVIDER["byteplus"](api_key=API_KEY) as fake:
        fake.media.secrets = SECRETS
        yield fake


def _canary_env(home: Path, fake: FakeProvider) -> dict[str, str]:
    return clean_environ(
        home, SEEDANCE_PROVIDER="byteplus", SEEDANCE_API_KEY=API_KEY, SEEDANCE_BASE_URL=fake.base_url,
        DISCORD_TOKEN=DISCORD_TOKEN, SEEDANCE_MCP_TOKENS=f"{MCP_TOKEN}=mcp:alice", SEEDANCE_USER="cli:canary",
        SEEDANCE_MAX_RUNNING_PER_USER="none", SEEDANCE_MAX_TASKS_PER_DAY="none",
    )


def test_cli_in_process_never_prints_or_stores_a_secret(ark_fake: FakeProvider, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    for key in list(os.environ):
        if key.startswith(("SEEDANCE_", "DISCORD_")):
            monkeypatch.delenv(key)
    for key, value in _canary_env(home, ark_fake).items():
        if key.startswith(("SEEDANCE_", "DISCORD_")):
            monkeypatch.setenv(key, value)
    outputs: list[str] = []

    def run(*argv: str) -> int:
        code = main(list(argv))
        out, err = capsys.readouterr()
        outputs.append(out + err)
        return code

    assert run("generate", "a canary in the CLI", "--no-wait", "--json") == 0
    task_id = outputs[-1].split('"id": "')[1].split('"')[0]
    ark_fake.wait_for(lambda f: f.task_state(f.task_ids[0]) == "succeeded", timeout=10)
    assert run("status", task_id, "--json") == 0  # one refresh: succeeded, downloaded
    assert '"status": "succeeded"' in outputs[-1]
    assert run("status", task_id) == 0
    assert run("history") == 0 and run("history", "--json") == 0
    assert run("estimate", "x", "--json") == 0 and run("models") == 0
    assert run("cancel", task_id) == 2  # already finished: one-line refusal
    ark_fake.inject("submit", status=401)
    assert run("generate", "refused", "--no-wait") == 1
    ark_fake.inject("submit", status=500, times=None)
    assert run("generate", "lost", "--no-wait", "--json") == 0
    monkeypatch.setenv("SEEDANCE_MAX_DOWNLOAD_MB", "lots")
    assert run("history") == 2  # a configuration error next to the secrets
    hits = [hit for text in outputs for hit in leaks(text, where="CLI output")]
    hits += scan_provider_requests(ark_fake, API_KEY)
    hits += scan_host_requests(ark_fake.media.requests, "media host")
    hits += scan_home(home)
    assert ark_fake.media.requests
    assert hits == []


def test_cli_subprocess_never_prints_or_stores_a_secret(ark_fake: FakeProvider, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = _canary_env(home, ark_fake)

    def cli(*argv: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "cli", *argv], cwd=ROOT, env=env, capture_output=True,
                              timeout=60, check=False)

    runs = [cli("generate", "a canary in a subprocess", "--no-wait", "--json")]
    assert runs[0].returncode == 0, runs[0].stderr
    ark_fake.wait_for(lambda f: f.task_state(f.task_ids[0]) == "succeeded", timeout=10)
    task_id = runs[0].stdout.split(b'"id": "')[1].split(b'"')[0].decode()
    runs.append(cli("status", task_id, "--json"))
    assert runs[-1].returncode == 0 and b'"succeeded"' in runs[-1].stdout
    ark_fake.inject("submit", status=401)
    runs.append(cli("generate", "refused", "--no-wait"))
    assert runs[-1].returncode == 1
    hits = [hit for proc in runs for hit in leaks(proc.stdout + proc.stderr, where="CLI subprocess output")]
    hits += scan_provider_requests(ark_fake, API_KEY)
    hits += scan_host_requests(ark_fake.media.requests, "media host")
    hits += scan_home(home)
    assert hits == []


# -- the MCP tools ------------------------------------------------------------------------------------


async def test_mcp_tools_never_return_a_secret(ark_fake: FakeProvider, tmp_path: Path) -> None:
    from mcp import Client

    from mcp_server.server import build_server

    home = tmp_path / "home"
    settings = canary_settings(home, {"byteplus": ProviderSettings(api_key=API_KEY, base_url=ark_fake.base_url)},
                               "byteplus").model_copy(update={"user": "mcp:canary"})
    texts: list[str] = []
    async with Client(build_server(settings)) as client:
        calls: list[tuple[str, dict[str, Any]]] = [
            ("list_video_models", {}),
            ("estimate_video_cost", {"prompt": "a canary"}),
            ("generate_video", {"prompt": "a canary via MCP", "wait_seconds": 0, "request_id": "canary-1"}),
            ("list_video_tasks", {}),
            ("get_video_task", {"task_id": "does-not-exist", "wait_seconds": 0}),
        ]
        for tool, arguments in calls:
            result = await client.call_tool(tool, arguments)
            texts.append(repr(result))
        task_id = next(t for t in texts if "a canary via MCP" in t).split("'id': '")[1].split("'")[0]
        await asyncio.to_thread(ark_fake.wait_for, lambda f: f.task_state(f.task_ids[0]) == "succeeded", 10)
        texts.append(repr(await client.call_tool("get_video_task", {"task_id": task_id, "wait_seconds": 0})))
        ark_fake.inject("submit", status=401)
        texts.append(repr(await client.call_tool("generate_video", {"prompt": "refused", "wait_seconds": 0})))
        listed = await client.list_tools()
        texts.append(repr(listed))
    hits = [hit for text in texts for hit in leaks(text, where="MCP result")]
    hits += scan_provider_requests(ark_fake, API_KEY)
    hits += scan_host_requests(ark_fake.media.requests, "media host")
    hits += scan_home(home)
    assert hits == []


# -- file permissions -----------------------------------------------------------------------------


async def _private_home(tmp_path: Path, umask: int) -> tuple[Settings, Task, list[Path]]:
    """Run a sandbox task with a last frame under ``umask``; returns the settings, the task and the db files."""
    old = os.umask(umask)
    try:
        home = tmp_path / "deep" / "home"
        settings = Settings(home=home, sandbox_speed=20, limits=NO_LIMITS)
        async with open_service(settings) as service:
            task = await service.submit(USER, VideoRequest(prompt="private fox", return_last_frame=True))
            async with asyncio.timeout(30):
                task = await service.wait(USER, task.id, interval=0.05)
            assert task.video_path and task.last_frame_path
            db_files = [p for p in home.iterdir() if p.name.startswith("seedance.db")]
    finally:
        os.umask(old)
    return settings, task, db_files


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask-022", "umask-000"])
async def test_database_and_media_are_owner_only(tmp_path: Path, umask: int) -> None:
    settings, task, db_files = await _private_home(tmp_path, umask)
    assert _mode(settings.home) == 0o700
    assert _mode(settings.db_path) == 0o600
    assert {p.name for p in db_files} >= {"seedance.db", "seedance.db-wal", "seedance.db-shm"}
    for path in db_files:
        if path.exists():
            assert _mode(path) == 0o600, path.name
    assert _mode(settings.media_dir) == 0o700
    assert task.video_path and _mode(Path(task.video_path)) == 0o600


async def test_last_frame_file_is_owner_only(tmp_path: Path) -> None:
    _, task, _ = await _private_home(tmp_path, 0o000)
    assert task.last_frame_path and _mode(Path(task.last_frame_path)) == 0o600
