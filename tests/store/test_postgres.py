"""The PostgreSQL driver itself: errors an operator can act on, reconnecting, LISTEN/NOTIFY, locks.

Every test runs against the server `tests.pg` starts (one per test process) on its own database.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.errors import ConfigError, StoreError
from core.store import open_store
from core.store import postgres as pg
from core.store.postgres import PostgresDatabase, redact
from core.store.schema import POSTGRES_MIGRATIONS
from tests.pg import PgServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[PostgresDatabase]:
    database = await PostgresDatabase.open(pg_url)
    await database.migrate(POSTGRES_MIGRATIONS)
    yield database
    await database.close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port where something accepts TCP connections and never says a word."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_one_clean_line(message: str, password: str) -> None:
    assert "\n" not in message
    assert password not in message
    assert message.startswith("task database postgresql://")


# -- what the operator sees ---------------------------------------------------------------------


def test_redact_removes_the_password_wherever_it_is() -> None:
    assert redact("postgresql://bot:s3cret@db.example:5432/seedance") == "postgresql://bot@db.example:5432/seedance"
    assert (
        redact("postgresql://bot:p%40ss@db/seedance?sslmode=require") == "postgresql://bot@db/seedance?sslmode=require"
    )
    assert redact("postgresql://db/seedance?user=bot&password=s3cret") == "postgresql://db/seedance?user=bot"
    assert redact("postgresql://bot@[::1]:5433/x") == "postgresql://bot@[::1]:5433/x"
    assert "s3cret" not in redact("postgresql://bot:s3cret@db:notaport/x")
    assert "s3cret" not in redact("postgresql://db:notaport/x?password=s3cret")


def test_placeholders_become_psycopg_ones() -> None:
    assert pg._translate('SELECT * FROM tasks WHERE "user"=? AND id IN (?,?)') == (
        'SELECT * FROM tasks WHERE "user"=%s AND id IN (%s,%s)'
    )
    assert pg._translate("SELECT 1 WHERE x LIKE 'a%'") == "SELECT 1 WHERE x LIKE 'a%%'"


async def test_location_names_the_database_without_its_password(pg_server: PgServer, pg_url: str) -> None:
    store = await open_store(url=pg_url)
    try:
        assert store.location.startswith("postgresql://postgres@127.0.0.1:")
        assert pg_server.password not in store.location
        assert store.db.dialect == "postgres"
    finally:
        await store.close()


@pytest.mark.parametrize(
    "case", ["wrong password", "unknown database", "nothing listening", "bad port", "bad option", "no password"]
)
async def test_a_bad_url_is_one_line_naming_the_database(
    pg_server: PgServer, pg_database: tuple[str, str], case: str
) -> None:
    name, _ = pg_database
    port = pg_server.port
    url, expected = {
        "wrong password": (pg_server.url(name, password="not-the-pw"), "password was refused"),
        "unknown database": (pg_server.url("no_such_db"), "does not exist"),
        "nothing listening": (f"postgresql://postgres:{pg_server.password}@127.0.0.1:{closed_port()}/x", "refused"),
        "bad port": (f"postgresql://postgres:{pg_server.password}@127.0.0.1:{port}x/{name}", "URL is not valid"),
        "bad option": (pg_server.url(name) + "?colour=blue", "URL is not valid"),
        "no password": (f"postgresql://postgres@127.0.0.1:{port}/{name}", "wants a password"),
    }[case]
    threads = threading.active_count()
    began = time.monotonic()
    with pytest.raises(StoreError) as caught:
        await open_store(url=url)
    assert time.monotonic() - began < 3
    message = str(caught.value)
    assert_one_clean_line(message, pg_server.password)
    assert "not-the-pw" not in message
    assert expected in message
    assert threading.active_count() == threads  # nothing left running behind the error


async def test_a_silent_server_is_given_up_on_within_the_connect_timeout(
    silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg, "CONNECT_TIMEOUT", 1)
    began = time.monotonic()
    with pytest.raises(StoreError, match="did not answer within 1 s") as caught:
        await open_store(url=f"postgresql://bot:hunter22@127.0.0.1:{silent_port}/seedance")
    assert time.monotonic() - began < 4
    assert_one_clean_line(str(caught.value), "hunter22")


def test_a_command_exits_at_once_when_the_database_cannot_be_reached(silent_port: int) -> None:
    """As the CLI would: the real time-out, then the message and a prompt exit (no thread keeps it)."""
    script = (
        "import asyncio, sys\n"
        "from core.errors import StoreError\n"
        "from core.store import open_store\n"
        "try:\n"
        f"    asyncio.run(open_store(url='postgresql://bot:hunter22@127.0.0.1:{silent_port}/seedance'))\n"
        "except StoreError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(2)\n"
    )
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=30)
    elapsed = time.monotonic() - began
    assert done.returncode == 2, done.stderr
    assert elapsed < pg.CONNECT_TIMEOUT + 4
    assert done.stderr == ""
    assert done.stdout.strip().startswith(f"task database postgresql://bot@127.0.0.1:{silent_port}/seedance: ")
    assert "hunter22" not in done.stdout


def test_without_the_driver_a_postgres_url_says_how_to_install_it() -> None:
    script = (
        "import asyncio, sys\n"
        "sys.modules['psycopg'] = None  # as if the postgres extra were not installed\n"
        "from core.errors import ConfigError\n"
        "from core.store import open_store\n"
        "try:\n"
        "    asyncio.run(open_store(url='postgresql://bot:hunter22@127.0.0.1:1/seedance'))\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "pip install 'seedance-studio[postgres]'" in done.stdout


async def test_a_url_of_another_kind_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="postgresql://"):
        await open_store(url="mysql://bot:pw@127.0.0.1/x")


async def test_a_failing_statement_is_a_store_error_naming_the_database(
    db: PostgresDatabase, pg_server: PgServer
) -> None:
    with pytest.raises(StoreError, match="UndefinedTable") as caught:
        await db.fetch("SELECT * FROM no_such_table WHERE id=?", ("x",))
    assert_one_clean_line(str(caught.value), pg_server.password)
    assert await db.fetch("SELECT 1 AS one") == [{"one": 1}]  # the pool is fine afterwards


# -- schema ---------------------------------------------------------------------------------------


async def test_migrate_records_the_version_and_refuses_a_foreign_tasks_table(pg_server: PgServer) -> None:
    name, url = pg_server.create_database()
    try:
        pg_server.sql(name, "CREATE TABLE tasks (whatever INTEGER)")
        with pytest.raises(StoreError, match="not Seedance Studio's"):
            await open_store(url=url)
        pg_server.sql(name, "DROP TABLE tasks")
        pg_server.sql(name, "CREATE TABLE other_app (x INTEGER)")  # another application's table is fine
        store = await open_store(url=url)
        await store.close()
        assert pg_server.sql(name, "SELECT version FROM seedance_schema") == [(len(POSTGRES_MIGRATIONS),)]
        store = await open_store(url=url)  # again: nothing to do
        await store.close()
        assert pg_server.sql(name, "SELECT count(*) FROM seedance_schema") == [(1,)]
    finally:
        pg_server.drop_database(name)


async def test_concurrent_starters_migrate_once(pg_server: PgServer) -> None:
    name, url = pg_server.create_database()
    try:
        stores = await asyncio.gather(*(open_store(url=url) for _ in range(6)))
        for store in stores:
            await store.close()
        assert pg_server.sql(name, "SELECT version FROM seedance_schema") == [(len(POSTGRES_MIGRATIONS),)]
    finally:
        pg_server.drop_database(name)


# -- locks, pool, cancellation --------------------------------------------------------------------


async def test_lock_user_serialises_one_user_only(db: PostgresDatabase, pg_url: str) -> None:
    other = await PostgresDatabase.open(pg_url)
    order: list[str] = []
    holding = asyncio.Event()

    async def first() -> None:
        async with db.transaction() as tx:
            await tx.lock_user("alice")
            holding.set()
            await asyncio.sleep(0.3)
            order.append("first done")

    async def second(user: str) -> None:
        await holding.wait()
        async with other.transaction() as tx:
            await tx.lock_user(user)
            order.append(f"second {user}")

    try:
        await asyncio.gather(first(), second("bob"))
        assert order == ["second bob", "first done"]  # another user never waits
        order.clear()
        holding.clear()
        await asyncio.gather(first(), second("alice"))
        assert order == ["first done", "second alice"]
    finally:
        await other.close()


async def test_a_rolled_back_transaction_leaves_nothing(db: PostgresDatabase) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO seedance_schema (version) VALUES (?)", (77,))
            raise RuntimeError("changed my mind")
    assert await db.fetch("SELECT version FROM seedance_schema WHERE version=?", (77,)) == []


async def test_the_pool_stays_bounded_and_survives_cancellation(pg_url: str) -> None:
    db = await PostgresDatabase.open(pg_url, pool_size=3)
    try:
        await asyncio.gather(*(db.fetch("SELECT pg_sleep(0.02) AS x") for _ in range(30)))
        rows = await db.fetch(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname=current_database() AND application_name=?",
            ("seedance-studio",),
        )
        assert rows[0]["n"] <= 3
        slow = asyncio.create_task(db.fetch("SELECT pg_sleep(5)"))
        await asyncio.sleep(0.2)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        async with asyncio.timeout(3):
            assert await db.fetch("SELECT 2 AS two") == [{"two": 2}]
            async with db.transaction() as tx:
                assert await tx.fetch("SELECT 3 AS three") == [{"three": 3}]
    finally:
        await db.close()


async def test_close_leaves_no_connection_and_refuses_later_calls(
    pg_server: PgServer, pg_database: tuple[str, str]
) -> None:
    name, url = pg_database
    db = await PostgresDatabase.open(url)
    await asyncio.gather(*(db.fetch("SELECT pg_sleep(0.01)") for _ in range(5)))
    await db.wait_notified(0.01)
    await db.close()
    await asyncio.sleep(0.2)
    left = pg_server.sql(name, "SELECT count(*) FROM pg_stat_activity WHERE application_name='seedance-studio'")
    assert left == [(0,)]
    with pytest.raises(StoreError, match="closed"):
        await db.fetch("SELECT 1")


# -- dropped connections and restarts -------------------------------------------------------------


async def test_reconnects_after_the_server_dropped_every_connection(
    db: PostgresDatabase, pg_server: PgServer, pg_database: tuple[str, str]
) -> None:
    name, _ = pg_database
    await asyncio.gather(*(db.fetch("SELECT pg_sleep(0.01)") for _ in range(3)))  # a few idle connections
    assert await db.wait_notified(0.01) is False
    pg_server.sql(
        name, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name='seedance-studio'"
    )
    assert await db.fetch("SELECT 1 AS one") == [{"one": 1}]
    async with db.transaction() as tx:
        assert await tx.fetch("SELECT 2 AS two") == [{"two": 2}]
    assert await db.execute("UPDATE seedance_schema SET version=version") == 1
    # The listener was dropped too: it says "look again" once, then listens anew.
    assert await db.wait_notified(1) is True
    assert await db.wait_notified(0.05) is False


async def test_a_server_restart_is_an_error_while_down_and_fine_after(
    db: PostgresDatabase, pg_server: PgServer
) -> None:
    assert await db.fetch("SELECT 1 AS one") == [{"one": 1}]
    pg_server.halt()
    try:
        began = time.monotonic()
        with pytest.raises(StoreError) as caught:
            await db.fetch("SELECT 1 AS one")
        assert time.monotonic() - began < pg.CONNECT_TIMEOUT + 2
        assert_one_clean_line(str(caught.value), pg_server.password)
    finally:
        pg_server.resume()
    assert await db.fetch("SELECT 1 AS one") == [{"one": 1}]
    async with db.transaction() as tx:
        await tx.lock_user("alice")


# -- LISTEN/NOTIFY ----------------------------------------------------------------------------------


async def test_notify_wakes_another_instance_at_once(db: PostgresDatabase, pg_url: str) -> None:
    other = await PostgresDatabase.open(pg_url)
    try:
        assert await other.wait_notified(0.01) is False  # listening from now on
        waiter = asyncio.create_task(other.wait_notified(10))
        await asyncio.sleep(0.1)
        began = time.monotonic()
        await db.notify("task-1")
        assert await waiter is True
        assert time.monotonic() - began < 1
        # Notifications sent while nobody waits are kept for the next wait, and one wake-up takes them all.
        await db.notify("task-2")
        await db.notify("task-3")
        await asyncio.sleep(0.1)
        assert await other.wait_notified(0.01) is True
        assert await other.wait_notified(0.05) is False
        # And the other way round.
        assert await db.wait_notified(0.01) is False
        await other.notify("task-4")
        assert await db.wait_notified(2) is True
    finally:
        await other.close()


async def test_a_cancelled_wait_keeps_listening_and_close_ends_a_wait(pg_url: str) -> None:
    sender, listener = await PostgresDatabase.open(pg_url), await PostgresDatabase.open(pg_url)
    try:
        await listener.wait_notified(0.01)
        waiting = asyncio.create_task(listener.wait_notified(10))
        await asyncio.sleep(0.1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await sender.notify("t")
        async with asyncio.timeout(3):
            assert await listener.wait_notified(5) is True
        waiting = asyncio.create_task(listener.wait_notified(10))
        await asyncio.sleep(0.1)
        await listener.close()
        async with asyncio.timeout(3):
            await waiting  # ends at once ("look again"); the next call says the store is closed
        with pytest.raises(StoreError, match="closed"):
            await listener.wait_notified(0.01)
    finally:
        await sender.close()
        await listener.close()
