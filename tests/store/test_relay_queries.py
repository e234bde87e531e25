"""Outbox relay queries contract: claim in order, mark, fail, backlog, purge, single relay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from calsync.envelope import Envelope
from store.db import Database
from store.outbox import enqueue
from store.relay_queries import (
    MAX_ERROR_CHARS,
    backlog,
    claim_batch,
    mark_published,
    purge_published,
    record_failure,
    try_relay_lock,
)
from store.tables import OutboxMessage

from .conftest import NOW


async def _enqueue(db: Database, *names: str, at: timedelta = timedelta(0)) -> None:
    async with db.session() as s:
        for name in names:
            enqueue(s, "calsync.changes", Envelope(name, "x", 1, "cal1", NOW + at), NOW + at)


def _ids(batch: list[OutboxMessage]) -> list[int]:
    return [m.id for m in batch if m.id is not None]


async def test_claim_in_id_order_and_skip_published(database: Database) -> None:
    await _enqueue(database, "m0", "m1")
    await _enqueue(database, "m2", at=timedelta(seconds=5))
    async with database.session() as s:
        batch = await claim_batch(s, 2)
        assert [m.message_id for m in batch] == ["m0", "m1"]
        await mark_published(s, _ids(batch), NOW + timedelta(seconds=10))
    async with database.session() as s:
        rest = await claim_batch(s, 10)
        assert [m.message_id for m in rest] == ["m2"]
        published = (await s.exec(select(OutboxMessage).where(OutboxMessage.message_id == "m0"))).one()
    assert published.published_at == NOW + timedelta(seconds=10)


async def test_record_failure_keeps_messages_pending(database: Database) -> None:
    await _enqueue(database, "m0", "m1")
    async with database.session() as s:
        batch = await claim_batch(s, 10)
        await record_failure(s, _ids(batch), "broker down")
    async with database.session() as s:
        batch = await claim_batch(s, 10)
        await record_failure(s, _ids(batch[:1]), "x" * (MAX_ERROR_CHARS + 50))
    async with database.session() as s:
        again = await claim_batch(s, 10)
    assert [(m.message_id, m.attempts) for m in again] == [("m0", 2), ("m1", 1)]
    assert again[0].last_error == "x" * MAX_ERROR_CHARS and again[1].last_error == "broker down"
    async with database.session() as s:
        await mark_published(s, _ids(again), NOW)
    async with database.session() as s:
        done = (await s.exec(select(OutboxMessage))).all()
    assert all(m.last_error is None and m.published_at == NOW for m in done)


async def test_empty_id_lists_are_no_ops(database: Database) -> None:
    await _enqueue(database, "m0")
    async with database.session() as s:
        await mark_published(s, [], NOW)
        await record_failure(s, [], "nothing")
        assert [m.attempts for m in await claim_batch(s, 10)] == [0]


async def test_backlog_counts_pending_and_oldest_age(database: Database) -> None:
    async with database.session() as s:
        assert await backlog(s, NOW) == (0, 0.0)
    await _enqueue(database, "m0")
    await _enqueue(database, "m1", at=timedelta(seconds=30))
    async with database.session() as s:
        assert await backlog(s, NOW + timedelta(seconds=90)) == (2, 90.0)
        first = await claim_batch(s, 1)
        await mark_published(s, _ids(first), NOW + timedelta(seconds=90))
    async with database.session() as s:
        assert await backlog(s, NOW + timedelta(seconds=90)) == (1, 60.0)
        # A clock slightly behind the writer's never reports a negative age.
        assert await backlog(s, NOW) == (1, 0.0)


async def test_purge_deletes_only_old_published(database: Database) -> None:
    await _enqueue(database, "old", "new", "pending")
    async with database.session() as s:
        old, new, _pending = await claim_batch(s, 3)
        await mark_published(s, _ids([old]), NOW)
        await mark_published(s, _ids([new]), NOW + timedelta(days=2))
    async with database.session() as s:
        assert await purge_published(s, NOW + timedelta(days=1)) == 1
    async with database.session() as s:
        left = (await s.exec(select(OutboxMessage.message_id).order_by(OutboxMessage.id))).all()  # type: ignore[arg-type]
        assert await purge_published(s, NOW + timedelta(days=1)) == 0
    assert list(left) == ["new", "pending"]


async def test_relay_lock_on_sqlite_is_always_granted(sqlite_database: Database) -> None:
    async with sqlite_database.session() as s:
        assert await try_relay_lock(s) is True
        assert await try_relay_lock(s) is True


@pytest.mark.postgres
async def test_relay_lock_admits_one_transaction_at_a_time(pg_database: Database) -> None:
    database = pg_database
    async with database.session() as first:
        assert await try_relay_lock(first) is True
        assert await try_relay_lock(first) is True  # re-entrant within the holder's transaction
        async with database.session() as second:
            assert await try_relay_lock(second) is False
    # Released at commit: the next transaction (any replica) gets it.
    async with database.session() as third:
        assert await try_relay_lock(third) is True
