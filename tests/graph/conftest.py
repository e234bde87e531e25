"""Fixtures for the Graph channel: the emulator on 127.0.0.1 and our adapter wired to it.

The adapter talks to the emulator through the real msgraph-sdk pipeline; the emulator and the
adapter share one FakeClock, so Retry-After waits and token expiry are measured in fake time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from calsync.clock import FakeClock
from channels.base import AccountCredentials, CalendarRef
from channels.emulators.graph import GraphEmulator, GraphEmulatorConfig, SeededUser, create_app
from channels.graph.adapter import GraphAdapter
from channels.model import Provider


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator_config() -> GraphEmulatorConfig:
    return GraphEmulatorConfig(
        time_scale=0.05, allow_http_callbacks=True, seed=11, delivery_poll_interval_s=0.02
    )


@pytest.fixture
def emulator(clock: FakeClock, emulator_config: GraphEmulatorConfig) -> GraphEmulator:
    return GraphEmulator(clock, emulator_config)


@pytest.fixture
async def graph_base(emulator: GraphEmulator, aiohttp_server: Any) -> str:
    server = await aiohttp_server(create_app(emulator), host="127.0.0.1")
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
def user(emulator: GraphEmulator) -> SeededUser:
    return emulator.add_user("alice@contoso.com", "Alice")


@pytest.fixture
def rotated() -> list[tuple[str, str]]:
    return []


@pytest.fixture
async def adapter(
    graph_base: str, user: SeededUser, clock: FakeClock, rotated: list[tuple[str, str]]
) -> AsyncIterator[GraphAdapter]:
    async def sink(account_id: str, token: str) -> None:
        rotated.append((account_id, token))

    made = GraphAdapter(
        f"{graph_base}/v1.0", f"{graph_base}/{user.tenant_id}/oauth2/v2.0/token", clock, on_rotate=sink
    )
    yield made
    await made.close()


@pytest.fixture
def account(user: SeededUser) -> AccountCredentials:
    return AccountCredentials(
        account_id="acct-1",
        provider=Provider.MICROSOFT,
        client_id=user.client_id,
        client_secret="",
        refresh_token=user.refresh_token,
        external_account=user.email,
    )


@pytest.fixture
def calendar() -> CalendarRef:
    return CalendarRef(calendar_id="cal-1", external_id="primary", owner_email="alice@contoso.com")
