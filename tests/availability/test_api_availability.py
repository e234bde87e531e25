"""GET availability and POST conflicts: merged busy time of pull calendars and appointments, always fresh."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import appointment_body
from tests.availability.conftest import Api, add_block, add_calendar

URL = "/v1/profiles/p1/availability"
WINDOW = {"start": "2026-01-12T00:00:00Z", "end": "2026-01-13T00:00:00Z"}


async def busy(api: Api, headers: dict[str, str], **window: str) -> dict[str, Any]:
    response = await api.client.get(URL, params=window or WINDOW, headers=headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_merges_calendars_and_appointments_without_details(api: Api, operator: dict[str, str]) -> None:
    a, b = await add_calendar(api), await add_calendar(api)
    await add_block(api, a, "2026-01-12T08:00:00+00:00", "2026-01-12T09:00:00+00:00")
    await add_block(api, b, "2026-01-12T08:30:00+00:00", "2026-01-12T09:30:00+00:00")
    await add_block(api, b, "2026-01-11T23:00:00+00:00", "2026-01-12T00:30:00+00:00")  # clipped
    await add_calendar(api, role="push")  # push-only calendars never block
    put = await api.client.put(
        "/v1/appointments/x1", params={"allow_conflict": "true"}, json=appointment_body(), headers=operator
    )
    assert put.status == 201, await put.text()
    body = await busy(api, operator)
    assert body["time_zone"] == "Europe/Berlin"
    assert body["busy"] == [
        {"start": "2026-01-12T00:00:00Z", "end": "2026-01-12T00:30:00Z"},
        {"start": "2026-01-12T08:00:00Z", "end": "2026-01-12T10:00:00Z"},  # 10:00-11:00 Berlin = 09-10 Z
    ]
    assert sorted(c["id"] for c in body["calendars"]) == sorted([a, b])
    assert all(c["healthy"] and c["fresh_as_of"] for c in body["calendars"])
    assert "title" not in str(body) and "Check-up" not in str(body)


async def test_changes_show_at_once_and_cancelled_never_block(api: Api, operator: dict[str, str]) -> None:
    assert (await busy(api, operator))["busy"] == []
    await api.client.put("/v1/appointments/x1", json=appointment_body(), headers=operator)
    assert len((await busy(api, operator))["busy"]) == 1
    await api.client.delete("/v1/appointments/x1", headers=operator)
    assert (await busy(api, operator))["busy"] == []


async def test_recurring_appointment_with_exdate_and_overrides(api: Api, operator: dict[str, str]) -> None:
    body = appointment_body(
        start="2026-01-12T10:00:00+01:00", end="2026-01-12T11:00:00+01:00",
        recurrence={"rrule": "FREQ=DAILY;COUNT=5", "exdates": ["2026-01-13T10:00:00+01:00"]},
    )  # fmt: skip
    assert (await api.client.put("/v1/appointments/s1", json=body, headers=operator)).status == 201
    moved = await api.client.put(
        "/v1/appointments/s1/occurrences/20260114T090000Z",
        json={"start": "2026-01-14T15:00:00Z", "end": "2026-01-14T16:00:00Z"}, headers=operator,
    )  # fmt: skip
    assert moved.status == 200, await moved.text()
    cancelled = await api.client.delete("/v1/appointments/s1/occurrences/20260115T090000Z", headers=operator)
    assert cancelled.status == 200
    got = await busy(api, operator, start="2026-01-12T00:00:00Z", end="2026-01-20T00:00:00Z")
    assert [(i["start"][:13], i["end"][:13]) for i in got["busy"]] == [
        ("2026-01-12T09", "2026-01-12T10"),
        ("2026-01-14T15", "2026-01-14T16"),
        ("2026-01-16T09", "2026-01-16T10"),
    ]


async def test_recurring_block_all_day_and_settings(api: Api, operator: dict[str, str]) -> None:
    cal = await add_calendar(api)
    await add_block(
        api, cal, "2026-01-05T09:00:00+00:00", "2026-01-05T09:30:00+00:00",
        rrule="RRULE:FREQ=WEEKLY;BYDAY=MO", exdates=["2026-01-19T09:00:00+00:00"], time_zone="Europe/London",
    )  # fmt: skip
    # All-day event on 2026-01-14 (stored as UTC midnights): blocks the Berlin day 23:00Z-23:00Z.
    await add_block(api, cal, "2026-01-14T00:00:00+00:00", "2026-01-15T00:00:00+00:00", all_day=True)
    await add_block(api, cal, "2026-01-16T12:00:00+00:00", "2026-01-16T13:00:00+00:00", tentative=True)
    window = {"start": "2026-01-12T00:00:00Z", "end": "2026-01-27T00:00:00Z"}
    got = [(i["start"], i["end"]) for i in (await busy(api, operator, **window))["busy"]]
    assert got == [
        ("2026-01-12T09:00:00Z", "2026-01-12T09:30:00Z"),
        ("2026-01-13T23:00:00Z", "2026-01-14T23:00:00Z"),
        ("2026-01-16T12:00:00Z", "2026-01-16T13:00:00Z"),
        ("2026-01-26T09:00:00Z", "2026-01-26T09:30:00Z"),
    ]
    settings = await api.client.patch(
        "/v1/profiles/p1/settings",
        json={"all_day_blocks": False, "tentative_blocks": False},
        headers=operator,
    )
    if settings.status == 404:
        pytest.skip("profile settings API not mounted")
    assert settings.status == 200, await settings.text()
    got = [(i["start"], i["end"]) for i in (await busy(api, operator, **window))["busy"]]
    assert got == [
        ("2026-01-12T09:00:00Z", "2026-01-12T09:30:00Z"),
        ("2026-01-26T09:00:00Z", "2026-01-26T09:30:00Z"),
    ]


async def test_health_reports_dead_channels(api: Api, operator: dict[str, str]) -> None:
    await add_calendar(api, channel=False)
    [cal] = (await busy(api, operator))["calendars"]
    assert cal["healthy"] is False and cal["fresh_as_of"] is not None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-01-12T00:00:00Z", "end": "2026-01-11T00:00:00Z"}, "end"),
        ({"start": "2026-01-12T00:00:00Z", "end": "2027-03-01T00:00:00Z"}, "end"),
        ({"start": "2026-01-12", "end": "2026-01-13T00:00:00Z"}, "start"),
        ({"end": "2026-01-13T00:00:00Z"}, "start"),
    ],
)
async def test_bad_windows_name_the_field(
    api: Api, operator: dict[str, str], params: dict[str, str], field: str
) -> None:
    response = await api.client.get(URL, params=params, headers=operator)
    assert response.status == 422
    assert (await response.json())["errors"][0]["field"] == field


async def test_unknown_and_foreign_profiles_are_404(api: Api, operator: dict[str, str]) -> None:
    assert (
        await api.client.get("/v1/profiles/nope/availability", params=WINDOW, headers=operator)
    ).status == 404
    await api.seed(org="org2", profile="p2")
    other = await api.key("org2")
    assert (await api.client.get(URL, params=WINDOW, headers=other)).status == 404


async def test_conflicts_single_and_many(api: Api, operator: dict[str, str]) -> None:
    cal = await add_calendar(api)
    await add_block(api, cal, "2026-01-12T08:00:00+00:00", "2026-01-12T09:00:00+00:00")
    url = "/v1/profiles/p1/conflicts"
    one = await api.client.post(
        url, json={"start": "2026-01-12T08:30:00Z", "end": "2026-01-12T08:45:00Z"}, headers=operator
    )
    assert (await one.json())["results"] == [
        {"start": "2026-01-12T08:30:00Z", "end": "2026-01-12T08:45:00Z", "free": False,
         "conflicts": [{"start": "2026-01-12T08:00:00Z", "end": "2026-01-12T09:00:00Z"}]},
    ]  # fmt: skip
    slots = [
        {"start": "2026-01-12T07:00:00Z", "end": "2026-01-12T08:00:00Z"},  # touching is free: [start, end)
        {"start": "2026-01-12T08:59:00Z", "end": "2026-01-12T09:30:00Z"},
    ]
    many = await (await api.client.post(url, json={"slots": slots}, headers=operator)).json()
    assert [r["free"] for r in many["results"]] == [True, False]
    bad = await api.client.post(
        url,
        json={"slots": [slots[0], {"start": slots[0]["end"], "end": slots[0]["start"]}]},
        headers=operator,
    )
    assert bad.status == 422 and (await bad.json())["errors"][0]["field"] == "slots.1.end"
    both = await api.client.post(url, json={"slots": slots, **slots[0]}, headers=operator)
    assert both.status == 422
    neither = await api.client.post(url, json={}, headers=operator)
    assert neither.status == 422 and (await neither.json())["errors"][0]["field"] == "start"
