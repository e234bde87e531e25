"""``calendar.changed`` signals: the one message webhooks and timers put on ``calsync.signals``.

A signal says only "look at this calendar again"; the sync consumer decides what
that means (incremental from the cursor, or full). ``occurred_at`` is when the
signal was recorded: the consumer skips a signal older than the start of the
calendar's last successful sync, which already covered it (coalescing).

Push signals (``record_push``) coalesce before they reach the bus: while one waits for
its pass (``store/pending_sync.py``), further notifications for that calendar add no
signal; such a signal carries ``pending`` and its pass is decided by that row, not by times.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.envelope import TOPIC_SIGNALS, Envelope
from calsync.errors import PoisonMessage
from store import pending_sync
from store.outbox import enqueue

SIGNAL_TYPE: Final = "calendar.changed"
SIGNAL_VERSION: Final = 1
SUPPORTED: Final = {SIGNAL_TYPE: frozenset({SIGNAL_VERSION})}


@dataclass(frozen=True, slots=True)
class CalendarChanged:
    calendar_id: str
    provider: str
    reason: str  # "push" | "resync" | "channel" | "manual" ...
    full: bool
    occurred_at: datetime
    pending: bool = False  # a coalesced push signal: run iff its pending_sync row is still there


def delivery_message_id(delivery: str) -> str:
    """An outbox message id (<= 64 chars) derived from a provider delivery identity.

    The same delivery (a provider's retry) maps to the same id, so the outbox's unique
    ``message_id`` collapses duplicates into one signal.
    """
    return "sig-" + hashlib.sha256(delivery.encode()).hexdigest()[:48]


def calendar_changed(
    calendar_id: str,
    provider: str,
    reason: str,
    now: datetime,
    *,
    message_id: str | None = None,
    full: bool = False,
    pending: bool = False,
) -> Envelope:
    data: dict[str, object] = {
        "calendar_id": calendar_id,
        "provider": provider,
        "reason": reason,
        "full": full,
    }
    if pending:
        data["pending"] = True
    return Envelope(
        id=message_id or uuid.uuid4().hex,
        type=SIGNAL_TYPE,
        version=SIGNAL_VERSION,
        key=calendar_id,
        occurred_at=now,
        data=data,
    )


class WaitingCalendars:
    """This process's knowledge of calendars whose push signal still waits for its pass.

    Only sound where one process owns the database (SQLite: one daemon per file), so that
    the only passes that can start are this process's own: the sync consumer calls
    ``pass_starting`` before it marks a calendar running and again once that committed, and
    a webhook that saw a calendar waiting (``learned``, after its commit) skips the database
    for it until then. ``learned`` is ignored if any pass started during the webhook's
    transaction, which covers both orders of the two commits. Disabled, it knows nothing
    and every notification goes through ``record_push``.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.epoch = 0  # bumped by every pass_starting
        self._waiting: set[str] = set()

    def unknown(self, calendar_ids: Collection[str]) -> set[str]:
        """The calendars a notification must claim in the database."""
        return {c for c in calendar_ids if c not in self._waiting}

    def learned(self, calendar_ids: Collection[str], epoch: int) -> None:
        """The caller's transaction (begun at ``epoch``) committed these calendars as waiting."""
        if self.enabled and epoch == self.epoch:
            self._waiting.update(calendar_ids)

    def pass_starting(self, calendar_id: str) -> None:
        self._waiting.discard(calendar_id)
        self.epoch += 1


async def record_push(
    session: AsyncSession, provider: str, calendar_ids: Collection[str], now: datetime
) -> int:
    """In the caller's transaction: a push signal for each calendar that has none waiting.

    Returns how many signals were queued. Each gets a fresh id: a provider's retry of a
    notification is absorbed by the waiting row, or costs one spare pass at worst.
    """
    fresh = await pending_sync.claim_waiting(session, calendar_ids, now)
    for calendar_id in sorted(fresh):
        enqueue(
            session, TOPIC_SIGNALS, calendar_changed(calendar_id, provider, "push", now, pending=True), now
        )
    return len(fresh)


def parse_signal(envelope: Envelope) -> CalendarChanged:
    """The signal in an envelope already checked against ``SUPPORTED``; PoisonMessage if malformed."""
    data = envelope.data
    calendar_id, provider = data.get("calendar_id"), data.get("provider")
    if not isinstance(calendar_id, str) or not calendar_id or not isinstance(provider, str):
        raise PoisonMessage("calendar.changed needs string calendar_id and provider")
    return CalendarChanged(
        calendar_id=calendar_id,
        provider=provider,
        reason=str(data.get("reason", "")),
        full=bool(data.get("full", False)),
        occurred_at=envelope.occurred_at,
        pending=data.get("pending") is True,
    )
