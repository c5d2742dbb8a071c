"""The ``backend`` fixture: every contract test runs once on SQLite and once on PostgreSQL.

A `Backend` opens any number of `TaskStore` instances on one database (as separate processes
would). Every statement those stores send goes through `PortableSql`, which fails the test when a
statement is not the portable form the drivers translate: exactly one ``?`` per parameter and no
literal ``%`` (psycopg would read it as a placeholder).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from core.store import TaskStore, open_store
from core.store.database import Database, Row, Transaction
from tests.pg import PgServer, pg_database, pg_server, pg_url  # noqa: F401 - fixtures

Name = Literal["sqlite", "postgres"]


def check_portable(sql: str, params: Sequence[Any]) -> None:
    assert "%" not in sql or not params, f"literal % in a statement with parameters: {sql}"
    assert sql.count("?") == len(params), f"{sql.count('?')} placeholders for {len(params)} parameters: {sql}"


class _CheckedTx:
    def __init__(self, tx: Transaction, seen: list[str]) -> None:
        self._tx = tx
        self._seen = seen

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        check_portable(sql, params)
        self._seen.append(sql)
        return await self._tx.fetch(sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        check_portable(sql, params)
        self._seen.append(sql)
        return await self._tx.execute(sql, params)

    async def lock_user(self, user: str) -> None:
        await self._tx.lock_user(user)


class PortableSql:
    """A `Database` that checks each statement of the store, then hands it to the real driver."""

    def __init__(self, db: Database) -> None:
        self.inner = db
        self.dialect = db.dialect
        self.location = db.location
        self.skip_locked = db.skip_locked
        self.seen: list[str] = []

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        check_portable(sql, params)
        self.seen.append(sql)
        return await self.inner.fetch(sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        check_portable(sql, params)
        self.seen.append(sql)
        return await self.inner.execute(sql, params)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self.inner.transaction() as tx:
            yield _CheckedTx(tx, self.seen)

    async def migrate(self, migrations: Sequence[str]) -> None:
        await self.inner.migrate(migrations)

    async def notify(self, payload: str) -> None:
        await self.inner.notify(payload)

    async def wait_notified(self, timeout: float) -> bool:
        return await self.inner.wait_notified(timeout)

    async def close(self) -> None:
        await self.inner.close()


@dataclass
class Backend:
    name: Name
    path: Path | None = None
    url: str | None = None
    server: PgServer | None = None
    database: str | None = None
    opened: list[TaskStore] = field(default_factory=list)

    async def open(self) -> TaskStore:
        """Another store on the same database, as another process would open it."""
        store = await open_store(path=self.path, url=self.url)
        checked = TaskStore(PortableSql(store.db))  # type: ignore[arg-type]
        self.opened.append(checked)
        return checked

    async def close_all(self) -> None:
        for store in self.opened:
            with contextlib.suppress(Exception):
                await store.close()

    def raw(self, statement: str) -> None:
        """Run SQL behind the store's back (as an operator or a bug would): no parameters."""
        if self.name == "postgres":
            assert self.server is not None and self.database is not None
            self.server.sql(self.database, statement)
        else:
            import sqlite3

            assert self.path is not None
            with contextlib.closing(sqlite3.connect(self.path)) as conn, conn:
                conn.execute(statement)


@pytest.fixture(params=["sqlite", "postgres"])
def backend_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Backend]]:
    """Backends on fresh databases; most tests want just one (`backend`)."""
    made: list[Backend] = []

    def make() -> Backend:
        if request.param == "sqlite":
            backend = Backend("sqlite", path=tmp_path / f"db{len(made)}" / "seedance.db")
        else:
            server: PgServer = request.getfixturevalue("pg_server")
            name, url = server.create_database()
            backend = Backend("postgres", url=url, server=server, database=name)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        if backend.server is not None and backend.database is not None:
            backend.server.drop_database(backend.database)


@pytest.fixture
async def backend(backend_factory: Callable[[], Backend]) -> AsyncIterator[Backend]:
    b = backend_factory()
    yield b
    await b.close_all()


@pytest.fixture
async def store(backend: Backend) -> TaskStore:
    return await backend.open()
