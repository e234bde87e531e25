"""calsync -> Graph wire shapes, and Graph -> calsync small values. Pure; tested without I/O.

Event bodies carry our single-value extended property marker and, on create, a ``transactionId``
derived from the idempotency key (Graph dedupes a retried POST carrying the same one, MS-EVT).
RRULE lines become a ``patternedRecurrence`` for the subset Graph can express (DAILY, WEEKLY with
BYDAY, MONTHLY by day or by BYDAY+BYSETPOS, YEARLY; COUNT or UNTIL); EXDATEs are cancelled
occurrence by occurrence after the series exists, since a pattern cannot hold them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from calsync.errors import PermanentProviderError
from channels.base import EventDraft
from channels.graph.marker import marker_property

_TXN_NAMESPACE = uuid.UUID("0b7e1f5c-3c1e-4b8a-9d27-6f0f6a1d2c11")
_DAYS = {
    "MO": "monday",
    "TU": "tuesday",
    "WE": "wednesday",
    "TH": "thursday",
    "FR": "friday",
    "SA": "saturday",
    "SU": "sunday",
}
_INDEX = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}


def transaction_id(idempotency_key: str) -> str:
    """Stable per appointment write: the same key always yields the same transactionId."""
    return str(uuid.uuid5(_TXN_NAMESPACE, idempotency_key))


def graph_instant(moment: datetime) -> str:
    """Graph's UTC form, e.g. ``2026-01-05T09:00:00.0000000Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def parse_instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _wall(moment: datetime, zone: str) -> dict[str, str]:
    local = moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    return {"dateTime": local.isoformat(timespec="seconds"), "timeZone": zone}


def _rrule_parts(line: str) -> dict[str, str]:
    body = line.split(":", 1)[1] if line.upper().startswith("RRULE:") else line
    out: dict[str, str] = {}
    for part in body.split(";"):
        key, _, value = part.partition("=")
        if key:
            out[key.strip().upper()] = value.strip()
    return out


def patterned_recurrence(rrule: str, start: datetime, zone: str) -> dict[str, Any]:
    """An RRULE line -> Graph ``patternedRecurrence``; unsupported rules are a permanent error."""
    parts = _rrule_parts(rrule)
    freq = parts.get("FREQ", "")
    local_start = start.astimezone(ZoneInfo(zone))
    pattern: dict[str, Any] = {"interval": int(parts.get("INTERVAL", "1") or 1)}
    byday = [d for d in parts.get("BYDAY", "").split(",") if d]
    if freq == "DAILY":
        pattern["type"] = "daily"
    elif freq == "WEEKLY":
        days = byday or [list(_DAYS)[local_start.weekday()]]
        try:
            pattern.update(type="weekly", daysOfWeek=[_DAYS[d[-2:]] for d in days], firstDayOfWeek="monday")
        except KeyError as err:
            raise PermanentProviderError(f"unsupported BYDAY in {rrule!r}") from err
    elif freq == "MONTHLY" and byday:
        setpos = parts.get("BYSETPOS") or (byday[0][:-2] if len(byday[0]) > 2 else "")
        index = _INDEX.get(int(setpos)) if setpos.lstrip("-").isdigit() else None
        if index is None:
            raise PermanentProviderError(f"unsupported monthly rule {rrule!r}")
        pattern.update(type="relativeMonthly", daysOfWeek=[_DAYS[d[-2:]] for d in byday], index=index)
    elif freq == "MONTHLY":
        pattern.update(type="absoluteMonthly", dayOfMonth=int(parts.get("BYMONTHDAY") or local_start.day))
    elif freq == "YEARLY":
        pattern.update(type="absoluteYearly", dayOfMonth=local_start.day, month=local_start.month)
    else:
        raise PermanentProviderError(f"unsupported recurrence {rrule!r}")
    rng: dict[str, Any] = {"startDate": local_start.date().isoformat(), "recurrenceTimeZone": zone}
    if "COUNT" in parts:
        rng.update(type="numbered", numberOfOccurrences=int(parts["COUNT"]))
    elif "UNTIL" in parts:
        until = parts["UNTIL"]
        day = date(int(until[0:4]), int(until[4:6]), int(until[6:8]))
        rng.update(type="endDate", endDate=day.isoformat())
    else:
        rng["type"] = "noEnd"
    return {"pattern": pattern, "range": rng}


def exdates(recurrence: tuple[str, ...]) -> list[datetime]:
    """EXDATE instants (UTC) of a series, cancelled one by one after the series is created."""
    out: list[datetime] = []
    for line in recurrence:
        if not line.upper().startswith("EXDATE"):
            continue
        head, _, values = line.partition(":")
        tzid = next((p[5:] for p in head.split(";") if p.upper().startswith("TZID=")), None)
        for raw in values.split(","):
            text = raw.strip()
            if not text:
                continue
            moment = datetime.strptime(text.rstrip("Z")[:15], "%Y%m%dT%H%M%S")
            zone = UTC if text.endswith("Z") or tzid is None else ZoneInfo(tzid)
            out.append(moment.replace(tzinfo=zone).astimezone(UTC))
    return out


def event_body(draft: EventDraft, *, idempotency_key: str | None = None) -> dict[str, Any]:
    """The JSON of a create (with ``transactionId``) or a full PATCH of an event we own."""
    body: dict[str, Any] = {
        "subject": draft.title,
        "body": {"contentType": "text", "content": draft.description},
        "location": {"displayName": draft.location},
        "showAs": "tentative" if draft.tentative else "busy",
        "isAllDay": draft.all_day,
        "singleValueExtendedProperties": [marker_property(draft.marker)],
    }
    if draft.all_day:
        if draft.start_date is None or draft.end_date is None:
            raise PermanentProviderError("all-day draft without dates")
        body["start"] = {"dateTime": f"{draft.start_date.isoformat()}T00:00:00", "timeZone": draft.time_zone}
        body["end"] = {"dateTime": f"{draft.end_date.isoformat()}T00:00:00", "timeZone": draft.time_zone}
    else:
        body["start"] = _wall(draft.start, draft.time_zone)
        body["end"] = _wall(draft.end, draft.time_zone)
    rrules = [line for line in draft.recurrence if line.upper().startswith("RRULE")]
    if rrules:
        body["recurrence"] = patterned_recurrence(rrules[0], draft.start, draft.time_zone)
    if draft.attendees:
        body["attendees"] = [{"emailAddress": {"address": a}, "type": "required"} for a in draft.attendees]
    if idempotency_key is not None:
        body["transactionId"] = transaction_id(idempotency_key)
    return body


def instance_body(draft: EventDraft) -> dict[str, Any]:
    """PATCH of one occurrence: times, text and marker — never a recurrence."""
    body = event_body(draft)
    body.pop("recurrence", None)
    return body


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    resource: str
    notification_url: str
    lifecycle_url: str
    expiration: datetime
    client_state: str
    change_type: str = "created,updated,deleted"

    def body(self) -> dict[str, Any]:
        return {
            "changeType": self.change_type,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "resource": self.resource,
            "expirationDateTime": graph_instant(self.expiration),
            "clientState": self.client_state,
            "latestSupportedTlsVersion": "v1_2",
        }


def webhook_urls(public_url: str) -> tuple[str, str]:
    """(notificationUrl, lifecycleNotificationUrl) for a daemon reachable at ``public_url``."""
    base = public_url.rstrip("/")
    return f"{base}/webhooks/graph", f"{base}/webhooks/graph/lifecycle"


def notification_url_from(address: str) -> tuple[str, str]:
    """The adapter is handed the change URL; the lifecycle URL sits beside it."""
    base = address.rstrip("/")
    return base, f"{base}/lifecycle"


def instance_search_window(original_start: datetime) -> tuple[str, str]:
    """Wide enough to find an occurrence that was moved, narrow enough to stay one page."""
    return graph_instant(original_start - timedelta(days=7)), graph_instant(
        original_start + timedelta(days=7)
    )
