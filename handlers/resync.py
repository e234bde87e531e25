"""Safety resync: push is a hint, not the truth, so every calendar is re-synced periodically.

Google drops a small share of notifications by its own account. ``due`` decides, purely,
whether a calendar's last successful sync is old enough (interval with a per-calendar
jitter, so calendars do not all resync in the same second); ``ResyncScheduler.tick``
records a ``calendar.changed`` signal for each due calendar. Its message id names the
calendar, its last sync and the current interval bucket, so a tick repeated before the
sync ran records nothing new.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from calsync.clock import Clock
from calsync.envelope import TOPIC_SIGNALS
from handlers.signals import calendar_changed, delivery_message_id
from store import accounts, calendars
from store.db import Database
from store.outbox import enqueue


def jitter_fraction(calendar_id: str) -> float:
    """A stable number in [0, 1) per calendar."""
    return int(hashlib.sha256(calendar_id.encode()).hexdigest()[:8], 16) / 2**32


def due(
    calendar_id: str, last_synced_at: datetime | None, now: datetime, interval: timedelta, jitter: float
) -> bool:
    """Whether to resync: never synced, or older than ``interval`` give or take ``jitter`` of it."""
    if last_synced_at is None:
        return True
    spread = interval * jitter * (2 * jitter_fraction(calendar_id) - 1)
    return now >= last_synced_at + interval + spread


class ResyncScheduler:
    def __init__(self, db: Database, clock: Clock, interval: timedelta, jitter: float = 0.1) -> None:
        self._db, self._clock = db, clock
        self.interval, self.jitter = interval, jitter
        self.signalled = 0

    async def tick(self) -> int:
        now = self._clock.now()
        bucket = int(now.timestamp() // max(1.0, self.interval.total_seconds()))
        todo: list[tuple[str, str, str]] = []
        async with self._db.session() as session:
            for calendar in await calendars.synced_calendars(session):
                if not due(calendar.id, calendar.last_synced_at, now, self.interval, self.jitter):
                    continue
                account = await accounts.get_account(session, calendar.account_id)
                if account is None or account.state != "active":
                    continue
                stamp = calendar.last_synced_at.isoformat() if calendar.last_synced_at else "never"
                todo.append((calendar.id, account.provider, f"resync:{calendar.id}:{stamp}:{bucket}"))
        for calendar_id, provider, delivery in todo:
            signal = calendar_changed(
                calendar_id, provider, "resync", now, message_id=delivery_message_id(delivery)
            )
            try:
                async with self._db.session() as session:
                    enqueue(session, TOPIC_SIGNALS, signal, now)
            except IntegrityError:
                continue  # recorded by an earlier tick (or another replica): nothing to add
            self.signalled += 1
        return len(todo)
