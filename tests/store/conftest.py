"""Store contract fixtures: an unmigrated database per backend and a small seeded world."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from store.db import Database
from store.migrate import upgrade
from store.tables import Appointment, Calendar, Organization, Profile, ProviderAccount

NOW = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest) -> str:
    """A database URL with no tables at all (never migrated); once per backend."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def pg_database(postgres_url: str) -> AsyncIterator[Database]:
    """A migrated PostgreSQL database, for behaviour only PostgreSQL has (locks, concurrency)."""
    upgrade(postgres_url)
    db = Database(postgres_url)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def sqlite_database(sqlite_url: str) -> AsyncIterator[Database]:
    upgrade(sqlite_url)
    db = Database(sqlite_url)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def seeded(database: Database) -> Database:
    """Organization org1, profile p1, appointment a1, account acc1 and calendar cal1."""
    async with database.session() as s:
        s.add(Organization(id="org1", name="Acme", created_at=NOW))
        await s.flush()
        s.add(
            Profile(
                id="p1",
                organization_id="org1",
                name="Dr Who",
                email="who@example.com",
                time_zone="Europe/Berlin",
                created_at=NOW,
                updated_at=NOW,
            )
        )
        await s.flush()
        s.add(
            Appointment(
                id="a1",
                organization_id="org1",
                profile_id="p1",
                start_utc=NOW,
                end_utc=NOW,
                time_zone="Europe/Berlin",
                created_at=NOW,
                updated_at=NOW,
            )
        )
        s.add(
            ProviderAccount(
                id="acc1",
                organization_id="org1",
                profile_id="p1",
                provider="google",
                created_at=NOW,
                updated_at=NOW,
            )
        )
        await s.flush()
        s.add(
            Calendar(
                id="cal1",
                account_id="acc1",
                profile_id="p1",
                external_id="primary",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    return database
