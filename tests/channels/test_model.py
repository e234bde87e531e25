"""The event model round-trips through its wire form and says which events block time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calsync.errors import PoisonMessage
from channels.model import EventStatus, ExternalEvent, Marker, Provider, Response, from_wire, to_wire

utc_instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def events(draw: st.DrawFn) -> ExternalEvent:
    start = draw(utc_instants)
    all_day = draw(st.booleans())
    return ExternalEvent(
        provider=draw(st.sampled_from(Provider)),
        calendar_id=draw(st.text(min_size=1, max_size=20)),
        event_id=draw(st.text(min_size=1, max_size=40)),
        status=draw(st.sampled_from(EventStatus)),
        start=start,
        end=start + timedelta(minutes=draw(st.integers(0, 10_000))),
        all_day=all_day,
        start_date=start.date() if all_day else None,
        end_date=start.date() + timedelta(days=1) if all_day else None,
        time_zone=draw(st.sampled_from([None, "Europe/London", "America/New_York"])),
        transparent=draw(st.booleans()),
        owner_response=draw(st.one_of(st.none(), st.sampled_from(Response))),
        tentative=draw(st.booleans()),
        ical_uid=draw(st.one_of(st.none(), st.text(max_size=30))),
        series_id=draw(st.one_of(st.none(), st.text(min_size=1, max_size=20))),
        original_start=draw(st.one_of(st.none(), utc_instants)),
        recurrence=tuple(draw(st.lists(st.just("RRULE:FREQ=WEEKLY;COUNT=3"), max_size=1))),
        etag=draw(st.one_of(st.none(), st.text(max_size=10))),
        updated=draw(st.one_of(st.none(), utc_instants)),
        marker=draw(
            st.one_of(st.none(), st.builds(Marker, st.text(min_size=1, max_size=20), st.integers(1, 10**6)))
        ),
        verify_deletion=draw(st.booleans()),
    )


@given(events())
def test_wire_round_trip(event: ExternalEvent) -> None:
    assert from_wire(to_wire(event)) == event


def _event(**changes: object) -> ExternalEvent:
    base = ExternalEvent(
        provider=Provider.GOOGLE,
        calendar_id="cal",
        event_id="e1",
        status=EventStatus.CONFIRMED,
        start=datetime(2026, 1, 5, 9, tzinfo=UTC),
        end=datetime(2026, 1, 5, 10, tzinfo=UTC),
    )
    return ExternalEvent(**{**{f: getattr(base, f) for f in base.__slots__ if f != "__weakref__"}, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "blocks"),
    [
        ({}, True),
        ({"transparent": True}, False),
        ({"owner_response": Response.DECLINED}, False),
        ({"owner_response": Response.TENTATIVE}, True),
        ({"status": EventStatus.CANCELLED}, False),
        ({"status": EventStatus.TENTATIVE}, True),
    ],
)
def test_blocks_time(changes: dict[str, object], blocks: bool) -> None:
    assert _event(**changes).blocks_time is blocks


def test_instance_key_is_the_original_start_in_utc() -> None:
    moved = _event(series_id="s", original_start=datetime(2026, 1, 5, 9, tzinfo=UTC))
    assert moved.instance_key == "20260105T090000Z"
    assert _event().instance_key == ""


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"provider": "yahoo", "calendar_id": "c", "event_id": "e", "status": "confirmed"},
        {
            "provider": "google",
            "calendar_id": "c",
            "event_id": "e",
            "status": "confirmed",
            "start": "2026-01-05T09:00",
        },
    ],
)
def test_malformed_wire_is_poison(data: dict[str, object]) -> None:
    with pytest.raises(PoisonMessage):
        from_wire(data)


def test_all_day_dates_survive() -> None:
    event = _event(all_day=True, start_date=date(2026, 3, 29), end_date=date(2026, 3, 30))
    assert from_wire(to_wire(event)).start_date == date(2026, 3, 29)
