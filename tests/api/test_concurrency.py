"""Concurrent writes of one appointment: every effective change gets its own version, once."""

from __future__ import annotations

import asyncio

from calsync.envelope import decode
from tests.api.conftest import Api, appointment_body


async def test_concurrent_creates_make_one_appointment(api: Api, operator: dict[str, str]) -> None:
    responses = await asyncio.gather(
        *(api.client.put("/v1/appointments/a1", json=appointment_body(), headers=operator) for _ in range(6))
    )
    assert sorted(r.status for r in responses) == [200] * 5 + [201]
    assert len(await api.outbox()) == 1


async def test_concurrent_updates_get_distinct_versions(api: Api, operator: dict[str, str]) -> None:
    await api.client.put("/v1/appointments/a1", json=appointment_body(), headers=operator)
    responses = await asyncio.gather(
        *(
            api.client.put("/v1/appointments/a1", json=appointment_body(title=f"t{n}"), headers=operator)
            for n in range(6)
        )
    )
    assert all(r.status == 200 for r in responses)
    versions = sorted([(await r.json())["version"] for r in responses])
    assert versions == [2, 3, 4, 5, 6, 7]
    events = [decode(row.payload) for row in await api.outbox()]
    assert sorted(e.data["version"] for e in events) == [1, 2, 3, 4, 5, 6, 7]
