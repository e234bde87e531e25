"""API throttling as the SDK and raw HTTP see it (§4 Throttling), and the /_emulator control API."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options.retry_handler_option import RetryHandlerOption
from msgraph import GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from channels.emulators.graph import GraphEmulator, GraphEmulatorConfig, SeededUser

from .conftest import TIME_SCALE, Receiver


async def test_raw_429_with_retry_after(
    http: aiohttp.ClientSession, emulator: GraphEmulator, user: SeededUser
) -> None:
    emulator.inject_429(user.id, count=1, retry_after_s=7)
    async with http.get("v1.0/me/events") as resp:
        body = await resp.json()
        assert resp.status == 429 and resp.headers["Retry-After"] == "7"
    assert body["error"]["code"] == "TooManyRequests"
    async with http.get("v1.0/me/events") as resp:
        assert resp.status == 200


async def test_sdk_retry_handler_honours_retry_after(
    graph: GraphServiceClient, emulator: GraphEmulator, user: SeededUser
) -> None:
    emulator.inject_429(user.id, count=1, retry_after_s=1)
    listed = await graph.me.events.get()  # kiota's RetryHandler waits Retry-After and retries by itself
    assert listed.value == []
    assert emulator.counters.requests[user.id] == 2 and emulator.counters.throttled_responses[user.id] == 1
    emulator.inject_429(user.id, count=5, retry_after_s=1)
    no_retry: RequestConfiguration[Any] = RequestConfiguration(options=[RetryHandlerOption(max_retries=0)])
    with pytest.raises(ODataError) as err:
        await graph.me.events.get(request_configuration=no_retry)
    assert err.value.response_status_code == 429 and err.value.error.code == "TooManyRequests"


@pytest.mark.parametrize(
    "config",
    [
        GraphEmulatorConfig(
            time_scale=TIME_SCALE, allow_http_callbacks=True, seed=7, enforce_mailbox_concurrency=True
        )
    ],
)
async def test_mailbox_concurrency_limit(
    http: aiohttp.ClientSession, emulator: GraphEmulator, user: SeededUser
) -> None:
    emulator.request_faults.latency_s = 0.1

    async def one() -> int:
        async with http.get("v1.0/me/calendars") as resp:
            if resp.status == 429:
                assert (await resp.json())["error"]["code"] == "ApplicationThrottled" and resp.headers[
                    "Retry-After"
                ]
            return resp.status

    statuses = await asyncio.gather(*(one() for _ in range(6)))
    assert statuses.count(200) == 4 and statuses.count(429) == 2
    assert emulator.counters.peak_concurrency[user.id] >= 5


async def test_control_api_round_trip(base: str, receiver: Receiver, emulator: GraphEmulator) -> None:
    async with aiohttp.ClientSession(base_url=base + "/") as s:
        async with s.post("_emulator/users", json={"email": "carol@contoso.com"}) as resp:
            carol = await resp.json()
        assert resp.status == 201 and carol["refresh_token"] and carol["access_token"]
        async with s.post(f"_emulator/users/{carol['id']}/calendars", json={"name": "Side"}) as resp:
            cal = await resp.json()
        event = {
            "subject": "seeded",
            "start": {"dateTime": "2026-01-06T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-01-06T10:00:00", "timeZone": "UTC"},
        }
        async with s.post(
            f"_emulator/users/{carol['id']}/events", json={"event": event, "calendar_id": cal["id"]}
        ) as resp:
            eid = (await resp.json())["id"]
        async with s.patch(f"_emulator/users/{carol['id']}/events/{eid}", json={"subject": "moved"}) as resp:
            assert resp.status == 204
        auth = {"Authorization": f"Bearer {carol['access_token']}"}
        async with s.get(f"v1.0/me/events/{eid}", headers=auth) as resp:
            assert (await resp.json())["subject"] == "moved"
        async with s.post(
            f"_emulator/users/{carol['id']}/throttle", json={"count": 1, "retry_after": 3}
        ) as resp:
            assert resp.status == 204
        async with s.get("v1.0/me/events", headers=auth) as resp:
            assert resp.status == 429
        async with s.post("_emulator/delta/invalidate", json={}) as resp:
            assert resp.status == 200
        async with s.post("_emulator/clock/advance", json={"seconds": 3601}) as resp:
            assert resp.status == 200
        async with s.get("v1.0/me/events", headers=auth) as resp:
            assert resp.status == 401
        async with s.post("_emulator/idle", json={}) as resp:
            assert resp.status == 204
        async with s.get("_emulator/counters") as resp:
            counters = await resp.json()
    assert counters["requests"][carol["id"]] == 2 and counters["throttled_responses"][carol["id"]] == 1
