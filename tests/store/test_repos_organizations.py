"""Organization repository: idempotent upsert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calsync.errors import NotFound
from store.db import Database
from store.organizations import get_organization, upsert_organization

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


async def test_upsert_creates_then_updates(database: Database) -> None:
    async with database.session() as s:
        org, created = await upsert_organization(s, "org1", "Acme", None, NOW)
        assert created and org.created_at == NOW
    async with database.session() as s:
        org, created = await upsert_organization(
            s, "org1", "Acme Inc", "https://acme.test/hook", NOW + timedelta(days=1)
        )
        assert not created
    async with database.session() as s:
        org = await get_organization(s, "org1")
    assert (org.name, org.webhook_url, org.created_at) == ("Acme Inc", "https://acme.test/hook", NOW)


async def test_get_missing_raises_not_found(database: Database) -> None:
    async with database.session() as s:
        with pytest.raises(NotFound):
            await get_organization(s, "nope")
