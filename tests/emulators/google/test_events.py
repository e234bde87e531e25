"""Event semantics: ids, etag/If-Match, patch/update, deletion, attendees, all-day, properties."""

from __future__ import annotations

import re
from typing import Any

from channels.emulators.google import GoogleEmulator
from tests.emulators.google.conftest import USER, call, error_body, fails, reason, timed

BASE32HEX = re.compile(r"^[a-v0-9]{5,1024}$")


async def test_client_supplied_id_then_duplicate_is_409(service: Any) -> None:
    body = timed("2026-01-06T10:00:00", "2026-01-06T11:00:00", id="abcdefv0123")
    created = await call(service.events().insert(calendarId="primary", body=body))
    assert created["id"] == "abcdefv0123"
    err = await fails(service.events().insert(calendarId="primary", body=body))
    assert err.resp.status == 409
    assert error_body(err) == {
        "error": {
            "errors": [
                {
                    "domain": "global",
                    "reason": "duplicate",
                    "message": "The requested identifier already exists.",
                }
            ],
            "code": 409,
            "message": "The requested identifier already exists.",
        }
    }


async def test_invalid_client_ids_are_400(service: Any) -> None:
    for bad in ("abcd", "ABCDEF", "abc-def", "abcdw", "x" * 5, "a" * 1025):
        body = timed("2026-01-06T10:00:00", "2026-01-06T11:00:00", id=bad)
        err = await fails(service.events().insert(calendarId="primary", body=body))
        assert err.resp.status == 400, bad
    ok = timed("2026-01-06T10:00:00", "2026-01-06T11:00:00", id="v" * 1024)
    assert (await call(service.events().insert(calendarId="primary", body=ok)))["id"] == "v" * 1024


async def test_server_ids_etag_updated_and_server_fields(service: Any) -> None:
    created = await call(
        service.events().insert(calendarId="primary", body=timed("2026-01-06T10:00", "2026-01-06T11:00"))
    )
    assert BASE32HEX.match(created["id"])
    assert created["etag"].startswith('"') and created["etag"].endswith('"')
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", created["updated"])
    assert created["status"] == "confirmed"
    assert created["iCalUID"] == f"{created['id']}@google.com"
    assert created["organizer"] == {"email": USER, "self": True}
    assert created["start"] == {"dateTime": "2026-01-06T10:00:00+01:00", "timeZone": "Europe/Berlin"}
    assert "transparency" not in created  # opaque is the default and is not echoed
    fetched = await call(service.events().get(calendarId="primary", eventId=created["id"]))
    assert fetched == created


async def test_every_modification_changes_etag_and_if_match_mismatch_is_412(service: Any, clock: Any) -> None:
    created = await call(
        service.events().insert(calendarId="primary", body=timed("2026-01-06T10:00", "2026-01-06T11:00"))
    )
    clock.advance(60)
    patched = await call(
        service.events().patch(calendarId="primary", eventId=created["id"], body={"summary": "B"})
    )
    assert patched["etag"] != created["etag"] and patched["updated"] > created["updated"]
    assert patched["summary"] == "B" and patched["start"] == created["start"]

    stale = service.events().patch(calendarId="primary", eventId=created["id"], body={"summary": "C"})
    stale.headers["If-Match"] = created["etag"]
    err = await fails(stale)
    assert err.resp.status == 412
    assert error_body(err)["error"]["errors"][0] == {
        "domain": "global",
        "reason": "conditionNotMet",
        "message": "Precondition Failed",
        "locationType": "header",
        "location": "If-Match",
    }
    fresh = service.events().patch(calendarId="primary", eventId=created["id"], body={"summary": "C"})
    fresh.headers["If-Match"] = patched["etag"]
    assert (await call(fresh))["summary"] == "C"


async def test_update_replaces_and_reminder_only_change_keeps_updated(service: Any, clock: Any) -> None:
    body = timed("2026-01-06T10:00", "2026-01-06T11:00", description="d", location="here")
    created = await call(service.events().insert(calendarId="primary", body=body))
    replaced = await call(
        service.events().update(
            calendarId="primary", eventId=created["id"], body=timed("2026-01-06T12:00", "2026-01-06T13:00")
        )
    )
    assert "description" not in replaced and "location" not in replaced
    assert replaced["sequence"] == created["sequence"] + 1
    clock.advance(60)
    reminders = {"useDefault": False, "overrides": [{"method": "popup", "minutes": 5}]}
    after = await call(
        service.events().patch(calendarId="primary", eventId=created["id"], body={"reminders": reminders})
    )
    assert after["updated"] == replaced["updated"] and after["etag"] != replaced["etag"]


async def test_delete_marks_cancelled_and_deleting_again_is_410(service: Any) -> None:
    created = await call(
        service.events().insert(calendarId="primary", body=timed("2026-01-06T10:00", "2026-01-06T11:00"))
    )
    assert await call(service.events().delete(calendarId="primary", eventId=created["id"])) == ""
    gone = await call(service.events().get(calendarId="primary", eventId=created["id"]))
    assert gone["status"] == "cancelled" and "start" not in gone and "summary" not in gone
    err = await fails(service.events().delete(calendarId="primary", eventId=created["id"]))
    assert err.resp.status == 410 and reason(err) == "deleted"
    assert error_body(err)["error"]["message"] == "Resource has been deleted"
    assert (await call(service.events().list(calendarId="primary")))["items"] == []
    shown = await call(service.events().list(calendarId="primary", showDeleted=True))
    assert [(e["id"], e["status"]) for e in shown["items"]] == [(created["id"], "cancelled")]
    missing = await fails(service.events().get(calendarId="primary", eventId="nosuchevent"))
    assert missing.resp.status == 404 and reason(missing) == "notFound"


async def test_attendees_self_transparency_status_and_extended_properties(service: Any) -> None:
    body = timed(
        "2026-01-06T10:00",
        "2026-01-06T11:00",
        attendees=[{"email": USER}, {"email": "eve@example.com", "responseStatus": "accepted"}],
        transparency="transparent",
        status="tentative",
        extendedProperties={"private": {"calsync": "1"}, "shared": {"origin": "x"}},
    )
    created = await call(service.events().insert(calendarId="primary", body=body))
    mine, theirs = created["attendees"]
    assert mine["self"] is True and mine["responseStatus"] == "needsAction"
    assert "self" not in theirs and theirs["responseStatus"] == "accepted"
    assert created["transparency"] == "transparent" and created["status"] == "tentative"
    await call(
        service.events().insert(calendarId="primary", body=timed("2026-01-06T12:00", "2026-01-06T13:00"))
    )
    found = await call(service.events().list(calendarId="primary", privateExtendedProperty="calsync=1"))
    assert [e["id"] for e in found["items"]] == [created["id"]]
    none = await call(
        service.events().list(calendarId="primary", privateExtendedProperty=["calsync=1", "x=y"])
    )
    assert none["items"] == []
    shared = await call(service.events().list(calendarId="primary", sharedExtendedProperty="origin=x"))
    assert len(shared["items"]) == 1
    bad = await fails(service.events().insert(calendarId="primary", body={**body, "status": "maybe"}))
    assert bad.resp.status == 400


async def test_all_day_and_time_validation(service: Any) -> None:
    day = {"summary": "Holiday", "start": {"date": "2026-01-07"}, "end": {"date": "2026-01-08"}}
    created = await call(service.events().insert(calendarId="primary", body=day))
    assert created["start"] == {"date": "2026-01-07"} and created["end"] == {"date": "2026-01-08"}
    floating = {
        "summary": "x",
        "start": {"dateTime": "2026-01-06T10:00:00"},
        "end": {"dateTime": "2026-01-06T11:00:00"},
    }
    err = await fails(service.events().insert(calendarId="primary", body=floating))
    assert err.resp.status == 400 and "time zone" in error_body(err)["error"]["message"]
    backwards = timed("2026-01-06T11:00", "2026-01-06T10:00")
    err = await fails(service.events().insert(calendarId="primary", body=backwards))
    assert err.resp.status == 400 and reason(err) == "timeRangeEmpty"
    utc = {
        "summary": "u",
        "start": {"dateTime": "2026-01-06T09:00:00Z"},
        "end": {"dateTime": "2026-01-06T10:00:00Z"},
    }
    shown = await call(service.events().insert(calendarId="primary", body=utc))
    assert shown["start"] == {"dateTime": "2026-01-06T10:00:00+01:00"}  # rendered in the calendar's zone


async def test_secondary_calendars(service: Any, emulator: GoogleEmulator) -> None:
    made = await call(service.calendars().insert(body={"summary": "Work", "timeZone": "America/New_York"}))
    assert made["id"].endswith("@group.calendar.google.com")
    ids = [c["id"] for c in (await call(service.calendarList().list()))["items"]]
    assert ids == [USER, made["id"]]
    entry = await call(service.calendarList().get(calendarId=made["id"]))
    assert entry["accessRole"] == "owner" and "primary" not in entry
    await call(
        service.events().insert(calendarId=made["id"], body=timed("2026-01-06T10:00", "2026-01-06T11:00"))
    )
    assert await call(service.calendars().delete(calendarId=made["id"])) == ""
    assert (await fails(service.calendars().get(calendarId=made["id"]))).resp.status == 404
    primary = await fails(service.calendars().delete(calendarId="primary"))
    assert primary.resp.status == 403 and reason(primary) == "cannotDeletePrimaryCalendar"
