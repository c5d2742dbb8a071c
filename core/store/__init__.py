"""The durable task store: SQLite in ``SEEDANCE_HOME`` by default, PostgreSQL when shared.

`open_store` picks the driver from the settings; `TaskStore` is the one contract both keep.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import ConfigError, StoreError
from core.store.database import Conflict, Database, SqliteDatabase
from core.store.schema import POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS
from core.store.tasks import ACTIVE, Page, TaskState, TaskStore, start_of_day

__all__ = [
    "ACTIVE",
    "Conflict",
    "Database",
    "Page",
    "TaskState",
    "TaskStore",
    "open_store",
    "start_of_day",
]


async def open_store(*, path: Path | None = None, url: str | None = None) -> TaskStore:
    """Open and migrate the store: PostgreSQL for a ``postgresql://`` ``url``, else SQLite at ``path``.

    Raises:
        StoreError: the database is damaged, foreign, unreachable, locked or full (named in the message).
        ConfigError: the URL is not one we can use.
    """
    db: Database
    if url:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ConfigError("SEEDANCE_DATABASE_URL must start with postgresql:// (or be unset for SQLite)")
        from core.store.postgres import PostgresDatabase  # the driver is only needed when asked for

        db = await PostgresDatabase.open(url)
        migrations = POSTGRES_MIGRATIONS
    else:
        if path is None:
            raise ConfigError("no database: set SEEDANCE_HOME or SEEDANCE_DATABASE_URL")
        db = await SqliteDatabase.open(path)
        migrations = SQLITE_MIGRATIONS
    try:
        await db.migrate(migrations)
    except BaseException:
        await db.close()
        raise
    return TaskStore(db)


__all__ += ["StoreError"]
