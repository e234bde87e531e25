"""Incremental sync: paging, nextSyncToken on the last page only, syncToken rules, 410 (§2)."""

from __future__ import annotations

from typing import Any

import pytest

from channels.emulators.google import GoogleEmulator
from tests.emulators.google.conftest import USER, call, error_body, fails, reason, timed


async def _seed(service: Any, count: int) -> list[str]:
    ids = []
    for n in range(count):
        body = timed(f"2026-01-{6 + n % 20:02d}T10:00", f"2026-01-{6 + n % 20:02d}T11:00", summary=f"e{n}")
        ids.append((await call(service.events().insert(calendarId="primary", body=body)))["id"])
    return ids


async def _all_pages(service: Any, **params: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    pages = []
    token = None
    while True:
        page = await call(service.events().list(calendarId="primary", pageToken=token, **params))
        pages.append(page)
        token = page.get("nextPageToken")
        if token is None:
            return [item for p in pages for item in p["items"]], pages


async def test_paging_and_next_sync_token_only_on_the_last_page(service: Any) -> None:
    ids = await _seed(service, 7)
    items, pages = await _all_pages(service, maxResults=3)
    assert [e["id"] for e in items] == ids
    assert [len(p["items"]) for p in pages] == [3, 3, 1]
    for page in pages[:-1]:
        assert "nextPageToken" in page and "nextSyncToken" not in page
    assert "nextSyncToken" in pages[-1] and "nextPageToken" not in pages[-1]
    assert pages[0]["kind"] == "calendar#events" and pages[0]["timeZone"] == "Europe/Berlin"


async def test_incremental_sync_returns_changes_including_cancelled(
    service: Any, emulator: GoogleEmulator
) -> None:
    keep, change, drop = await _seed(service, 3)
    first = await call(service.events().list(calendarId="primary"))
    token = first["nextSyncToken"]
    empty = await call(service.events().list(calendarId="primary", syncToken=token))
    assert empty["items"] == [] and empty["nextSyncToken"]

    await call(service.events().patch(calendarId="primary", eventId=change, body={"summary": "changed"}))
    await call(service.events().delete(calendarId="primary", eventId=drop))
    seeded = emulator.seed_event("primary", timed("2026-01-09T10:00", "2026-01-09T11:00"), user=USER)
    delta = await call(service.events().list(calendarId="primary", syncToken=token))
    by_id = {e["id"]: e for e in delta["items"]}
    assert set(by_id) == {change, drop, seeded["id"]}
    assert by_id[change]["summary"] == "changed"
    assert by_id[drop] == {
        "kind": "calendar#event",
        "etag": by_id[drop]["etag"],
        "id": drop,
        "status": "cancelled",
    }
    assert keep not in by_id
    again = await call(service.events().list(calendarId="primary", syncToken=delta["nextSyncToken"]))
    assert again["items"] == []


async def test_paged_incremental_sync(service: Any) -> None:
    await _seed(service, 2)
    token = (await call(service.events().list(calendarId="primary")))["nextSyncToken"]
    changed = await _seed(service, 5)
    items, pages = await _all_pages(service, syncToken=token, maxResults=2)
    assert [e["id"] for e in items] == changed
    assert all("nextSyncToken" not in p for p in pages[:-1]) and "nextSyncToken" in pages[-1]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("iCalUID", "x@google.com"),
        ("orderBy", "updated"),
        ("privateExtendedProperty", "a=b"),
        ("q", "text"),
        ("sharedExtendedProperty", "a=b"),
        ("timeMin", "2026-01-01T00:00:00Z"),
        ("timeMax", "2026-02-01T00:00:00Z"),
        ("updatedMin", "2026-01-01T00:00:00Z"),
        ("showDeleted", False),
    ],
)
async def test_parameters_forbidden_with_sync_token_are_400(service: Any, name: str, value: Any) -> None:
    token = (await call(service.events().list(calendarId="primary")))["nextSyncToken"]
    err = await fails(service.events().list(calendarId="primary", syncToken=token, **{name: value}))
    assert err.resp.status == 400


async def test_invalidated_sync_token_is_410_full_sync_required(
    service: Any, emulator: GoogleEmulator
) -> None:
    token = (await call(service.events().list(calendarId="primary")))["nextSyncToken"]
    emulator.invalidate_sync_tokens(USER)
    err = await fails(service.events().list(calendarId="primary", syncToken=token))
    assert err.resp.status == 410
    assert error_body(err)["error"]["errors"][0] == {
        "domain": "calendar",
        "reason": "fullSyncRequired",
        "message": "Sync token is no longer valid, a full sync is required.",
        "locationType": "parameter",
        "location": "syncToken",
    }
    fresh = (await call(service.events().list(calendarId="primary")))["nextSyncToken"]
    assert (await call(service.events().list(calendarId="primary", syncToken=fresh)))["items"] == []


async def test_list_parameters(service: Any, clock: Any) -> None:
    early, mid, late = await _seed(service, 3)  # Jan 6, 7, 8 at 10:00 Berlin
    window = await call(
        service.events().list(
            calendarId="primary", timeMin="2026-01-07T00:00:00+01:00", timeMax="2026-01-08T00:00:00+01:00"
        )
    )
    assert [e["id"] for e in window["items"]] == [mid]
    clock.advance(3600)
    await call(service.events().patch(calendarId="primary", eventId=early, body={"summary": "later"}))
    recent = await call(service.events().list(calendarId="primary", updatedMin="2026-01-05T09:30:00Z"))
    assert [e["id"] for e in recent["items"]] == [early]
    by_update = await call(service.events().list(calendarId="primary", orderBy="updated"))
    assert [e["id"] for e in by_update["items"]] == [mid, late, early]
    text = await call(service.events().list(calendarId="primary", q="later"))
    assert [e["id"] for e in text["items"]] == [early]
    err = await fails(service.events().list(calendarId="primary", orderBy="startTime"))
    assert err.resp.status == 400
    assert (
        error_body(err)["error"]["message"]
        == "The requested ordering is not available for the particular query."
    )
    big = await call(service.events().list(calendarId="primary", maxResults=100000))
    assert len(big["items"]) == 3  # clamped to 2500, not refused
    assert (await fails(service.events().list(calendarId="primary", maxResults=0))).resp.status == 400
    inverted = await fails(
        service.events().list(
            calendarId="primary", timeMin="2026-01-08T00:00:00Z", timeMax="2026-01-07T00:00:00Z"
        )
    )
    assert reason(inverted) == "timeRangeEmpty"


async def test_incremental_sync_with_single_events_expands_changed_series(service: Any) -> None:
    first = await call(service.events().list(calendarId="primary", singleEvents=True))
    body = timed("2026-01-06T10:00", "2026-01-06T11:00", recurrence=["RRULE:FREQ=DAILY;COUNT=3"])
    series = await call(service.events().insert(calendarId="primary", body=body))
    delta = await call(
        service.events().list(calendarId="primary", singleEvents=True, syncToken=first["nextSyncToken"])
    )
    assert [e["recurringEventId"] for e in delta["items"]] == [series["id"]] * 3
    assert all(e["id"].startswith(series["id"] + "_") for e in delta["items"])


async def test_unknown_tokens_are_400(service: Any) -> None:
    bad_sync = await fails(service.events().list(calendarId="primary", syncToken="garbage"))
    assert bad_sync.resp.status == 400
    bad_page = await fails(service.events().list(calendarId="primary", pageToken="garbage"))
    assert bad_page.resp.status == 400
