"""Calendars and events through the real msgraph-sdk (providers.md §4 event facts)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient
from msgraph.generated.models.attendee import Attendee
from msgraph.generated.models.calendar import Calendar
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.event import Event
from msgraph.generated.models.event_type import EventType
from msgraph.generated.models.free_busy_status import FreeBusyStatus
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.single_value_legacy_extended_property import SingleValueLegacyExtendedProperty
from msgraph.generated.users.item.events.item.event_item_request_builder import EventItemRequestBuilder

from calsync.clock import FakeClock
from channels.emulators.graph import GraphEmulator, SeededUser

XP_ID = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name calsyncId"


def new_event(subject: str, start: str, end: str, **extra: Any) -> Event:
    return Event(
        subject=subject,
        start=DateTimeTimeZone(date_time=start, time_zone="UTC"),
        end=DateTimeTimeZone(date_time=end, time_zone="UTC"),
        **extra,
    )


async def test_calendars_list_create_get(graph: GraphServiceClient) -> None:
    listed = await graph.me.calendars.get()
    assert [c.name for c in listed.value] == ["Calendar"]
    assert listed.value[0].is_default_calendar is True
    made = await graph.me.calendars.post(Calendar(name="Work"))
    assert made.name == "Work" and made.is_default_calendar is False and made.change_key
    got = await graph.me.calendars.by_calendar_id(made.id).get()
    assert got.id == made.id
    with pytest.raises(ODataError) as err:
        await graph.me.calendars.post(Calendar(name="work"))
    assert err.value.response_status_code == 409


async def test_event_crud_change_key_and_etag(graph: GraphServiceClient) -> None:
    cal = await graph.me.calendars.post(Calendar(name="Work"))
    created = await graph.me.calendars.by_calendar_id(cal.id).events.post(
        new_event(
            "Standup",
            "2026-01-06T09:00:00",
            "2026-01-06T09:15:00",
            show_as=FreeBusyStatus.Tentative,
            attendees=[Attendee(email_address=EmailAddress(address="bob@contoso.com", name="Bob"))],
        )
    )
    assert created.type == EventType.SingleInstance and created.show_as == FreeBusyStatus.Tentative
    assert created.is_cancelled is False and created.i_cal_u_id and created.change_key
    assert created.additional_data["@odata.etag"] == f'W/"{created.change_key}"'
    assert created.response_status.response.value == "organizer"
    assert created.attendees[0].status.response.value == "none"
    assert created.start.date_time.startswith("2026-01-06T09:00:00") and created.start.time_zone == "UTC"

    patched = await graph.me.events.by_event_id(created.id).patch(Event(subject="Daily standup"))
    assert patched.subject == "Daily standup" and patched.change_key != created.change_key
    via_cal = await graph.me.calendars.by_calendar_id(cal.id).events.by_event_id(created.id).get()
    assert via_cal.change_key == patched.change_key
    listed = await graph.me.calendars.by_calendar_id(cal.id).events.get()
    assert [e.id for e in listed.value] == [created.id]

    await graph.me.events.by_event_id(created.id).delete()
    with pytest.raises(ODataError) as err:
        await graph.me.events.by_event_id(created.id).get()
    assert err.value.response_status_code == 404
    assert err.value.error.code == "ErrorItemNotFound"


async def test_default_calendar_events_and_all_day(graph: GraphServiceClient) -> None:
    made = await graph.me.events.post(
        new_event(
            "Holiday",
            "2026-01-07T00:00:00",
            "2026-01-08T00:00:00",
            is_all_day=True,
            show_as=FreeBusyStatus.Oof,
        )
    )
    assert made.is_all_day and made.show_as == FreeBusyStatus.Oof
    with pytest.raises(ODataError) as err:
        await graph.me.events.post(
            new_event("Bad", "2026-01-07T10:00:00", "2026-01-08T00:00:00", is_all_day=True)
        )
    assert err.value.response_status_code == 400
    listed = await graph.me.events.get()
    assert [e.subject for e in listed.value] == ["Holiday"]


async def test_transaction_id_dedupes_retried_create(graph: GraphServiceClient) -> None:
    first = await graph.me.events.post(
        new_event("Once", "2026-01-06T10:00:00", "2026-01-06T11:00:00", transaction_id="txn-1")
    )
    again = await graph.me.events.post(
        new_event("Once", "2026-01-06T10:00:00", "2026-01-06T11:00:00", transaction_id="txn-1")
    )
    assert again.id == first.id and again.transaction_id == "txn-1"
    assert len((await graph.me.events.get()).value) == 1


async def test_extended_property_only_with_expand(graph: GraphServiceClient) -> None:
    made = await graph.me.events.post(
        new_event(
            "Tagged",
            "2026-01-06T10:00:00",
            "2026-01-06T11:00:00",
            single_value_extended_properties=[SingleValueLegacyExtendedProperty(id=XP_ID, value="appt-42")],
        )
    )
    assert made.single_value_extended_properties is None
    plain = await graph.me.events.by_event_id(made.id).get()
    assert plain.single_value_extended_properties is None
    config = RequestConfiguration(
        query_parameters=EventItemRequestBuilder.EventItemRequestBuilderGetQueryParameters(
            expand=[f"singleValueExtendedProperties($filter=id eq '{XP_ID}')"]
        )
    )
    expanded = await graph.me.events.by_event_id(made.id).get(request_configuration=config)
    assert [(p.id, p.value) for p in expanded.single_value_extended_properties] == [(XP_ID, "appt-42")]


async def test_recurring_series_instances_exception_and_cancel(
    graph: GraphServiceClient, http: aiohttp.ClientSession
) -> None:
    body = {
        "subject": "Weekly 1:1",
        "start": {"dateTime": "2026-01-05T10:00:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-01-05T10:30:00", "timeZone": "Europe/Berlin"},
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
            "range": {"type": "numbered", "startDate": "2026-01-05", "numberOfOccurrences": 4},
        },
    }
    async with http.post("v1.0/me/events", json=body) as resp:
        master = await resp.json()
    assert resp.status == 201 and master["type"] == "seriesMaster"
    window = "startDateTime=2026-01-01T00:00:00Z&endDateTime=2026-02-28T00:00:00Z"
    async with http.get(f"v1.0/me/events/{master['id']}/instances?{window}") as resp:
        occ = (await resp.json())["value"]
    assert [o["type"] for o in occ] == ["occurrence"] * 4
    assert occ[0]["start"]["dateTime"] == "2026-01-05T09:00:00.0000000"  # 10:00 Berlin = 09:00 UTC
    assert occ[1]["originalStart"] == "2026-01-12T09:00:00Z" and occ[1]["seriesMasterId"] == master["id"]
    assert len({o["iCalUId"] for o in occ}) == 4

    exception = await graph.me.events.by_event_id(occ[1]["id"]).patch(Event(subject="Moved 1:1"))
    assert exception.type == EventType.Exception and exception.subject == "Moved 1:1"
    await graph.me.events.by_event_id(occ[2]["id"]).delete()
    async with http.get(f"v1.0/me/events/{master['id']}/instances?{window}") as resp:
        after = (await resp.json())["value"]
    assert [(o["type"], o["subject"]) for o in after] == [
        ("occurrence", "Weekly 1:1"),
        ("exception", "Moved 1:1"),
        ("occurrence", "Weekly 1:1"),
    ]


async def test_seeded_attendee_copy_and_cancellation(
    graph: GraphServiceClient, emulator: GraphEmulator, user: SeededUser
) -> None:
    eid = emulator.seed_event(
        user.id,
        {
            "subject": "Vendor call",
            "isOrganizer": False,
            "isCancelled": True,
            "showAs": "free",
            "organizer": {"emailAddress": {"address": "vendor@example.com", "name": "Vendor"}},
            "responseStatus": {"response": "tentativelyAccepted", "time": "2026-01-02T10:00:00Z"},
            "start": {"dateTime": "2026-01-06T15:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-01-06T16:00:00", "timeZone": "UTC"},
        },
    )
    got = await graph.me.events.by_event_id(eid).get()
    assert got.is_cancelled is True and got.is_organizer is False
    assert got.response_status.response.value == "tentativelyAccepted"


async def test_users_path_and_me_placeholder(
    http: aiohttp.ClientSession, user: SeededUser, emulator: GraphEmulator
) -> None:
    async with http.get(f"v1.0/users/{user.email}/calendars") as resp:
        assert resp.status == 200
    async with http.get("v1.0/users/me-token-to-replace/calendars") as resp:
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "ErrorInvalidUser"
    other = emulator.add_user("bob@contoso.com")
    async with http.get(f"v1.0/users/{other.id}/events") as resp:
        assert resp.status == 403


async def test_auth_errors_and_token_expiry(
    base: str,
    graph: GraphServiceClient,
    clock: FakeClock,
    emulator: GraphEmulator,
    user: SeededUser,
    credential: Any,
) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/v1.0/me/events") as resp:
        body = await resp.json()
    assert resp.status == 401 and body["error"]["code"] == "InvalidAuthenticationToken"
    assert set(body["error"]["innerError"]) == {"date", "request-id", "client-request-id"}
    stale = emulator.issue_access_token(user.id)
    emulator.advance(3601)
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/v1.0/me/events", headers={"Authorization": f"Bearer {stale}"}) as resp,
    ):
        assert resp.status == 401
    emulator.revoke(user.id)
    form = {
        "grant_type": "refresh_token",
        "refresh_token": credential.refresh_token,
        "client_id": user.client_id,
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/{user.tenant_id}/oauth2/v2.0/token", data=form) as resp,
    ):
        err = await resp.json()
    assert resp.status == 400 and err["error"] == "invalid_grant" and err["error_codes"] == [50173]
    assert err["error_description"].startswith("AADSTS50173")


async def test_token_endpoint_shape(base: str, user: SeededUser) -> None:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": user.refresh_token,
        "client_id": user.client_id,
        "scope": "https://graph.microsoft.com/.default offline_access",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/common/oauth2/v2.0/token", data=form) as resp,
    ):
        body = await resp.json()
    assert resp.status == 200
    assert set(body) == {
        "token_type",
        "scope",
        "expires_in",
        "ext_expires_in",
        "access_token",
        "refresh_token",
    }
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    form["refresh_token"] = "nope"
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/common/oauth2/v2.0/token", data=form) as resp,
    ):
        assert resp.status == 400 and (await resp.json())["error"] == "invalid_grant"
