"""Schema migrations: upgrade a database with Alembic and check it is current at start-up.

The revisions live in ``store/migrations`` (shipped in the package). ``upgrade`` is what
``calsync db upgrade`` and SQLite auto-migration call; ``ensure_current`` is the start-up
check that refuses to run against a schema this code does not match.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, func, pool, select
from sqlalchemy.exc import SQLAlchemyError

from calsync.errors import NotMigrated, StoreError
from store.db import Database
from store.engine import sync_url

MIGRATIONS_DIR: Final = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock key serialising concurrent upgrades ("calsync" in ASCII).
MIGRATION_LOCK_KEY: Final = 0x63616C73796E63


def _config(connection: Connection | None = None) -> Config:
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The revision this code needs (the single head of the revision graph)."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # only if the versions folder did not ship
        raise StoreError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def _known_revision(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except CommandError:
        return False


def _sync_engine(url: str) -> Engine:
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    if engine.dialect.name == "sqlite":
        # pysqlite would run DDL outside any transaction; issue BEGIN IMMEDIATE ourselves so the
        # upgrade is atomic and a second process waits for the write lock, then finds head.
        @event.listens_for(engine, "connect")
        def _manual_transactions(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` in one transaction; safe to run concurrently."""
    engine = _sync_engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Held until commit: a concurrent upgrader waits, then sees the new revision.
                conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
            command.upgrade(_config(conn), revision)
    except CommandError as err:
        raise StoreError(f"cannot upgrade the database: {err}") from err
    except (SQLAlchemyError, OSError) as err:
        raise StoreError(f"cannot upgrade the database: {type(err).__name__}: {err}") from err
    finally:
        engine.dispose()


def _current_on(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def current_revision(url: str) -> str | None:
    """The database's revision, or ``None`` for an empty (never migrated) database."""
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return _current_on(conn)
    except (SQLAlchemyError, OSError) as err:
        raise StoreError(f"cannot read the schema revision: {type(err).__name__}") from err
    finally:
        engine.dispose()


async def ensure_current(db: Database) -> None:
    """Raise ``NotMigrated`` unless the database is exactly at this code's head revision."""
    try:
        async with db.engine.connect() as conn:
            current = await conn.run_sync(_current_on)
    except (SQLAlchemyError, OSError) as err:
        raise StoreError(f"cannot read the schema revision: {type(err).__name__}") from err
    head = head_revision()
    if current == head:
        return
    if current is not None and not _known_revision(current):
        raise NotMigrated(
            f"database is at revision {current}, unknown to this calsync (it needs {head}): "
            "the database was migrated by a newer calsync; run that version"
        )
    raise NotMigrated(
        f"database is at revision {current or 'empty'}, this calsync needs {head}: run `calsync db upgrade`"
    )
