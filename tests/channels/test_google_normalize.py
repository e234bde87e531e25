"""Google event JSON -> ExternalEvent, per the Calendar v3 event resource."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.google.marker import marker_properties
from channels.google.normalize import MalformedEvent, normalize_google_event
from channels.model import EventStatus, Marker, Response


def event(**extra: Any) -> dict[str, Any]:
    return {
        "id": "abc123",
        "status": "confirmed",
        "etag": '"3181161784712000"',
        "updated": "2026-01-02T10:00:00.000Z",
        "iCalUID": "abc123@google.com",
        "start": {"dateTime": "2026-01-05T10:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-01-05T11:00:00+01:00", "timeZone": "Europe/Berlin"},
        **extra,
    }


def test_timed_event_becomes_utc() -> None:
    e = normalize_google_event(event(), calendar_id="cal1")
    assert e.start == datetime(2026, 1, 5, 9, tzinfo=UTC) and e.end == datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert e.time_zone == "Europe/Berlin" and not e.all_day and e.blocks_time
    assert e.updated == datetime(2026, 1, 2, 10, tzinfo=UTC) and e.etag == '"3181161784712000"'


def test_all_day_keeps_dates() -> None:
    e = normalize_google_event(
        event(start={"date": "2026-03-29"}, end={"date": "2026-03-30"}), calendar_id="cal1"
    )
    assert e.all_day and e.start_date == date(2026, 3, 29) and e.end_date == date(2026, 3, 30)


def test_transparent_does_not_block() -> None:
    assert not normalize_google_event(event(transparency="transparent"), calendar_id="c").blocks_time
    assert normalize_google_event(event(transparency="opaque"), calendar_id="c").blocks_time


@pytest.mark.parametrize(
    ("status", "response", "blocks"),
    [
        ("declined", Response.DECLINED, False),
        ("accepted", Response.ACCEPTED, True),
        ("tentative", Response.TENTATIVE, True),
        ("needsAction", Response.NEEDS_ACTION, True),
    ],
)
def test_owner_response_from_self_attendee(status: str, response: Response, blocks: bool) -> None:
    item = event(
        attendees=[
            {"email": "boss@x.com", "responseStatus": "accepted"},
            {"email": "me@x.com", "self": True, "responseStatus": status},
        ]
    )
    e = normalize_google_event(item, calendar_id="c")
    assert e.owner_response is response and e.blocks_time is blocks


def test_owner_found_by_email_without_self_flag() -> None:
    item = event(attendees=[{"email": "Me@X.com", "responseStatus": "declined"}])
    assert (
        normalize_google_event(item, calendar_id="c", owner_email="me@x.com").owner_response
        is Response.DECLINED
    )


def test_deleted_event_is_a_tombstone_with_only_an_id() -> None:
    e = normalize_google_event({"id": "gone1", "status": "cancelled"}, calendar_id="c")
    assert e.is_tombstone and e.start is None and not e.blocks_time


def test_cancelled_instance_keeps_series_and_original_start() -> None:
    e = normalize_google_event(
        {
            "id": "s1_20260112T090000Z",
            "status": "cancelled",
            "recurringEventId": "s1",
            "originalStartTime": {"dateTime": "2026-01-12T10:00:00+01:00"},
        },
        calendar_id="c",
    )
    assert e.is_tombstone and e.series_id == "s1"
    assert e.original_start == datetime(2026, 1, 12, 9, tzinfo=UTC) and e.instance_key == "20260112T090000Z"


def test_series_master_keeps_recurrence_lines() -> None:
    lines = ["RRULE:FREQ=WEEKLY;COUNT=5", "EXDATE;TZID=Europe/Berlin:20260112T100000"]
    assert normalize_google_event(event(recurrence=lines), calendar_id="c").recurrence == tuple(lines)


def test_our_marker_is_read_back() -> None:
    marker = Marker("appt-1", 3, "20260112T090000Z")
    item = event(extendedProperties={"private": marker_properties(marker), "shared": {"x": "y"}})
    assert normalize_google_event(item, calendar_id="c").marker == marker
    assert normalize_google_event(event(), calendar_id="c").marker is None


@pytest.mark.parametrize(
    "item",
    [
        {"status": "confirmed"},
        event(status="weird"),
        event(start={"dateTime": "2026-01-05T10:00:00"}),
        event(start={}),
        event(end={"dateTime": "2026-01-05T08:00:00+01:00"}),
    ],
)
def test_malformed_events_raise(item: dict[str, Any]) -> None:
    with pytest.raises(MalformedEvent):
        normalize_google_event(item, calendar_id="c")


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)),
    st.integers(-14 * 60, 14 * 60),
    st.integers(0, 60 * 24 * 3),
)
def test_any_offset_maps_to_the_same_utc_instant(local: datetime, offset_min: int, length_min: int) -> None:
    tz = timezone(timedelta(minutes=offset_min))
    start = local.replace(tzinfo=tz, microsecond=0)
    end = start + timedelta(minutes=length_min)
    e = normalize_google_event(
        event(start={"dateTime": start.isoformat()}, end={"dateTime": end.isoformat()}), calendar_id="c"
    )
    assert e.start == start.astimezone(UTC) and e.end - e.start == timedelta(minutes=length_min)
    assert e.status is EventStatus.CONFIRMED
