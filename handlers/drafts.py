"""What calsync writes for an appointment: ``EventDraft`` values, the profile's privacy applied.

Pure functions of the stored appointment, one occurrence override and the profile's
``ProfileSettings``. The practitioner decides what a pushed event reveals: the title
comes from their template (``{client_name}`` renders empty unless ``include_client``),
and description, location and client details are left out unless they opted in.
Clients are never added as attendees: a provider would e-mail them an invitation.

A recurring appointment becomes one series: ``RRULE`` plus one ``EXDATE`` line
(UTC instants for timed series, ``VALUE=DATE`` for all-day ones), which both
adapters and both emulators read.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr

from channels.base import EventDraft
from channels.model import Marker
from handlers.profile_settings import ProfileSettings
from store.tables import Appointment, AppointmentOccurrence


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def template_values(appt: Appointment, settings: ProfileSettings, profile_name: str) -> dict[str, str]:
    """The placeholders a title template may use; private ones only when the profile allows."""
    extra = appt.extra or {}
    return {
        "title": appt.title,
        "client_name": appt.client_name if settings.include_client else "",
        "ticket": str(extra.get("ticket", "")),
        "priority": str(extra.get("priority", "")),
        "location": appt.location if settings.include_location else "",
        "profile_name": profile_name,
    }


def _description(appt: Appointment, settings: ProfileSettings) -> str:
    parts = [appt.description] if settings.include_description and appt.description else []
    if settings.include_client and (appt.client_name or appt.client_email):
        who = " ".join(
            x for x in (appt.client_name, f"<{appt.client_email}>" if appt.client_email else "") if x
        )
        parts.append(f"Client: {who}")
    return "\n\n".join(parts)


def recurrence_lines(appt: Appointment) -> tuple[str, ...]:
    """``RRULE:…`` and, when there are exception dates, one ``EXDATE`` line."""
    if not appt.rrule:
        return ()
    lines = [f"RRULE:{appt.rrule}"]
    if appt.exdates:
        if appt.all_day:
            values = [date.fromisoformat(x).strftime("%Y%m%d") for x in appt.exdates]
            lines.append("EXDATE;VALUE=DATE:" + ",".join(values))
        else:
            values = [
                datetime.fromisoformat(x).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") for x in appt.exdates
            ]
            lines.append("EXDATE:" + ",".join(values))
    return tuple(lines)


def series_draft(appt: Appointment, settings: ProfileSettings, profile_name: str = "") -> EventDraft:
    """The draft of a single appointment or of a whole series (its first occurrence + rules)."""
    return EventDraft(
        marker=Marker(appt.id, appt.version),
        title=settings.render_title(template_values(appt, settings, profile_name)),
        start=appt.start_utc,
        end=appt.end_utc,
        time_zone=appt.time_zone,
        all_day=appt.all_day,
        start_date=date.fromisoformat(appt.start_date) if appt.all_day and appt.start_date else None,
        end_date=date.fromisoformat(appt.end_date) if appt.all_day and appt.end_date else None,
        description=_description(appt, settings),
        location=appt.location if settings.include_location else "",
        recurrence=recurrence_lines(appt),
        tentative=appt.status == "tentative",
    )


def instance_draft(
    appt: Appointment,
    override: AppointmentOccurrence,
    instance_key: str,
    settings: ProfileSettings,
    profile_name: str = "",
) -> EventDraft:
    """One moved occurrence: the series' content at the override's own times, marked as that instance."""
    base = series_draft(appt, settings, profile_name)
    return EventDraft(
        marker=Marker(appt.id, appt.version, instance_key),
        title=base.title,
        start=override.start_utc,
        end=override.end_utc,
        time_zone=appt.time_zone,
        description=base.description,
        location=base.location,
        tentative=base.tentative,
    )


def is_future(appt: Appointment, now: datetime) -> bool:
    """Whether some occurrence still ends after ``now`` (unbounded series always do)."""
    if not appt.rrule:
        return appt.end_utc > now
    zone = _zone(appt.time_zone)
    duration = appt.end_utc - appt.start_utc
    if appt.all_day and appt.start_date:
        first = datetime.fromisoformat(appt.start_date)  # floating, like the API's expansion
        threshold = (now - duration).astimezone(zone).replace(tzinfo=None)
    else:
        first = appt.start_utc.astimezone(zone)
        threshold = (now - duration).astimezone(zone)
    rule = rrulestr(appt.rrule, dtstart=first)
    if not isinstance(rule, rrule):
        return True
    return rule.after(threshold) is not None


def is_occurrence(appt: Appointment, original_start: datetime) -> bool:
    """Whether ``original_start`` is a (not excluded) occurrence of a timed series."""
    if not appt.rrule or appt.all_day:
        return False
    zone = _zone(appt.time_zone)
    moment = original_start.astimezone(zone)
    rule = rrulestr(appt.rrule, dtstart=appt.start_utc.astimezone(zone))
    if not isinstance(rule, rrule):
        return False
    excluded = {datetime.fromisoformat(x).astimezone(UTC) for x in appt.exdates}
    found = rule.after(moment, inc=True)
    return found is not None and found == moment and moment.astimezone(UTC) not in excluded
