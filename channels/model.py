"""The provider-neutral event model that travels on ``calsync.changes``.

Adapters turn Google and Graph wire objects into ``ExternalEvent`` values; the
reconciler and the availability index only ever see these. Instants are UTC;
all-day events also keep their calendar dates (end exclusive) because an
all-day event is a date, not an instant, until a profile's time zone is applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Final

from calsync.errors import PoisonMessage

WIRE_VERSION: Final = 1


class Provider(StrEnum):
    GOOGLE = "google"
    MICROSOFT = "microsoft"
    CALDAV = "caldav"


class EventStatus(StrEnum):
    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    CANCELLED = "cancelled"  # an explicit tombstone from the provider, never an inference


class Response(StrEnum):
    """The calendar owner's own answer to an invitation (None when they organise it)."""

    ACCEPTED = "accepted"
    TENTATIVE = "tentative"
    DECLINED = "declined"
    NEEDS_ACTION = "needs_action"


@dataclass(frozen=True, slots=True)
class Marker:
    """What calsync stamps on the events it writes: which appointment, which version."""

    appointment_id: str
    version: int
    instance_key: str = ""  # "" for the appointment/series itself, else the occurrence's original start


@dataclass(frozen=True, slots=True)
class ExternalEvent:
    provider: Provider
    calendar_id: str  # calsync's calendar id (not the provider's)
    event_id: str  # the provider's event id
    status: EventStatus
    start: datetime | None = None  # UTC; None only on tombstones, which carry just ids
    end: datetime | None = None
    all_day: bool = False
    start_date: date | None = None
    end_date: date | None = None  # exclusive
    time_zone: str | None = None  # the event's own zone, for recurrence expansion
    transparent: bool = False  # Google transparency=transparent / Graph showAs free|workingElsewhere
    owner_response: Response | None = None
    tentative: bool = False  # tentative status or showAs tentative: blocks by default (profile setting)
    ical_uid: str | None = None
    series_id: str | None = None  # recurring series this is an instance/exception of
    original_start: datetime | None = None  # identifies the instance within its series, even when moved
    recurrence: tuple[str, ...] = ()  # RRULE/EXDATE/RDATE lines of a series master
    etag: str | None = None
    updated: datetime | None = None
    marker: Marker | None = None
    # Graph's calendarView delta also lists events that merely left the window under "@removed":
    # such a tombstone must be confirmed (a direct GET answering 404) before anything is cancelled.
    verify_deletion: bool = False
    extra: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def is_tombstone(self) -> bool:
        return self.status is EventStatus.CANCELLED

    @property
    def blocks_time(self) -> bool:
        """Whether a foreign event makes its owner busy; tentative handling is the caller's policy."""
        return (
            not self.is_tombstone
            and not self.transparent
            and self.owner_response is not Response.DECLINED
            and self.start is not None
            and self.end is not None
        )

    @property
    def instance_key(self) -> str:
        return self.original_start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") if self.original_start else ""


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def to_wire(event: ExternalEvent) -> dict[str, Any]:
    """JSON-ready dict (the ``data`` of a ``change.event`` envelope)."""
    return {
        "provider": event.provider.value,
        "calendar_id": event.calendar_id,
        "event_id": event.event_id,
        "status": event.status.value,
        "start": _iso(event.start),
        "end": _iso(event.end),
        "all_day": event.all_day,
        "start_date": _iso(event.start_date),
        "end_date": _iso(event.end_date),
        "time_zone": event.time_zone,
        "transparent": event.transparent,
        "owner_response": event.owner_response.value if event.owner_response else None,
        "tentative": event.tentative,
        "ical_uid": event.ical_uid,
        "series_id": event.series_id,
        "original_start": _iso(event.original_start),
        "recurrence": list(event.recurrence),
        "etag": event.etag,
        "updated": _iso(event.updated),
        "marker": (
            {
                "appointment_id": event.marker.appointment_id,
                "version": event.marker.version,
                "instance_key": event.marker.instance_key,
            }
            if event.marker
            else None
        ),
        "verify_deletion": event.verify_deletion,
    }


def _dt(value: Any) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("naive datetime on the wire")
    return parsed.astimezone(UTC)


def _d(value: Any) -> date | None:
    return date.fromisoformat(value) if value is not None else None


def from_wire(data: dict[str, Any]) -> ExternalEvent:
    """Inverse of ``to_wire``; anything malformed is a PoisonMessage (dead-letter it)."""
    try:
        marker = data.get("marker")
        response = data.get("owner_response")
        return ExternalEvent(
            provider=Provider(data["provider"]),
            calendar_id=str(data["calendar_id"]),
            event_id=str(data["event_id"]),
            status=EventStatus(data["status"]),
            start=_dt(data.get("start")),
            end=_dt(data.get("end")),
            all_day=bool(data.get("all_day", False)),
            start_date=_d(data.get("start_date")),
            end_date=_d(data.get("end_date")),
            time_zone=data.get("time_zone"),
            transparent=bool(data.get("transparent", False)),
            owner_response=Response(response) if response else None,
            tentative=bool(data.get("tentative", False)),
            ical_uid=data.get("ical_uid"),
            series_id=data.get("series_id"),
            original_start=_dt(data.get("original_start")),
            recurrence=tuple(str(line) for line in data.get("recurrence", ())),
            etag=data.get("etag"),
            updated=_dt(data.get("updated")),
            marker=(
                Marker(
                    str(marker["appointment_id"]), int(marker["version"]), str(marker.get("instance_key", ""))
                )
                if marker
                else None
            ),
            verify_deletion=bool(data.get("verify_deletion", False)),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise PoisonMessage(f"malformed external event: {err}") from err
