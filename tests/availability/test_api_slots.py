"""Working hours, slots and team availability through the API (profile time zone, DST, buffers)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.availability.conftest import Api, add_block, add_calendar

WORKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
HOURS = {
    "weekly": {d: [["09:00", "17:00"]] for d in WORKDAYS},
    "overrides": {"2026-01-14": [], "2026-01-17": [["10:00", "12:00"]]},
}


async def slots(
    api: Api, headers: dict[str, str], profile: str = "p1", **params: Any
) -> list[tuple[str, str]]:
    response = await api.client.get(f"/v1/profiles/{profile}/slots", params=params, headers=headers)
    assert response.status == 200, await response.text()
    return [(s["start"], s["end"]) for s in (await response.json())["slots"]]


async def test_working_hours_round_trip(api: Api, operator: dict[str, str]) -> None:
    empty = await (await api.client.get("/v1/profiles/p1/working-hours", headers=operator)).json()
    assert empty["configured"] is False
    put = await api.client.put("/v1/profiles/p1/working-hours", json=HOURS, headers=operator)
    assert put.status == 200, await put.text()
    got = await (await api.client.get("/v1/profiles/p1/working-hours", headers=operator)).json()
    assert (
        got["configured"]
        and got["weekly"]["monday"] == [["09:00", "17:00"]]
        and got["weekly"]["sunday"] == []
    )
    assert got["overrides"] == {"2026-01-14": [], "2026-01-17": [["10:00", "12:00"]]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"weekly": {"funday": []}}, "weekly.funday"),
        ({"weekly": {"monday": [["17:00", "09:00"]]}}, "weekly.monday.0.1"),
        ({"weekly": {"monday": [["09:00", "12:00"], ["11:00", "13:00"]]}}, "weekly.monday.1"),
        ({"weekly": {"monday": [["9am", "12:00"]]}}, "weekly.monday.0.0"),
        ({"overrides": {"2026-02-30": []}}, "overrides.2026-02-30"),
        ({"hours": {}}, "hours"),
    ],
)
async def test_bad_working_hours_name_the_field(
    api: Api, operator: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await api.client.put("/v1/profiles/p1/working-hours", json=body, headers=operator)
    assert response.status == 422
    assert (await response.json())["errors"][0]["field"] == field


async def test_slots_inside_hours_minus_busy_and_buffers(api: Api, operator: dict[str, str]) -> None:
    await api.client.put("/v1/profiles/p1/working-hours", json=HOURS, headers=operator)
    cal = await add_calendar(api)
    await add_block(api, cal, "2026-01-12T10:00:00+00:00", "2026-01-12T11:00:00+00:00")  # 11-12 Berlin
    window = {"start": "2026-01-12T00:00:00Z", "end": "2026-01-13T00:00:00Z"}
    got = await slots(api, operator, **window, duration="60")
    assert got == [
        (f"2026-01-12T{h:02d}:00:00Z", f"2026-01-12T{h + 1:02d}:00:00Z") for h in (8, 9, 11, 12, 13, 14, 15)
    ]
    buffered = await slots(
        api, operator, **window, duration="60", step="30", buffer_before="15", buffer_after="15"
    )
    assert ("2026-01-12T09:00:00Z", "2026-01-12T10:00:00Z") not in buffered
    assert ("2026-01-12T11:30:00Z", "2026-01-12T12:30:00Z") in buffered
    assert ("2026-01-12T11:00:00Z", "2026-01-12T12:00:00Z") not in buffered
    # Override days: off on the 14th, 10-12 on Saturday the 17th.
    assert await slots(api, operator, start="2026-01-14T00:00:00Z", end="2026-01-15T00:00:00Z") == []
    sat = await slots(api, operator, start="2026-01-17T00:00:00Z", end="2026-01-18T00:00:00Z", duration="120")
    assert sat == [("2026-01-17T09:00:00Z", "2026-01-17T11:00:00Z")]


async def test_dst_day_keeps_eight_wall_clock_hours(api: Api, operator: dict[str, str]) -> None:
    await api.seed(profile="ny", tz="America/New_York")
    await api.client.put(
        "/v1/profiles/ny/working-hours", json={"weekly": {"sunday": [["09:00", "17:00"]]}}, headers=operator
    )
    # 2026-03-08 is the US spring-forward Sunday: 09:00 EDT = 13:00Z; the week before 09:00 EST = 14:00Z.
    got = await slots(
        api, operator, "ny", start="2026-03-08T00:00:00Z", end="2026-03-09T06:00:00Z", duration="480"
    )
    assert got == [("2026-03-08T13:00:00Z", "2026-03-08T21:00:00Z")]
    before = await slots(
        api, operator, "ny", start="2026-03-01T00:00:00Z", end="2026-03-02T06:00:00Z", duration="480"
    )
    assert before == [("2026-03-01T14:00:00Z", "2026-03-01T22:00:00Z")]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"duration": "0"}, "duration"), ({"step": "x"}, "step"), ({"duration": "2000"}, "duration"),
     ({"buffer_before": "-5"}, "buffer_before")],
)  # fmt: skip
async def test_bad_slot_parameters(
    api: Api, operator: dict[str, str], params: dict[str, str], field: str
) -> None:
    window = {"start": "2026-01-12T00:00:00Z", "end": "2026-01-13T00:00:00Z"}
    response = await api.client.get("/v1/profiles/p1/slots", params={**window, **params}, headers=operator)
    assert response.status == 422 and (await response.json())["errors"][0]["field"] == field


async def test_team_all_and_any(api: Api, operator: dict[str, str]) -> None:
    await api.seed(profile="p2")
    for p in ("p1", "p2"):
        await api.client.put(f"/v1/profiles/{p}/working-hours", json=HOURS, headers=operator)
    cal = await add_calendar(api, "p2")
    await add_block(api, cal, "2026-01-12T08:00:00+00:00", "2026-01-12T12:00:00+00:00", profile="p2")
    body = {
        "profiles": ["p1", "p2"],
        "start": "2026-01-12T08:00:00Z",
        "end": "2026-01-12T13:00:00Z",
        "duration": 60,
    }
    everyone = await (await api.client.post("/v1/availability", json=body, headers=operator)).json()
    assert [(s["start"][11:16], s["profiles"]) for s in everyone["slots"]] == [("12:00", ["p1", "p2"])]
    anyone = await (
        await api.client.post("/v1/availability", json={**body, "mode": "any"}, headers=operator)
    ).json()
    assert [(s["start"][11:16], s["profiles"]) for s in anyone["slots"]] == [
        ("08:00", ["p1"]), ("09:00", ["p1"]), ("10:00", ["p1"]), ("11:00", ["p1"]), ("12:00", ["p1", "p2"]),
    ]  # fmt: skip
    unknown = await api.client.post(
        "/v1/availability", json={**body, "profiles": ["p1", "zz"]}, headers=operator
    )
    assert unknown.status == 422 and (await unknown.json())["errors"][0]["field"] == "profiles.1"
    bad = await api.client.post("/v1/availability", json={**body, "mode": "some"}, headers=operator)
    assert bad.status == 422 and (await bad.json())["errors"][0]["field"] == "mode"
