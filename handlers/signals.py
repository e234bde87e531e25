"""``calendar.changed`` signals: the one message webhooks and timers put on ``calsync.signals``.

A signal says only "look at this calendar again"; the sync consumer decides what
that means (incremental from the cursor, or full). ``occurred_at`` is when the
signal was recorded: the consumer skips a signal older than the start of the
calendar's last successful sync, which already covered it (coalescing).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from calsync.envelope import Envelope
from calsync.errors import PoisonMessage

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
) -> Envelope:
    return Envelope(
        id=message_id or uuid.uuid4().hex,
        type=SIGNAL_TYPE,
        version=SIGNAL_VERSION,
        key=calendar_id,
        occurred_at=now,
        data={"calendar_id": calendar_id, "provider": provider, "reason": reason, "full": full},
    )


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
    )
