"""End to end against the Google emulator: the host's PUT/DELETE reach the push calendar.

Real components only: the daemon app (REST API, outbox, bus, push worker; ``tests/backends.py``), the
Google adapter over google-api-python-client, and the emulator; assertions read the
calendar through the real client as its user would see it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from daemon.push_wiring import PUSH
from handlers.push import PushOptions, RetryPass
from tests.backends import BACKENDS, crossed, harness_on
from tests.push.support import (
    Host,
    api_headers,
    emulator_events,
    instances,
    listed,
    next_slot,
    time_until_visible,
    use_as_push,
    wait_sync_state,
    when,
)
from tests.sync.harness import USER, Harness

pytestmark = pytest.mark.slow


@pytest.fixture
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """SQLite + embedded bus, unless a test asks for another backend (``BACKENDS``, indirect)."""
    async with harness_on(request, getattr(request, "param", "sqlite")) as h:
        h.use_google_limits(rate=100.0, burst=100.0)  # fast backoff (0.05 s base) for the outage tests
        await use_as_push(h)
        yield h


@pytest.fixture
async def host(harness: Harness) -> AsyncIterator[Host]:
    async with aiohttp.ClientSession() as http:
        yield Host(harness, http, await api_headers(harness))


@pytest.mark.parametrize("harness", BACKENDS, indirect=True)
async def test_create_update_cancel_reach_the_push_calendar_once(harness: Harness, host: Host) -> None:
    h, start = harness, next_slot()
    started = time.monotonic()
    await host.put("appt-1", **when(start), location="Room 4", description="Knee")
    create_latency = await time_until_visible(h, USER, "appt-1", started)
    await wait_sync_state(h, "appt-1", "synced")
    (event,) = await listed(h, USER, "appt-1")
    assert event["summary"] == "Session" and event["location"] == "Room 4"
    assert event["extendedProperties"]["private"]["calsync_version"] == "1"

    started = time.monotonic()
    await host.put("appt-1", **when(start + timedelta(hours=2)), title="Moved session")
    update_latency = await time_until_visible(
        h, USER, "appt-1", started, lambda found: found[0]["summary"] == "Moved session"
    )
    appt = await wait_sync_state(h, "appt-1", "synced")
    (updated,) = await listed(h, USER, "appt-1")
    assert updated["id"] == event["id"] and updated["start"]["dateTime"].startswith(
        (start + timedelta(hours=2)).astimezone().strftime("%Y-%m-%d")
    )
    assert updated["extendedProperties"]["private"]["calsync_version"] == str(appt.version)

    started = time.monotonic()
    await host.delete("appointments/appt-1")
    while emulator_events(h, USER, "appt-1"):
        assert time.monotonic() - started < 10
        await asyncio.sleep(0.005)
    delete_latency = time.monotonic() - started
    await wait_sync_state(h, "appt-1", "synced")
    assert await listed(h, USER, "appt-1") == []
    print(
        f"PUT->visible create {create_latency:.3f}s update {update_latency:.3f}s delete {delete_latency:.3f}s"
    )
    assert max(create_latency, update_latency, delete_latency) < 2.0


@pytest.mark.parametrize("harness", BACKENDS, indirect=True)
async def test_recurring_series_with_moved_and_cancelled_occurrence_is_one_series(
    harness: Harness, host: Host
) -> None:
    h, start = harness, next_slot(days=1, hour=8)
    await host.put("series-1", **when(start), recurrence={"rrule": "FREQ=DAILY;COUNT=5"})
    await wait_sync_state(h, "series-1", "synced")
    second, third = start + timedelta(days=1), start + timedelta(days=2)
    moved_to = second + timedelta(hours=3)
    await host.put_occurrence(
        "series-1", second.strftime("%Y%m%dT%H%M%SZ"), moved_to, moved_to + timedelta(hours=1)
    )
    await host.delete(f"appointments/series-1/occurrences/{third.strftime('%Y%m%dT%H%M%SZ')}")
    appt = await wait_sync_state(h, "series-1", "synced")
    assert appt.version == 3

    (series,) = [e for e in await listed(h, USER, "series-1") if "recurrence" in e]
    assert series["recurrence"] == ["RRULE:FREQ=DAILY;COUNT=5"]
    items = await instances(h, USER, series["id"])
    assert len(items) == 4  # five occurrences, one cancelled
    starts = sorted(item["start"]["dateTime"] for item in items)
    assert not any(s.startswith(third.astimezone().strftime("%Y-%m-%dT%H")) for s in starts)
    moved = [i for i in items if i["originalStartTime"]["dateTime"] != i["start"]["dateTime"]]
    assert len(moved) == 1 and moved[0]["extendedProperties"]["private"][
        "calsync_instance"
    ] == second.strftime("%Y%m%dT%H%M%SZ")
    # Never one event per occurrence: the series plus one stored exception (the moved one).
    assert len(await listed(h, USER, "series-1", singleEvents=False)) == 2
    # Idempotent: asking again writes nothing new.
    before = len(h.calsync_requests)
    worker = h.app[PUSH].worker
    assert worker is not None
    writes = worker.stats.creates + worker.stats.updates + worker.stats.instance_writes
    await worker.push("series-1", "retry")
    assert worker.stats.creates + worker.stats.updates + worker.stats.instance_writes == writes
    assert len(h.calsync_requests) == before


# On Kafka only the 5xx: a 429 (RateLimited, a TransientProviderError) takes the same path in the worker.
@pytest.mark.parametrize(
    ("harness", "fault"),
    crossed(["backendError", "rateLimitExceeded429"], on_kafka=["backendError"]),
    indirect=["harness"],
)
async def test_provider_outage_then_recovery_gives_exactly_one_event(
    harness: Harness, host: Host, fault: str
) -> None:
    h = harness
    h.emulator.inject_errors(fault, fraction=1.0, user=USER)
    await host.put("outage-1", **when(next_slot(days=3)))
    worker = h.app[PUSH].worker
    assert worker is not None
    await h.wait_until(lambda: worker.stats.left_for_retry == 1, timeout=60)  # the bus has moved on
    appt = await wait_sync_state(h, "outage-1", "error")
    assert appt.sync_error and (
        "TransientProviderError" in appt.sync_error or "RateLimited" in appt.sync_error
    )
    h.emulator.clear_faults()
    await asyncio.sleep(0.5)
    assert emulator_events(h, USER, "outage-1") == []  # parked, not dropped: waiting for the retry pass
    assert (await wait_sync_state(h, "outage-1", "error")).version == 1
    started = time.monotonic()
    retry = RetryPass(h.db, h.app[PUSH].retry._clock, PushOptions(retry_after=timedelta(0)))  # type: ignore[union-attr]
    assert await retry.tick() >= 1  # what the minute loop does, driven by hand
    await wait_sync_state(h, "outage-1", "synced")
    print(f"recovery after outage ({fault}): {time.monotonic() - started:.3f}s")
    assert len(await listed(h, USER, "outage-1")) == 1


async def test_transient_failures_within_the_retry_budget_converge_without_the_retry_pass(
    harness: Harness, host: Host
) -> None:
    h = harness
    h.emulator.inject_errors("backendError", count=7, user=USER)  # beyond the adapter's 5 tries
    await host.put("blip-1", **when(next_slot(days=4)))
    await wait_sync_state(h, "blip-1", "synced", timeout=30)
    assert len(await listed(h, USER, "blip-1")) == 1


async def test_push_calendar_changed_moves_the_event(harness: Harness, host: Host) -> None:
    from sqlmodel import select

    from calsync.envelope import TOPIC_APPOINTMENTS, Envelope
    from store import calendars
    from store.connections import PUSH_REQUESTED
    from store.outbox import enqueue
    from store.tables import Calendar

    h = harness
    await host.put("mover-1", **when(next_slot(days=5)))
    await wait_sync_state(h, "mover-1", "synced")
    assert len(await listed(h, USER, "mover-1")) == 1
    work = h.emulator.create_calendar(USER, "Work")
    async with h.db.session() as session:
        old = (await session.exec(select(Calendar).where(Calendar.id == h.calendar_id))).one()
        new = await calendars.upsert_calendar(
            session, account_id=old.account_id, profile_id=h.profile_id, external_id=work,
            name="Work", role="push", now=old.updated_at,
        )  # fmt: skip
    await use_as_push(h, new.id)
    started = time.monotonic()
    async with h.db.session() as session:
        data = {"id": "mover-1", "reason": "push_calendar_changed"}
        enqueue(
            session,
            TOPIC_APPOINTMENTS,
            Envelope("move-1", PUSH_REQUESTED, 1, "mover-1", old.updated_at, data),
        )
    latency = await time_until_visible(h, work, "mover-1", started)
    await wait_sync_state(h, "mover-1", "synced")
    assert len(await listed(h, work, "mover-1")) == 1

    async def left_the_old_calendar() -> bool:  # deleted after the new one exists (push_plan)
        return await listed(h, USER, "mover-1") == []

    await h.wait_until(left_the_old_calendar, timeout=5.0)
    print(f"push calendar change -> visible in the new calendar: {latency:.3f}s")
