"""Convergence under provider trouble: dropped notifications, dead sync tokens, rate limiting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import _migrate
from tests.sync.harness import FAST, Harness, running_harness

pytestmark = pytest.mark.slow


def body(i: int, start: datetime) -> dict[str, Any]:
    begin = start + timedelta(hours=i)
    return {
        "summary": f"event {i}",
        "start": {"dateTime": begin.isoformat(), "timeZone": "UTC"},
        "end": {"dateTime": (begin + timedelta(minutes=30)).isoformat(), "timeZone": "UTC"},
    }


async def run(request: Any) -> Any:
    """The user's own client retries 429s too (the injected faults hit every client of the user)."""
    return await asyncio.to_thread(request.execute, num_retries=10)


def published_state(h: Harness) -> dict[str, tuple[str, str | None]]:
    """Latest (status, etag) per event as the changes topic tells it."""
    state: dict[str, tuple[str, str | None]] = {}
    for event in h.events():
        state[event.event_id] = (event.status.value, event.etag)
    return state


async def provider_state(h: Harness) -> dict[str, tuple[str, str | None]]:
    listing = await run(
        h.google_service().events().list(calendarId=h.user, showDeleted=True, maxResults=2500)
    )
    return {item["id"]: (item.get("status", "confirmed"), item.get("etag")) for item in listing["items"]}


async def converged(h: Harness) -> bool:
    ours, theirs = published_state(h), await provider_state(h)
    # Live events must match version for version; a deleted one must be a tombstone or never seen.
    diff = {
        k: (ours.get(k), theirs.get(k))
        for k in ours.keys() | theirs.keys()
        if ours.get(k) != theirs.get(k) and not (theirs.get(k, ("",))[0] == "cancelled" and k not in ours)
    }
    h.last_diff = diff  # type: ignore[attr-defined]
    return not diff


@pytest.fixture
async def harness(sqlite_url: str) -> AsyncIterator[Harness]:
    _migrate(sqlite_url)
    settings = replace(FAST, resync_interval=timedelta(seconds=1), resync_jitter=0.2)
    async with running_harness(sqlite_url, sync_settings=settings) as h:
        yield h


async def make_changes(h: Harness, n: int) -> None:
    events = h.google_service().events()
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    ids = []
    for i in range(n):
        created = await run(events.insert(calendarId=h.user, body=body(i, start)))
        ids.append(created["id"])
    for i, event_id in enumerate(ids[: n // 2]):
        await run(events.patch(calendarId=h.user, eventId=event_id, body=body(i + 100, start)))
    for event_id in ids[n // 2 : n // 2 + n // 4]:
        await run(events.delete(calendarId=h.user, eventId=event_id))


async def test_dropped_notifications_converge_through_the_safety_resync(harness: Harness) -> None:
    h = harness
    h.emulator.set_push_faults(drop_fraction=0.2)
    await make_changes(h, 20)
    await h.wait_until(lambda: converged(h), timeout=15.0)
    assert h.runtime.resync is not None and h.runtime.resync.signalled > 0


async def test_410_full_resync_converges_without_inferred_deletions(harness: Harness) -> None:
    h = harness
    await make_changes(h, 8)
    await h.wait_until(lambda: converged(h), timeout=10.0)
    h.emulator.invalidate_sync_tokens(h.user)
    tombstones_before = sum(e.is_tombstone for e in h.events())
    await make_changes(h, 8)
    try:
        await h.wait_until(lambda: converged(h), timeout=10.0)
    except TimeoutError:
        raise AssertionError(h.last_diff) from None  # type: ignore[attr-defined]
    consumer = h.runtime.consumer
    assert consumer is not None and consumer.stats.full_passes >= 2  # the first sync and the 410 resync
    # Only explicit tombstones from the provider; the full listing never implied any.
    deleted_at_provider = {k for k, (status, _) in (await provider_state(h)).items() if status == "cancelled"}
    assert {e.event_id for e in h.events() if e.is_tombstone} <= deleted_at_provider
    assert sum(e.is_tombstone for e in h.events()) >= tombstones_before


async def test_injected_429s_lose_nothing_and_the_bucket_holds(harness: Harness) -> None:
    h = harness
    rate, burst = 3.0, 1.0  # tight, so the bucket (not the workload) sets the pace
    h.use_google_limits(rate, burst)
    start_index = len(h.calsync_requests)
    h.emulator.inject_errors("rateLimitExceeded429", fraction=0.3, user=h.user)
    await make_changes(h, 12)
    await h.wait_until(lambda: converged(h), timeout=20.0)
    h.emulator.clear_faults()
    times = h.calsync_requests[start_index:]
    assert times, "calsync made no API calls"
    # Token bucket: in any window of t seconds at most burst + rate * t calls (+1 for edges).
    worst = max(
        sum(1 for u in times[i:] if u - t <= span) - (burst + rate * span)
        for i, t in enumerate(times)
        for span in (0.25, 0.5, 1.0, 2.0)
    )
    print(f"calsync calls under 30% 429s: {len(times)}, worst excess over the bucket: {worst:.2f}")
    assert worst <= 1.0
