"""Graph event JSON -> ExternalEvent, per the v1.0 event resource and delta facts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from channels.graph.marker import marker_property
from channels.graph.normalize import MalformedGraphEvent, normalize_graph_event
from channels.model import EventStatus, Marker, Response


def event(**extra: Any) -> dict[str, Any]:
    return {
        "@odata.etag": 'W/"DwAAABYAAAA"',
        "id": "AAMkAGI2",
        "changeKey": "DwAAABYAAAA",
        "type": "singleInstance",
        "showAs": "busy",
        "isAllDay": False,
        "isCancelled": False,
        "iCalUId": "040000008200E00074C5B7101A82E008",
        "lastModifiedDateTime": "2026-01-02T10:00:00.1234567Z",
        "start": {"dateTime": "2026-01-05T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-01-05T10:00:00.0000000", "timeZone": "UTC"},
        "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
        **extra,
    }


def test_timed_event() -> None:
    e = normalize_graph_event(event(), calendar_id="c")
    assert e.start == datetime(2026, 1, 5, 9, tzinfo=UTC) and e.end == datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert e.blocks_time and e.etag == 'W/"DwAAABYAAAA"' and e.owner_response is None
    assert e.updated is not None and e.updated.year == 2026


@pytest.mark.parametrize(
    ("show_as", "blocks", "tentative"),
    [
        ("free", False, False),
        ("workingElsewhere", False, False),
        ("tentative", True, True),
        ("busy", True, False),
        ("oof", True, False),
        ("unknown", True, False),
    ],
)
def test_show_as_rule(show_as: str, blocks: bool, tentative: bool) -> None:
    e = normalize_graph_event(event(showAs=show_as), calendar_id="c")
    assert e.blocks_time is blocks and e.tentative is tentative


def test_declined_does_not_block() -> None:
    e = normalize_graph_event(event(responseStatus={"response": "declined"}), calendar_id="c")
    assert e.owner_response is Response.DECLINED and not e.blocks_time


def test_removed_entry_is_a_tombstone_to_verify() -> None:
    e = normalize_graph_event(
        {"@odata.type": "#microsoft.graph.event", "id": "AAMk1", "@removed": {"reason": "deleted"}},
        calendar_id="c",
    )
    assert e.is_tombstone and e.verify_deletion


def test_cancelled_meeting_is_a_tombstone() -> None:
    e = normalize_graph_event(event(isCancelled=True), calendar_id="c")
    assert e.is_tombstone and not e.verify_deletion


def test_occurrence_keeps_series_and_original_start() -> None:
    e = normalize_graph_event(
        event(type="exception", seriesMasterId="MASTER", originalStart="2026-01-12T09:00:00Z"),
        calendar_id="c",
    )
    assert e.series_id == "MASTER" and e.instance_key == "20260112T090000Z"


def test_all_day() -> None:
    e = normalize_graph_event(
        event(
            isAllDay=True,
            start={"dateTime": "2026-03-29T00:00:00.0000000", "timeZone": "UTC"},
            end={"dateTime": "2026-03-30T00:00:00.0000000", "timeZone": "UTC"},
        ),
        calendar_id="c",
    )
    assert e.all_day and e.start_date == date(2026, 3, 29) and e.end_date == date(2026, 3, 30)


def test_iana_zone_is_honoured() -> None:
    e = normalize_graph_event(
        event(
            start={"dateTime": "2026-07-01T10:00:00", "timeZone": "Europe/London"},
            end={"dateTime": "2026-07-01T11:00:00", "timeZone": "Europe/London"},
        ),
        calendar_id="c",
    )
    assert e.start == datetime(2026, 7, 1, 9, tzinfo=UTC)


def test_marker_round_trip() -> None:
    marker = Marker("appt-9", 4)
    e = normalize_graph_event(event(singleValueExtendedProperties=[marker_property(marker)]), calendar_id="c")
    assert e.marker == marker


@pytest.mark.parametrize(
    "item",
    [
        {"showAs": "busy"},
        event(start={"dateTime": "nope", "timeZone": "UTC"}),
        event(start={"dateTime": "2026-01-05T09:00:00", "timeZone": "Pacific Standard Time"}),
        event(end={"dateTime": "2026-01-05T08:00:00", "timeZone": "UTC"}),
        event(start=None),
    ],
)
def test_malformed(item: dict[str, Any]) -> None:
    with pytest.raises(MalformedGraphEvent):
        normalize_graph_event(item, calendar_id="c")


def test_status_for_tentative_show_as() -> None:
    assert normalize_graph_event(event(showAs="tentative"), calendar_id="c").status is EventStatus.TENTATIVE
