"""Drafts: the practitioner's privacy choice decides what a pushed event reveals (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from handlers.drafts import is_future, is_occurrence, recurrence_lines, series_draft
from handlers.profile_settings import ProfileSettings
from store.tables import Appointment

START = datetime(2026, 1, 12, 9, tzinfo=UTC)


def appt(**changes: Any) -> Appointment:
    values: dict[str, Any] = {
        "id": "a1", "organization_id": "o", "profile_id": "p", "start_utc": START,
        "end_utc": START + timedelta(hours=1), "time_zone": "Europe/Berlin", "title": "Therapy",
        "description": "Knee, week 3", "location": "Room 4", "client_name": "Ann",
        "client_email": "ann@x.org",
        "extra": {"ticket": "T-9"}, "version": 4,
    }  # fmt: skip
    values.update(changes)
    return Appointment(**values)


def test_private_by_default_choice() -> None:
    hidden = ProfileSettings(
        title_template="Busy {client_name}", include_description=False, include_location=False
    )
    draft = series_draft(appt(), hidden)
    assert (draft.title, draft.description, draft.location, draft.attendees) == ("Busy ", "", "", ())
    assert draft.marker.appointment_id == "a1" and draft.marker.version == 4


def test_opted_in_details_and_template_values() -> None:
    shown = ProfileSettings(title_template="{title} with {client_name} ({ticket})", include_client=True)
    draft = series_draft(appt(), shown)
    assert draft.title == "Therapy with Ann (T-9)"
    assert draft.description == "Knee, week 3\n\nClient: Ann <ann@x.org>" and draft.location == "Room 4"


def test_series_is_one_rrule_with_utc_exdates() -> None:
    series = appt(rrule="FREQ=WEEKLY;COUNT=4", exdates=["2026-01-19T09:00:00+00:00"])
    assert recurrence_lines(series) == ("RRULE:FREQ=WEEKLY;COUNT=4", "EXDATE:20260119T090000Z")
    all_day = appt(rrule="FREQ=DAILY;COUNT=3", all_day=True, start_date="2026-01-12", end_date="2026-01-13",
                   exdates=["2026-01-13"])  # fmt: skip
    assert recurrence_lines(all_day)[1] == "EXDATE;VALUE=DATE:20260113"


def test_occurrences_and_future() -> None:
    series = appt(rrule="FREQ=WEEKLY;COUNT=4", exdates=["2026-01-19T09:00:00+00:00"])
    assert is_occurrence(series, START + timedelta(days=14))
    assert not is_occurrence(series, START + timedelta(days=7))  # excluded
    assert not is_occurrence(series, START + timedelta(days=28))  # past COUNT
    assert not is_occurrence(series, START + timedelta(days=14, minutes=30))
    assert is_future(series, START + timedelta(days=21, minutes=30))
    assert not is_future(series, START + timedelta(days=21, hours=2))
    assert is_future(appt(rrule="FREQ=DAILY"), START + timedelta(days=9999))
    assert not is_future(appt(), START + timedelta(hours=2))
