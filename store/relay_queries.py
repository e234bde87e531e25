"""The outbox relay's queries: claim pending messages in order, mark them, measure the backlog.

The relay (elsewhere) runs one transaction per batch::

    async with db.session() as s:
        if await try_relay_lock(s):
            batch = await claim_batch(s, limit)
            ... publish in id order ...
            await mark_published(s, [m.id for m in batch], now)   # or record_failure(...)

Only one replica relays at a time (the PostgreSQL advisory lock), which keeps the
publication order equal to the commit order of ``enqueue`` per key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from sqlalchemy import delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.tables import OutboxMessage

# pg_try_advisory_xact_lock key for "the relay" ("calrelay" in ASCII).
RELAY_LOCK_KEY: Final = 0x63616C72656C6179
# Keep error text bounded: it is for operators, not an archive of stack traces.
MAX_ERROR_CHARS: Final = 2000


async def try_relay_lock(session: AsyncSession) -> bool:
    """Take the relay lock for the current transaction; False if another replica holds it.

    SQLite is the embedded single-process mode: there is no other replica, so always True.
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    result = await session.exec(select(func.pg_try_advisory_xact_lock(RELAY_LOCK_KEY)))
    return bool(result.one())


async def claim_batch(session: AsyncSession, limit: int) -> list[OutboxMessage]:
    """Up to ``limit`` unpublished messages, oldest (lowest id) first."""
    stmt = (
        select(OutboxMessage)
        .where(col(OutboxMessage.published_at).is_(None))
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    return list((await session.exec(stmt)).all())


async def mark_published(session: AsyncSession, ids: Sequence[int], now: datetime) -> None:
    if not ids:
        return
    await session.exec(
        update(OutboxMessage).where(col(OutboxMessage.id).in_(ids)).values(published_at=now, last_error=None)
    )


async def record_failure(session: AsyncSession, ids: Sequence[int], error: str) -> None:
    """Count a failed publish attempt; the messages stay pending and are retried in order."""
    if not ids:
        return
    await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(ids))
        .values(attempts=col(OutboxMessage.attempts) + 1, last_error=error[:MAX_ERROR_CHARS])
    )


async def backlog(session: AsyncSession, now: datetime) -> tuple[int, float]:
    """(pending messages, age in seconds of the oldest pending one; 0.0 when none)."""
    stmt = select(func.count(), func.min(col(OutboxMessage.created_at))).where(
        col(OutboxMessage.published_at).is_(None)
    )
    count, oldest = (await session.exec(stmt)).one()
    if not count or oldest is None:
        return 0, 0.0
    return int(count), max(0.0, (now - oldest).total_seconds())


async def purge_published(session: AsyncSession, older_than: datetime) -> int:
    """Delete messages published before ``older_than``; returns how many went."""
    result = await session.exec(
        delete(OutboxMessage).where(col(OutboxMessage.published_at) < older_than),
    )
    return result.rowcount
