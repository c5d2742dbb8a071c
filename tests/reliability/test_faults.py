"""Provider faults, survived: every adapter, through the real `VideoService`, against the local fakes.

For each of the six adapters a matrix of faults is injected on submit, on polling and on the video
download: refused connections (a closed port), connect time-outs (a listener whose accept queue is
full), read time-outs, 429 with and without ``Retry-After``, 500/502/503/504 (JSON and HTML bodies),
malformed JSON, JSON of the wrong shape, unknown fields, unknown statuses, a plain body labelled gzip,
lost answers, truncated / expired / missing / oversize videos, and tasks that never finish.

Every case must end in a retry that succeeds or a final state with a clear one-line error: never an
exception other than `SeedanceError`, never a hang (each case runs under ``asyncio.timeout``), never a
lost task (exactly one row, final), never a second submit, never the key on the media host.

Time is virtual where the service waits (its poll naps, download retries and expiry deadline) and
the fakes' task clocks follow the same virtual time, so hours of provider time pass in milliseconds.
Only the read/connect time-outs cost real time (a fraction of a second each).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.config import Limits, ProviderSettings, Settings
from core.engine.scheduler import EXPIRY_MARGIN
from core.errors import SeedanceError
from core.http import HttpClient, RetryPolicy
from core.models import Task, TaskStatus, VideoRequest
from core.service import VideoService
from core.store import TaskStore
from tests.clock import RecordingSleep, VirtualTime
from tests.fakes import FAKES_BY_PROVIDER, FakeProvider, Fault

KEY = "sk-fault-matrix-key-7f3a9c"
USER = "cli:faults"
PROVIDERS = ("byteplus", "volcengine", "apiyi", "acedata", "seedanceapi", "apimart")
ARK = ("byteplus", "volcengine", "apiyi")
RECONCILES = ("byteplus", "volcengine")  # Ark list endpoint: a lost submit is looked up, not guessed
EXPIRY_FIELD = ("byteplus", "volcengine", "apiyi", "acedata")  # execution_expires_after is sent
CONNECT_TIMEOUT = 0.15
READ_TIMEOUT = 0.5
SLOW = READ_TIMEOUT + 0.3  # an injected delay that outlasts the read time-out
CASE_DEADLINE = 20.0  # real seconds: a case that takes longer has hung
PROMPT = "a red fox runs through fresh snow at dawn"

# Figures for docs/reliability.md: scenarios and faulty answers / connection failures per adapter,
# printed at the end of the session (tests/conftest.py).
FIGURES: dict[str, Counter[str]] = defaultdict(Counter)


# -- virtual time --------------------------------------------------------------------------------






class CountingTransport(httpx.AsyncBaseTransport):
    """Counts connection-level failures (refused, connect time-out) per request the client made."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.connect_failures = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._inner.handle_async_request(request)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            self.connect_failures += 1
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()


# -- dead ends: a closed port and a listener that never completes a connection -------------------


def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: connecting is refused at once
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def blackhole() -> Iterator[str]:
    """A URL whose TCP handshake never completes: the accept queue is full, so SYNs are dropped."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    yield f"http://127.0.0.1:{port}"
    for sock in (*fillers, listener):
        sock.close()


# -- the harness ---------------------------------------------------------------------------------


class LogHook(logging.Handler):
    """Calls ``callback`` (once) when a record's message contains ``needle``."""

    def __init__(self, needle: str, callback: Callable[[], None]) -> None:
        super().__init__(logging.DEBUG)
        self.needle, self.callback, self.fired = needle, callback, False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.fired and self.needle in record.getMessage():
            self.fired = True
            self.callback()


@dataclass
class Harness:
    provider: str
    fake: FakeProvider
    vt: VirtualTime
    service: VideoService
    http_sleep: RecordingSleep
    transport: CountingTransport
    blackhole: str
    faults: list[Fault] = field(default_factory=list)
    request: VideoRequest = field(default_factory=lambda: VideoRequest(prompt=PROMPT))
    media_faults: int = 0

    @property
    def adapter(self) -> Any:
        return self.service.provider(self.provider)

    def inject(self, route: str, **kwargs: Any) -> None:
        self.faults.append(self.fake.inject(route, **kwargs))

    def restore_on_poll_failure(self, url: str) -> None:
        """Point the adapter back at ``url`` once the watcher has logged a failed status check."""
        logger = logging.getLogger("seedance.scheduler")

        def restore() -> None:
            self.adapter.base_url = url
            logger.removeHandler(hook)

        hook = LogHook("status check failed", restore)
        logger.addHandler(hook)

    async def first_poll(self) -> None:
        self.service.scheduler.start()  # faults are armed: let this process's scheduler poll
        await asyncio.to_thread(self.fake.wait_for, lambda fake: bool(fake.requests_for("get")), CASE_DEADLINE)

    def fault_count(self) -> int:
        return sum(f.used for f in self.faults) + self.transport.connect_failures + self.media_faults


@asynccontextmanager
async def harness(provider: str, home: Path, blackhole_url: str, *, base_url: str | None = None,
                  max_download_mb: int = 1) -> AsyncIterator[Harness]:
    vt = VirtualTime()
    fake = FAKES_BY_PROVIDER[provider](api_key=KEY, clock=vt.mono)
    await fake.__aenter__()
    fake.media.secrets = (KEY,)
    settings = Settings(
        provider=provider,
        providers={provider: ProviderSettings(api_key=KEY, base_url=base_url or fake.base_url)},
        home=home,
        limits=Limits(max_running_per_user=None, max_tasks_per_day=None, daily_budget=None),
        max_download_mb=max_download_mb,
    )
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = await TaskStore.open(settings.db_path)
    transport = CountingTransport()
    sleeper = RecordingSleep()
    client = httpx.AsyncClient(
        transport=transport, timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT, pool=5.0)
    )
    http = HttpClient(client, policy=RetryPolicy(initial_delay=0.01, max_delay=0.05), sleep=sleeper)
    service = VideoService(settings=settings, store=store, http=http, clock=vt.clock, sleep=vt.sleep)
    # The matrix injects faults into each provider's per-task status route: read one task per
    # request here (batched reads and their refusals are covered in tests/providers/test_batch.py).
    setattr(service.provider(provider), "max_batch", 1)  # noqa: B010 - this instance only
    try:
        yield Harness(provider, fake, vt, service, sleeper, transport, blackhole_url)
    finally:
        await service.close()
        await store.close()
        await http.aclose()
        await fake.__aexit__()


# -- provider-shaped answers for injection ---------------------------------------------------------


def task_body(provider: str, remote_id: str, status: str | None = None, **extra: Any) -> Any:
    """A well-formed status answer saying the task is still going (or has ``status``), plus ``extra`` fields."""
    now = int(time.time())
    if provider in ARK:
        return {"id": remote_id, "status": status or "running", "created_at": now, **extra}
    if provider == "acedata":
        if status is None:  # a record without a response: accepted, not finished
            return {"id": remote_id, "started_at": now, "request": {"model": "m"}, **extra}
        return {"id": remote_id, "response": {"success": True, "task_id": remote_id,
                                               "data": {"status": status, **extra}}}
    if provider == "seedanceapi":
        raw_id = remote_id.removeprefix("v2:")
        return {"code": 200, "message": "success",
                "data": {"task_id": raw_id, "status": status or "IN_PROGRESS", **extra}}
    return {"code": 200, "data": {"id": remote_id, "status": status or "processing", "progress": 5, **extra}}


UNKNOWN_STATUS = {"byteplus": "paused_by_operator", "volcengine": "migrating", "apiyi": "gateway_pending",
                  "acedata": "thinking", "seedanceapi": "HALTED_FOR_REVIEW", "apimart": "frozen"}
HTML_PAGE = "<html><body><h1>503 Service Temporarily Unavailable</h1><hr>openresty</body></html>"


# -- expectations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    statuses: frozenset[TaskStatus]
    codes: frozenset[str | None] | None = frozenset({None})  # the row's error code; None: any provider code
    video: bool = False  # the video is on disk
    submits: int | None = None  # tasks the fake created; None: don't check


SUCCESS = Expect(frozenset({TaskStatus.SUCCEEDED}), video=True, submits=1)


def failed(*codes: str, submits: int | None = None, statuses: tuple[TaskStatus, ...] = (TaskStatus.FAILED,)) -> Expect:
    """A final failure with one of ``codes`` (with no codes: whatever code the provider gave)."""
    return Expect(frozenset(statuses), frozenset(codes) if codes else None, submits=submits)


def lost_submit(provider: str, *, created: bool) -> Expect:
    """A submit whose answer was lost: adopted if the provider can list (and it exists), else a clear failure."""
    if provider in RECONCILES:
        return SUCCESS if created else failed("not_created", submits=0)
    return failed("submit_uncertain", submits=1 if created else 0)


def unreadable_submit(provider: str, *, created: bool) -> Expect:
    """A 200 submit answer with no readable task id."""
    return lost_submit(provider, created=created)


Step = Callable[[Harness, Task], Awaitable[None]] | None


@dataclass(frozen=True)
class Case:
    name: str
    expect: Callable[[str], Expect]
    before: Callable[[Harness], None] | None = None  # faults armed before the submit
    after: Step = None  # faults armed once the task is submitted
    applies: Callable[[str], bool] = lambda provider: True
    base_url: Callable[[Harness], str] | None = None  # where the adapter points from the start
    bug: Callable[[str], str | None] = lambda provider: None  # a known core bug: strict xfail


async def _swap_to(h: Harness, target: str) -> None:
    original = h.adapter.base_url
    h.adapter.base_url = target + h.fake.prefix
    h.restore_on_poll_failure(original)


def _script(**kwargs: Any) -> Callable[[Harness], None]:
    return lambda h: h.fake.script(**kwargs)


def _inject(route: str, **kwargs: Any) -> Callable[[Harness], None]:
    return lambda h: h.inject(route, **kwargs)


def _inject_get(**kwargs: Any) -> Step:
    async def step(h: Harness, task: Task) -> None:
        h.inject("get", **kwargs)
    return step


def _inject_get_body(times: int | None, status: Callable[[str], str | None] = lambda p: None,
                     **extra: Any) -> Step:
    async def step(h: Harness, task: Task) -> None:
        assert task.remote_id
        h.inject("get", status=200, body=task_body(h.provider, task.remote_id, status(h.provider), **extra),
                 times=times)
    return step


def _never_finishes(expires_after: int | None) -> tuple[Callable[[Harness], None], Step]:
    def before(h: Harness) -> None:
        if expires_after:
            h.request = h.request.model_copy(update={"execution_expires_after": expires_after})

    async def after(h: Harness, task: Task) -> None:
        assert task.remote_id
        h.inject("get", status=200, body=task_body(h.provider, task.remote_id), times=None)
        await h.first_poll()
        # Jump past the service's own deadline: the provider keeps saying "running" forever.
        h.vt.offset += (expires_after or 172800) + EXPIRY_MARGIN + 60
    return before, after


def _media(fault: str, *, heal_after_first: bool = False) -> Callable[[Harness], None]:
    def before(h: Harness) -> None:
        h.fake.script("succeeded", media_fault=fault)  # type: ignore[arg-type]
        if heal_after_first:
            original_sleep = h.vt.sleep

            async def sleep(seconds: float) -> None:  # the service's download retry pause
                media = h.fake.media
                if media.requests:
                    media.set_fault(media.requests[0].path.rsplit("/", 1)[-1], None)
                await original_sleep(seconds)
            h.service._ctx.sleep = sleep  # the retry pause between download attempts
    return before


def _expiring(h: Harness) -> None:
    """A task asked to expire after an hour, which the provider would need days to render."""
    h.request = h.request.model_copy(update={"execution_expires_after": 3600})
    h.fake.script("succeeded", running_for=10.0**6)


def _drop_submit(after_create: bool) -> Callable[[Harness], None]:
    return _inject("submit", drop=True, after_create=after_create)


_never, _never_after = _never_finishes(None)
_never_x, _never_x_after = _never_finishes(3600)


CASES: tuple[Case, ...] = (
    # -- submit --------------------------------------------------------------------------------
    Case("submit/connection-refused", lambda p: failed("provider_unavailable", submits=0),
         base_url=lambda h: closed_port_url()),
    Case("submit/connect-timeout", lambda p: failed("provider_unavailable", submits=0),
         base_url=lambda h: h.blackhole),
    Case("submit/read-timeout-after-create", lambda p: lost_submit(p, created=True),
         before=_inject("submit", delay=SLOW, after_create=True)),
    Case("submit/connection-dropped", lambda p: lost_submit(p, created=False), before=_drop_submit(False)),
    Case("submit/connection-dropped-after-create", lambda p: lost_submit(p, created=True),
         before=_drop_submit(True)),
    Case("submit/429-retry-after", lambda p: SUCCESS,
         before=_inject("submit", status=429, headers={"Retry-After": "2"}, times=2)),
    Case("submit/429-no-retry-after", lambda p: SUCCESS, before=_inject("submit", status=429, times=2)),
    Case("submit/429-persistent", lambda p: failed("rate_limited", submits=0),
         before=_inject("submit", status=429, times=None)),
    Case("submit/429-retry-after-too-long", lambda p: failed("rate_limited", submits=0),
         before=_inject("submit", status=429, headers={"Retry-After": "3600"}, times=None)),
    *(Case(f"submit/{code}", lambda p: lost_submit(p, created=False), before=_inject("submit", status=code))
      for code in (500, 502, 503, 504)),
    *(Case(f"submit/{code}-html", lambda p: lost_submit(p, created=False),
           before=_inject("submit", status=code, body=HTML_PAGE)) for code in (500, 503)),
    Case("submit/503-after-create", lambda p: lost_submit(p, created=True),
         before=_inject("submit", status=503, after_create=True)),
    Case("submit/401-key-revoked", lambda p: failed("authentication_failed", submits=0),
         before=_inject("submit", status=401)),
    Case("submit/malformed-json-after-create", lambda p: unreadable_submit(p, created=True),
         before=_inject("submit", malformed=True)),
    Case("submit/no-task-id-after-create", lambda p: unreadable_submit(p, created=True),
         before=_inject("submit", status=200, body={"unexpected": "shape"}, after_create=True)),
    Case("submit/no-task-id", lambda p: failed("not_created", "submit_uncertain", "malformed_response", submits=0),
         before=_inject("submit", status=200, body={"unexpected": "shape"})),
    Case("submit/gzip-label-on-plain-body", lambda p: SUCCESS, before=_inject("submit", wrong_encoding=True)),
    # -- polling -------------------------------------------------------------------------------
    # The task runs for several polls, so the dead end is hit whichever poll comes first.
    Case("poll/connection-refused", lambda p: SUCCESS, before=_script(running_for=120.0),
         after=lambda h, t: _swap_to(h, closed_port_url())),
    Case("poll/connect-timeout", lambda p: SUCCESS, before=_script(running_for=120.0),
         after=lambda h, t: _swap_to(h, h.blackhole)),
    Case("poll/read-timeout", lambda p: SUCCESS, after=_inject_get(delay=SLOW, times=1)),
    Case("poll/429-retry-after", lambda p: SUCCESS, after=_inject_get(status=429, headers={"Retry-After": "3"},
                                                                      times=2)),
    Case("poll/429-no-retry-after", lambda p: SUCCESS, after=_inject_get(status=429, times=2)),
    Case("poll/429-beyond-retries", lambda p: SUCCESS, after=_inject_get(status=429, times=6)),
    *(Case(f"poll/{code}", lambda p: SUCCESS, after=_inject_get(status=code, times=2))
      for code in (500, 502, 503, 504)),
    *(Case(f"poll/{code}-html", lambda p: SUCCESS, after=_inject_get(status=code, body=HTML_PAGE, times=2))
      for code in (500, 503)),
    Case("poll/503-beyond-retries", lambda p: SUCCESS, after=_inject_get(status=503, times=9)),
    Case("poll/malformed-json", lambda p: SUCCESS, after=_inject_get(malformed=True, times=2)),
    Case("poll/json-array", lambda p: SUCCESS, after=_inject_get(status=200, body="[1, 2, 3]", times=1)),
    # A proxy's 400 or an error envelope inside a 200 is retried, not fatal to the watcher (was BUG 4/5).
    Case("poll/400-once", lambda p: SUCCESS, after=_inject_get(status=400, times=1)),
    Case("poll/400-persistent", lambda p: failed(), after=_inject_get(status=400, times=None)),
    Case("poll/error-envelope-in-200", lambda p: SUCCESS, applies=lambda p: p == "apimart",
         after=_inject_get(status=200, times=1, body={"error": {
             "code": 200, "message": "Service temporarily unavailable", "type": "server_error"}})),
    Case("poll/wrong-shape", lambda p: SUCCESS, after=_inject_get(status=200, body={"data": "oops"}, times=1)),
    Case("poll/unknown-and-missing-fields", lambda p: SUCCESS,
         after=_inject_get_body(2, future_field={"nested": [1, None]}, eta=None)),
    Case("poll/unknown-status", lambda p: SUCCESS, after=_inject_get_body(3, status=lambda p: UNKNOWN_STATUS[p])),
    Case("poll/gzip-label-on-plain-body", lambda p: SUCCESS, after=_inject_get(wrong_encoding=True, times=None)),
    Case("poll/404-task-gone", lambda p: failed("lost_by_provider"), after=_inject_get(status=404, times=1)),
    Case("poll/provider-says-expired", lambda p: failed(statuses=(TaskStatus.EXPIRED, TaskStatus.FAILED)),
         before=_script(outcome="expired")),
    Case("poll/provider-says-failed", lambda p: failed(), before=_script(outcome="failed")),
    Case("poll/execution-expiry-reached", lambda p: failed(statuses=(TaskStatus.EXPIRED,)),
         before=_expiring,
         applies=lambda p: p in EXPIRY_FIELD),
    Case("poll/never-finishes", lambda p: failed("expired", statuses=(TaskStatus.EXPIRED,)),
         before=_never, after=_never_after),
    Case("poll/never-finishes-short-expiry", lambda p: failed("expired", statuses=(TaskStatus.EXPIRED,)),
         before=_never_x, after=_never_x_after, applies=lambda p: p in EXPIRY_FIELD),
    # -- download ------------------------------------------------------------------------------
    Case("download/truncated", lambda p: Expect(frozenset({TaskStatus.SUCCEEDED}), frozenset({"download_failed"}),
                                                submits=1), before=_media("truncated")),
    Case("download/truncated-once", lambda p: SUCCESS, before=_media("truncated", heal_after_first=True)),
    Case("download/link-expired", lambda p: Expect(frozenset({TaskStatus.SUCCEEDED}), frozenset({"link_expired"}),
                                                   submits=1), before=_media("expired")),
    Case("download/link-gone-404", lambda p: Expect(frozenset({TaskStatus.SUCCEEDED}), frozenset({"link_expired"}),
                                                    submits=1), before=_media("missing")),
    Case("download/over-size-cap", lambda p: Expect(frozenset({TaskStatus.SUCCEEDED}), frozenset({"too_large"}),
                                                    submits=1), before=_media("oversize")),
    Case("download/over-size-cap-chunked", lambda p: Expect(frozenset({TaskStatus.SUCCEEDED}),
                                                            frozenset({"too_large"}), submits=1),
         before=_media("oversize_chunked")),
)


def _params() -> list[Any]:
    params = []
    for provider in PROVIDERS:
        for case in CASES:
            if not case.applies(provider):
                continue
            marks = []
            reason = case.bug(provider)
            if reason:
                marks.append(pytest.mark.xfail(reason=reason, strict=True))
            params.append(pytest.param(provider, case, id=f"{provider}-{case.name}", marks=marks))
    return params


# -- the matrix ------------------------------------------------------------------------------------


def assert_one_line(text: str, what: str) -> None:
    assert text and text.strip(), f"{what} is empty"
    assert "\n" not in text and "\r" not in text, f"{what} is not one line: {text!r}"
    assert "Traceback" not in text, f"{what} carries a traceback: {text!r}"
    assert KEY not in text, f"{what} carries the API key"


@pytest.mark.parametrize(("provider", "case"), _params())
async def test_fault(provider: str, case: Case, tmp_path: Path, blackhole: str,
                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with harness(provider, tmp_path / "home", blackhole) as h:
        if case.base_url is not None:
            h.adapter.base_url = case.base_url(h) + h.fake.prefix
        if case.before is not None:
            case.before(h)
        raised: SeedanceError | None = None
        async with asyncio.timeout(CASE_DEADLINE):
            try:
                await h.service.submit(USER, h.request)
            except SeedanceError as exc:  # anything else fails the test: a crash
                raised = exc
            rows = await h.service.list_tasks(USER)
            assert len(rows) == 1, "the task row is missing (or doubled)"
            task = rows[0]
            if case.after is not None:
                await case.after(h, task)
            task = await h.service.wait(USER, task.id, interval=0.05)

        expect = case.expect(provider)
        if case.name.startswith("download/"):  # every video fetch but a final good one met the fault
            h.media_faults = len(h.fake.media.requests) - (1 if expect.video else 0)
        FIGURES[provider]["scenarios"] += 1
        FIGURES[provider]["faults"] += h.fault_count()

        # Never lost: the row is final, and says so consistently.
        assert task.is_final, f"task left unfinished: {task.status}"
        assert task.status in expect.statuses, (task.status, task.error)
        code = task.error.code if task.error else None
        if expect.codes is None:
            assert code, f"a failure without an error code: {task.error}"
        else:
            assert code in expect.codes, (code, task.error)
        if task.error is not None:
            assert_one_line(task.error.message, "the task's error")
        if raised is not None:
            assert_one_line(str(raised), "the raised error")
            assert KEY not in repr(raised)
            assert task.error is not None and task.status is TaskStatus.FAILED
        if expect.video:
            assert task.video_path and Path(task.video_path).stat().st_size > 0
        else:
            assert not task.video_path
        # Never paid twice, and the key never left for the video host.
        if expect.submits is not None:
            assert h.fake.submits == expect.submits
        assert h.fake.submits <= 1
        assert h.fake.media.auth_leaks() == []
        # A watcher or listener that crashed logs at ERROR: none may.
        crashes = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("seedance")]
        assert not crashes, [r.getMessage() for r in crashes]
        assert h.fault_count() > 0 or case.name.startswith(("poll/provider-says", "poll/execution-expiry")), \
            "the fault was never served"


async def test_retry_after_is_honoured_on_submit_and_poll(tmp_path: Path, blackhole: str) -> None:
    """The 429 answers' Retry-After values are the pauses the client took (not its own backoff)."""
    async with harness("byteplus", tmp_path / "home", blackhole) as h:
        h.inject("submit", status=429, headers={"Retry-After": "7"}, times=1)
        async with asyncio.timeout(CASE_DEADLINE):
            task = await h.service.submit(USER, h.request)
            h.inject("get", status=429, headers={"Retry-After": "11"}, times=1)
            task = await h.service.wait(USER, task.id, interval=0.05)
        assert task.status is TaskStatus.SUCCEEDED and task.video_path
        assert 7.0 in h.http_sleep.delays and 11.0 in h.http_sleep.delays
        assert h.fake.submits == 1


def test_the_matrix_covers_every_adapter() -> None:
    """Every adapter goes through the whole matrix: at least 40 scenarios each, none xfailed.

    Read from the parametrization itself, so it holds whatever ran before it (or with -k alone);
    the figures each scenario produced (faults served) are printed at the end of the session
    (tests/conftest.py), and each scenario asserts its own fault was served.
    """
    per_provider: Counter[str] = Counter()
    for param in _params():
        provider, case = param.values
        assert not param.marks, f"{param.id} is marked {param.marks}: a known bug left in the matrix"
        per_provider[provider] += 1
    assert set(per_provider) == set(PROVIDERS)
    short = {p: n for p, n in per_provider.items() if n < 40}
    assert not short, f"adapters with fewer than 40 scenarios: {short}"
