"""What one external change means for calsync: a pure decision, no I/O (sans-IO reconciliation).

``decide(event, facts)`` maps a normalized ``ExternalEvent`` plus what the store knows
(the calendar, the event's link, the linked appointment, the profile's policies) to one
``Decision``. The consumer (``handlers/reconcile.py``) loads the facts, applies the
decision in one transaction, and asks again with ``gone`` set when told to ``Verify``.

Safety rules, property-tested in ``tests/reconcile/test_rules_properties.py``:

- an appointment (or occurrence) is cancelled only for an explicit provider tombstone:
  a Google ``cancelled`` entry, or a Graph ``@removed`` whose direct GET said 404/410;
- a Google ``cancelled`` entry may be a move (``events.move`` keeps the id; the source lists
  the event as cancelled, with no order against the destination's own sync): while other
  profiles' push calendars could have received it, nothing is cancelled before a direct look
  (``LookElsewhere``) found it neither there nor live again at its source;
- our event on a calendar of another profile than the appointment's (where it lived before a
  reassignment, or a stray copy being reverted) never cancels or reschedules anything;
- our own write coming back (etag equal to the link's) never causes a write;
- a cancelled appointment or a dead link is never cancelled again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal

from channels.model import ExternalEvent
from handlers.profile_settings import ProfileSettings

DELETED_REASON = "deleted_in_external_calendar"


@dataclass(frozen=True, slots=True)
class CalendarFacts:
    id: str
    role: str  # push | pull | none
    profile_id: str
    organization_id: str


@dataclass(frozen=True, slots=True)
class LinkFacts:
    id: int
    appointment_id: str
    calendar_id: str
    instance_key: str
    etag: str | None
    written_version: int
    state: str  # live | deleted | unknown


@dataclass(frozen=True, slots=True)
class AppointmentFacts:
    id: str
    version: int
    status: str
    profile_id: str
    organization_id: str
    start: datetime
    end: datetime
    all_day: bool = False
    start_date: str | None = None
    end_date: str | None = None
    recurring: bool = False
    # Occurrences (by instance key) already cancelled: exdates and cancelled overrides.
    cancelled_keys: frozenset[str] = frozenset()
    # Occurrences that have their own times (moved overrides), by instance key.
    moved_occurrences: Mapping[str, tuple[datetime, datetime]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Facts:
    calendar: CalendarFacts
    settings: ProfileSettings  # the appointment's profile's (else the calendar's) policies
    link: LinkFacts | None = None  # link of (calendar, event id)
    series_link: LinkFacts | None = None  # link of (calendar, event.series_id), for instances
    appointment: AppointmentFacts | None = None  # linked appointment, else the marker's one
    # Push calendars of the organization's other profiles where a provider move could have taken
    # the tombstoned event (only for providers whose move keeps the event id: Google).
    move_candidates: tuple[str, ...] = ()
    # The direct look at a tombstone (Verify / LookElsewhere): True = gone (404/410, or still
    # cancelled) and on none of ``move_candidates``; False = still there.
    gone: bool | None = None


# --- decisions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ignore:
    reason: str


@dataclass(frozen=True, slots=True)
class Verify:
    """Ask the provider for the event directly, then decide again with ``Facts.gone`` set."""

    event_id: str


@dataclass(frozen=True, slots=True)
class LookElsewhere:
    """Before deciding on a tombstone: GET ``event_id`` (for an instance: its series) on each of
    ``calendars``, then the tombstoned event at its source. The consumer decides again on what it
    finds live with our marker, else with ``Facts.gone`` = True."""

    appointment_id: str
    event_id: str
    calendars: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UpsertBusy:
    """A foreign event blocks time; a moved instance also becomes an exdate of its master."""

    event: ExternalEvent
    master_exdate: tuple[str, datetime] | None = None  # (series id, original start)


@dataclass(frozen=True, slots=True)
class DropBusy:
    event_id: str
    master_exdate: tuple[str, datetime] | None = None


@dataclass(frozen=True, slots=True)
class CancelAppointment:
    appointment_id: str
    version: int  # the version the decision was taken against
    link_id: int


@dataclass(frozen=True, slots=True)
class CancelOccurrence:
    appointment_id: str
    version: int
    original_start: datetime


@dataclass(frozen=True, slots=True)
class MoveOccurrence:
    appointment_id: str
    version: int
    original_start: datetime
    event: ExternalEvent


@dataclass(frozen=True, slots=True)
class RequestPush:
    appointment_id: str
    reason: Literal["revert", "restore"]
    # Our event found on another profile's push calendar (a calendar change being reverted): linked
    # there, so the push worker removes it once ours is back in the push calendar.
    stray: ExternalEvent | None = None


@dataclass(frozen=True, slots=True)
class MarkLink:
    link_id: int
    state: Literal["deleted", "unknown"]


@dataclass(frozen=True, slots=True)
class Reschedule:
    appointment_id: str
    version: int
    link_id: int
    event: ExternalEvent


@dataclass(frozen=True, slots=True)
class Reassign:
    appointment_id: str
    version: int
    to_profile: str
    event: ExternalEvent


Decision = (
    Ignore | Verify | LookElsewhere | UpsertBusy | DropBusy | CancelAppointment | CancelOccurrence
    | MoveOccurrence | RequestPush | MarkLink | Reschedule | Reassign
)  # fmt: skip
WRITES = (CancelAppointment, CancelOccurrence, MoveOccurrence, RequestPush, Reschedule, Reassign)
CANCELS = (CancelAppointment, CancelOccurrence)


def instance_key(moment: datetime) -> str:
    """The EventLink/Marker form of an occurrence's original start."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_instance_key(key: str) -> datetime:
    return datetime.strptime(key, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def moved(event: ExternalEvent, appt: AppointmentFacts) -> bool:
    """Whether the external event's times differ from the appointment's."""
    if event.all_day or appt.all_day:
        if event.all_day != appt.all_day:
            return True
        return (_d(event.start_date), _d(event.end_date)) != (appt.start_date, appt.end_date)
    return (event.start, event.end) != (appt.start, appt.end)


def _d(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def decide(event: ExternalEvent, facts: Facts) -> Decision:
    if facts.calendar.role not in ("push", "pull"):
        return Ignore("calendar not synced")
    if facts.link is not None:
        return _linked(event, facts, facts.link)
    if facts.series_link is not None and event.series_id is not None and event.original_start is not None:
        return _our_instance(event, facts, facts.series_link)
    appt = facts.appointment
    if event.marker is not None and appt is not None and not event.is_tombstone:
        return _marker_without_link(event, facts, appt)
    return _foreign(event)


def _foreign(event: ExternalEvent) -> Decision:
    exception = (
        (event.series_id, event.original_start)
        if event.series_id is not None and event.original_start is not None
        else None
    )
    if event.blocks_time:
        return UpsertBusy(event, exception)
    # Free, declined or cancelled: it blocks nothing. A Graph tombstone to verify needs no GET
    # here: dropping a block of an event that merely left the window is harmless.
    return DropBusy(event.event_id, exception)


def _linked(event: ExternalEvent, facts: Facts, link: LinkFacts) -> Decision:
    appt = facts.appointment
    if appt is None or appt.id != link.appointment_id:
        return Ignore("linked appointment missing")
    if event.etag is not None and event.etag == link.etag:
        return Ignore("echo")
    if facts.calendar.profile_id != appt.profile_id:
        return _copy_elsewhere(event, facts, link, appt)
    if event.is_tombstone:
        if link.state == "deleted" or appt.status == "cancelled":
            return Ignore("already cancelled")
        return _look_first(event, facts, appt) or _deleted(facts, appt, link)
    if appt.status == "cancelled":
        return Ignore("appointment cancelled; the push worker removes the event")
    if link.instance_key:
        return _instance_moved(event, facts, appt, parse_instance_key(link.instance_key))
    if appt.version > link.written_version:
        # Our newer content has not reached the calendar yet: the push worker will overwrite it.
        return Ignore("push pending")
    if not moved(event, appt):
        return Ignore("unchanged")
    policy = facts.settings.on_external_move
    if policy == "accept":
        return Reschedule(appt.id, appt.version, link.id, event)
    if policy == "revert":
        return RequestPush(appt.id, "revert")
    return Ignore("move ignored by policy")


def _look_first(event: ExternalEvent, facts: Facts, appt: AppointmentFacts) -> Decision | None:
    """For a tombstone of ours: the direct look still due (None = decide on the tombstone).

    Graph's ``@removed`` is verified at its source; a Google ``cancelled`` entry is first looked
    for on the calendars a move could have taken it to. ``gone`` False = the look saw it live:
    the caller decides again with that event, so the tombstone itself changes nothing.
    """
    if facts.gone is False:
        return Ignore("not deleted")
    if facts.gone is None and event.verify_deletion:
        return Verify(event.event_id)
    if facts.gone is None and facts.move_candidates:
        return LookElsewhere(appt.id, event.series_id or event.event_id, facts.move_candidates)
    return None


def _copy_elsewhere(event: ExternalEvent, facts: Facts, link: LinkFacts, appt: AppointmentFacts) -> Decision:
    """Our event on a calendar of another profile than the appointment's: where it lived before
    a reassignment, or a stray copy a revert is removing. It never cancels or reschedules."""
    if event.is_tombstone:
        return MarkLink(link.id, "deleted") if link.state != "deleted" else Ignore("copy elsewhere gone")
    if link.state == "deleted" and not link.instance_key and event.marker is not None:
        return _marker_without_link(event, facts, appt)  # moved back here: a calendar change again
    return Ignore("copy on another profile's calendar")


def _deleted(facts: Facts, appt: AppointmentFacts, link: LinkFacts) -> Decision:
    if link.instance_key:
        return _occurrence_deleted(facts, appt, parse_instance_key(link.instance_key))
    policy = facts.settings.on_external_delete
    if policy == "cancel_and_notify":
        return CancelAppointment(appt.id, appt.version, link.id)
    if policy == "restore":
        return RequestPush(appt.id, "restore")
    return MarkLink(link.id, "deleted")


def _occurrence_deleted(facts: Facts, appt: AppointmentFacts, original_start: datetime) -> Decision:
    if instance_key(original_start) in appt.cancelled_keys:
        return Ignore("occurrence already cancelled")
    policy = facts.settings.on_external_delete
    if policy == "cancel_and_notify":
        return CancelOccurrence(appt.id, appt.version, original_start)
    if policy == "restore":
        return RequestPush(appt.id, "restore")
    return Ignore("delete ignored by policy")


def _instance_moved(
    event: ExternalEvent, facts: Facts, appt: AppointmentFacts, original_start: datetime
) -> Decision:
    if instance_key(original_start) in appt.cancelled_keys:
        return Ignore("occurrence cancelled; the push worker removes it")
    expected = appt.moved_occurrences.get(
        instance_key(original_start), (original_start, original_start + (appt.end - appt.start))
    )
    if (event.start, event.end) == expected:
        return Ignore("occurrence unchanged")
    policy = facts.settings.on_external_move
    if policy == "accept":
        return MoveOccurrence(appt.id, appt.version, original_start, event)
    if policy == "revert":
        return RequestPush(appt.id, "revert")
    return Ignore("move ignored by policy")


def _our_instance(event: ExternalEvent, facts: Facts, series_link: LinkFacts) -> Decision:
    appt = facts.appointment
    assert event.original_start is not None
    if appt is None or appt.id != series_link.appointment_id or not appt.recurring:
        return Ignore("series appointment missing")
    if appt.status == "cancelled" or series_link.state == "deleted":
        return Ignore("series already cancelled")
    if facts.calendar.profile_id != appt.profile_id:
        return Ignore("copy on another profile's calendar")
    if event.is_tombstone:
        return _look_first(event, facts, appt) or _occurrence_deleted(facts, appt, event.original_start)
    if appt.version > series_link.written_version:
        return Ignore("push pending")
    return _instance_moved(event, facts, appt, event.original_start)


def _marker_without_link(event: ExternalEvent, facts: Facts, appt: AppointmentFacts) -> Decision:
    calendar = facts.calendar
    if calendar.profile_id == appt.profile_id:
        # Ours, on its own profile's calendar, but the push worker has not recorded the link yet.
        return Ignore("ours, link not recorded yet")
    if calendar.role != "push":
        return _foreign(event)  # a copy on someone else's pull calendar is their busy time
    if calendar.organization_id != appt.organization_id:
        return Ignore("marker of another organization")
    if appt.status == "cancelled":
        return Ignore("appointment cancelled")
    if event.series_id is not None or (event.marker is not None and event.marker.instance_key):
        return Ignore("an occurrence of our series elsewhere; its series decides")
    if facts.settings.on_calendar_change == "reassign":
        return Reassign(appt.id, appt.version, calendar.profile_id, event)
    return RequestPush(appt.id, "revert", stray=event)
