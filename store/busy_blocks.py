"""Busy blocks: the times foreign events make a profile busy. Times only, never titles.

One row per (calendar, external event). A recurring foreign series is stored once,
with its RRULE lines and exdates, and expanded for a queried window later. Exceptions
of a series are honoured by that expansion: a cancelled or moved instance becomes an
exdate of the master's row (a moved one also gets its own row).

If an exception arrives before its master (listing order is not guaranteed), the
exdate is kept on a zero-length placeholder row that blocks nothing; the master's
later upsert takes the placeholder over and keeps its exdates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.tables import BusyBlock


@dataclass(frozen=True, slots=True)
class BlockSpec:
    """What a busy block records about one foreign event (no title, description or attendees)."""

    external_event_id: str
    start_utc: datetime
    end_utc: datetime
    all_day: bool = False
    tentative: bool = False
    rrule: str | None = None  # RRULE/RDATE lines of a series master, newline-separated
    exdates: tuple[str, ...] = ()  # UTC ISO instants, or dates for all-day series
    time_zone: str = "UTC"


async def _find(session: AsyncSession, calendar_id: str, external_event_id: str) -> BusyBlock | None:
    found = await session.exec(
        select(BusyBlock).where(
            BusyBlock.calendar_id == calendar_id, BusyBlock.external_event_id == external_event_id
        )
    )
    return found.first()


async def upsert_block(
    session: AsyncSession, *, profile_id: str, calendar_id: str, spec: BlockSpec, now: datetime
) -> BusyBlock:
    """Create or replace the block of one foreign event; exdates gathered so far are kept."""
    block = await _find(session, calendar_id, spec.external_event_id)
    if block is None:
        block = BusyBlock(
            profile_id=profile_id, calendar_id=calendar_id, external_event_id=spec.external_event_id
        )
        kept: set[str] = set()
    else:
        # Exceptions may have added exdates the master's own EXDATE lines do not list.
        kept = set(block.exdates)
    block.profile_id = profile_id
    block.start_utc, block.end_utc = spec.start_utc, spec.end_utc
    block.all_day, block.tentative = spec.all_day, spec.tentative
    block.rrule = spec.rrule
    block.exdates = sorted(kept | set(spec.exdates))
    block.time_zone = spec.time_zone
    block.updated_at = now
    session.add(block)
    await session.flush()
    return block


async def delete_block(session: AsyncSession, calendar_id: str, external_event_id: str) -> bool:
    """Remove the block of one event; True if there was one."""
    result = await session.exec(
        delete(BusyBlock).where(
            col(BusyBlock.calendar_id) == calendar_id, col(BusyBlock.external_event_id) == external_event_id
        )
    )
    return bool(result.rowcount)


async def add_exdate(
    session: AsyncSession,
    *,
    profile_id: str,
    calendar_id: str,
    series_event_id: str,
    original_start: datetime,
    now: datetime,
) -> None:
    """Exclude one occurrence from a foreign series' block (it was cancelled or moved)."""
    block = await _find(session, calendar_id, series_event_id)
    moment = original_start.astimezone(UTC)
    if block is None:
        block = BusyBlock(
            profile_id=profile_id,
            calendar_id=calendar_id,
            external_event_id=series_event_id,
            start_utc=moment,
            end_utc=moment,  # zero length: a placeholder that blocks nothing until the master arrives
            exdates=[],
        )
    value = moment.date().isoformat() if block.all_day else moment.isoformat()
    if value not in block.exdates:
        block.exdates = sorted({*block.exdates, value})
    block.updated_at = now
    session.add(block)
    await session.flush()


async def blocks_for_calendar(session: AsyncSession, calendar_id: str) -> Sequence[BusyBlock]:
    found = await session.exec(
        select(BusyBlock).where(BusyBlock.calendar_id == calendar_id).order_by(col(BusyBlock.start_utc))
    )
    return found.all()
