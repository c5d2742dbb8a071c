"""The PostgreSQL driver behind the task store (psycopg 3, async), for processes on several machines.

Selected by ``SEEDANCE_DATABASE_URL=postgresql://user:password@host:5432/dbname``. It keeps the
`Database` contract of `core.store.database`:

- the store's ``?`` placeholders become psycopg's ``%s`` (the store writes no literal ``?`` or ``%``);
- a small pool of autocommit connections of its own (at most `POOL_SIZE`): one statement outside a
  transaction commits at once, `transaction` is an explicit BEGIN ... COMMIT on one connection;
- claiming uses ``FOR UPDATE SKIP LOCKED`` and a limit-checking insert first takes a transaction
  advisory lock on the user, so two replicas never both pass the same limit;
- `migrate` holds an advisory lock, so two processes starting at once never both migrate, and
  records the version in ``seedance_schema``;
- `notify`/`wait_notified` are LISTEN/NOTIFY on the ``seedance_due`` channel; the listener has a
  connection of its own, opened on the first `wait_notified`;
- a unique violation is `Conflict`; every other error is `StoreError`, one line naming the database
  by its URL without the password; opening fails within `CONNECT_TIMEOUT` seconds;
- after a dropped connection (a server restart) the next call connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from core.errors import ConfigError, StoreError

try:
    import psycopg
    from psycopg import AsyncConnection, errors
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
    from psycopg.pq import TransactionStatus
    from psycopg.rows import DictRow, dict_row
except ImportError as exc:  # the driver is an extra: say how to get it, not a traceback
    raise ConfigError(
        "SEEDANCE_DATABASE_URL names a PostgreSQL database, but its driver is not installed: "
        "pip install 'seedance-studio[postgres]'"
    ) from exc

from core.store.database import Conflict, Row, Transaction

log = logging.getLogger("seedance.store")

CONNECT_TIMEOUT = 5  # seconds: an unreachable server is reported, never waited for
POOL_SIZE = 10  # connections one process holds at most (plus the listener)
CHANNEL = "seedance_due"
# Advisory lock keys (two int4 keys: a space of our own, apart from other applications' one-key locks).
_LOCK_SPACE_MIGRATE = 0x5EED0001
_LOCK_SPACE_USER = 0x5EED0002

Conn = AsyncConnection[DictRow]


def redact(url: str) -> str:
    """The URL without its password (in the user part or as a ``password=`` query parameter)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        netloc = host + (f":{parts.port}" if parts.port is not None else "")
        if parts.username is not None:
            netloc = f"{parts.username}@{netloc}"
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"])
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:  # a malformed URL (a bad port, say): cut every possible password out by hand
        cut = re.sub(r"(//[^/:@]*):[^@/]*@", r"\1@", url)
        return re.sub(r"([?&]password=)[^&]*", r"\1***", cut)


def _secrets_of(url: str) -> list[str]:
    found = []
    with contextlib.suppress(ValueError):
        parts = urlsplit(url)
        if parts.password:
            found += [parts.password, unquote(parts.password)]
        found += [v for k, v in parse_qsl(parts.query) if k == "password" and v]
    match = re.search(r"//[^/:@]*:([^@/]*)@", url)
    if match and match.group(1):
        found += [match.group(1), unquote(match.group(1))]
    return [s for s in found if s]


def _translate(sql: str) -> str:
    """``?`` placeholders to psycopg's ``%s`` (a literal ``%`` is escaped, should one ever appear)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _describe(exc: BaseException) -> str:
    """What went wrong, in words an operator can act on (never the raw connection string)."""
    text = str(exc)
    low = text.lower()
    if isinstance(exc, errors.ConnectionTimeout | TimeoutError) or "timeout expired" in low:
        return f"the server did not answer within {CONNECT_TIMEOUT} s (is the host right and reachable?)"
    if "connection refused" in low:
        return "the server refused the connection (nothing listens at that host and port)"
    if "password authentication failed" in low or "authentication failed" in low:
        return "the user name or password was refused"
    if "no password supplied" in low or "password is required" in low:
        return "the server wants a password and the URL has none"
    if "does not exist" in low and "database" in low:
        return "that database does not exist on the server"
    if "role" in low and "does not exist" in low:
        return "that user does not exist on the server"
    if "could not translate host name" in low or "name or service not known" in low or "nodename nor" in low:
        return "the host name cannot be resolved"
    if "no pg_hba.conf entry" in low:
        return "the server does not accept connections from this host or user (pg_hba.conf)"
    if "too many connections" in low or "remaining connection slots" in low:
        return "the server has no connection slots left"
    if "no route to host" in low or "network is unreachable" in low:
        return "the host cannot be reached over the network"
    if "ssl" in low and ("not support" in low or "required" in low):
        return f"the server and the URL disagree on SSL ({_reason(text)})"
    if "invalid" in low and ("connection option" in low or "port number" in low or "sslmode" in low):
        return f"the URL is not valid ({_reason(text)})"
    if "server closed the connection" in low or "terminating connection" in low or "consuming input failed" in low:
        return "the server closed the connection (restarted or stopped?)"
    if "the connection is closed" in low:
        return "the connection was closed"
    if "permission denied" in low:
        return f"permission denied ({_reason(text)})"
    return f"{type(exc).__name__}: {_reason(text) or 'no details'}"


def _reason(text: str) -> str:
    """libpq's own words without the "connection to server at ... failed:" preamble."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    line = line.rsplit(" failed: ", 1)[-1]
    for prefix in ("connection is bad: ", "FATAL:  ", "ERROR:  "):
        line = line.removeprefix(prefix)
    return line[:200]


class PostgresDatabase:
    """The `Database` protocol on PostgreSQL; open it with `PostgresDatabase.open`."""

    dialect: Literal["sqlite", "postgres"] = "postgres"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, first: Conn, *, pool_size: int = POOL_SIZE) -> None:
        self._url = url
        self.location = redact(url)
        self._secrets = _secrets_of(url)
        self._idle: list[Conn] = [first]
        self._slots = asyncio.Semaphore(pool_size)
        self._listener: Conn | None = None
        self._listener_lock = asyncio.Lock()
        self._closed = False

    # -- opening and errors --------------------------------------------------------------------

    @classmethod
    async def open(cls, url: str, *, pool_size: int = POOL_SIZE) -> PostgresDatabase:
        """Connect once (within `CONNECT_TIMEOUT` s) to prove the URL works.

        Raises:
            StoreError: the URL is malformed, or the server is unreachable, refuses the user or
                password, or has no such database: one line naming the database, never the password.
        """
        first = await cls._connect_to(url, redact(url), _secrets_of(url))
        return cls(url, first, pool_size=pool_size)

    @staticmethod
    async def _connect_to(url: str, location: str, secrets: Sequence[str]) -> Conn:
        try:
            params = conninfo_to_dict(url)
        except psycopg.Error as exc:
            reason = _scrub(_first(exc), secrets)
            raise StoreError(f"task database {location}: the URL is not valid ({reason})") from None
        if "connect_timeout" not in params:
            params["connect_timeout"] = CONNECT_TIMEOUT
        params.setdefault("application_name", "seedance-studio")
        # A peer that vanished without closing (a network partition) is noticed in about a minute
        # instead of a statement waiting on it forever.
        for key, value in (("keepalives", 1), ("keepalives_idle", 30), ("keepalives_interval", 10)):
            params.setdefault(key, value)
        params.setdefault("keepalives_count", 3)
        conninfo = make_conninfo("", **params)
        try:
            # psycopg applies connect_timeout to each address it tries; bound the whole attempt too.
            async with asyncio.timeout(CONNECT_TIMEOUT * 2 + 1):
                conn: Conn = await AsyncConnection.connect(
                    conninfo, autocommit=True, row_factory=dict_row, prepare_threshold=None
                )
        except (psycopg.Error, OSError, TimeoutError) as exc:
            raise StoreError(f"task database {location}: {_scrub(_describe(exc), secrets)}") from None
        return conn

    async def _connect(self) -> Conn:
        return await self._connect_to(self._url, self.location, self._secrets)

    def _error(self, exc: BaseException) -> StoreError:
        return StoreError(f"task database {self.location}: {_scrub(_describe(exc), self._secrets)}")

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except errors.UniqueViolation as exc:
            raise Conflict(_first(exc)) from None
        except psycopg.Error as exc:
            raise self._error(exc) from exc

    # -- the pool ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[tuple[Conn, bool]]:
        """A connection for one statement or transaction: (connection, whether it was reused)."""
        if self._closed:
            raise StoreError(f"task database {self.location}: it was closed")
        async with self._slots:
            reused = bool(self._idle)
            conn = self._idle.pop() if reused else await self._connect()
            try:
                yield conn, reused
            finally:
                if self._closed or conn.closed or conn.broken or conn.info.transaction_status != TransactionStatus.IDLE:
                    await _close_quietly(conn)
                else:
                    self._idle.append(conn)

    async def _drop_idle(self) -> None:
        """The server went away: every idle connection is dead too."""
        idle, self._idle = self._idle, []
        for conn in idle:
            await _close_quietly(conn)

    async def _run(self, sql: str, params: Sequence[Any], fetch: bool) -> tuple[list[Row], int]:
        query = _translate(sql) if params else sql
        args = tuple(params) if params else None
        for attempt in (1, 2):
            async with self._connection() as (conn, reused):
                try:
                    cur = await conn.execute(query, args)
                    rows = [dict(r) for r in await cur.fetchall()] if fetch and cur.description else []
                    return rows, cur.rowcount
                except errors.UniqueViolation as exc:
                    raise Conflict(_first(exc)) from None
                except psycopg.OperationalError as exc:
                    # A connection that sat idle across a server restart fails at once: once, on a
                    # reused connection that is now broken, try again on a fresh one.
                    if attempt == 1 and reused and (conn.broken or conn.closed):
                        log.info("task database %s: connection lost, reconnecting", self.location)
                        await self._drop_idle()
                        continue
                    raise self._error(exc) from exc
                except psycopg.Error as exc:
                    raise self._error(exc) from exc
        raise AssertionError("unreachable")

    # -- Executor ------------------------------------------------------------------------------

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return (await self._run(sql, params, fetch=True))[0]

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return (await self._run(sql, params, fetch=False))[1]

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """BEGIN ... COMMIT on one connection (READ COMMITTED); ROLLBACK when the body raises."""
        for attempt in (1, 2):
            async with self._connection() as (conn, reused):
                try:
                    await conn.execute("BEGIN")
                except psycopg.OperationalError as exc:
                    if attempt == 1 and reused and (conn.broken or conn.closed):
                        await self._drop_idle()
                        continue
                    raise self._error(exc) from exc
                except psycopg.Error as exc:
                    raise self._error(exc) from exc
                try:
                    yield _PostgresTransaction(self, conn)
                except BaseException:
                    if not conn.broken and not conn.closed:
                        with contextlib.suppress(psycopg.Error):
                            await conn.execute("ROLLBACK")
                    raise
                with self._errors():
                    await conn.execute("COMMIT")
                return

    # -- schema --------------------------------------------------------------------------------

    async def migrate(self, migrations: Sequence[str]) -> None:
        """Bring the schema to ``len(migrations)``, in one transaction under an advisory lock.

        Raises:
            StoreError: the schema is newer than this program, or a ``tasks`` table that is not
                ours is in the way.
        """
        async with self.transaction() as tx:
            await tx.fetch("SELECT pg_advisory_xact_lock(?, 0)", (_LOCK_SPACE_MIGRATE,))
            present = await tx.fetch("SELECT to_regclass('seedance_schema') IS NOT NULL AS yes")
            if not present[0]["yes"]:
                await tx.execute("CREATE TABLE seedance_schema (version INTEGER NOT NULL)")
            rows = await tx.fetch("SELECT MAX(version) AS version FROM seedance_schema")
            version = int(rows[0]["version"] or 0)
            if version > len(migrations):
                raise StoreError(
                    f"task database {self.location}: it was written by a newer Seedance Studio "
                    f"(schema {version}, this one knows {len(migrations)}); upgrade before using it"
                )
            if version == 0:
                foreign = await tx.fetch("SELECT to_regclass('tasks') IS NOT NULL AS yes")
                if foreign[0]["yes"]:
                    raise StoreError(
                        f"task database {self.location}: it already holds a table named tasks that is not "
                        "Seedance Studio's; use another database or schema"
                    )
            if version == len(migrations):
                return
            for script in migrations[version:]:
                for statement in script.split(";"):
                    if statement.strip():
                        await tx.execute(statement)
            await tx.execute("DELETE FROM seedance_schema")
            await tx.execute("INSERT INTO seedance_schema (version) VALUES (?)", (len(migrations),))

    # -- LISTEN/NOTIFY -------------------------------------------------------------------------

    async def notify(self, payload: str) -> None:
        """Wake every process waiting in `wait_notified` (a task id, say; under 8000 bytes)."""
        await self.fetch("SELECT pg_notify(?, ?)", (CHANNEL, payload))

    async def wait_notified(self, timeout: float) -> bool:
        """True as soon as any process notifies (or the listener was lost: look again); False on time-out.

        The first call starts listening; notifications sent between two calls are kept for the next.
        """
        async with self._listener_lock:
            if self._closed:
                raise StoreError(f"task database {self.location}: it was closed")
            if self._listener is None or self._listener.closed or self._listener.broken:
                conn = await self._connect()
                try:
                    with self._errors():
                        await conn.execute(f"LISTEN {CHANNEL}")
                except BaseException:
                    await _close_quietly(conn)
                    raise
                self._listener = conn
            listener = self._listener
            try:
                woke = False
                async for _ in listener.notifies(timeout=max(timeout, 0.0), stop_after=1):
                    woke = True
                if woke:  # take whatever else arrived with it: one wake-up is enough
                    async for _ in listener.notifies(timeout=0):
                        pass
                return woke
            except psycopg.Error:
                # The server went away: notifications may have been lost, so say "look again".
                log.info("task database %s: listener lost, reconnecting on the next wait", self.location)
                self._listener = None
                await _close_quietly(listener)
                return True

    async def close(self) -> None:
        self._closed = True
        conns = [*self._idle, *([self._listener] if self._listener else [])]
        self._idle, self._listener = [], None
        for conn in conns:
            await _close_quietly(conn)


class _PostgresTransaction:
    def __init__(self, db: PostgresDatabase, conn: Conn) -> None:
        self._db = db
        self._conn = conn

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._db._errors():
            cur = await self._conn.execute(_translate(sql) if params else sql, tuple(params) if params else None)
            return [dict(r) for r in await cur.fetchall()] if cur.description else []

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._db._errors():
            cur = await self._conn.execute(_translate(sql) if params else sql, tuple(params) if params else None)
            return cur.rowcount

    async def lock_user(self, user: str) -> None:
        """Until the transaction ends, other transactions locking the same user wait."""
        await self.fetch("SELECT pg_advisory_xact_lock(?, hashtext(?))", (_LOCK_SPACE_USER, user))


async def _close_quietly(conn: Conn) -> None:
    with contextlib.suppress(psycopg.Error, OSError):
        await conn.close()


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    return " ".join(text.split())  # one line
