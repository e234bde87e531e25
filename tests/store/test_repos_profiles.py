"""Profile repository: create, scope, partial update, soft delete, keyset pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calsync.errors import Conflict, InvalidInput, NotFound
from store.db import Database
from store.profiles import (
    ProfileChanges,
    create_profile,
    delete_profile,
    get_profile,
    list_profiles,
    update_profile,
)
from store.tables import Organization, Profile

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


async def _orgs(db: Database) -> None:
    async with db.session() as s:
        s.add(Organization(id="org1", name="One", created_at=NOW))
        s.add(Organization(id="org2", name="Two", created_at=NOW))


async def _profile(db: Database, profile_id: str, org: str = "org1") -> None:
    async with db.session() as s:
        await create_profile(
            s,
            profile_id=profile_id,
            organization_id=org,
            name=profile_id.upper(),
            email=f"{profile_id}@example.com",
            time_zone="Europe/Berlin",
            now=NOW,
        )


async def test_create_and_get_respect_scope(database: Database) -> None:
    await _orgs(database)
    await _profile(database, "p1")
    async with database.session() as s:
        assert (await get_profile(s, "p1")).organization_id == "org1"
        assert (await get_profile(s, "p1", "org1")).name == "P1"
        with pytest.raises(NotFound):
            await get_profile(s, "p1", "org2")


async def test_create_refuses_unknown_org_and_reused_id(database: Database) -> None:
    await _orgs(database)
    await _profile(database, "p1")
    async with database.session() as s:
        with pytest.raises(InvalidInput) as err:
            await create_profile(
                s, profile_id="p2", organization_id="zz", name="x", email="x@y.z", time_zone="UTC", now=NOW
            )
        assert err.value.field == "organization"
    async with database.session() as s:
        with pytest.raises(Conflict):
            await create_profile(
                s, profile_id="p1", organization_id="org1", name="x", email="x@y.z", time_zone="UTC", now=NOW
            )


async def test_partial_update_touches_only_given_fields(database: Database) -> None:
    await _orgs(database)
    await _profile(database, "p1")
    later = NOW + timedelta(hours=1)
    async with database.session() as s:
        await update_profile(s, "p1", ProfileChanges(time_zone="America/New_York"), later)
    async with database.session() as s:
        p = await get_profile(s, "p1")
    assert (p.name, p.email, p.time_zone, p.updated_at) == ("P1", "p1@example.com", "America/New_York", later)
    async with database.session() as s:
        await update_profile(s, "p1", ProfileChanges(name="P1"), later + timedelta(hours=1))
    async with database.session() as s:
        assert (await get_profile(s, "p1")).updated_at == later  # no change, no touch


async def test_soft_delete_hides_but_keeps_the_row(database: Database) -> None:
    await _orgs(database)
    await _profile(database, "p1")
    async with database.session() as s:
        await delete_profile(s, "p1", NOW)
    async with database.session() as s:
        with pytest.raises(NotFound):
            await get_profile(s, "p1")
        with pytest.raises(NotFound):
            await delete_profile(s, "p1", NOW)
        row = await s.get(Profile, "p1")
        assert row is not None and row.deleted_at == NOW
        assert list(await list_profiles(s, organization_id=None, after_id=None, limit=10)) == []


async def test_list_pages_by_id_and_filters_org(database: Database) -> None:
    await _orgs(database)
    for pid in ("c", "a", "b"):
        await _profile(database, pid)
    await _profile(database, "z", "org2")
    async with database.session() as s:
        first = await list_profiles(s, organization_id="org1", after_id=None, limit=2)
        rest = await list_profiles(s, organization_id="org1", after_id=first[-1].id, limit=2)
        everyone = await list_profiles(s, organization_id=None, after_id=None, limit=10)
    assert [p.id for p in first] == ["a", "b"]
    assert [p.id for p in rest] == ["c"]
    assert [p.id for p in everyone] == ["a", "b", "c", "z"]
