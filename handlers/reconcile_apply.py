"""Applying one reconcile decision inside the caller's transaction.

Every appointment write goes through ``store.appointments`` / ``store.occurrences`` so the
outbox gets the usual envelopes (``appointment.upserted``, ``appointment.cancelled``, ...);
this module adds the reconciler's own ones (``appointment.rescheduled``,
``appointment.reassigned``, ``appointment.push_requested``) and, in the same transaction,
the pending ``sent_notification`` rows the notifier will deliver exactly once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.envelope import TOPIC_APPOINTMENTS, Envelope
from channels.model import ExternalEvent
from handlers.reconcile_rules import (
    DELETED_REASON,
    CancelAppointment,
    CancelOccurrence,
    Decision,
    DropBusy,
    Facts,
    Ignore,
    MarkLink,
    MoveOccurrence,
    Reassign,
    RequestPush,
    Reschedule,
    UpsertBusy,
    instance_key,
)
from store import busy_blocks, event_links, notifications, occurrences
from store.appointments import (
    ENVELOPE_VERSION,
    AppointmentFields,
    cancel_appointment,
    load_for_write,
    snapshot,
    upsert_appointment,
)
from store.busy_blocks import BlockSpec
from store.connections import PUSH_REQUESTED
from store.outbox import enqueue
from store.tables import Appointment, Organization

RESCHEDULED: Final = "appointment.rescheduled"
REASSIGNED: Final = "appointment.reassigned"
MOVED_REASON: Final = "moved_in_external_calendar"


def _exdate_values(line: str, all_day: bool) -> list[str]:
    """``EXDATE[;TZID=..|;VALUE=DATE]:v1,v2`` -> UTC ISO instants (dates for all-day series)."""
    params, _, values = line.partition(":")
    zone: tzinfo = UTC
    for param in params.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.upper() == "TZID":
            try:
                zone = ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                zone = UTC
    out: list[str] = []
    for raw in filter(None, values.split(",")):
        if len(raw) == 8:
            day = date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
            out.append(day.isoformat() if all_day else datetime.combine(day, time(), UTC).isoformat())
            continue
        moment = datetime.strptime(raw.rstrip("Z"), "%Y%m%dT%H%M%S")
        local = moment.replace(tzinfo=UTC if raw.endswith("Z") else zone)
        out.append(local.date().isoformat() if all_day else local.astimezone(UTC).isoformat())
    return out


def block_spec(event: ExternalEvent) -> BlockSpec:
    """Times only: a title, description or attendee never reaches the busy block."""
    assert event.start is not None and event.end is not None
    rules = [line for line in event.recurrence if not line.upper().startswith("EXDATE")]
    exdates = [
        value
        for line in event.recurrence
        if line.upper().startswith("EXDATE")
        for value in _exdate_values(line, event.all_day)
    ]
    return BlockSpec(
        external_event_id=event.event_id,
        start_utc=event.start,
        end_utc=event.end,
        all_day=event.all_day,
        tentative=event.tentative,
        rrule="\n".join(rules) or None,
        exdates=tuple(sorted(set(exdates))),
        time_zone=event.time_zone or "UTC",
    )


def fields_of(appt: Appointment, **changes: Any) -> AppointmentFields:
    """The appointment's current content as ``AppointmentFields``, with ``changes`` applied."""
    values: dict[str, Any] = {
        "profile_id": appt.profile_id, "organization_id": appt.organization_id,
        "start_utc": appt.start_utc, "end_utc": appt.end_utc, "time_zone": appt.time_zone,
        "all_day": appt.all_day, "start_date": appt.start_date, "end_date": appt.end_date,
        "title": appt.title, "description": appt.description, "location": appt.location,
        "client_name": appt.client_name, "client_email": appt.client_email, "rrule": appt.rrule,
        "exdates": tuple(appt.exdates), "extra": dict(appt.extra), "status": appt.status,
    }  # fmt: skip
    values.update(changes)
    return AppointmentFields(**values)


def new_times(appt: Appointment, event: ExternalEvent) -> dict[str, Any]:
    """The appointment columns for the event's times (all-day: local midnights of its dates)."""
    assert event.start is not None and event.end is not None
    if event.all_day and event.start_date is not None and event.end_date is not None:
        try:
            zone = ZoneInfo(appt.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        start = datetime.combine(event.start_date, time(), zone).astimezone(UTC)
        end = datetime.combine(event.end_date, time(), zone).astimezone(UTC)
        return {
            "start_utc": start, "end_utc": end, "all_day": True,
            "start_date": event.start_date.isoformat(), "end_date": event.end_date.isoformat(),
        }  # fmt: skip
    return {
        "start_utc": event.start,
        "end_utc": event.end,
        "all_day": False,
        "start_date": None,
        "end_date": None,
    }


class Applier:
    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._s, self._now = session, now

    async def apply(self, decision: Decision, facts: Facts) -> None:
        s, now, cal = self._s, self._now, facts.calendar
        match decision:
            case Ignore():
                return
            case UpsertBusy(event=event, master_exdate=exception):
                spec = block_spec(event)
                await busy_blocks.upsert_block(
                    s, profile_id=cal.profile_id, calendar_id=cal.id, spec=spec, now=now
                )
                await self._exdate(facts, exception)
            case DropBusy(event_id=event_id, master_exdate=exception):
                await busy_blocks.delete_block(s, cal.id, event_id)
                await self._exdate(facts, exception)
            case MarkLink(link_id=_, state=state):
                await self._mark_link(facts, state)
            case RequestPush(appointment_id=appointment_id, reason=reason, stray=stray):
                appt = await self._appt(appointment_id)
                if stray is not None:
                    # Linked, so the push worker deletes it once ours is back in the push calendar.
                    await event_links.record_written(
                        s, appointment_id=appt.id, calendar_id=stray.calendar_id, instance_key="",
                        external_event_id=stray.event_id, etag=stray.etag, version=appt.version, now=now,
                    )  # fmt: skip
                data = {"id": appt.id, "reason": reason, "version": appt.version}
                self._emit(appt.id, PUSH_REQUESTED, data)
            case CancelAppointment(appointment_id=appointment_id):
                appt = await self._appt(appointment_id)
                if await cancel_appointment(s, appt, DELETED_REASON, now):
                    await self._mark_link(facts, "deleted")
                    await self._notify(appt)
            case CancelOccurrence(appointment_id=appointment_id, original_start=original_start):
                appt = await self._appt(appointment_id)
                if await occurrences.cancel_occurrence(s, appt, original_start, DELETED_REASON, now):
                    if facts.link is not None and facts.link.instance_key:
                        await self._mark_link(facts, "deleted")
                    await self._notify(appt)
            case MoveOccurrence(appointment_id=appointment_id, original_start=original_start, event=event):
                appt = await self._appt(appointment_id)
                assert event.start is not None and event.end is not None
                await occurrences.move_occurrence(
                    s, appt, original_start, event.start, event.end, now, MOVED_REASON
                )
                await event_links.record_written(
                    s, appointment_id=appt.id, calendar_id=cal.id, instance_key=instance_key(original_start),
                    external_event_id=event.event_id, etag=event.etag, version=appt.version, now=now,
                )  # fmt: skip
            case Reschedule(appointment_id=appointment_id, event=event):
                await self._reschedule(appointment_id, event, facts)
            case Reassign(appointment_id=appointment_id, to_profile=to_profile, event=event):
                await self._reassign(appointment_id, to_profile, event, facts)

    async def _appt(self, appointment_id: str) -> Appointment:
        appt = await load_for_write(self._s, appointment_id, None)  # already locked by load_facts
        assert appt is not None
        return appt

    async def _exdate(self, facts: Facts, exception: tuple[str, datetime] | None) -> None:
        if exception is not None:
            series_id, original_start = exception
            await busy_blocks.add_exdate(
                self._s, profile_id=facts.calendar.profile_id, calendar_id=facts.calendar.id,
                series_event_id=series_id, original_start=original_start, now=self._now,
            )  # fmt: skip

    async def _mark_link(self, facts: Facts, state: str) -> None:
        link = facts.link
        if link is not None:
            await event_links.set_link_state(
                self._s, appointment_id=link.appointment_id, calendar_id=link.calendar_id,
                instance_keys=[link.instance_key], state=state, version=link.written_version, now=self._now,
            )  # fmt: skip

    def _emit(self, appointment_id: str, kind: str, data: dict[str, Any]) -> None:
        envelope = Envelope(uuid.uuid4().hex, kind, ENVELOPE_VERSION, appointment_id, self._now, data)
        enqueue(self._s, TOPIC_APPOINTMENTS, envelope, self._now)

    async def _notify(self, appt: Appointment, *, client: bool = True) -> None:
        """Pending rows for this version: e-mail if there is a client address, webhook if configured.

        ``client=False``: only the host is told (a reassignment changes nothing the client booked).
        """
        org = await self._s.get(Organization, appt.organization_id)
        kinds = [notifications.EMAIL] if client and appt.client_email else []
        if org is not None and org.webhook_url:
            kinds.append(notifications.HOST_WEBHOOK)
        await notifications.create_pending(self._s, appt.id, appt.version, kinds, self._now)

    async def _reschedule(self, appointment_id: str, event: ExternalEvent, facts: Facts) -> None:
        appt = await self._appt(appointment_id)
        before = snapshot(appt)
        await upsert_appointment(self._s, appt.id, appt, fields_of(appt, **new_times(appt, event)), self._now)
        data = {**snapshot(appt), "previous_start": before["start"], "previous_end": before["end"]}
        self._emit(appt.id, RESCHEDULED, data)
        # The contract with the push worker: the calendar already shows this version, as this etag.
        await event_links.record_written(
            self._s, appointment_id=appt.id, calendar_id=facts.calendar.id, instance_key="",
            external_event_id=event.event_id, etag=event.etag, version=appt.version, now=self._now,
        )  # fmt: skip
        await self._notify(appt)

    async def _reassign(
        self, appointment_id: str, to_profile: str, event: ExternalEvent, facts: Facts
    ) -> None:
        appt = await self._appt(appointment_id)
        previous = appt.profile_id
        # What the moved event shows: the marker's version, rendered for the previous profile. Linked
        # at that version, so the push worker rewrites it for the new profile (title template, privacy).
        shown = min(event.marker.version if event.marker is not None else appt.version, appt.version)
        old_links = [
            link for link in await event_links.links_for(self._s, appt.id) if link.instance_key == ""
        ]
        await upsert_appointment(self._s, appt.id, appt, fields_of(appt, profile_id=to_profile), self._now)
        self._emit(appt.id, REASSIGNED, {**snapshot(appt), "previous_profile": previous})
        for link in old_links:
            if link.calendar_id != facts.calendar.id:
                await event_links.set_link_state(
                    self._s, appointment_id=appt.id, calendar_id=link.calendar_id, instance_keys=[""],
                    state="deleted", version=appt.version, now=self._now,
                )  # fmt: skip
        await event_links.record_written(
            self._s, appointment_id=appt.id, calendar_id=facts.calendar.id, instance_key="",
            external_event_id=event.event_id, etag=event.etag, version=shown, now=self._now,
        )  # fmt: skip
        await self._notify(appt, client=False)  # the host is told; the client's booking is unchanged
