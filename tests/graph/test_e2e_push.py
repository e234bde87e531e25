"""End to end against the Microsoft Graph emulator, on every backend: the host's PUT/DELETE reach the
Outlook push calendar exactly once, are updated in place and removed.

Real components only: the daemon app (REST API, outbox, embedded bus or Kafka, SQLite or PostgreSQL,
push worker), the Graph adapter over msgraph-sdk, and the emulator; assertions read the calendar
through msgraph-sdk as its owner would see it (another client than calsync).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from msgraph.generated.models.event import Event

from tests.backends import BACKENDS, graph_on
from tests.graph.harness import Outlook, Stack, marker_of
from tests.push.support import Host, api_headers, next_slot, use_as_push, wait_sync_state, when

pytestmark = pytest.mark.slow


@pytest.fixture
async def stack(request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    """SQLite + embedded bus unless a test asks for another backend (``BACKENDS``, indirect)."""
    async with graph_on(request, getattr(request, "param", "sqlite")) as s:
        await use_as_push(s)  # the stack answers to the Google harness's names
        yield s


@pytest.fixture
async def host(stack: Stack) -> AsyncIterator[Host]:
    async with aiohttp.ClientSession() as http:
        yield Host(stack, http, await api_headers(stack))


@pytest.fixture
async def outlook(stack: Stack) -> AsyncIterator[Outlook]:
    async with stack.outlook() as client:
        yield client


def starts_at(event: Event) -> datetime:
    assert event.start is not None and event.start.date_time and event.start.time_zone
    return datetime.fromisoformat(event.start.date_time[:19]).replace(tzinfo=ZoneInfo(event.start.time_zone))


def written_version(event: Event) -> int:
    marker = marker_of(event)
    assert marker is not None
    return int(marker["version"])


@pytest.mark.parametrize("stack", BACKENDS, indirect=True)
async def test_create_update_cancel_reach_the_outlook_calendar_once(
    stack: Stack, host: Host, outlook: Outlook
) -> None:
    start = next_slot()
    started = time.monotonic()
    await host.put("appt-1", **when(start), location="Room 4", description="Knee")
    await wait_sync_state(stack, "appt-1", "synced")
    create_latency = time.monotonic() - started
    (event,) = await outlook.ours("appt-1")
    assert event.subject == "Session" and event.location is not None
    assert event.location.display_name == "Room 4"
    assert starts_at(event) == start and written_version(event) == 1

    started = time.monotonic()
    await host.put("appt-1", **when(start + timedelta(hours=2)), title="Moved session")
    appt = await wait_sync_state(stack, "appt-1", "synced")
    update_latency = time.monotonic() - started
    (updated,) = await outlook.ours("appt-1")
    assert (updated.id, updated.subject) == (event.id, "Moved session")  # in place, not a second event
    assert starts_at(updated) == start + timedelta(hours=2) and written_version(updated) == appt.version

    started = time.monotonic()
    await host.delete("appointments/appt-1")
    await wait_sync_state(stack, "appt-1", "synced")
    delete_latency = time.monotonic() - started
    assert await outlook.ours("appt-1") == []
    print(f"graph PUT->synced create {create_latency:.3f}s update {update_latency:.3f}s "
          f"delete {delete_latency:.3f}s")  # fmt: skip
    assert max(create_latency, update_latency, delete_latency) < 2.0
