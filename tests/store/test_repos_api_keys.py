"""API key repository: plaintext shown once, only a hash stored, revoked keys refused."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from calsync.errors import InvalidInput, NotFound
from store.api_keys import create_key, list_keys, revoke_key, split_key, verify_key
from store.db import Database
from store.tables import ApiKey, Organization

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


async def test_create_stores_prefix_and_hash_only(database: Database) -> None:
    async with database.session() as s:
        plaintext, key = await create_key(s, "ci", None, NOW)
    assert plaintext.startswith(f"csk_{key.prefix}_") and len(key.prefix) == 8
    async with database.session() as s:
        row = (await s.exec(select(ApiKey))).one()
    assert row.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in (row.key_hash, row.prefix, row.name)
    assert row.organization_id is None and row.read_only is False


async def test_verify_accepts_the_key_and_refuses_others(database: Database) -> None:
    async with database.session() as s:
        plaintext, key = await create_key(s, "ci", None, NOW)
    async with database.session() as s:
        found = await verify_key(s, plaintext, NOW)
        assert found is not None and found.id == key.id
        assert await verify_key(s, plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B"), NOW) is None
        assert await verify_key(s, "csk_deadbeef_nope", NOW) is None
        assert await verify_key(s, "not-a-key", NOW) is None
        assert await verify_key(s, "", NOW) is None


async def test_verify_records_last_use_at_minute_resolution(database: Database) -> None:
    async with database.session() as s:
        plaintext, _ = await create_key(s, "ci", None, NOW)
    async with database.session() as s:
        await verify_key(s, plaintext, NOW)
    async with database.session() as s:
        await verify_key(s, plaintext, NOW + timedelta(seconds=10))
    async with database.session() as s:
        assert (await s.exec(select(ApiKey))).one().last_used_at == NOW
    async with database.session() as s:
        await verify_key(s, plaintext, NOW + timedelta(minutes=2))
    async with database.session() as s:
        assert (await s.exec(select(ApiKey))).one().last_used_at == NOW + timedelta(minutes=2)


async def test_revoked_key_is_refused_and_revoke_is_idempotent(database: Database) -> None:
    async with database.session() as s:
        plaintext, key = await create_key(s, "ci", None, NOW)
    async with database.session() as s:
        await revoke_key(s, key.id, NOW)
    async with database.session() as s:
        again = await revoke_key(s, key.id, NOW + timedelta(hours=1))
        assert again.revoked_at == NOW
        assert await verify_key(s, plaintext, NOW) is None
        with pytest.raises(NotFound):
            await revoke_key(s, "missing", NOW)


async def test_org_scoped_and_read_only_keys(database: Database) -> None:
    async with database.session() as s:
        s.add(Organization(id="org1", name="Acme", created_at=NOW))
        await s.flush()
        await create_key(s, "acme", "org1", NOW, read_only=True)
    async with database.session() as s:
        (key,) = await list_keys(s)
    assert key.organization_id == "org1" and key.read_only is True


async def test_create_refuses_unknown_organization_and_bad_name(database: Database) -> None:
    async with database.session() as s:
        with pytest.raises(InvalidInput) as err:
            await create_key(s, "x", "nope", NOW)
        assert err.value.field == "organization"
        with pytest.raises(InvalidInput) as err:
            await create_key(s, " ", None, NOW)
        assert err.value.field == "name"


def test_split_key() -> None:
    assert split_key("csk_0123abcd_se_cr-et") == ("0123abcd", "se_cr-et")
    assert split_key("csk_short_secret") is None
    assert split_key("xyz_0123abcd_secret") is None
    assert split_key("csk_0123abcd_") is None
