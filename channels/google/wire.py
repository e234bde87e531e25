"""calsync -> Google wire shapes (pure): event bodies, deterministic ids, channel expiry."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from channels.base import EventDraft
from channels.google.marker import marker_properties


def client_event_id(idempotency_key: str) -> str:
    """A Google-valid event id (base32hex a-v0-9, 5-1024 chars) derived from our key.

    The same appointment always maps to the same id, so a retried insert collides
    (409 duplicate) instead of creating a second event.
    """
    digest = hashlib.sha256(idempotency_key.encode()).digest()
    return base64.b32hexencode(digest).decode().rstrip("=").lower()


def _when(moment: datetime, zone: str) -> dict[str, str]:
    return {"dateTime": moment.astimezone(ZoneInfo(zone)).isoformat(), "timeZone": zone}


def event_body(draft: EventDraft, event_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "summary": draft.title,
        "description": draft.description,
        "location": draft.location,
        "transparency": "opaque",
        "status": "tentative" if draft.tentative else "confirmed",
        "extendedProperties": {"private": marker_properties(draft.marker)},
    }
    if event_id is not None:
        body["id"] = event_id
    if draft.all_day:
        assert draft.start_date is not None and draft.end_date is not None
        body["start"] = {"date": draft.start_date.isoformat()}
        body["end"] = {"date": draft.end_date.isoformat()}
    else:
        body["start"] = _when(draft.start, draft.time_zone)
        body["end"] = _when(draft.end, draft.time_zone)
    if draft.recurrence:
        body["recurrence"] = list(draft.recurrence)
    if draft.attendees:
        body["attendees"] = [{"email": email} for email in draft.attendees]
    return body


def expiration_from_ms(value: str | int | None, fallback: datetime) -> datetime:
    """Channel ``expiration`` arrives as epoch milliseconds in a string (int64 in discovery)."""
    if value is None:
        return fallback
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def original_start_param(original_start: datetime) -> str:
    return original_start.astimezone(UTC).isoformat().replace("+00:00", "Z")
