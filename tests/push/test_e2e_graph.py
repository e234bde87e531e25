"""End to end against the Microsoft Graph emulator: create, cancel and a recurring series.

The same flows as the Google suite, cheaper: the host's API calls go through the real
daemon (outbox, embedded bus, push worker) and the Graph adapter (msgraph-sdk) to the
emulator, whose own store is then inspected.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlmodel import select

from calsync.clock import SystemClock
from daemon.appkeys import DATABASE, SETTINGS
from store.api_keys import create_key
from store.tables import Appointment, Calendar
from tests.graph.harness import Stack, graph_stack
from tests.push.support import next_slot, when

pytestmark = pytest.mark.slow


@pytest.fixture
async def stack(sqlite_url: str) -> AsyncIterator[Stack]:
    from tests.conftest import _migrate

    _migrate(sqlite_url)
    async with graph_stack(sqlite_url) as s:
        async with s.app[DATABASE].session() as session:
            calendar = await session.get(Calendar, s.calendar_id)
            assert calendar is not None
            calendar.role = "push"
            session.add(calendar)
        yield s


class GraphHost:
    def __init__(self, stack: Stack, http: aiohttp.ClientSession, headers: dict[str, str]) -> None:
        self.stack, self.http, self.headers = stack, http, headers
        self.base = stack.app[SETTINGS].public_url

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> None:
        async with self.http.request(method, f"{self.base}/v1/{path}", json=body, headers=self.headers) as r:
            assert r.status in (200, 201), await r.text()


@pytest.fixture
async def host(stack: Stack) -> AsyncIterator[GraphHost]:
    async with stack.app[DATABASE].session() as session:
        key, _ = await create_key(session, "graph-push", "org", SystemClock().now())
    async with aiohttp.ClientSession() as http:
        yield GraphHost(stack, http, {"Authorization": f"Bearer {key}"})


def ours(stack: Stack, appointment_id: str) -> list[Any]:
    box = stack.emulator.mailbox(stack.user.id)
    return [e for e in box.events.values() if any(appointment_id in v for _, v in e.extended.values())]


async def synced(stack: Stack, appointment_id: str, timeout: float = 15.0) -> Appointment:
    deadline = time.monotonic() + timeout
    while True:
        async with stack.app[DATABASE].session() as session:
            appt = await session.get(Appointment, appointment_id)
        if appt is not None and appt.sync_state == "synced":
            return appt
        assert time.monotonic() < deadline, appt.sync_error if appt else "no appointment"
        await asyncio.sleep(0.02)


async def test_create_then_cancel(stack: Stack, host: GraphHost) -> None:
    started = time.monotonic()
    await host.call("PUT", "appointments/g1", {"profile": "p1", "title": "Consult", **when(next_slot())})
    await synced(stack, "g1")
    latency = time.monotonic() - started
    (event,) = ours(stack, "g1")
    assert event.fields.get("subject") == "Consult"
    await host.call("DELETE", "appointments/g1")
    await synced(stack, "g1")
    assert ours(stack, "g1") == []
    print(f"graph PUT->synced {latency:.3f}s")


async def test_recurring_series_one_moved_one_cancelled(stack: Stack, host: GraphHost) -> None:
    start = next_slot(days=1, hour=8)
    body = {"profile": "p1", "title": "Weekly", **when(start), "recurrence": {"rrule": "FREQ=DAILY;COUNT=5"}}
    await host.call("PUT", "appointments/gs", body)
    await synced(stack, "gs")
    second, third = start + timedelta(days=1), start + timedelta(days=2)
    moved = second + timedelta(hours=2)
    await host.call("PUT", f"appointments/gs/occurrences/{second.strftime('%Y%m%dT%H%M%SZ')}", when(moved))
    await host.call("DELETE", f"appointments/gs/occurrences/{third.strftime('%Y%m%dT%H%M%SZ')}")
    await synced(stack, "gs")
    (series,) = ours(stack, "gs")  # one series, never one event per occurrence
    assert series.is_series
    deleted = [at for at, o in series.overrides.items() if o.deleted]
    changed = [at for at, o in series.overrides.items() if not o.deleted]
    assert deleted == [third] and changed == [second]
    async with stack.app[DATABASE].session() as session:
        calendars = (await session.exec(select(Calendar))).all()
    assert len(calendars) == 1
