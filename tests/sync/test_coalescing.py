"""Ingest-side coalescing (store/pending_sync.py) through the real daemon, the emulator and its pushes.

Only push notifications drive these syncs: the safety resync is 15 minutes away, so a change
the coalescing swallowed would stay missing and the test would time out.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from calsync.clock import SystemClock
from handlers.signals import CalendarChanged
from store import pending_sync
from tests.backends import harness_on
from tests.sync.harness import Harness

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    # SQLite also exercises the in-process shortcut (WaitingCalendars); PostgreSQL only the rows.
    async with harness_on(request, request.param) as h:
        yield h


def _event(i: int) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1, hours=i)
    return {
        "summary": f"storm {i}",
        "start": {"dateTime": start.isoformat()},
        "end": {"dateTime": (start + timedelta(minutes=30)).isoformat()},
    }


async def test_a_storm_of_edits_ends_with_every_last_version_published(harness: Harness) -> None:
    h = harness
    events = h.google_service().events()
    created = [
        await asyncio.to_thread(events.insert(calendarId=h.user, body=_event(i)).execute) for i in range(5)
    ]
    # Edit each event several times, interleaved, as fast as the client goes: notifications
    # arrive while passes run, so some must queue a new signal and others ride on a waiting one.
    last: dict[str, str] = {}
    for round_ in range(6):
        for i, item in enumerate(created):
            body = {"summary": f"storm {i} round {round_}"}
            patched = await asyncio.to_thread(
                events.patch(calendarId=h.user, eventId=item["id"], body=body).execute
            )
            last[item["id"]] = patched["etag"]
    for event_id, etag in last.items():
        await h.wait_seen(event_id, etag, timeout=10.0)
    consumer = h.runtime.consumer
    assert consumer is not None
    # 35 changes, a handful of passes: the notifications were coalesced, not one pass each.
    assert consumer.stats.passes < 35, consumer.stats


async def test_a_coalesced_signal_runs_only_while_its_row_is_there(harness: Harness) -> None:
    h = harness
    consumer = h.runtime.consumer
    assert consumer is not None
    await asyncio.sleep(0.6)  # past the debounce window of the first sync
    now = SystemClock().now()
    signal = CalendarChanged(h.calendar_id, "google", "push", full=False, occurred_at=now, pending=True)

    before = consumer.stats.passes
    await consumer.run(signal)  # no row: a pass that started after it already covered it
    assert consumer.stats.passes == before

    async with h.db.session() as s:  # a pass was cut off mid-way (crash): the row stays running
        await pending_sync.claim_waiting(s, [h.calendar_id], now)
    async with h.db.session() as s:
        assert await pending_sync.mark_running(s, h.calendar_id, now)
    await consumer.run(signal)  # the redelivered signal runs the pass again...
    assert consumer.stats.passes == before + 1
    async with h.db.session() as s:  # ...and the finished pass clears the row
        assert not await pending_sync.mark_running(s, h.calendar_id, now)
