"""The transactional outbox: enqueue beside the state change, in the caller's transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.envelope import Envelope, encode
from store.db import OUTBOX_WRITTEN
from store.tables import OutboxMessage


def enqueue(session: AsyncSession, topic: str, envelope: Envelope, now: datetime | None = None) -> None:
    """Add the message to the outbox; it is published only if the caller's transaction commits."""
    session.info[OUTBOX_WRITTEN] = True
    session.add(
        OutboxMessage(
            message_id=envelope.id,
            topic=topic,
            key=envelope.key,
            payload=encode(envelope),
            created_at=now or datetime.now(UTC),
        )
    )
