"""End to end with the Graph emulator: connect a Microsoft account over the API, choose its calendar
(a subscription appears at Graph and the first sync runs), then disconnect (the subscription is deleted)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from daemon.appkeys import DATABASE, SETTINGS
from store.api_keys import create_key
from tests.graph.harness import Stack, graph_stack


@pytest.fixture
async def stack(database_url: str) -> AsyncIterator[Stack]:
    async with graph_stack(database_url) as s:
        yield s


@pytest.mark.slow
async def test_connect_choose_and_disconnect_a_microsoft_account(stack: Stack) -> None:
    bob = stack.emulator.add_user("bob@contoso.com", "Bob")
    async with stack.app[DATABASE].session() as s:
        key, _ = await create_key(s, "e2e", None, datetime.now(UTC), False)
    base, headers = stack.app[SETTINGS].public_url, {"Authorization": f"Bearer {key}"}

    async with aiohttp.ClientSession() as http:

        async def call(method: str, path: str, body: Any = None, status: int = 200) -> Any:
            async with http.request(method, base + path, json=body, headers=headers) as r:
                assert r.status == status, (method, path, await r.text())
                return await r.json() if r.content_type.endswith("json") else None

        connect = {
            "profile": "p1", "provider": "microsoft", "client_id": bob.client_id,
            "refresh_token": bob.refresh_token, "external_account": bob.email,
        }  # fmt: skip
        account = await call("POST", "/v1/accounts", connect, status=201)
        listing = await call("GET", f"/v1/accounts/{account['id']}/calendars")
        default = next(c for c in listing["items"] if c["primary"])
        await call(
            "PUT",
            "/v1/profiles/p1/calendars",
            {"pull": [{"account": account["id"], "calendar": default["calendar"]}]},
        )
        assert len(stack.emulator.active_in_mailbox(bob.id)) == 1

        async def synced() -> bool:
            status = await call("GET", "/v1/profiles/p1/sync-status")
            return any(c["account"] == account["id"] and c["last_synced_at"] for c in status["calendars"])

        async with asyncio.timeout(10):
            while not await synced():
                await asyncio.sleep(0.05)

        await call("DELETE", f"/v1/accounts/{account['id']}", status=204)
        assert stack.emulator.active_in_mailbox(bob.id) == []
        assert (await call("GET", f"/v1/accounts/{account['id']}"))["state"] == "disconnected"
