"""End to end with the Google emulator: connect an account over the API, choose calendars, move the push
calendar, disconnect — against the real daemon (outbox, bus, sync consumer) on a real port.

The renewal loop is off (``watch=False``), so every channel seen at the emulator was made or
stopped by the API requests themselves, right after their transaction committed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlmodel import select as sql_select

from calsync.envelope import TOPIC_APPOINTMENTS
from store.api_keys import create_key
from store.tables import OutboxMessage
from tests.sync.harness import CLIENT_ID, Harness, running_harness

BOB = "bob@example.com"


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    async with running_harness(database_url, watch=False) as h:
        yield h


class Rest:
    def __init__(self, h: Harness, session: aiohttp.ClientSession, key: str) -> None:
        self.h, self.session, self.headers = h, session, {"Authorization": f"Bearer {key}"}

    async def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        async with self.session.request(method, self.h.url + path, json=body, headers=self.headers) as r:
            assert r.status == status, (method, path, r.status, await r.text())
            return await r.json() if r.content_type.endswith("json") else None


@pytest.fixture
async def rest(harness: Harness) -> AsyncIterator[Rest]:
    async with harness.db.session() as s:
        key, _ = await create_key(s, "e2e", None, datetime.now(UTC), False)
    async with aiohttp.ClientSession() as session:
        yield Rest(harness, session, key)


def live_channels(h: Harness, calendar_id: str) -> int:
    return len(h.emulator.channels.active_for(calendar_id))


async def push_requests(h: Harness) -> list[dict[str, Any]]:
    async with h.db.session() as s:
        rows = (
            await s.exec(sql_select(OutboxMessage).where(OutboxMessage.topic == TOPIC_APPOINTMENTS))
        ).all()
    payloads = [json.loads(r.payload) for r in rows]
    return [p for p in payloads if p["type"] == "appointment.push_requested"]


def appointment(profile: str, start: datetime) -> dict[str, Any]:
    return {"profile": profile, "start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}


@pytest.mark.slow
async def test_connect_select_move_push_and_disconnect(harness: Harness, rest: Rest) -> None:
    h = harness
    token = h.emulator.create_user(BOB, time_zone="Europe/Berlin", client_id=CLIENT_ID)
    work = h.emulator.create_calendar(BOB, "Work")
    offsite = h.emulator.seed_event(
        work,
        {
            "summary": "Team offsite",
            "start": {"dateTime": (datetime.now(UTC) + timedelta(days=3)).isoformat()},
            "end": {"dateTime": (datetime.now(UTC) + timedelta(days=3, hours=2)).isoformat()},
        },
    )
    body = {"profile": h.profile_id, "provider": "google", "client_id": CLIENT_ID, "refresh_token": token}
    account = await rest.call("POST", "/v1/accounts", body, status=201)
    assert (account["external_account"], account["state"]) == (BOB, "active")
    listing = await rest.call("GET", f"/v1/accounts/{account['id']}/calendars")
    assert {c["calendar"] for c in listing["items"]} == {BOB, work}

    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    await rest.call("PUT", "/v1/appointments/e2e-future", appointment(h.profile_id, soon), status=201)
    await rest.call(
        "PUT", "/v1/appointments/e2e-past", appointment(h.profile_id, soon - timedelta(days=30)), status=201
    )

    # Push to Bob's primary calendar, pull busy time from Work: both watched, both synced at once.
    choose = {
        "push": {"account": account["id"], "calendar": BOB},
        "pull": [{"account": account["id"], "calendar": work}],
    }
    selection = await rest.call("PUT", f"/v1/profiles/{h.profile_id}/calendars", choose)
    assert selection["push_requests"] == 1
    assert live_channels(h, BOB) == 1 and live_channels(h, work) == 1
    seen = await h.wait_for(lambda e: e.event_id == offsite["id"], timeout=10.0)  # the first, full sync
    assert seen.calendar_id == next(c["id"] for c in selection["pull"] if c["calendar"] == work)

    async def synced() -> bool:
        status = await rest.call("GET", f"/v1/profiles/{h.profile_id}/sync-status")
        mine = [c for c in status["calendars"] if c["account"] == account["id"]]
        return len(mine) == 2 and all(c["last_synced_at"] and c["channel"] for c in mine)

    await h.wait_until(synced, timeout=10.0)

    # Work becomes the push calendar (and stays read): future appointments are queued to move there;
    # Bob's primary calendar is no longer chosen, so its channel is stopped at Google.
    moved = await rest.call(
        "PUT",
        f"/v1/profiles/{h.profile_id}/calendars",
        {
            "push": {"account": account["id"], "calendar": work},
            "pull": [{"account": account["id"], "calendar": work}],
        },
    )
    assert moved["push"]["calendar"] == work and moved["push_requests"] == 1
    requests = await push_requests(h)
    assert [r["key"] for r in requests] == ["e2e-future", "e2e-future"]
    assert requests[-1]["data"] == {"id": "e2e-future", "reason": "push_calendar_changed"}
    assert live_channels(h, BOB) == 0 and live_channels(h, work) == 1

    await rest.call("DELETE", f"/v1/accounts/{account['id']}", status=204)
    assert live_channels(h, work) == 0
    status = await rest.call("GET", f"/v1/profiles/{h.profile_id}/sync-status")
    assert [c for c in status["calendars"] if c["account"] == account["id"]] == []
    assert (await rest.call("GET", f"/v1/accounts/{account['id']}"))["state"] == "disconnected"
