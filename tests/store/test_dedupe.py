"""Consumer dedupe contract: first delivery wins, redeliveries are skipped, rollbacks forget."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import StatementError
from sqlmodel import select

from store.db import Database
from store.dedupe import first_time
from store.tables import Organization, ProcessedMessage

from .conftest import NOW


class Boom(Exception):
    pass


async def test_first_time_then_not(database: Database) -> None:
    async with database.session() as s:
        assert await first_time(s, "reconcile", "m1", NOW) is True
    async with database.session() as s:
        assert await first_time(s, "reconcile", "m1", NOW) is False
        # Same message, other consumer; other message, same consumer: both new.
        assert await first_time(s, "notify", "m1", NOW) is True
        assert await first_time(s, "reconcile", "m2", NOW) is True
    async with database.session() as s:
        rows = (await s.exec(select(ProcessedMessage))).all()
    assert sorted((r.consumer, r.message_id) for r in rows) == [
        ("notify", "m1"),
        ("reconcile", "m1"),
        ("reconcile", "m2"),
    ]
    assert all(r.processed_at == NOW for r in rows)


async def test_twice_in_one_transaction(database: Database) -> None:
    async with database.session() as s:
        assert await first_time(s, "sync", "m1", NOW) is True
        assert await first_time(s, "sync", "m1", NOW) is False


async def test_rolled_back_side_effect_leaves_no_dedupe_row(database: Database) -> None:
    with pytest.raises(Boom):
        async with database.session() as s:
            assert await first_time(s, "notify", "m1", NOW) is True
            s.add(Organization(id="org1", name="side effect", created_at=NOW))
            raise Boom
    async with database.session() as s:
        assert (await s.exec(select(Organization))).all() == []
        # The redelivery is processed, because the first attempt never happened.
        assert await first_time(s, "notify", "m1", NOW) is True


@pytest.mark.postgres
async def test_concurrent_duplicate_waits_for_the_first_and_is_skipped(pg_database: Database) -> None:
    # PostgreSQL only: SQLite has a single writer, so two such transactions cannot interleave.
    database = pg_database

    async def second() -> bool:
        async with database.session() as s:
            return await first_time(s, "reconcile", "m1", NOW)

    async with database.session() as s:
        assert await first_time(s, "reconcile", "m1", NOW) is True
        task = asyncio.create_task(second())
        await asyncio.sleep(0.2)
        assert not task.done()  # blocked on our uncommitted row
    assert await asyncio.wait_for(task, 5) is False


async def test_naive_time_is_rejected(database: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        async with database.session() as s:
            await first_time(s, "sync", "m1", NOW.replace(tzinfo=None))
