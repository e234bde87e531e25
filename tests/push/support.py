"""Helpers for the push end-to-end tests: make the harness calendar the push calendar, call the
REST API as the host does, and read the provider through the real Google client."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlmodel import select

from calsync.clock import SystemClock
from store.api_keys import create_key
from store.tables import Appointment, Calendar
from tests.sync.harness import Harness


async def use_as_push(h: Harness, calendar_id: str | None = None) -> None:
    """Give ``calendar_id`` (default: the harness calendar) role push, every other calendar role none."""
    target = calendar_id or h.calendar_id
    async with h.db.session() as session:
        for calendar in (
            await session.exec(select(Calendar).where(Calendar.profile_id == h.profile_id))
        ).all():
            calendar.role = "push" if calendar.id == target else "none"
            session.add(calendar)


async def api_headers(h: Harness) -> dict[str, str]:
    async with h.db.session() as session:
        key, _ = await create_key(session, "push-e2e", h.organization_id, SystemClock().now())
    return {"Authorization": f"Bearer {key}"}


class Host:
    """The host app: PUT/DELETE appointments and occurrences over HTTP."""

    def __init__(self, h: Harness, http: aiohttp.ClientSession, headers: dict[str, str]) -> None:
        self.h, self.http, self.headers = h, http, headers

    async def put(self, appointment_id: str, **body: Any) -> dict[str, Any]:
        payload = {"profile": self.h.profile_id, "title": "Session", **body}
        async with self.http.put(f"{self.h.url}/v1/appointments/{appointment_id}", json=payload,
                                 headers=self.headers) as response:  # fmt: skip
            assert response.status in (200, 201), await response.text()
            data: dict[str, Any] = await response.json()
            return data

    async def delete(self, path: str) -> dict[str, Any]:
        async with self.http.delete(f"{self.h.url}/v1/{path}", headers=self.headers) as response:
            assert response.status == 200, await response.text()
            data: dict[str, Any] = await response.json()
            return data

    async def put_occurrence(
        self, appointment_id: str, original: str, start: datetime, end: datetime
    ) -> None:
        url = f"{self.h.url}/v1/appointments/{appointment_id}/occurrences/{original}"
        body = {"start": start.isoformat(), "end": end.isoformat()}
        async with self.http.put(url, json=body, headers=self.headers) as response:
            assert response.status == 200, await response.text()


def when(start: datetime, minutes: int = 60) -> dict[str, str]:
    return {"start": start.isoformat(), "end": (start + timedelta(minutes=minutes)).isoformat()}


def next_slot(days: int = 2, hour: int = 9) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)


async def appointment(h: Harness, appointment_id: str) -> Appointment:
    async with h.db.session() as session:
        appt = await session.get(Appointment, appointment_id)
        assert appt is not None
        return appt


async def wait_sync_state(h: Harness, appointment_id: str, state: str, timeout: float = 15.0) -> Appointment:
    deadline = time.monotonic() + timeout
    while True:
        appt = await appointment(h, appointment_id)
        if appt.sync_state == state:
            return appt
        if time.monotonic() > deadline:
            raise TimeoutError(f"{appointment_id} is {appt.sync_state} ({appt.sync_error}), not {state}")
        await asyncio.sleep(0.02)


def ours(item: dict[str, Any], appointment_id: str) -> bool:
    private = (item.get("extendedProperties") or {}).get("private") or {}
    return bool(private.get("calsync_appointment") == appointment_id)


async def listed(h: Harness, calendar: str, appointment_id: str, **query: Any) -> list[dict[str, Any]]:
    """Our events for the appointment, as the real google-api-python-client lists them."""
    service = h.google_service()
    request = service.events().list(calendarId=calendar, maxResults=2500, **query)
    result = await asyncio.to_thread(request.execute)
    return [item for item in result.get("items", []) if ours(item, appointment_id)]


async def instances(h: Harness, calendar: str, event_id: str) -> list[dict[str, Any]]:
    service = h.google_service()
    result = await asyncio.to_thread(
        service.events().instances(calendarId=calendar, eventId=event_id).execute
    )
    items: list[dict[str, Any]] = result.get("items", [])
    return items


def emulator_events(h: Harness, calendar: str, appointment_id: str) -> list[dict[str, Any]]:
    """Cheap polling for latency figures: the emulator's own store, no HTTP round trip."""
    cal = h.emulator.calendar(calendar)
    return [e.resource for e in cal.events.values() if not e.cancelled and ours(e.resource, appointment_id)]


async def time_until_visible(h: Harness, calendar: str, appointment_id: str, started: float,
                             predicate: Any = None, timeout: float = 10.0) -> float:  # fmt: skip
    while True:
        found = emulator_events(h, calendar, appointment_id)
        if found and (predicate is None or predicate(found)):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{appointment_id} not visible in {calendar} within {timeout}s")
        await asyncio.sleep(0.005)
