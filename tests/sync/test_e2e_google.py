"""End to end, embedded bus and Kafka: changes made in the emulator arrive on calsync.changes.

The user edits their calendar through the real google-api-python-client; Google pushes to
``/webhooks/google``; the signal goes through the outbox and the bus to the sync consumer,
whose normalized changes go through the outbox to ``calsync.changes``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from channels.model import EventStatus, ExternalEvent
from tests.sync.harness import Harness, running_harness

LATENCY_BUDGET = 1.0


def event_body(start: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "summary": "Dentist",
        "start": {"dateTime": start.isoformat(), "timeZone": "UTC"},
        "end": {"dateTime": (start + timedelta(hours=1)).isoformat(), "timeZone": "UTC"},
        **extra,
    }


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
async def harness(request: pytest.FixtureRequest, sqlite_url: str) -> AsyncIterator[Harness]:
    from tests.conftest import _migrate

    _migrate(sqlite_url)
    kafka = request.getfixturevalue("tansu").bootstrap if request.param == "kafka" else None
    async with running_harness(sqlite_url, kafka=kafka) as h:
        yield h


async def timed_change(h: Harness, action: Any, predicate: Any) -> tuple[ExternalEvent, float]:
    started = time.monotonic()
    await asyncio.to_thread(action.execute)
    event = await h.wait_for(predicate, timeout=5.0)
    return event, time.monotonic() - started


@pytest.mark.slow
async def test_create_move_transparent_delete_arrive_in_order_within_a_second(harness: Harness) -> None:
    h = harness
    events = h.google_service().events()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    created = await asyncio.to_thread(events.insert(calendarId=h.user, body=event_body(start)).execute)
    eid = created["id"]
    first = await h.wait_for(lambda e: e.event_id == eid, timeout=LATENCY_BUDGET)
    assert first.status is EventStatus.CONFIRMED and not first.transparent and first.start == start

    moved_to = start + timedelta(hours=3)
    latencies = []
    moved, took = await timed_change(
        h, events.patch(calendarId=h.user, eventId=eid, body=event_body(moved_to)),
        lambda e: e.event_id == eid and e.start == moved_to,
    )  # fmt: skip
    latencies.append(took)
    clear, took = await timed_change(
        h, events.patch(calendarId=h.user, eventId=eid, body={"transparency": "transparent"}),
        lambda e: e.event_id == eid and e.transparent,
    )  # fmt: skip
    latencies.append(took)
    gone, took = await timed_change(
        h, events.delete(calendarId=h.user, eventId=eid), lambda e: e.event_id == eid and e.is_tombstone
    )
    latencies.append(took)
    print(f"latencies move/transparent/delete: {[round(x, 3) for x in latencies]}")
    assert max(latencies) < LATENCY_BUDGET, latencies

    # In order, once each in effect: every version of the event appears once, oldest first.
    mine = [e for e in h.distinct_events() if e.event_id == eid]
    assert [(e.start, e.transparent, e.status) for e in mine] == [
        (start, False, EventStatus.CONFIRMED),
        (moved_to, False, EventStatus.CONFIRMED),
        (moved_to, True, EventStatus.CONFIRMED),
        (None, False, EventStatus.CANCELLED),
    ]
    assert moved.start == moved_to and clear.transparent and gone.is_tombstone
