"""OAuth: refresh-token grant at /token, Bearer checks on every API call (providers.md §7)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from google.auth.exceptions import RefreshError

from calsync.clock import FakeClock
from channels.emulators.google import GoogleEmulator
from tests.emulators.google.conftest import USER, ServiceFactory, call, fails


async def test_static_discovery_with_api_endpoint_reaches_the_emulator(service: Any) -> None:
    listing = await call(service.calendarList().list())
    assert [entry["id"] for entry in listing["items"]] == [USER]
    assert listing["items"][0]["primary"] is True
    primary = await call(service.calendars().get(calendarId="primary"))
    assert primary["id"] == USER and primary["timeZone"] == "Europe/Berlin"


async def test_token_endpoint_answers_the_refresh_grant(base_url: str, refresh_token: str) -> None:
    async with aiohttp.ClientSession() as session:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": "c",
            "client_secret": "s",
        }
        async with session.post(f"{base_url}/token", data=form) as response:
            assert response.status == 200
            body = await response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"]
    assert set(body["scope"].split()) == {  # the granted scopes, space-separated
        "https://www.googleapis.com/auth/calendar.events",
        "https://www.googleapis.com/auth/calendar.readonly",
    }


async def test_a_refresh_may_narrow_the_grant_but_never_widen_it(base_url: str, refresh_token: str) -> None:
    async with aiohttp.ClientSession() as session:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "c"}
        narrow = {**form, "scope": "https://www.googleapis.com/auth/calendar.readonly"}
        async with session.post(f"{base_url}/token", data=narrow) as response:
            assert response.status == 200
            assert (await response.json())["scope"] == "https://www.googleapis.com/auth/calendar.readonly"
        wide = {**form, "scope": "https://www.googleapis.com/auth/calendar"}
        async with session.post(f"{base_url}/token", data=wide) as response:
            assert response.status == 400
            assert (await response.json())["error"] == "invalid_scope"


async def test_unknown_or_revoked_refresh_token_is_invalid_grant(
    emulator: GoogleEmulator, make_service: ServiceFactory, refresh_token: str, base_url: str
) -> None:
    with pytest.raises(RefreshError, match="invalid_grant"):
        await call(make_service("1//not-a-token").calendarList().list())
    emulator.revoke_refresh_token(refresh_token)
    with pytest.raises(RefreshError, match="invalid_grant"):
        await call(make_service(refresh_token).calendarList().list())
    async with aiohttp.ClientSession() as session:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "c"}
        async with session.post(f"{base_url}/token", data=form) as response:
            assert response.status == 400
            assert (await response.json())["error"] == "invalid_grant"


async def test_api_without_valid_bearer_is_401_with_google_error_body(
    base_url: str, refresh_token: str
) -> None:
    async with aiohttp.ClientSession() as session:
        for headers in ({}, {"Authorization": "Bearer nope"}):
            async with session.get(
                f"{base_url}/calendar/v3/users/me/calendarList", headers=headers
            ) as response:
                assert response.status == 401
                body = await response.json()
    assert body == {
        "error": {
            "errors": [
                {
                    "domain": "global",
                    "reason": "authError",
                    "message": "Invalid Credentials",
                    "locationType": "header",
                    "location": "Authorization",
                }
            ],
            "code": 401,
            "message": "Invalid Credentials",
        }
    }


async def test_expired_access_token_is_refreshed_by_the_client(
    emulator: GoogleEmulator, clock: FakeClock, service: Any
) -> None:
    await call(service.calendarList().list())
    first = service._http.credentials.token
    clock.advance(3601)  # the emulator now rejects that token: the client gets 401 and refreshes
    await call(service.calendarList().list())
    assert service._http.credentials.token != first


async def test_each_access_token_belongs_to_one_user(
    emulator: GoogleEmulator, make_service: ServiceFactory
) -> None:
    ada = make_service(emulator.create_user("a@example.com"))
    bob = make_service(emulator.create_user("b@example.com"))
    await call(ada.events().insert(calendarId="primary", body=_event()))
    assert (await call(bob.events().list(calendarId="primary")))["items"] == []
    err = await fails(bob.events().list(calendarId="a@example.com"))
    assert err.resp.status == 404


def _event() -> dict[str, Any]:
    return {
        "summary": "x",
        "start": {"dateTime": "2026-01-06T10:00:00Z"},
        "end": {"dateTime": "2026-01-06T11:00:00Z"},
    }


async def test_revoking_the_refresh_token_kills_its_access_tokens(
    emulator: GoogleEmulator, service: Any
) -> None:
    await call(service.calendarList().list())
    emulator.revoke_refresh_token(service._http.credentials.refresh_token)
    # The live access token now gets a 401; the client's refresh then fails with invalid_grant.
    with pytest.raises(RefreshError, match="invalid_grant"):
        await call(service.calendarList().list())
