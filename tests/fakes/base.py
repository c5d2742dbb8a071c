"""Shared machinery for the fake provider servers.

Every fake is an aiohttp app served from a background thread that owns its own event loop, so the
same server answers in-process async tests, sync tests and subprocesses (a CLI the test SIGKILLs).
State is guarded by one `threading.RLock`; every public accessor takes it and returns copies.

Task timing is simulated, never slept: a task is `queued` for `queued_for` seconds, then `running`
for `running_for` seconds, then ends with its scripted outcome. The status is recomputed from the
injectable `clock` on every request, so a `ManualClock` gives benchmarks virtual time.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Self

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, MultiDict

if TYPE_CHECKING:
    from tests.fakes.media import MediaHost

Clock = Callable[[], float]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Outcome = Literal["succeeded", "failed", "expired", "cancelled"]
MediaFault = Literal["truncated", "oversize", "oversize_chunked", "missing", "expired"]

# Neutral states; each fake maps them onto its provider's vocabulary.
QUEUED, RUNNING = "queued", "running"
TERMINAL = ("succeeded", "failed", "expired", "cancelled")

GATEWAY_HTML = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}"
    "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)




@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it (headers case-insensitive, query keeps repeats)."""

    method: str
    path: str
    query: MultiDict[str]
    headers: CIMultiDict[str]
    body: bytes
    json: Any  # the parsed body; None when empty or not JSON
    time: float  # on the fake's clock
    route: str | None  # "submit" | "get" | "list" | "batch" | "cancel" | "media" | None (unrouted)


RECORD = web.RequestKey("record", RecordedRequest)  # the recorded request, for handlers


@dataclass
class Fault:
    """One injected misbehaviour for a route; see `FakeProvider.inject`."""

    route: str
    status: int | None = None
    headers: Mapping[str, str] | None = None
    body: str | bytes | dict[str, Any] | None = None
    times: int | None = 1  # None = every matching request
    delay: float = 0.0
    drop: bool = False
    after_create: bool = False
    malformed: bool = False
    wrong_encoding: bool = False
    used: int = 0

    @property
    def needs_handler(self) -> bool:
        # Garbled answers are garbled *real* answers, so the request is processed first.
        return self.after_create or self.malformed or self.wrong_encoding


@dataclass
class Script:
    """What the next submitted task will do; see `FakeProvider.script`."""

    outcome: Outcome = "succeeded"
    error_code: str | None = None
    error_message: str | None = None
    queued_for: float | None = None
    running_for: float | None = None
    actual_cost: float | None = None
    media_fault: MediaFault | None = None
    duration: int | None = None  # the concrete length chosen for duration -1 / "auto"
    ratio: str | None = None  # the concrete ratio chosen for "adaptive"


@dataclass
class SimTask:
    """A simulated remote task; its state is a pure function of the clock."""

    id: str
    created: float
    queued_for: float
    running_for: float
    script: Script
    body: dict[str, Any]
    callback_url: str | None = None
    cancelled_at: float | None = None
    deleted: bool = False
    video_url: str | None = None
    last_frame_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    notified: int = 0  # how many entries of `path()` the callback worker has taken

    @property
    def finished(self) -> float:
        return self.created + self.queued_for + self.running_for

    def state(self, now: float) -> str:
        if self.cancelled_at is not None:
            return "cancelled"
        elapsed = now - self.created
        if elapsed < self.queued_for:
            return QUEUED
        if elapsed < self.queued_for + self.running_for:
            return RUNNING
        return self.script.outcome

    def changed_at(self, now: float) -> float:
        """Clock time of the latest status transition (for `updated_at`)."""
        state = self.state(now)
        if state == "cancelled" and self.cancelled_at is not None:
            return self.cancelled_at
        return {QUEUED: self.created, RUNNING: self.created + self.queued_for}.get(state, self.finished)

    def path(self, now: float) -> list[str]:
        """Every status the task has shown so far, in order (drives status-change callbacks)."""
        state = self.state(now)
        if state == "cancelled":
            return [QUEUED]  # cancellation is not announced (Ark §1.11)
        seq = [QUEUED, RUNNING, state] if state in TERMINAL else [QUEUED, RUNNING]
        return seq[: seq.index(state) + 1]


@dataclass(frozen=True)
class CallbackAttempt:
    url: str
    task_id: str
    status: str
    payload: Any
    http_status: int | None  # None when the POST itself failed
    error: str | None
    time: float


class ThreadedServer:
    """An aiohttp app on its own thread and loop, bound to an ephemeral port."""

    name = "server"

    def __init__(self, *, host: str = "127.0.0.1", clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self._host = host
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._requests: list[RecordedRequest] = []
        self._counts: Counter[str] = Counter()  # route -> requests; kept by clear_requests()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._session: aiohttp.ClientSession | None = None
        # Map the clock onto wall time once, so timestamps stay consistent under virtual time.
        self._epoch0, self._clock0 = time.time(), clock()

    # --- lifecycle -------------------------------------------------------------------------------

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, 0))
        sock.listen(128)
        return sock

    def start(self) -> Self:
        if self._thread is not None:
            return self
        sock = self._bind()
        self._port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(sock))
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise RuntimeError(f"{self.name} fake failed to start") from failure[0]
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    async def _serve(self, sock: socket.socket) -> None:
        app = web.Application(middlewares=self._middlewares(), client_max_size=80 * 1024 * 1024)
        self._routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self._session = aiohttp.ClientSession()
        self._background()

    async def _shutdown(self) -> None:
        current = asyncio.current_task()
        for task in asyncio.all_tasks():
            if task is not current:
                task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def _background(self) -> None:
        """Start long-lived coroutines on the server loop (override)."""

    def _routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def _middlewares(self) -> list[Any]:
        return [self._record_mw]

    # --- addresses and time ----------------------------------------------------------------------

    @property
    def root_url(self) -> str:
        if not self._port:
            raise RuntimeError(f"{self.name} fake is not started")
        return f"http://{self._host}:{self._port}"

    @property
    def host(self) -> str:
        return self._host

    def unix(self, clock_time: float | None = None) -> float:
        """Wall-clock seconds for a point on the fake's clock."""
        t = self.clock() if clock_time is None else clock_time
        return self._epoch0 + (t - self._clock0)

    # --- recording -------------------------------------------------------------------------------

    @web.middleware
    async def _record_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        parsed: Any = None
        if body:
            with contextlib.suppress(ValueError):
                parsed = json.loads(body)
        rec = RecordedRequest(
            method=request.method,
            path=request.path,
            query=MultiDict(request.query),
            headers=CIMultiDict(request.headers),
            body=body,
            json=parsed,
            time=self.clock(),
            route=self.route_for(request, parsed),
        )
        request[RECORD] = rec
        with self._changed:
            self._requests.append(rec)
            self._counts[rec.route or "unrouted"] += 1
            self._changed.notify_all()
        return await handler(request)

    def route_for(self, request: web.Request, body: Any) -> str | None:
        """The logical route a request is recorded, counted and faulted under (override per fake)."""
        return route_of(request)

    @property
    def request_counts(self) -> dict[str, int]:
        """Requests served per logical route since start (or `reset_counts`); `clear_requests` keeps them."""
        with self._lock:
            return dict(self._counts)

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget recorded requests (long benchmarks would otherwise keep every body)."""
        with self._lock:
            self._requests.clear()

    def requests_for(self, route: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self._requests if r.route == route]

    def wait_for(self, predicate: Callable[[Self], bool], timeout: float = 5.0) -> None:
        """Block until `predicate(self)` holds (re-checked on every change and every 20 ms).

        Raises:
            TimeoutError: the predicate did not hold within `timeout` real seconds.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self.name} fake: condition not met within {timeout} s")
                self._changed.wait(min(remaining, 0.02))

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()


def route_of(request: web.Request) -> str | None:
    """The logical route of a request: the aiohttp route name up to its first dot.

    aiohttp route names must be unique, so a second path for the same logical route is named
    e.g. "submit.v2".
    """
    name = request.match_info.route.name
    return name.split(".")[0] if name else None


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(payload, ensure_ascii=False).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def is_int(value: Any) -> bool:
    """JSON integers only: booleans and floats are not integers on the wire."""
    return isinstance(value, int) and not isinstance(value, bool)


class FakeProvider(ThreadedServer):
    """Base of every provider fake: auth, fault injection, scripted outcomes, task store, callbacks."""

    provider = "provider"
    prefix = ""  # path prefix of the provider's base URL

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        queued_for: float = 0.2,
        running_for: float = 0.5,
        clock: Clock = time.monotonic,
        media: MediaHost | None = None,
        host: str = "127.0.0.1",
        callback_timeout: float = 5.0,
        callback_retries: int = 3,
        strict_fields: bool = True,
    ) -> None:
        super().__init__(host=host, clock=clock)
        self.name = self.provider
        self.api_key = api_key
        self.queued_for = queued_for
        self.running_for = running_for
        self.callback_timeout = callback_timeout
        self.callback_retries = callback_retries
        self.strict_fields = strict_fields
        self._own_media = media is None
        if media is None:
            from tests.fakes.media import MediaHost

            media = MediaHost(clock=clock)
        self.media: MediaHost = media
        self._faults: list[Fault] = []
        self._scripts: deque[Script] = deque()
        self._tasks: dict[str, SimTask] = {}
        self._callbacks: list[CallbackAttempt] = []
        self._callback_workers: dict[str, asyncio.Task[None]] = {}
        self._watch: set[str] = set()  # tasks with a callback_url that may still change

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._own_media:
            self.media.start()
        return super().start()

    def stop(self) -> None:
        super().stop()
        if self._own_media:
            self.media.stop()

    @property
    def base_url(self) -> str:
        """The provider's base URL, path prefix included (what SEEDANCE_BASE_URL would hold)."""
        return self.root_url + self.prefix

    def _middlewares(self) -> list[Any]:
        return [self._record_mw, self._fault_mw, self._auth_mw]

    def _background(self) -> None:
        asyncio.get_running_loop().create_task(self._callback_ticker())

    # --- scripting -------------------------------------------------------------------------------

    def script(
        self,
        outcome: Outcome = "succeeded",
        *,
        error_code: str | None = None,
        error_message: str | None = None,
        queued_for: float | None = None,
        running_for: float | None = None,
        actual_cost: float | None = None,
        media_fault: MediaFault | None = None,
        duration: int | None = None,
        ratio: str | None = None,
    ) -> None:
        """Queue the outcome of the next submitted task (FIFO; unscripted tasks succeed)."""
        with self._lock:
            self._scripts.append(
                Script(outcome, error_code, error_message, queued_for, running_for, actual_cost,
                       media_fault, duration, ratio)
            )

    def inject(
        self,
        route: str,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        body: str | bytes | dict[str, Any] | None = None,
        times: int | None = 1,
        delay: float = 0.0,
        drop: bool = False,
        after_create: bool = False,
        malformed: bool = False,
        wrong_encoding: bool = False,
    ) -> Fault:
        """Make the next `times` requests to `route` misbehave (None = forever).

        `status` answers with that code (default body: the provider's own error JSON, or an nginx
        HTML page for 502/504); `drop` closes the connection without an answer; `malformed`
        truncates the real JSON answer; `wrong_encoding` labels the real answer gzip (APIYI quirk);
        `delay` waits first (real seconds). With `after_create` the request is fully processed
        (on "submit" the task IS created) and only then is the answer replaced or lost.
        """
        fault = Fault(route, status, headers, body, times, delay, drop, after_create, malformed,
                      wrong_encoding)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, route: str | None) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.route == route:
                    fault.used += 1
                    if fault.times is not None and fault.used >= fault.times:
                        self._faults.remove(fault)
                    return fault
        return None

    def _next_script(self) -> Script:
        with self._lock:
            return self._scripts.popleft() if self._scripts else Script()

    # --- state accessors -------------------------------------------------------------------------

    @property
    def submits(self) -> int:
        """How many tasks were created (failed validation does not count)."""
        with self._lock:
            return len(self._tasks)

    @property
    def task_ids(self) -> list[str]:
        with self._lock:
            return list(self._tasks)

    @property
    def callbacks(self) -> list[CallbackAttempt]:
        with self._lock:
            return list(self._callbacks)

    def task_state(self, task_id: str) -> str:
        """The neutral state (queued/running/succeeded/failed/expired/cancelled) of a task."""
        with self._lock:
            return self._tasks[task_id].state(self.clock())

    def task_body(self, task_id: str) -> dict[str, Any]:
        """The JSON body the task was submitted with."""
        with self._lock:
            return copy.deepcopy(self._tasks[task_id].body)

    def video_url(self, task_id: str) -> str | None:
        with self._lock:
            return self._tasks[task_id].video_url

    # --- task creation helpers for subclasses ----------------------------------------------------

    def _new_task(self, task_id: str, body: dict[str, Any], *, callback_url: str | None = None,
                  max_total: float | None = None, want_last_frame: bool = False,
                  signed_media: bool = True) -> SimTask:
        """Create, store and publish media for a task (call with the lock held or not)."""
        script = self._next_script()
        queued = self.queued_for if script.queued_for is None else script.queued_for
        running = self.running_for if script.running_for is None else script.running_for
        if max_total is not None and queued + running > max_total:
            # The provider's own deadline passes first: the task ends expired at that moment.
            queued, running = min(queued, max_total), max(0.0, max_total - min(queued, max_total))
            script.outcome = "expired"
        task = SimTask(task_id, self.clock(), queued, running, script, body, callback_url)
        if script.outcome == "succeeded":
            task.video_url = self.media.publish(task_id, "mp4", signed=signed_media,
                                                published_at=task.finished, fault=script.media_fault)
            if want_last_frame:
                task.last_frame_url = self.media.publish(task_id, "png", signed=signed_media,
                                                         published_at=task.finished)
        with self._changed:
            self._tasks[task_id] = task
            if callback_url:
                self._watch.add(task_id)
            self._changed.notify_all()
        return task

    # --- middlewares -----------------------------------------------------------------------------

    @web.middleware
    async def _fault_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        fault = self._take_fault(request[RECORD].route)
        if fault is None:
            return await handler(request)
        # With after_create the work is done first and only the answer is late (or lost), so a
        # client that times out has still created the task.
        real = await handler(request) if fault.after_create else None
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if not fault.needs_handler and not fault.drop and fault.status is None:
            return await handler(request)  # a pure delay
        if real is None and fault.needs_handler:
            real = await handler(request)
        return self._faulty_response(request, fault, real)

    def _faulty_response(self, request: web.Request, fault: Fault,
                         real: web.StreamResponse | None) -> web.StreamResponse:
        if fault.drop:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=499)  # never reaches the client
        real_body = real.body if isinstance(real, web.Response) and isinstance(real.body, bytes) else b""
        if fault.status is not None:
            resp = self._fault_body(fault.status, fault.body)
        elif fault.malformed:
            cut = real_body[: max(1, len(real_body) // 2)] or b'{"'
            resp = web.Response(body=cut, status=real.status if real else 200,
                                content_type="application/json")
        elif fault.wrong_encoding:
            resp = web.Response(body=real_body, status=real.status if real else 200,
                                content_type="application/json", headers={"Content-Encoding": "gzip"})
        else:
            assert real is not None
            return real
        for key, value in (fault.headers or {}).items():
            resp.headers[key] = value
        return resp

    def _fault_body(self, status: int, body: str | bytes | dict[str, Any] | None) -> web.Response:
        if isinstance(body, dict):
            return json_response(body, status)
        if isinstance(body, (str, bytes)):
            raw = body.encode() if isinstance(body, str) else body
            looks_html = raw.lstrip()[:1] == b"<"
            return web.Response(body=raw, status=status,
                                content_type="text/html" if looks_html else "application/json")
        if status in (502, 504):
            reason = {502: "Bad Gateway", 504: "Gateway Time-out"}[status]
            return web.Response(text=GATEWAY_HTML.format(status=status, reason=reason), status=status,
                                content_type="text/html")
        return self.error_response(status)

    @web.middleware
    async def _auth_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request[RECORD].route is None:
            return await handler(request)  # unrouted: let aiohttp answer 404/405
        header = request.headers.get("Authorization")
        if header is None:
            return self.auth_error(missing=True)
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.api_key:
            return self.auth_error(missing=False)
        return await handler(request)

    # --- provider hooks --------------------------------------------------------------------------

    def auth_error(self, *, missing: bool) -> web.Response:
        raise NotImplementedError

    def error_response(self, status: int) -> web.Response:
        """The provider's error answer for a bare status (used by `inject`)."""
        raise NotImplementedError

    def callback_payload(self, task: SimTask, state: str) -> Any | None:
        """JSON to POST to the task's callback for a status change, or None for no POST."""
        return None

    # --- callbacks -------------------------------------------------------------------------------

    async def _callback_ticker(self) -> None:
        # Status changes are derived from the clock, so they are discovered by polling it; only
        # tasks that still owe a callback are looked at.
        while True:
            now = self.clock()
            with self._lock:
                for task_id in list(self._watch):
                    task = self._tasks[task_id]
                    path = task.path(now)
                    if len(path) > task.notified and not task.deleted:
                        worker = self._callback_workers.get(task_id)
                        if worker is None or worker.done():
                            self._callback_workers[task_id] = asyncio.create_task(self._deliver(task))
                    elif task.deleted or task.state(now) in TERMINAL:
                        self._watch.discard(task_id)
            await asyncio.sleep(0.02)

    async def _deliver(self, task: SimTask) -> None:
        while True:
            with self._lock:
                path = task.path(self.clock())
                if task.notified >= len(path):
                    return
                state = path[task.notified]
                task.notified += 1
                payload = self.callback_payload(task, state)
            if payload is not None and task.callback_url:
                final = state in TERMINAL
                await self._post_callback(task, state, payload, 1 + (self.callback_retries if final else 0))

    async def _post_callback(self, task: SimTask, state: str, payload: Any, attempts: int) -> None:
        assert self._session is not None and task.callback_url is not None
        for _ in range(attempts):
            http_status: int | None = None
            error: str | None = None
            try:
                async with self._session.post(
                    task.callback_url, json=payload,
                    timeout=aiohttp.ClientTimeout(total=self.callback_timeout),
                ) as resp:
                    http_status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            with self._changed:
                self._callbacks.append(CallbackAttempt(task.callback_url, task.id, state, payload,
                                                       http_status, error, self.clock()))
                self._changed.notify_all()
            if http_status is not None and 200 <= http_status < 300:
                return
