"""Booking conflict checks on PUT /v1/appointments: 409 with the intervals, allow_conflict, races."""

from __future__ import annotations

import asyncio

from tests.api.conftest import appointment_body
from tests.availability.conftest import Api, add_block, add_calendar


async def test_conflict_with_busy_block_is_409_listing_intervals(api: Api, operator: dict[str, str]) -> None:
    cal = await add_calendar(api)
    await add_block(api, cal, "2026-01-12T09:30:00+00:00", "2026-01-12T10:30:00+00:00")
    response = await api.client.put("/v1/appointments/a1", json=appointment_body(), headers=operator)
    assert response.status == 409
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["type"] == "urn:calsync:problem:booking-conflict"
    assert body["conflicts"] == [{"start": "2026-01-12T09:30:00Z", "end": "2026-01-12T10:30:00Z"}]
    assert await api.appointments() == []
    forced = await api.client.put(
        "/v1/appointments/a1", params={"allow_conflict": "true"}, json=appointment_body(), headers=operator
    )
    assert forced.status == 201
    bad = await api.client.put(
        "/v1/appointments/a2", params={"allow_conflict": "maybe"}, json=appointment_body(), headers=operator
    )
    assert bad.status == 422 and (await bad.json())["errors"][0]["field"] == "allow_conflict"


async def test_reschedule_does_not_conflict_with_itself(api: Api, operator: dict[str, str]) -> None:
    assert (
        await api.client.put("/v1/appointments/a1", json=appointment_body(), headers=operator)
    ).status == 201
    moved = appointment_body(start="2026-01-12T10:30:00+01:00", end="2026-01-12T11:30:00+01:00")
    assert (await api.client.put("/v1/appointments/a1", json=moved, headers=operator)).status == 200
    # Another appointment at the old-and-new overlap does conflict; back-to-back does not.
    other = await api.client.put("/v1/appointments/a2", json=appointment_body(), headers=operator)
    assert other.status == 409
    after = appointment_body(start="2026-01-12T11:30:00+01:00", end="2026-01-12T12:00:00+01:00")
    assert (await api.client.put("/v1/appointments/a3", json=after, headers=operator)).status == 201
    # Cancelling never conflicts; a cancelled appointment frees its time.
    assert (await api.client.delete("/v1/appointments/a1", headers=operator)).status == 200
    assert (
        await api.client.put("/v1/appointments/a2", json=appointment_body(), headers=operator)
    ).status == 201


async def test_recurring_booking_checks_its_occurrences(api: Api, operator: dict[str, str]) -> None:
    cal = await add_calendar(api)
    await add_block(api, cal, "2026-01-15T09:00:00+00:00", "2026-01-15T09:15:00+00:00")
    series = appointment_body(recurrence={"rrule": "FREQ=DAILY;COUNT=5"})
    response = await api.client.put("/v1/appointments/s1", json=series, headers=operator)
    assert response.status == 409
    assert (await response.json())["conflicts"] == [
        {"start": "2026-01-15T09:00:00Z", "end": "2026-01-15T09:15:00Z"}
    ]
    series["recurrence"]["exdates"] = ["2026-01-15T10:00:00+01:00"]
    assert (await api.client.put("/v1/appointments/s1", json=series, headers=operator)).status == 201


async def test_racing_bookings_of_one_slot_book_exactly_one(api: Api, operator: dict[str, str]) -> None:
    responses = await asyncio.gather(
        *(
            api.client.put(f"/v1/appointments/r{n}", json=appointment_body(), headers=operator)
            for n in range(20)
        )
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [201] + [409] * 19, statuses
    live = [a for a in await api.appointments() if a.status != "cancelled"]
    assert len(live) == 1
