"""calendarView delta through the real SDK: paging, incremental rounds, @removed, resets (§4)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient
from msgraph.generated.models.event import Event
from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import DeltaRequestBuilder

from channels.emulators.graph import GraphEmulator, SeededUser

WINDOW = {"start_date_time": "2026-01-01T00:00:00Z", "end_date_time": "2026-02-01T00:00:00Z"}


def when(day: int, hour: int, month: int = 1) -> dict[str, str]:
    return {"dateTime": f"2026-{month:02d}-{day:02d}T{hour:02d}:00:00", "timeZone": "UTC"}


def seed(
    emulator: GraphEmulator, user: SeededUser, subject: str, day: int, month: int = 1, **extra: Any
) -> str:
    return emulator.seed_event(
        user.id, {"subject": subject, "start": when(day, 9, month), "end": when(day, 10, month), **extra}
    )


def config(page_size: int | None = None, window: bool = True) -> RequestConfiguration[Any]:
    params = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(**WINDOW) if window else None
    cfg: RequestConfiguration[Any] = RequestConfiguration(query_parameters=params)
    if page_size:
        cfg.headers.add("Prefer", f"odata.maxpagesize={page_size}")
    return cfg


async def run_round(
    graph: GraphServiceClient, link: str | None, page_size: int = 2
) -> tuple[list[Event], str, int]:
    """Follow nextLinks to the deltaLink; returns (items, deltaLink, pages)."""
    builder = graph.me.calendar_view.delta
    page = await (
        builder.with_url(link).get(config(page_size, False)) if link else builder.get(config(page_size))
    )
    items, pages = list(page.value), 1
    while page.odata_next_link:
        assert "$skiptoken=" in page.odata_next_link and page.odata_delta_link is None
        page = await builder.with_url(page.odata_next_link).get(config(page_size, False))
        items += page.value
        pages += 1
    assert page.odata_delta_link and "$deltatoken=" in page.odata_delta_link
    return items, page.odata_delta_link, pages


def removed_ids(items: list[Event]) -> set[str]:
    return {e.id for e in items if "@removed" in (e.additional_data or {})}


def live(items: list[Event]) -> dict[str, Event]:
    return {e.id: e for e in items if "@removed" not in (e.additional_data or {})}


async def test_paging_incremental_and_removed(
    graph: GraphServiceClient, emulator: GraphEmulator, user: SeededUser
) -> None:
    ids = [seed(emulator, user, f"E{i}", 5 + i) for i in range(5)]
    outside = seed(emulator, user, "March", 3, month=3)
    master = emulator.seed_event(
        user.id,
        {
            "subject": "Series",
            "start": when(12, 14),
            "end": when(12, 15),
            "recurrence": {
                "pattern": {"type": "daily", "interval": 1},
                "range": {"type": "numbered", "startDate": "2026-01-12", "numberOfOccurrences": 3},
            },
        },
    )
    items, delta_link, pages = await run_round(graph, None, page_size=2)
    got = live(items)
    assert pages == 4 and len(items) == 8
    assert set(ids) <= set(got) and outside not in got and master not in got
    occurrences = [e for e in got.values() if e.series_master_id == master]
    assert len(occurrences) == 3 and {e.type.value for e in occurrences} == {"occurrence"}

    # Changes: update, delete, delete one occurrence, add out of window, move one out of window.
    await graph.me.events.by_event_id(ids[0]).patch(Event(subject="E0 renamed"))
    await graph.me.events.by_event_id(ids[1]).delete()
    await graph.me.events.by_event_id(occurrences[1].id).delete()
    far = seed(emulator, user, "April", 2, month=4)
    emulator.patch_event(user.id, ids[2], {"start": when(1, 9, 5), "end": when(1, 10, 5)})
    items, delta_link, _ = await run_round(graph, delta_link, page_size=50)
    assert {e.id: e.subject for e in live(items).values()} == {ids[0]: "E0 renamed"}
    assert removed_ids(items) == {ids[1], occurrences[1].id, far, ids[2]}
    removed = next(e for e in items if e.id == ids[1])
    assert removed.additional_data["@removed"] == {"reason": "deleted"}
    assert removed.odata_type == "#microsoft.graph.event"

    items, _, pages = await run_round(graph, delta_link)
    assert items == [] and pages == 1


async def test_invalidated_token_gone_with_location(
    graph: GraphServiceClient, emulator: GraphEmulator, user: SeededUser, http: aiohttp.ClientSession
) -> None:
    seed(emulator, user, "A", 6)
    _, delta_link, _ = await run_round(graph, None)
    assert emulator.invalidate_delta_tokens(user.id) >= 1
    async with http.get(delta_link) as resp:
        body = await resp.json()
        location = resp.headers["Location"]
    assert resp.status == 410 and body["error"]["message"]
    query = parse_qs(urlsplit(location).query, keep_blank_values=True)
    assert query["$deltatoken"] == [""]
    async with http.get(location) as resp:  # following Location is a fresh full sync of the same window
        assert resp.status == 200 and [e["subject"] for e in (await resp.json())["value"]] == ["A"]

    _, delta_link, _ = await run_round(graph, None)
    emulator.invalidate_delta_tokens(mode="sync_state_not_found")
    async with http.get(delta_link) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "syncStateNotFound"


async def test_window_required_and_empty_pages_and_replay(
    graph: GraphServiceClient, emulator: GraphEmulator, user: SeededUser, http: aiohttp.ClientSession
) -> None:
    async with http.get("v1.0/me/calendarView/delta()") as resp:
        assert resp.status == 400
    first, second = seed(emulator, user, "A", 6), seed(emulator, user, "B", 7)
    emulator.serve_empty_delta_pages(1)
    async with http.get(
        "v1.0/me/calendarView/delta()?startDateTime=2026-01-01T00:00:00Z&endDateTime=2026-02-01T00:00:00Z",
        headers={"Prefer": "odata.maxpagesize=5"},
    ) as resp:
        page = await resp.json()
        assert resp.headers["Preference-Applied"] == "odata.maxpagesize=5"
    assert page["value"] == [] and "$skiptoken" in page["@odata.nextLink"]
    async with http.get(page["@odata.nextLink"]) as resp:
        page = await resp.json()
    assert [e["id"] for e in page["value"]] == [first, second]
    emulator.replay_delta_changes(1)
    async with http.get(page["@odata.deltaLink"]) as resp:
        replayed = await resp.json()
    # Nothing changed, yet the last change shows up again: clients must tolerate replays.
    assert [e["id"] for e in replayed["value"]] == [second]


async def test_calendar_scoped_delta(
    graph: GraphServiceClient, emulator: GraphEmulator, user: SeededUser
) -> None:
    cal = emulator.seed_calendar(user.id, "Work")
    inside = emulator.seed_event(
        user.id, {"subject": "W", "start": when(8, 9), "end": when(8, 10)}, calendar_id=cal
    )
    seed(emulator, user, "default calendar", 8)
    params = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(**WINDOW)
    from msgraph.generated.users.item.calendars.item.calendar_view.delta.delta_request_builder import (
        DeltaRequestBuilder as CalendarDelta,
    )

    cal_params = CalendarDelta.DeltaRequestBuilderGetQueryParameters(**WINDOW)
    page = await graph.me.calendars.by_calendar_id(cal).calendar_view.delta.get(
        RequestConfiguration(query_parameters=cal_params)
    )
    assert [e.id for e in page.value] == [inside] and page.odata_delta_link
    assert params.start_date_time == WINDOW["start_date_time"]
