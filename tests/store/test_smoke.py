from datetime import UTC, datetime

from sqlmodel import select

from store.db import Database
from store.tables import Organization


async def test_round_trip_keeps_utc(database: Database) -> None:
    now = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    async with database.session() as s:
        s.add(Organization(id="org1", name="Acme", created_at=now))
    async with database.session() as s:
        org = (await s.exec(select(Organization))).one()
    assert org.created_at == now and org.created_at.tzinfo is not None
