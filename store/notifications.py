"""Sent notifications: the exactly-once guard for client e-mails and host webhooks.

A row per (appointment, version, kind) is inserted ``pending`` in the same transaction as
the change it announces (a cancellation, a reschedule, ...). The notifier then, each step
in its own short transaction:

- claims it (``pending`` -> ``sending``; a ``sending`` row whose claim is older than the
  stale limit is claimed again: its sender died between claim and outcome),
- sends, and marks it ``sent`` — or puts it back to ``pending`` (transient failure, retried
  after a backoff) or ``failed`` (permanent, or out of attempts: visible, never retried).

A crash between a successful send and ``mark_sent`` resends once after the stale limit: at
least once, and the deterministic ``message_id`` makes that rare duplicate detectable.

The table has no claim-time column: while a row is ``pending`` or ``sending``, ``sent_at``
holds when its last attempt started (the backoff and staleness clock); once ``sent``, when
it was sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import and_, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.tables import OutboxMessage, SentNotification

EMAIL: Final = "email"
HOST_WEBHOOK: Final = "host_webhook"
_ERROR_CAP: Final = 2000


def notification_message_id(appointment_id: str, version: int, kind: str) -> str:
    """Deterministic per row: the e-mail's Message-ID local part and the webhook-id."""
    digest = hashlib.sha256(f"{appointment_id}\x00{version}\x00{kind}".encode()).hexdigest()[:32]
    return f"msg_{digest}"


async def create_pending(
    session: AsyncSession, appointment_id: str, version: int, kinds: Sequence[str], now: datetime
) -> list[SentNotification]:
    """Insert a pending row per kind unless one exists for (appointment, version, kind)."""
    found = await session.exec(
        select(SentNotification.kind).where(
            SentNotification.appointment_id == appointment_id, SentNotification.version == version
        )
    )
    existing = set(found.all())
    rows = [
        SentNotification(
            appointment_id=appointment_id,
            version=version,
            kind=kind,
            state="pending",
            message_id=notification_message_id(appointment_id, version, kind),
            created_at=now,
        )
        for kind in dict.fromkeys(kinds)
        if kind not in existing
    ]
    session.add_all(rows)
    await session.flush()
    return rows


async def rows_for(session: AsyncSession, appointment_id: str, version: int) -> Sequence[SentNotification]:
    found = await session.exec(
        select(SentNotification)
        .where(SentNotification.appointment_id == appointment_id, SentNotification.version == version)
        .order_by(col(SentNotification.id))
    )
    return found.all()


async def due(
    session: AsyncSession, *, retry_before: datetime, stale_before: datetime, limit: int
) -> Sequence[SentNotification]:
    """Candidates for the retry sweep: pending rows whose last attempt started before
    ``retry_before`` (the caller still checks each row's own backoff) and stale ``sending`` rows."""
    found = await session.exec(
        select(SentNotification)
        .where(
            or_(
                and_(
                    col(SentNotification.state) == "pending",
                    or_(
                        col(SentNotification.sent_at).is_(None), col(SentNotification.sent_at) < retry_before
                    ),
                ),
                and_(col(SentNotification.state) == "sending", col(SentNotification.sent_at) < stale_before),
            )
        )
        .order_by(col(SentNotification.id))
        .limit(limit)
    )
    return found.all()


async def claim(session: AsyncSession, row_id: int, *, stale_before: datetime, now: datetime) -> bool:
    """pending -> sending (or re-claim a stale sending row); False if someone else has it."""
    result = await session.exec(
        update(SentNotification)
        .where(
            col(SentNotification.id) == row_id,
            or_(
                col(SentNotification.state) == "pending",
                and_(col(SentNotification.state) == "sending", col(SentNotification.sent_at) < stale_before),
            ),
        )
        .values(state="sending", attempts=col(SentNotification.attempts) + 1, sent_at=now)
        .returning(col(SentNotification.id))
    )
    return result.first() is not None


async def _finish(session: AsyncSession, row_id: int, **values: Any) -> None:
    await session.exec(
        update(SentNotification)
        .where(col(SentNotification.id) == row_id, col(SentNotification.state) == "sending")
        .values(**values)
    )


async def mark_sent(session: AsyncSession, row_id: int, now: datetime) -> None:
    await _finish(session, row_id, state="sent", sent_at=now, last_error=None)


async def mark_retry(session: AsyncSession, row_id: int, error: str) -> None:
    """Back to pending: the sweep retries once the backoff since ``sent_at`` has passed."""
    await _finish(session, row_id, state="pending", last_error=error[:_ERROR_CAP])


async def mark_failed(session: AsyncSession, row_id: int, error: str) -> None:
    await _finish(session, row_id, state="failed", last_error=error[:_ERROR_CAP])


async def find_envelope(
    session: AsyncSession, appointment_id: str, version: int, types: frozenset[str]
) -> bytes | None:
    """The outbox payload that announced (appointment, version), while the outbox keeps it."""
    found = await session.exec(
        select(OutboxMessage.payload)
        .where(OutboxMessage.key == appointment_id)
        .order_by(col(OutboxMessage.id).desc())
    )
    for payload in found.all():
        envelope = json.loads(payload)
        data = envelope.get("data") or {}
        if envelope.get("type") in types and data.get("version") == version:
            return bytes(payload)
    return None
