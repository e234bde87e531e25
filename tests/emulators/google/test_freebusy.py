"""freebusy.query: the response shape and which events count as busy (§2)."""

from __future__ import annotations

from typing import Any

from tests.emulators.google.conftest import USER, call, fails, reason, timed


async def test_freebusy_shape_and_busy_rules(service: Any) -> None:
    events = service.events()
    await call(events.insert(calendarId="primary", body=timed("2026-01-06T09:00", "2026-01-06T10:00")))
    await call(events.insert(calendarId="primary", body=timed("2026-01-06T09:30", "2026-01-06T11:00")))
    await call(
        events.insert(
            calendarId="primary",
            body=timed("2026-01-06T12:00", "2026-01-06T13:00", transparency="transparent"),
        )
    )
    declined = [{"email": USER, "responseStatus": "declined"}]
    await call(
        events.insert(
            calendarId="primary", body=timed("2026-01-06T14:00", "2026-01-06T15:00", attendees=declined)
        )
    )
    gone = await call(events.insert(calendarId="primary", body=timed("2026-01-06T16:00", "2026-01-06T17:00")))
    await call(events.delete(calendarId="primary", eventId=gone["id"]))
    weekly = ["RRULE:FREQ=DAILY;COUNT=3"]
    await call(
        events.insert(
            calendarId="primary", body=timed("2026-01-05T18:00", "2026-01-05T19:00", recurrence=weekly)
        )
    )

    body = {
        "timeMin": "2026-01-06T00:00:00Z",
        "timeMax": "2026-01-07T00:00:00Z",
        "items": [{"id": USER}, {"id": "stranger@example.com"}],
    }
    result = await call(service.freebusy().query(body=body))
    assert result["kind"] == "calendar#freeBusy"
    assert result["timeMin"] == "2026-01-06T00:00:00.000Z" and result["timeMax"] == "2026-01-07T00:00:00.000Z"
    assert result["calendars"][USER] == {
        "busy": [
            {"start": "2026-01-06T08:00:00Z", "end": "2026-01-06T10:00:00Z"},  # two overlapping, merged
            {"start": "2026-01-06T17:00:00Z", "end": "2026-01-06T18:00:00Z"},  # one instance of the series
        ]
    }
    assert result["calendars"]["stranger@example.com"] == {
        "busy": [],
        "errors": [{"domain": "global", "reason": "notFound"}],
    }

    zoned = await call(
        service.freebusy().query(body={**body, "timeZone": "Europe/Berlin", "items": [{"id": USER}]})
    )
    assert zoned["calendars"][USER]["busy"][0] == {
        "start": "2026-01-06T09:00:00+01:00",
        "end": "2026-01-06T11:00:00+01:00",
    }
    empty = await fails(service.freebusy().query(body={**body, "timeMax": body["timeMin"]}))
    assert empty.resp.status == 400 and reason(empty) == "timeRangeEmpty"
    many = await call(
        service.freebusy().query(
            body={**body, "items": [{"id": USER}] + [{"id": f"c{n}"} for n in range(50)]}
        )
    )
    assert many["calendars"]["c49"]["errors"] == [
        {"domain": "calendar", "reason": "tooManyCalendarsRequested"}
    ]
