"""Ingest-side coalescing of push signals: one waiting ``calendar.changed`` per calendar.

The protocol (rows of ``pending_sync``, one per calendar):

- a webhook calls ``claim_waiting`` in the transaction that records a notification; only
  the calendars it returns (no row, or a row ``running``) get a new signal, the others
  ride on the signal already waiting, whose pass has not started yet and so will see
  every change made before this notification;
- the sync consumer calls ``mark_running`` before it asks the provider (committed first,
  so a later notification queues a new signal) and ``finish`` after the pass, which drops
  the row unless a notification made it ``waiting`` again meanwhile.

A crash mid-pass leaves ``running``: the redelivered signal runs the pass again.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Final

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.errors import StoreError
from store.tables import PendingSync

# Core, not the ORM bulk path: claims run for every webhook batch, and Core statements compile once.
_TABLE = PendingSync.__table__  # type: ignore[attr-defined]
WAITING: Final = "waiting"
RUNNING: Final = "running"


async def claim_waiting(session: AsyncSession, calendar_ids: Collection[str], now: datetime) -> set[str]:
    """Mark the calendars ``waiting``; returns those that need a new signal (not waiting before).

    On PostgreSQL a concurrent claim of the same calendar waits for the other transaction,
    so of two replicas racing on one calendar exactly one gets the calendar back.
    """
    if not calendar_ids:
        return set()
    table = _TABLE
    rows = [{"calendar_id": c, "state": WAITING, "updated_at": now} for c in sorted(calendar_ids)]
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):
        raise StoreError(f"unsupported database dialect: {dialect}")
    insert: postgresql.Insert | sqlite.Insert = (
        postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    ).values(rows)
    stmt = insert.on_conflict_do_update(
        index_elements=["calendar_id"],
        set_={"state": WAITING, "updated_at": insert.excluded.updated_at},
        where=table.c.state == RUNNING,
    )
    # RETURNING yields exactly the rows inserted or flipped from running (not the no-op conflicts).
    connection = await session.connection()
    result = await connection.execute(stmt.returning(table.c.calendar_id))
    return {row[0] for row in result.all()}


async def mark_running(session: AsyncSession, calendar_id: str, now: datetime) -> bool:
    """A pass is about to ask the provider; False if no push signal was pending for the calendar."""
    result = await session.exec(
        update(PendingSync)
        .where(col(PendingSync.calendar_id) == calendar_id)
        .values(state=RUNNING, updated_at=now)
        .returning(col(PendingSync.calendar_id))
    )
    return result.first() is not None


async def finish(session: AsyncSession, calendar_id: str) -> None:
    """The pass ended (done, or the calendar unusable): drop the row unless waiting again."""
    await session.exec(
        delete(PendingSync).where(
            col(PendingSync.calendar_id) == calendar_id, col(PendingSync.state) == RUNNING
        )
    )


async def drop(session: AsyncSession, calendar_id: str) -> None:
    """The calendar is not synced at all (gone, inactive): nothing can be pending for it."""
    await session.exec(delete(PendingSync).where(col(PendingSync.calendar_id) == calendar_id))
