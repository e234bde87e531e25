"""Opaque sync tokens and page tokens.

A sync token encodes (calendar, change sequence, invalidation epoch, issue time); it is valid
while the calendar's epoch is unchanged and, when ``sync_token_ttl`` is set, until it expires.
Otherwise the list answers 410 ``fullSyncRequired``. A page token names a server-side snapshot
of the full result, so every page of one listing is consistent and the last page carries the
``nextSyncToken`` computed when the listing began.
"""

from __future__ import annotations

import base64
import json
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from channels.emulators.google.errors import Json, full_sync_required, invalid
from channels.emulators.google.store import Calendar, Store
from channels.emulators.google.timeutil import from_millis, to_millis

_PREFIX = "CP"


@dataclass(frozen=True, slots=True)
class SyncPoint:
    calendar_id: str
    seq: int
    epoch: int
    issued: datetime


def encode_sync_token(calendar: Calendar, seq: int, now: datetime) -> str:
    payload = {"c": calendar.id, "s": seq, "e": calendar.token_epoch, "t": to_millis(now)}
    raw = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()
    return _PREFIX + raw.rstrip("=")


def decode_sync_token(token: str) -> SyncPoint:
    """The change point a token stands for; 400 ``invalid`` when it is not one of ours."""
    try:
        if not token.startswith(_PREFIX):
            raise ValueError(token)
        raw = token[len(_PREFIX) :]
        payload = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        return SyncPoint(
            str(payload["c"]), int(payload["s"]), int(payload["e"]), from_millis(int(payload["t"]))
        )
    except (ValueError, KeyError, TypeError) as err:
        raise invalid("Invalid sync token value.", location="syncToken") from err


def check_sync_point(point: SyncPoint, calendar: Calendar, now: datetime, ttl: timedelta | None) -> None:
    if point.calendar_id != calendar.id:
        raise invalid("Invalid sync token value.", location="syncToken")
    if point.epoch != calendar.token_epoch or point.seq > calendar.seq:
        raise full_sync_required()
    if ttl is not None and now - point.issued > ttl:
        raise full_sync_required()


@dataclass(slots=True)
class Snapshot:
    calendar_id: str
    items: list[Json]
    offset: int
    page_size: int
    next_sync_token: str | None


class PageSnapshots:
    """Bounded store of in-progress listings, oldest evicted first (an evicted token is a 400)."""

    def __init__(self, store: Store, capacity: int) -> None:
        self._store = store
        self._capacity = capacity
        self._snapshots: OrderedDict[str, Snapshot] = OrderedDict()

    def page(self, snapshot: Snapshot) -> tuple[list[Json], str | None]:
        """The next page of ``snapshot`` and the token of the one after it (None = last page)."""
        end = snapshot.offset + snapshot.page_size
        items = snapshot.items[snapshot.offset : end]
        if end >= len(snapshot.items):
            return items, None
        token = self._store.new_opaque(40)
        self._snapshots[token] = Snapshot(
            snapshot.calendar_id, snapshot.items, end, snapshot.page_size, snapshot.next_sync_token
        )
        while len(self._snapshots) > self._capacity:
            self._snapshots.popitem(last=False)
        return items, token

    def resume(self, token: str, calendar: Calendar) -> Snapshot:
        snapshot = self._snapshots.get(token)
        if snapshot is None or snapshot.calendar_id != calendar.id:
            raise invalid("Invalid page token value.", location="pageToken")
        return snapshot
