"""Mailbox state: calendars, events (series with their exceptions) and the per-mailbox change log.

Mutations follow resources/event: every modification mints a new ``changeKey``; a create that
repeats a ``transactionId`` returns the event already made; patching an occurrence turns it into an
exception; deleting an occurrence cancels only that occurrence. Each mutation appends
:class:`Change` records, which feed both change notifications and delta's out-of-window reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal

from . import recurrence
from .auth import User
from .ids import IdFactory
from .wire import GraphError, format_local, parse_dttz, parse_local, resolve_zone

ChangeType = Literal["created", "updated", "deleted"]
SHOW_AS = ("free", "tentative", "busy", "oof", "workingElsewhere", "unknown")
#: Properties the server owns; clients cannot set them (seeding through emulator ops may).
READ_ONLY = frozenset(
    {
        "id",
        "changeKey",
        "createdDateTime",
        "lastModifiedDateTime",
        "iCalUId",
        "type",
        "seriesMasterId",
        "originalStart",
        "transactionId",
        "singleValueExtendedProperties",
        "webLink",
        "calendar",
        "instances",
    }
)
SEED_ONLY = frozenset({"responseStatus", "isOrganizer", "organizer", "isCancelled"})
OCCURRENCE_MARK = "_OC"


@dataclass(slots=True)
class Calendar:
    id: str
    name: str
    is_default: bool
    change_key: str
    color: str = "auto"


@dataclass(slots=True)
class Override:
    """A modified occurrence (exception) or, when ``deleted``, a cancelled occurrence."""

    fields: dict[str, Any]
    change_key: str
    modified: datetime
    deleted: bool = False


@dataclass(slots=True)
class StoredEvent:
    id: str
    calendar_id: str
    fields: dict[str, Any]
    created: datetime
    modified: datetime
    change_key: str
    ical_uid: str
    transaction_id: str | None = None
    extended: dict[str, tuple[str, str]] = field(default_factory=dict)
    overrides: dict[datetime, Override] = field(default_factory=dict)

    @property
    def is_series(self) -> bool:
        return bool(self.fields.get("recurrence"))


@dataclass(frozen=True, slots=True)
class Change:
    seq: int
    change_type: ChangeType
    calendar_id: str
    entity_id: str
    series_id: str
    change_key: str | None


@dataclass
class Mailbox:
    user: User
    calendars: dict[str, Calendar] = field(default_factory=dict)
    events: dict[str, StoredEvent] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    seq: int = 0

    @property
    def default_calendar(self) -> Calendar:
        return next(c for c in self.calendars.values() if c.is_default)

    def log(
        self, change_type: ChangeType, calendar_id: str, entity_id: str, series_id: str, ck: str | None
    ) -> Change:
        self.seq += 1
        change = Change(self.seq, change_type, calendar_id, entity_id, series_id, ck)
        self.changes.append(change)
        return change


def occurrence_id(master_id: str, original_start: datetime) -> str:
    return f"{master_id}{OCCURRENCE_MARK}{original_start.astimezone(UTC):%Y%m%d%H%M%S}"


def split_occurrence_id(event_id: str) -> tuple[str, datetime] | None:
    head, mark, stamp = event_id.rpartition(OCCURRENCE_MARK)
    if not mark:
        return None
    try:
        return head, datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def bounds(fields: dict[str, Any]) -> tuple[datetime, datetime]:
    start, _ = parse_dttz(fields["start"], "start")
    end, _ = parse_dttz(fields["end"], "end")
    return start, end


def original_starts(event: StoredEvent, until: datetime) -> Iterator[datetime]:
    """Every original occurrence start of a series before ``until`` (deleted ones included)."""
    rec = event.fields["recurrence"]
    zone_name = (
        (rec.get("range") or {}).get("recurrenceTimeZone") or event.fields["start"].get("timeZone") or "UTC"
    )
    first_local = parse_local(event.fields["start"]["dateTime"])
    return recurrence.expand(rec, first_local, resolve_zone(zone_name), until)


def is_occurrence_of(event: StoredEvent, original: datetime) -> bool:
    return any(s == original for s in original_starts(event, original + timedelta(seconds=1)))


class Store:
    """All mailboxes plus the mutation rules; the emulator façade turns results into notifications."""

    def __init__(self, ids: IdFactory) -> None:
        self.ids = ids
        self.mailboxes: dict[str, Mailbox] = {}

    def add_mailbox(self, user: User) -> Mailbox:
        box = Mailbox(user)
        default = Calendar(self.ids.event_id(), "Calendar", True, self.ids.change_key())
        box.calendars[default.id] = default
        self.mailboxes[user.id] = box
        return box

    def mailbox(self, user_id: str) -> Mailbox:
        return self.mailboxes[user_id]

    # --- calendars ---
    def create_calendar(self, box: Mailbox, body: dict[str, Any]) -> Calendar:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise GraphError(400, "ErrorInvalidRequest", "The calendar name is required.")
        if any(c.name.lower() == name.lower() for c in box.calendars.values()):
            raise GraphError(409, "ErrorFolderExists", "A folder with the specified name already exists.")
        cal = Calendar(
            self.ids.event_id(), name, False, self.ids.change_key(), str(body.get("color") or "auto")
        )
        box.calendars[cal.id] = cal
        return cal

    def calendar(self, box: Mailbox, calendar_id: str) -> Calendar:
        cal = box.calendars.get(calendar_id)
        if cal is None:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return cal

    # --- events ---
    def _clean(self, body: dict[str, Any], *, trusted: bool) -> dict[str, Any]:
        allowed = {k: v for k, v in body.items() if not k.startswith("@odata") and k not in READ_ONLY}
        if not trusted:
            allowed = {k: v for k, v in allowed.items() if k not in SEED_ONLY}
        if "showAs" in allowed and allowed["showAs"] not in SHOW_AS:
            raise GraphError(400, "ErrorInvalidRequest", f"Invalid value '{allowed['showAs']}' for showAs.")
        return allowed

    @staticmethod
    def _check_times(fields: dict[str, Any]) -> None:
        if "start" not in fields or "end" not in fields:
            raise GraphError(
                400, "ErrorInvalidRequest", "Your request can't be completed. Start and End are required."
            )
        start, end = bounds(fields)
        if end < start:
            raise GraphError(400, "ErrorInvalidRequest", "The end time must be after the start time.")
        if fields.get("isAllDay"):
            for key in ("start", "end"):
                if parse_local(fields[key]["dateTime"]).time() != time():
                    raise GraphError(
                        400,
                        "ErrorPropertyValidationFailure",
                        "All-day events must start and end at midnight.",
                    )
        if fields.get("recurrence"):
            recurrence.validate(fields["recurrence"])

    def _merge_extended(self, event: StoredEvent, body: dict[str, Any]) -> None:
        for prop in body.get("singleValueExtendedProperties") or []:
            pid, value = str(prop.get("id", "")), prop.get("value")
            if not pid or value is None:
                raise GraphError(
                    400, "ErrorInvalidExtendedPropertyValue", "Extended property needs an id and a value."
                )
            event.extended[pid.lower()] = (pid, str(value))

    def create_event(
        self,
        box: Mailbox,
        calendar_id: str | None,
        body: dict[str, Any],
        now: datetime,
        *,
        trusted: bool = False,
    ) -> tuple[StoredEvent, list[Change]]:
        """Create, or return the existing event when ``transactionId`` repeats (no change logged)."""
        cal = self.calendar(box, calendar_id) if calendar_id else box.default_calendar
        txn = body.get("transactionId")
        if txn:
            existing = next((e for e in box.events.values() if e.transaction_id == txn), None)
            if existing is not None:
                return existing, []
        fields = self._clean(body, trusted=trusted)
        self._check_times(fields)
        event = StoredEvent(
            self.ids.event_id(),
            cal.id,
            fields,
            now,
            now,
            self.ids.change_key(),
            self.ids.ical_uid(),
            transaction_id=str(txn) if txn else None,
        )
        self._merge_extended(event, body)
        box.events[event.id] = event
        return event, [box.log("created", cal.id, event.id, event.id, event.change_key)]

    def find(
        self, box: Mailbox, event_id: str, calendar_id: str | None = None
    ) -> tuple[StoredEvent, datetime | None]:
        """Resolve an event or occurrence id → (series or single, original start or None)."""
        occ = split_occurrence_id(event_id)
        master_id, original = occ if occ else (event_id, None)
        event = box.events.get(master_id)
        if event is None or (calendar_id is not None and event.calendar_id != calendar_id):
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        if original is not None:
            ov = event.overrides.get(original)
            if not event.is_series or (ov and ov.deleted) or not is_occurrence_of(event, original):
                raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return event, original

    def patch_event(
        self,
        box: Mailbox,
        event_id: str,
        body: dict[str, Any],
        now: datetime,
        *,
        calendar_id: str | None = None,
        trusted: bool = False,
    ) -> list[Change]:
        event, original = self.find(box, event_id, calendar_id)
        if "transactionId" in body and body["transactionId"] != event.transaction_id:
            raise GraphError(
                400, "ErrorInvalidPropertyUpdateSentToServer", "transactionId cannot be changed."
            )
        fields = self._clean(body, trusted=trusted)
        if original is not None:
            if "recurrence" in fields:
                raise GraphError(400, "ErrorInvalidRequest", "An occurrence cannot carry a recurrence.")
            ov = event.overrides.get(original) or Override({}, "", now)
            ov.fields = {**ov.fields, **fields}
            self._check_times({**event.fields, **self._occurrence_times(event, original), **ov.fields})
            ov.change_key, ov.modified = self.ids.change_key(), now
            event.overrides[original] = ov
            return [box.log("updated", event.calendar_id, event_id, event.id, ov.change_key)]
        merged = {**event.fields, **fields}
        self._check_times(merged)
        if "recurrence" in fields or "start" in fields:
            # Outlook drops a series' exceptions when its pattern or start moves.
            event.overrides.clear()
        event.fields = {k: v for k, v in merged.items() if v is not None or k not in ("recurrence",)}
        self._merge_extended(event, body)
        event.change_key, event.modified = self.ids.change_key(), now
        return [box.log("updated", event.calendar_id, event.id, event.id, event.change_key)]

    @staticmethod
    def _occurrence_times(event: StoredEvent, original: datetime) -> dict[str, Any]:
        start, end = bounds(event.fields)
        zone = event.fields["start"].get("timeZone") or "UTC"
        return {"start": format_local(original, zone), "end": format_local(original + (end - start), zone)}

    def delete_event(
        self, box: Mailbox, event_id: str, now: datetime, *, calendar_id: str | None = None
    ) -> list[Change]:
        event, original = self.find(box, event_id, calendar_id)
        if original is not None:
            event.overrides[original] = Override({}, self.ids.change_key(), now, deleted=True)
            return [box.log("deleted", event.calendar_id, event_id, event.id, None)]
        del box.events[event.id]
        return [box.log("deleted", event.calendar_id, event.id, event.id, None)]
