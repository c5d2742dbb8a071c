"""The two database drivers behind the task store: the embedded SQLite default and PostgreSQL.

`TaskStore` writes its SQL once, with ``?`` placeholders and portable statements, against the
small `Database` protocol here. A driver owns connecting, transactions, the schema version, the
dialect's few differences (``FOR UPDATE SKIP LOCKED``, a per-user lock) and turning every
driver error into `StoreError` (one line naming the database) or `Conflict` (a unique key).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import aiosqlite

from core.errors import StoreError

# aiosqlite logs every statement with its parameters at DEBUG: callback tokens and signed result
# links among them. Those must not reach a log even when an operator turns debugging on.
logging.getLogger("aiosqlite").setLevel(logging.INFO)

Row = dict[str, Any]

OPEN_TIMEOUT = 5.0  # seconds to wait for another process's lock while opening: fail fast, and say why
BUSY_TIMEOUT = 15.0  # seconds a statement waits for another process's write lock


class Conflict(Exception):
    """A unique key already exists (the same request key, or a remote task already adopted)."""


class Executor(Protocol):
    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...


class Database(Executor, Protocol):
    dialect: Literal["sqlite", "postgres"]
    location: str  # for messages: the file, or the URL without its password
    skip_locked: str  # appended to a SELECT that claims rows

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Transaction]: ...

    async def migrate(self, migrations: Sequence[str]) -> None: ...

    async def notify(self, payload: str) -> None:
        """Tell other processes sharing the database that work is due (no-op where unshared)."""

    async def wait_notified(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for another process's `notify`; False on time-out."""

    async def close(self) -> None: ...


class Transaction(Executor, Protocol):
    async def lock_user(self, user: str) -> None:
        """Serialise transactions that check and change one user's limits."""


# -- SQLite ------------------------------------------------------------------------------------


def _describe_sqlite(exc: BaseException) -> str:
    text = str(exc).lower()
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC or "disk is full" in text or "database or disk" in text:
        return "the disk is full"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return "the file is damaged or is not a Seedance Studio database"
    if "locked" in text or "busy" in text:
        return "another program has held it locked for too long"
    if "readonly" in text or "read-only" in text or isinstance(exc, PermissionError):
        return "it cannot be written (permissions or a read-only disk)"
    if "unable to open" in text:
        return "it cannot be opened"
    return f"{type(exc).__name__}: {str(exc)[:120]}"


@contextlib.contextmanager
def _sqlite_errors(location: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise Conflict(str(exc)) from None
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"task database {location}: {_describe_sqlite(exc)}") from exc


class _SqliteExecutor:
    def __init__(self, db: aiosqlite.Connection, location: str) -> None:
        self._db = db
        self.location = location

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        # Run and fetch in one trip to the connection's thread: a SELECT left half-read would hold
        # a read snapshot open, and a write from another coroutine in between would then fail at
        # once with "database is locked" whenever another process had written meanwhile.
        with _sqlite_errors(self.location):
            rows = await self._db.execute_fetchall(sql, params)
        return [dict(row) for row in rows]

    async def _execute(self, sql: str, params: Sequence[Any]) -> int:
        with _sqlite_errors(self.location):
            async with self._db.execute(sql, params) as cur:
                return cur.rowcount


class _SqliteTransaction(_SqliteExecutor):
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await self._execute(sql, params)

    async def lock_user(self, user: str) -> None:
        return None  # BEGIN IMMEDIATE already serialises every writer


class SqliteDatabase(_SqliteExecutor):
    """One file in WAL mode, shared by the processes of one machine."""

    dialect: Literal["sqlite", "postgres"] = "sqlite"
    skip_locked = ""  # BEGIN IMMEDIATE makes the claiming transaction the only writer

    def __init__(self, db: aiosqlite.Connection, location: str) -> None:
        super().__init__(db, location)
        # One connection is shared by every coroutine of the process: writes and transactions take
        # turns, or one coroutine's BEGIN would swallow another's statements.
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> SqliteDatabase:
        """Open (creating owner-only) the database file; `StoreError` naming it when that fails."""
        location = str(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not path.exists():
                # Create the file owner-only before SQLite opens it: it holds prompts and links.
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as exc:
            raise StoreError(f"task database {location}: {_describe_sqlite(exc)}") from exc
        conn: aiosqlite.Connection | None = None
        try:
            # Autocommit mode: transactions are explicit (see transaction), never opened implicitly.
            conn = await aiosqlite.connect(path, timeout=OPEN_TIMEOUT, isolation_level=None)
            conn.row_factory = aiosqlite.Row
            await conn.execute_fetchall(f"PRAGMA busy_timeout={int(OPEN_TIMEOUT * 1000)}")
            await conn.execute_fetchall("PRAGMA schema_version")  # "file is not a database" shows here
            await conn.execute_fetchall("PRAGMA journal_mode=WAL")
            await conn.execute_fetchall("PRAGMA synchronous=NORMAL")
        except (sqlite3.Error, OSError) as exc:
            # Close the connection, or its thread keeps the process alive after the error.
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
            raise StoreError(f"task database {location}: {_describe_sqlite(exc)}") from exc
        return cls(conn, location)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._lock:
            return await self._execute(sql, params)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """BEGIN IMMEDIATE ... COMMIT, holding the write lock (other processes wait on SQLite's)."""
        async with self._lock:
            try:
                with _sqlite_errors(self.location):
                    await self._db.execute("BEGIN IMMEDIATE")
                yield _SqliteTransaction(self._db, self.location)
                with _sqlite_errors(self.location):
                    await self._db.execute("COMMIT")
            except BaseException:
                # Also when cancelled mid-BEGIN or mid-COMMIT: the connection's thread may still run
                # the statement, and a connection left inside a transaction would refuse every
                # later BEGIN. Roll back whatever is open, shielded from the cancellation.
                await asyncio.shield(self._rollback())
                raise

    async def _rollback(self) -> None:
        # Always sent: the connection's thread runs statements in order, so this ROLLBACK follows a
        # BEGIN still in flight; with nothing open, SQLite just says so.
        with contextlib.suppress(sqlite3.Error, ValueError):
            await self._db.execute("ROLLBACK")

    async def migrate(self, migrations: Sequence[str]) -> None:
        version = int((await self.fetch("PRAGMA user_version"))[0]["user_version"])
        if version > len(migrations):
            raise StoreError(
                f"task database {self.location}: it was written by a newer Seedance Studio "
                f"(schema {version}, this one knows {len(migrations)}); upgrade before using it"
            )
        if version == 0:
            await self._refuse_foreign_tables()
        for number, script in enumerate(migrations[version:], start=version + 1):
            async with self.transaction() as tx:
                # Another process may have migrated while we waited for the lock.
                if int((await tx.fetch("PRAGMA user_version"))[0]["user_version"]) >= number:
                    continue
                for statement in script.split(";"):
                    if statement.strip():
                        await tx.execute(statement)
                await tx.execute(f"PRAGMA user_version={number}")
        await self._db.execute_fetchall(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")

    async def _refuse_foreign_tables(self) -> None:
        tables = await self.fetch("SELECT name FROM sqlite_master WHERE type='table'")
        if tables:
            names = ", ".join(sorted(str(t["name"]) for t in tables)[:5])
            raise StoreError(
                f"task database {self.location}: it already holds tables ({names}) that are not "
                "Seedance Studio's; point SEEDANCE_HOME somewhere else"
            )

    async def notify(self, payload: str) -> None:
        return None  # one machine: every process polls the file's due times itself

    async def wait_notified(self, timeout: float) -> bool:
        await asyncio.sleep(timeout)
        return False

    async def close(self) -> None:
        with contextlib.suppress(sqlite3.Error, ValueError):
            await self._db.close()
