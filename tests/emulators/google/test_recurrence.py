"""Recurring events: instances, singleEvents expansion, moved and cancelled exceptions (§2)."""

from __future__ import annotations

from typing import Any

from tests.emulators.google.conftest import call, error_body, fails, timed

WEEKLY = ["RRULE:FREQ=WEEKLY;COUNT=4"]


async def _series(service: Any, **extra: Any) -> dict[str, Any]:
    # Tuesdays 10:00 Berlin from 2026-01-06 = 09:00Z.
    body = timed(
        "2026-01-06T10:00:00", "2026-01-06T11:00:00", recurrence=extra.pop("recurrence", WEEKLY), **extra
    )
    result: dict[str, Any] = await call(service.events().insert(calendarId="primary", body=body))
    return result


async def test_instances_ids_and_fields(service: Any) -> None:
    series = await _series(service)
    listing = await call(service.events().instances(calendarId="primary", eventId=series["id"]))
    ids = [i["id"] for i in listing["items"]]
    assert ids == [f"{series['id']}_202601{d:02d}T090000Z" for d in (6, 13, 20, 27)]
    second = listing["items"][1]
    assert second["recurringEventId"] == series["id"]
    assert second["originalStartTime"] == {
        "dateTime": "2026-01-13T10:00:00+01:00",
        "timeZone": "Europe/Berlin",
    }
    assert second["start"] == second["originalStartTime"]
    assert "recurrence" not in second and second["iCalUID"] == series["iCalUID"]
    fetched = await call(service.events().get(calendarId="primary", eventId=second["id"]))
    assert fetched["id"] == second["id"]
    assert (
        await fails(service.events().get(calendarId="primary", eventId=f"{series['id']}_20260114T090000Z"))
    ).resp.status == 404


async def test_recurring_events_need_a_time_zone(service: Any) -> None:
    body = {
        "summary": "r",
        "start": {"dateTime": "2026-01-06T10:00:00+01:00"},
        "end": {"dateTime": "2026-01-06T11:00:00+01:00"},
        "recurrence": WEEKLY,
    }
    err = await fails(service.events().insert(calendarId="primary", body=body))
    assert err.resp.status == 400 and "time zone" in error_body(err)["error"]["message"]
    bad = await fails(
        service.events().insert(
            calendarId="primary",
            body=timed("2026-01-06T10:00", "2026-01-06T11:00", recurrence=["RRULE:NOPE"]),
        )
    )
    assert bad.resp.status == 400


async def test_single_events_expansion_with_moved_and_cancelled_exceptions(service: Any) -> None:
    series = await _series(service)
    sid = series["id"]
    moved_id, cancelled_id = f"{sid}_20260113T090000Z", f"{sid}_20260120T090000Z"
    moved = await call(
        service.events().patch(
            calendarId="primary",
            eventId=moved_id,
            body={
                "start": {"dateTime": "2026-01-14T15:00:00+01:00"},
                "end": {"dateTime": "2026-01-14T16:00:00+01:00"},
            },
        )
    )
    assert moved["id"] == moved_id and moved["recurringEventId"] == sid
    assert moved["originalStartTime"] == {
        "dateTime": "2026-01-13T10:00:00+01:00",
        "timeZone": "Europe/Berlin",
    }
    assert moved["start"]["dateTime"] == "2026-01-14T15:00:00+01:00"
    assert await call(service.events().delete(calendarId="primary", eventId=cancelled_id)) == ""

    expanded = await call(service.events().list(calendarId="primary", singleEvents=True, orderBy="startTime"))
    assert [e["id"] for e in expanded["items"]] == [
        f"{sid}_20260106T090000Z",
        moved_id,
        f"{sid}_20260127T090000Z",
    ]
    with_deleted = await call(
        service.events().list(calendarId="primary", singleEvents=True, showDeleted=True)
    )
    cancelled = [e for e in with_deleted["items"] if e["status"] == "cancelled"]
    assert cancelled == [
        {
            "kind": "calendar#event",
            "etag": cancelled[0]["etag"],
            "id": cancelled_id,
            "status": "cancelled",
            "recurringEventId": sid,
            "originalStartTime": {"dateTime": "2026-01-20T10:00:00+01:00", "timeZone": "Europe/Berlin"},
        }
    ]
    # Not expanded: the series, its exception, and (still, without showDeleted) the cancelled instance.
    raw = await call(service.events().list(calendarId="primary"))
    assert [(e["id"], e["status"]) for e in raw["items"]] == [
        (sid, "confirmed"),
        (moved_id, "confirmed"),
        (cancelled_id, "cancelled"),
    ]
    again = await fails(service.events().delete(calendarId="primary", eventId=cancelled_id))
    assert again.resp.status == 410


async def test_exceptions_reach_incremental_sync(service: Any) -> None:
    series = await _series(service)
    token = (await call(service.events().list(calendarId="primary")))["nextSyncToken"]
    iid = f"{series['id']}_20260127T090000Z"
    await call(
        service.events().update(
            calendarId="primary",
            eventId=iid,
            body=timed("2026-01-27T12:00", "2026-01-27T13:00", summary="moved"),
        )
    )
    delta = await call(service.events().list(calendarId="primary", syncToken=token))
    assert [(e["id"], e["recurringEventId"]) for e in delta["items"]] == [(iid, series["id"])]
    token = delta["nextSyncToken"]
    await call(service.events().delete(calendarId="primary", eventId=series["id"]))
    delta = await call(service.events().list(calendarId="primary", syncToken=token))
    assert {e["id"]: e["status"] for e in delta["items"]} == {series["id"]: "cancelled", iid: "cancelled"}


async def test_all_day_series_and_exdate(service: Any) -> None:
    body = {
        "summary": "Standup",
        "start": {"date": "2026-01-05"},
        "end": {"date": "2026-01-06"},
        "recurrence": ["RRULE:FREQ=DAILY;UNTIL=20260109", "EXDATE;VALUE=DATE:20260107"],
    }
    series = await call(service.events().insert(calendarId="primary", body=body))
    instances = (await call(service.events().instances(calendarId="primary", eventId=series["id"])))["items"]
    assert [i["id"] for i in instances] == [
        f"{series['id']}_{d}" for d in ("20260105", "20260106", "20260108", "20260109")
    ]
    assert instances[0]["originalStartTime"] == {"date": "2026-01-05"}
    window = await call(
        service.events().list(
            calendarId="primary",
            singleEvents=True,
            timeMin="2026-01-08T00:00:00+01:00",
            timeMax="2026-01-09T00:00:00+01:00",
        )
    )
    assert [i["id"] for i in window["items"]] == [f"{series['id']}_20260108"]


async def test_timed_series_keeps_wall_time_across_dst(service: Any) -> None:
    body = timed("2026-03-24T10:00:00", "2026-03-24T11:00:00", recurrence=["RRULE:FREQ=WEEKLY;COUNT=2"])
    series = await call(service.events().insert(calendarId="primary", body=body))
    instances = (await call(service.events().instances(calendarId="primary", eventId=series["id"])))["items"]
    assert [i["start"]["dateTime"] for i in instances] == [
        "2026-03-24T10:00:00+01:00",
        "2026-03-31T10:00:00+02:00",
    ]
    assert instances[1]["id"].endswith("_20260331T080000Z")


async def test_instances_filters_and_paging(service: Any) -> None:
    series = await _series(service, recurrence=["RRULE:FREQ=DAILY"])  # unbounded
    sid = series["id"]
    await call(service.events().delete(calendarId="primary", eventId=f"{sid}_20260107T090000Z"))
    first = await call(service.events().instances(calendarId="primary", eventId=sid, maxResults=2))
    assert [i["id"] for i in first["items"]] == [f"{sid}_20260106T090000Z", f"{sid}_20260108T090000Z"]
    assert "nextPageToken" in first and "nextSyncToken" not in first
    second = await call(
        service.events().instances(
            calendarId="primary", eventId=sid, maxResults=2, pageToken=first["nextPageToken"]
        )
    )
    assert [i["id"] for i in second["items"]] == [f"{sid}_20260109T090000Z", f"{sid}_20260110T090000Z"]
    shown = await call(
        service.events().instances(
            calendarId="primary", eventId=sid, showDeleted=True, timeMax="2026-01-09T00:00:00Z"
        )
    )
    assert [i["status"] for i in shown["items"]] == ["confirmed", "cancelled", "confirmed"]
    one = await call(
        service.events().instances(
            calendarId="primary", eventId=sid, originalStart="2026-01-10T10:00:00+01:00"
        )
    )
    assert [i["id"] for i in one["items"]] == [f"{sid}_20260110T090000Z"]
