"""Fault injection as the client sees it (HttpError bodies), counters, and the control API."""

from __future__ import annotations

from typing import Any

import aiohttp

from channels.emulators.google import GoogleEmulator
from tests.emulators.google.conftest import USER, ServiceFactory, call, error_body, fails, timed


async def test_429_and_403_rate_limits_as_the_client_sees_them(
    service: Any, emulator: GoogleEmulator
) -> None:
    emulator.inject_errors("rateLimitExceeded429", count=1)
    err = await fails(service.calendarList().list())
    assert err.resp.status == 429
    assert error_body(err) == {
        "error": {
            "errors": [
                {"domain": "usageLimits", "reason": "rateLimitExceeded", "message": "Rate Limit Exceeded"}
            ],
            "code": 429,
            "message": "Rate Limit Exceeded",
        }
    }
    emulator.inject_errors("rateLimitExceeded", count=1)
    err = await fails(service.calendarList().list())
    assert err.resp.status == 403 and error_body(err)["error"]["errors"][0]["reason"] == "rateLimitExceeded"
    emulator.inject_errors("userRateLimitExceeded", count=1)
    err = await fails(service.calendarList().list())
    assert error_body(err) == {
        "error": {
            "errors": [
                {
                    "domain": "usageLimits",
                    "reason": "userRateLimitExceeded",
                    "message": "User Rate Limit Exceeded",
                }
            ],
            "code": 403,
            "message": "User Rate Limit Exceeded",
        }
    }
    emulator.inject_errors("backendError", count=2)
    for _ in range(2):
        err = await fails(service.calendarList().list())
        assert err.resp.status == 500
        assert error_body(err)["error"]["errors"][0] == {
            "domain": "global",
            "reason": "backendError",
            "message": "Backend Error",
        }
    assert (await call(service.calendarList().list()))["items"]  # the next call succeeds


async def test_fraction_of_calls_fail_per_user_and_are_counted(
    service: Any, emulator: GoogleEmulator, make_service: ServiceFactory
) -> None:
    other = make_service(emulator.create_user("bob@example.com"))
    emulator.inject_errors("rateLimitExceeded429", fraction=0.5, user=USER)
    outcomes = []
    for _ in range(20):
        try:
            await call(service.calendarList().list())
            outcomes.append(True)
        except Exception:
            outcomes.append(False)
        await call(other.calendarList().list())  # never affected
    assert 3 < outcomes.count(False) < 17
    emulator.clear_faults()
    await call(service.calendarList().list())
    minute = emulator.clock.now().strftime("%Y-%m-%dT%H:%M")
    assert emulator.counters.requests_per_minute(USER) == {minute: 21}
    assert emulator.counters.requests_per_minute("bob@example.com") == {minute: 20}


async def test_control_api_drives_the_emulator_out_of_process(
    base_url: str, emulator: GoogleEmulator, make_service: ServiceFactory
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base_url}/_emulator/users", json={"email": "c@example.com", "timeZone": "UTC"}
        ) as r:
            assert r.status == 200
            created = await r.json()
        service = make_service(created["refreshToken"])
        body = timed("2026-01-06T10:00", "2026-01-06T11:00")
        async with http.post(
            f"{base_url}/_emulator/calendars/primary/events?user=c@example.com", json=body
        ) as r:
            seeded = await r.json()
        listing = await call(service.events().list(calendarId="primary"))
        assert [e["id"] for e in listing["items"]] == [seeded["id"]]
        async with http.post(f"{base_url}/_emulator/calendars/c@example.com/invalidate-sync-tokens") as r:
            assert r.status == 204
        err = await fails(service.events().list(calendarId="primary", syncToken=listing["nextSyncToken"]))
        assert err.resp.status == 410
        async with http.post(f"{base_url}/_emulator/faults", json={"kind": "backendError", "count": 1}) as r:
            assert r.status == 204
        assert (await fails(service.calendarList().list())).resp.status == 500
        async with http.post(f"{base_url}/_emulator/faults", json={"kind": "nope", "count": 1}) as r:
            assert r.status == 400
        async with http.post(f"{base_url}/_emulator/clock/advance", json={"seconds": 7200}) as r:
            assert (await r.json())["now"] == "2026-01-05T11:00:00.000Z"
        async with http.get(f"{base_url}/_emulator/counters") as r:
            counters = await r.json()
        assert sum(counters["requestsPerUserPerMinute"]["c@example.com"].values()) == 3
        async with http.post(
            f"{base_url}/_emulator/refresh-tokens/revoke", json={"refreshToken": created["refreshToken"]}
        ) as r:
            assert r.status == 204
        async with http.post(f"{base_url}/_emulator/wait-idle") as r:
            assert r.status == 204
