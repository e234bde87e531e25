"""events.move through the real client: the event changes calendar and organizer, keeps its id.

The source keeps a cancelled entry (its incremental sync lists the event as deleted), the
destination lists it as a new event with the same id, iCalUID and extended properties, and
both calendars' push channels are told.
"""

from __future__ import annotations

from typing import Any

from channels.emulators.google import GoogleEmulator
from tests.emulators.google.conftest import USER, Receiver, call, fails, reason, timed

PRIVATE = {"private": {"calsync_appointment": "appt-1", "calsync_version": "3"}}


async def _team_calendar(service: Any, summary: str = "Team B") -> str:
    made = await call(service.calendars().insert(body={"summary": summary}))
    return str(made["id"])


async def _insert(service: Any, calendar: str = "primary", **extra: Any) -> dict[str, Any]:
    body = timed("2026-01-06T10:00:00", "2026-01-06T11:00:00", extendedProperties=PRIVATE, **extra)
    created: dict[str, Any] = await call(service.events().insert(calendarId=calendar, body=body))
    return created


async def test_move_keeps_id_content_and_properties_and_changes_the_organizer(service: Any) -> None:
    team = await _team_calendar(service)
    created = await _insert(service, summary="Boiler service")
    moved = await call(service.events().move(calendarId="primary", eventId=created["id"], destination=team))
    assert (moved["id"], moved["iCalUID"]) == (created["id"], created["iCalUID"])
    assert moved["extendedProperties"] == PRIVATE and moved["summary"] == "Boiler service"
    assert moved["start"] == created["start"] and moved["end"] == created["end"]
    assert moved["organizer"] == {"email": team, "self": True, "displayName": "Team B"}
    assert moved["creator"] == created["creator"] == {"email": USER, "self": True}
    assert moved["etag"] != created["etag"] and moved["created"] == created["created"]
    assert await call(service.events().get(calendarId=team, eventId=created["id"])) == moved
    left = await call(service.events().get(calendarId="primary", eventId=created["id"]))
    assert left == {
        "kind": "calendar#event",
        "etag": left["etag"],
        "id": created["id"],
        "status": "cancelled",
    }


async def test_incremental_syncs_list_a_cancelled_source_and_a_new_destination(service: Any) -> None:
    team = await _team_calendar(service)
    created = await _insert(service)
    source_token = (await call(service.events().list(calendarId="primary")))["nextSyncToken"]
    team_token = (await call(service.events().list(calendarId=team)))["nextSyncToken"]
    await call(service.events().move(calendarId="primary", eventId=created["id"], destination=team))

    source = await call(service.events().list(calendarId="primary", syncToken=source_token))
    [gone] = source["items"]
    assert (gone["id"], gone["status"]) == (created["id"], "cancelled") and "extendedProperties" not in gone
    arrived = await call(service.events().list(calendarId=team, syncToken=team_token))
    [new] = arrived["items"]
    assert (new["id"], new["iCalUID"], new["status"]) == (created["id"], created["iCalUID"], "confirmed")
    assert new["extendedProperties"] == PRIVATE
    # A full listing without deleted events shows it exactly once, in the destination.
    assert (await call(service.events().list(calendarId="primary")))["items"] == []
    assert [e["id"] for e in (await call(service.events().list(calendarId=team)))["items"]] == [created["id"]]


async def test_move_notifies_the_channels_of_both_calendars(
    service: Any, receiver: Receiver, emulator: GoogleEmulator
) -> None:
    team = await _team_calendar(service)
    created = await _insert(service)
    for calendar, channel in (("primary", "chan-a"), (team, "chan-b")):
        body = {"id": channel, "type": "web_hook", "address": receiver.url}
        await call(service.events().watch(calendarId=calendar, body=body))
    await emulator.wait_idle()
    receiver.hits.clear()
    await call(service.events().move(calendarId="primary", eventId=created["id"], destination=team))
    await emulator.wait_idle()
    told = {(h.headers["X-Goog-Channel-ID"], h.headers["X-Goog-Resource-State"]) for h in receiver.hits}
    assert told == {("chan-a", "exists"), ("chan-b", "exists")}


async def test_a_series_moves_with_its_exceptions_but_an_instance_cannot_move(service: Any) -> None:
    team = await _team_calendar(service)
    series = await _insert(service, recurrence=["RRULE:FREQ=DAILY;COUNT=3"])
    instances = (await call(service.events().instances(calendarId="primary", eventId=series["id"])))["items"]
    await call(
        service.events().patch(calendarId="primary", eventId=instances[1]["id"], body={"summary": "moved"})
    )
    err = await fails(
        service.events().move(calendarId="primary", eventId=instances[0]["id"], destination=team)
    )
    assert (err.resp.status, reason(err)) == (400, "cannotChangeOrganizerOfInstance")

    await call(service.events().move(calendarId="primary", eventId=series["id"], destination=team))
    moved = (await call(service.events().instances(calendarId=team, eventId=series["id"])))["items"]
    assert [i["id"] for i in moved] == [i["id"] for i in instances]
    assert [i.get("summary") for i in moved] == ["Meeting", "moved", "Meeting"]
    source = await call(service.events().list(calendarId="primary", showDeleted=True))
    assert {e["status"] for e in source["items"]} == {"cancelled"} and len(source["items"]) == 2


async def test_move_errors_and_moving_back(service: Any) -> None:
    team = await _team_calendar(service)
    created = await _insert(service)
    missing = await fails(
        service.events().move(calendarId="primary", eventId="nosuchevent1", destination=team)
    )
    assert missing.resp.status == 404
    nowhere = await fails(
        service.events().move(
            calendarId="primary", eventId=created["id"], destination="x@group.calendar.google.com"
        )
    )
    assert nowhere.resp.status == 404
    same = await call(
        service.events().move(calendarId="primary", eventId=created["id"], destination="primary")
    )
    assert same["etag"] == created["etag"]

    await call(service.events().move(calendarId="primary", eventId=created["id"], destination=team))
    gone = await fails(service.events().move(calendarId="primary", eventId=created["id"], destination=team))
    assert gone.resp.status == 404  # only a cancelled entry is left in the source
    # Back again: the source's cancelled leftover is replaced by the live event.
    back = await call(service.events().move(calendarId=team, eventId=created["id"], destination="primary"))
    assert back["status"] == "confirmed" and back["organizer"] == {"email": USER, "self": True}
    assert [e["id"] for e in (await call(service.events().list(calendarId="primary")))["items"]] == [
        created["id"]
    ]
    # A live event with that id in the destination: 409 duplicate.
    twin = await _insert(service, id="abcdefabcdef1")
    await _insert(service, team, id=twin["id"])
    taken = await fails(service.events().move(calendarId="primary", eventId=twin["id"], destination=team))
    assert (taken.resp.status, reason(taken)) == (409, "duplicate")


async def test_held_push_is_sent_once_on_release(
    service: Any, receiver: Receiver, emulator: GoogleEmulator
) -> None:
    body = {"id": "chan-a", "type": "web_hook", "address": receiver.url}
    await call(service.events().watch(calendarId="primary", body=body))
    await emulator.wait_idle()
    emulator.hold_push(USER)
    await _insert(service)
    await _insert(service)
    await emulator.wait_idle()
    assert [h.headers["X-Goog-Resource-State"] for h in receiver.hits] == ["sync"]
    emulator.release_push(USER)
    await emulator.wait_idle()
    assert [h.headers["X-Goog-Resource-State"] for h in receiver.hits] == ["sync", "exists"]
    emulator.release_push(USER)  # nothing held: nothing sent
    await emulator.wait_idle()
    assert len(receiver.hits) == 2
