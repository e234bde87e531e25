"""GET /v1/appointments: window overlap, recurring series, pagination and window limits."""

from __future__ import annotations

from tests.api.conftest import Api, appointment_body

WEEK = "start=2026-01-12T00:00:00Z&end=2026-01-19T00:00:00Z"


async def ids(api: Api, headers: dict[str, str], query: str) -> list[str]:
    response = await api.client.get(f"/v1/appointments?{query}", headers=headers)
    assert response.status == 200, await response.text()
    return [a["id"] for a in (await response.json())["items"]]


async def put(api: Api, headers: dict[str, str], appointment_id: str, **body: object) -> None:
    response = await api.client.put(
        # Listing is under test, not conflicts: these windows overlap on purpose.
        f"/v1/appointments/{appointment_id}?allow_conflict=true",
        json=appointment_body(**body),
        headers=headers,
    )
    assert response.status == 201, await response.text()


async def test_window_overlap(api: Api, operator: dict[str, str]) -> None:
    await put(api, operator, "inside", start="2026-01-13T10:00:00Z", end="2026-01-13T11:00:00Z")
    await put(api, operator, "straddles-start", start="2026-01-11T23:00:00Z", end="2026-01-12T01:00:00Z")
    await put(api, operator, "ends-at-start", start="2026-01-11T23:00:00Z", end="2026-01-12T00:00:00Z")
    await put(api, operator, "starts-at-end", start="2026-01-19T00:00:00Z", end="2026-01-19T01:00:00Z")
    await put(api, operator, "all-day", start="2026-01-18", end="2026-01-19", time_zone="UTC")
    await put(api, operator, "cancelled", start="2026-01-14T10:00:00Z", end="2026-01-14T11:00:00Z")
    await api.client.delete("/v1/appointments/cancelled", headers=operator)
    assert await ids(api, operator, f"profile=p1&{WEEK}") == [
        "straddles-start",
        "inside",
        "cancelled",
        "all-day",
    ]


async def test_recurring_series_rule(api: Api, operator: dict[str, str]) -> None:
    early = {"start": "2025-12-01T10:00:00Z", "end": "2025-12-01T11:00:00Z"}
    await put(api, operator, "weekly-open", **early, recurrence={"rrule": "FREQ=WEEKLY"})
    await put(api, operator, "ended", **early, recurrence={"rrule": "FREQ=WEEKLY;COUNT=3"})
    # Mondays only; the one Monday in the window is excluded.
    await put(
        api,
        operator,
        "excluded",
        **early,
        recurrence={"rrule": "FREQ=WEEKLY", "exdates": ["2026-01-12T10:00:00Z"]},
    )
    await put(
        api,
        operator,
        "future",
        start="2026-02-01T10:00:00Z",
        end="2026-02-01T11:00:00Z",
        recurrence={"rrule": "FREQ=DAILY"},
    )
    assert await ids(api, operator, f"profile=p1&{WEEK}") == ["weekly-open"]


async def test_pagination_covers_everything_once(api: Api, operator: dict[str, str]) -> None:
    expected = []
    for day in range(12, 19):
        for hour in (9, 14):
            await put(
                api,
                operator,
                f"d{day}h{hour}",
                start=f"2026-01-{day}T{hour:02}:00:00Z",
                end=f"2026-01-{day}T{hour + 1:02}:00:00Z",
            )
            expected.append(f"d{day}h{hour}")
    await put(
        api,
        operator,
        "series",
        start="2026-01-01T08:00:00Z",
        end="2026-01-01T08:30:00Z",
        recurrence={"rrule": "FREQ=DAILY"},
    )
    seen: list[str] = []
    query = f"profile=p1&{WEEK}&limit=3"
    cursor = None
    while True:
        url = f"/v1/appointments?{query}" + (f"&cursor={cursor}" if cursor else "")
        page = await (await api.client.get(url, headers=operator)).json()
        assert len(page["items"]) <= 3
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["series", *expected]


async def test_query_validation(api: Api, operator: dict[str, str]) -> None:
    cases = [
        (WEEK, "profile"),
        ("profile=p1&end=2026-01-19T00:00:00Z", "start"),
        ("profile=p1&start=2026-01-12T00:00:00Z", "end"),
        ("profile=p1&start=2026-01-12T00:00:00&end=2026-01-19T00:00:00Z", "start"),
        ("profile=p1&start=2026-01-19T00:00:00Z&end=2026-01-12T00:00:00Z", "end"),
        ("profile=p1&start=2026-01-01T00:00:00Z&end=2027-01-03T00:00:00Z", "end"),
        (f"profile=ghost&{WEEK}", "profile"),
        (f"profile=p1&{WEEK}&limit=0", "limit"),
        (f"profile=p1&{WEEK}&cursor=e30", "cursor"),
    ]
    for query, field in cases:
        response = await api.client.get(f"/v1/appointments?{query}", headers=operator)
        assert response.status == 422, query
        assert [e["field"] for e in (await response.json())["errors"]] == [field], query
    year = "profile=p1&start=2026-01-01T00:00:00Z&end=2027-01-01T00:00:00Z"
    assert (await api.client.get(f"/v1/appointments?{year}", headers=operator)).status == 200
