"""In-memory state: calendars, their events and each calendar's change sequence.

Every write to a calendar bumps ``Calendar.seq`` and stamps the event with it; sync tokens are
just "changes after seq N", which makes incremental sync exact and cheap.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import datetime

from channels.emulators.google.errors import Json

BASE32HEX = "0123456789abcdefghijklmnopqrstuv"


@dataclass(slots=True)
class StoredEvent:
    """One stored event resource: a single event, a recurring series, or an exception of one."""

    id: str
    resource: Json
    seq: int
    order: int

    @property
    def cancelled(self) -> bool:
        return bool(self.resource.get("status") == "cancelled")

    @property
    def series_id(self) -> str | None:
        """The parent series for an exception (modified or cancelled instance), else None."""
        value = self.resource.get("recurringEventId")
        return str(value) if value else None

    @property
    def is_series(self) -> bool:
        return bool(self.resource.get("recurrence"))


@dataclass(slots=True)
class Calendar:
    id: str
    owner: str
    summary: str
    time_zone: str
    primary: bool
    resource_id: str
    etag: str
    description: str | None = None
    events: dict[str, StoredEvent] = field(default_factory=dict)
    seq: int = 0
    # Bumped to invalidate every sync token issued so far (models ACL change / token expiry).
    token_epoch: int = 0
    updated: datetime | None = None

    def live_events(self) -> list[StoredEvent]:
        return sorted(self.events.values(), key=lambda ev: ev.order)


class Store:
    """All calendars by id, the calendar list of each user, and the id/etag mints."""

    def __init__(self, seed: int) -> None:
        self.calendars: dict[str, Calendar] = {}
        self.calendar_lists: dict[str, list[str]] = {}
        self._rng = random.Random(seed)
        self._etag_seq = 0
        self._order = 0

    def new_event_id(self) -> str:
        """Server-assigned ids use the same base32hex alphabet clients must use."""
        return "".join(self._rng.choice(BASE32HEX) for _ in range(26))

    def new_opaque(self, length: int = 27) -> str:
        alphabet = string.ascii_letters + string.digits + "-_"
        return "".join(self._rng.choice(alphabet) for _ in range(length))

    def new_etag(self, now: datetime) -> str:
        """Quoted, unique per modification: millisecond time plus a global counter."""
        self._etag_seq += 1
        return f'"{int(now.timestamp() * 1000):013d}{self._etag_seq:06d}"'

    def next_order(self) -> int:
        self._order += 1
        return self._order

    def add_calendar(self, calendar: Calendar) -> None:
        self.calendars[calendar.id] = calendar
        self.calendar_lists.setdefault(calendar.owner, []).append(calendar.id)

    def remove_calendar(self, calendar_id: str) -> None:
        calendar = self.calendars.pop(calendar_id)
        self.calendar_lists[calendar.owner].remove(calendar_id)

    def touch(self, calendar: Calendar, event: StoredEvent, now: datetime) -> None:
        """Record one change to ``event``: stamps it with the calendar's next sequence number."""
        calendar.seq += 1
        event.seq = calendar.seq
        calendar.updated = now

    def resolve(self, user: str, calendar_id: str) -> Calendar | None:
        """The calendar ``calendar_id`` as seen by ``user`` (``primary`` alias); None = no access."""
        wanted = user if calendar_id == "primary" else calendar_id
        if wanted not in self.calendar_lists.get(user, []):
            return None
        return self.calendars.get(wanted)
