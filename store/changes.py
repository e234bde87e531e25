"""Publishing normalized provider changes through the outbox, collapsing replays.

A change's message id is derived from (calendar, event, version), so a resync that
lists an event version we already published finds its id in the outbox and skips it
instead of violating the outbox's unique ``message_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.envelope import Envelope
from store.outbox import enqueue
from store.tables import OutboxMessage


async def enqueue_new(session: AsyncSession, topic: str, envelopes: Sequence[Envelope], now: datetime) -> int:
    """Enqueue the envelopes whose ids are not in the outbox yet, in order; returns how many."""
    if not envelopes:
        return 0
    ids = [e.id for e in envelopes]
    found = await session.exec(select(OutboxMessage.message_id).where(col(OutboxMessage.message_id).in_(ids)))
    seen = set(found.all())
    written = 0
    for envelope in envelopes:
        if envelope.id in seen:
            continue
        seen.add(envelope.id)  # the same version twice in one page: once
        enqueue(session, topic, envelope, now)
        written += 1
    return written
