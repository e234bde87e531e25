"""Migrations contract, on SQLite and PostgreSQL: upgrade, idempotence, start-up check, schema drift."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, pool, text
from sqlmodel import SQLModel

import store.tables  # noqa: F401  (registers the tables)
from calsync.errors import NotMigrated, StoreError
from store.db import Database
from store.engine import sync_url
from store.migrate import MIGRATIONS_DIR, current_revision, ensure_current, head_revision, upgrade

ALL_TABLES = {
    "organization", "api_key", "profile", "appointment", "provider_account", "calendar", "channel",
    "event_link", "busy_block", "outbox", "sent_notification", "bus_record", "bus_offset",
    "appointment_occurrence",
    "processed_message",
    "pending_sync",
}  # fmt: skip


def _engine(url: str) -> Engine:
    return create_engine(sync_url(url), poolclass=pool.NullPool)


def test_migrations_ship_inside_the_package() -> None:
    assert (MIGRATIONS_DIR / "alembic.ini").is_file()
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0001_initial.py").is_file()
    assert list((MIGRATIONS_DIR / "versions").glob(f"{head_revision()}_*.py"))


def test_metadata_has_the_tables_the_migration_creates() -> None:
    assert set(SQLModel.metadata.tables) == ALL_TABLES


def test_upgrade_creates_every_table_and_records_head(empty_url: str) -> None:
    assert current_revision(empty_url) is None
    upgrade(empty_url)
    assert current_revision(empty_url) == head_revision()
    engine = _engine(empty_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    # alembic_version lands beside the tables (on PostgreSQL: in the test's own schema).
    assert tables == ALL_TABLES | {"alembic_version"}


def test_upgrade_is_idempotent(empty_url: str) -> None:
    upgrade(empty_url)
    upgrade(empty_url)
    assert current_revision(empty_url) == head_revision()


def test_concurrent_upgrades_both_succeed(empty_url: str) -> None:
    # PostgreSQL: the advisory lock; SQLite: BEGIN IMMEDIATE. The loser waits, then finds head.
    with ThreadPoolExecutor(max_workers=2) as pool_:
        for fut in [pool_.submit(upgrade, empty_url) for _ in range(2)]:
            fut.result()
    assert current_revision(empty_url) == head_revision()


def test_schema_matches_metadata(empty_url: str) -> None:
    upgrade(empty_url)
    engine = _engine(empty_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
            )
    finally:
        engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_back(empty_url: str) -> None:
    upgrade(empty_url)
    engine = _engine(empty_url)
    try:
        with engine.begin() as conn:
            config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    upgrade(empty_url)
    assert current_revision(empty_url) == head_revision()


async def test_ensure_current_refuses_an_empty_database(empty_url: str) -> None:
    db = Database(empty_url)
    try:
        with pytest.raises(NotMigrated) as err:
            await ensure_current(db)
    finally:
        await db.close()
    assert str(err.value) == (
        f"database is at revision empty, this calsync needs {head_revision()}: run `calsync db upgrade`"
    )


async def test_ensure_current_passes_after_upgrade(empty_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_url)
    db = Database(empty_url)
    try:
        await ensure_current(db)
    finally:
        await db.close()


async def test_ensure_current_names_an_unknown_newer_revision(database: Database) -> None:
    async with database.session() as s:
        await s.exec(text("UPDATE alembic_version SET version_num = 'zz99'"))
    with pytest.raises(NotMigrated, match="revision zz99, unknown to this calsync"):
        await ensure_current(database)


def test_upgrade_of_an_unreachable_database_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot upgrade the database"):
        upgrade("postgresql://127.0.0.1:1/nothing?connect_timeout=2")


def test_upgrade_to_an_unknown_revision_is_a_store_error(empty_url: str) -> None:
    with pytest.raises(StoreError, match="cannot upgrade the database"):
        upgrade(empty_url, "nope")
