"""End to end: an event created in the Google emulator becomes busy time; a booking over it gets 409."""

from __future__ import annotations

import time
from datetime import timedelta

import aiohttp
import pytest

from calsync.clock import SystemClock
from store.api_keys import create_key
from tests.sync.harness import running_harness

pytestmark = pytest.mark.slow


async def test_emulator_change_reaches_availability_and_blocks_bookings(database_url: str) -> None:
    async with running_harness(database_url) as h:
        async with h.db.session() as s:
            key, _ = await create_key(s, "t", None, SystemClock().now())
        start = SystemClock().now().replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
        end = start + timedelta(minutes=45)
        window = {"start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat()}
        url = f"{h.url}/v1/profiles/{h.profile_id}/availability"
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
            event = {
                "summary": "Secret",
                "start": {"dateTime": start.isoformat()},
                "end": {"dateTime": end.isoformat()},
            }
            h.emulator.seed_event(h.user, event)
            t0 = time.monotonic()
            busy: list[dict[str, str]] = []
            while not busy and time.monotonic() - t0 < 10:
                async with http.get(url, params=window) as r:
                    body = await r.json()
                    busy = body["busy"]
            assert busy == [
                {
                    "start": start.isoformat().replace("+00:00", "Z"),
                    "end": end.isoformat().replace("+00:00", "Z"),
                }
            ]
            assert "Secret" not in str(body)
            [cal] = body["calendars"]
            assert cal["healthy"] is True and cal["fresh_as_of"] is not None
            booking = {"profile": h.profile_id, "start": (start + timedelta(minutes=30)).isoformat(),
                       "end": (start + timedelta(minutes=90)).isoformat(), "title": "Consult"}  # fmt: skip
            async with http.put(f"{h.url}/v1/appointments/e2e-1", json=booking) as r:
                assert r.status == 409
                assert (await r.json())["conflicts"] == busy
