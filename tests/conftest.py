"""Shared fixtures: a fresh database per test, on SQLite always and PostgreSQL when reachable."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import text

from store.db import Database

PG_HOST = os.environ.get("CALSYNC_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CALSYNC_TEST_PG_PORT", "5432"))
PG_DB = os.environ.get("CALSYNC_TEST_PG_DB", "test")


def postgres_reachable() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=0.5):
            return True
    except OSError:
        return False


PG_AVAILABLE = postgres_reachable()
PG_SKIP_REASON = (
    f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT} (database {PG_DB}); PostgreSQL half skipped"
)


def pytest_report_header() -> str:
    return "postgres: " + (f"using {PG_HOST}:{PG_PORT}/{PG_DB}" if PG_AVAILABLE else PG_SKIP_REASON)


def _migrate(url: str) -> None:
    """Bring a fresh test database to head.

    SQLite: migrate a template once per session and copy its bytes into each test's file
    (the template is written without WAL, so the single file is the whole database).
    PostgreSQL: run the real upgrade (~0.1 s) into the test's private schema (search_path).
    """
    from pathlib import Path
    from tempfile import TemporaryDirectory

    from store.migrate import upgrade

    if not url.startswith("sqlite:///"):
        upgrade(url)
        return
    template: bytes | None = _migrate.__dict__.get("sqlite_template")
    if template is None:
        with TemporaryDirectory() as tmp:
            path = Path(tmp) / "template.db"
            upgrade(f"sqlite:///{path}")
            template = _migrate.__dict__["sqlite_template"] = path.read_bytes()
    Path(url.removeprefix("sqlite:///")).write_bytes(template)


@pytest.fixture
def sqlite_url(tmp_path: os.PathLike[str]) -> str:
    return f"sqlite:///{tmp_path}/calsync-test.db"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A private schema in the test database, dropped afterwards."""
    if not PG_AVAILABLE:
        pytest.skip(PG_SKIP_REASON)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_sync_engine(
        f"postgresql+psycopg://{PG_HOST}:{PG_PORT}/{PG_DB}", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"postgresql+psycopg://{PG_HOST}:{PG_PORT}/{PG_DB}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Migrated, empty database URL; the test runs once per backend."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    _migrate(url)
    return url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    try:
        yield db
    finally:
        await db.close()
