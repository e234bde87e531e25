"""Fixtures: a Graph emulator on 127.0.0.1, the real msgraph-sdk wired to it, and a real receiver.

The SDK gets its bearer tokens the way production does: an async TokenCredential that redeems a
refresh token at the emulator's ``/{tenant}/oauth2/v2.0/token`` endpoint.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from azure.core.credentials import AccessToken
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient

from calsync.clock import FakeClock
from channels.emulators.graph import GraphEmulator, GraphEmulatorConfig, SeededUser, create_app

#: The generated SDK calls warn() in class bodies of its deprecated request-configuration classes, so
#: merely importing a request builder warns. These filters are scoped to this directory's tests.
SDK_WARNINGS = ("ignore::DeprecationWarning:msgraph.*", "ignore::DeprecationWarning:kiota_abstractions.*")

with warnings.catch_warnings():
    # Same reason, at collection time: import the builders the test modules import at top level.
    warnings.simplefilter("ignore", DeprecationWarning)
    import kiota_abstractions.default_query_parameters  # noqa: F401
    import msgraph.generated.users.item.calendar_view.delta.delta_request_builder
    import msgraph.generated.users.item.events.item.event_item_request_builder  # noqa: F401


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = str(Path(__file__).parent)
    for item in items:
        if str(item.path).startswith(here):
            for spec in SDK_WARNINGS:
                item.add_marker(pytest.mark.filterwarnings(spec))


SCOPES = ["https://graph.microsoft.com/.default"]
#: Network limits shrink 20x: 3 s receiver timeout → 150 ms, slow threshold 2.9 s → 145 ms.
TIME_SCALE = 0.05


class RefreshTokenCredential:
    """An azure-core async TokenCredential backed by the emulator's token endpoint."""

    def __init__(self, base: str, user: SeededUser) -> None:
        self.token_url = f"{base}/{user.tenant_id}/oauth2/v2.0/token"
        self.refresh_token = user.refresh_token
        self.client_id = user.client_id
        self.calls = 0

    async def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.calls += 1
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self.refresh_token,
            "client_id": self.client_id,
            "scope": " ".join(scopes),
        }
        async with aiohttp.ClientSession() as session, session.post(self.token_url, data=form) as resp:
            body = await resp.json()
        if resp.status != 200:
            raise RuntimeError(body)
        self.refresh_token = body["refresh_token"]
        return AccessToken(body["access_token"], 0)

    async def close(self) -> None:
        return None


@dataclass
class Receiver:
    """A real aiohttp webhook receiver with scriptable behaviour."""

    url: str = ""
    notifications: list[dict[str, Any]] = field(default_factory=list)
    lifecycle: list[dict[str, Any]] = field(default_factory=list)
    validations: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # consumed one per POST, then 202
    delay_s: float = 0.0
    echo: Callable[[str], str] = field(default=lambda token: token)
    echo_delay_s: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        token = request.query.get("validationToken")
        if token is not None:
            self.validations.append(token)
            await asyncio.sleep(self.echo_delay_s)
            return web.Response(text=self.echo(token), content_type="text/plain")
        body = await request.json()
        await asyncio.sleep(self.delay_s)
        status = self.statuses.pop(0) if self.statuses else 202
        target = self.lifecycle if request.path.endswith("/lifecycle") else self.notifications
        if status < 300:
            target.append(body)
        return web.Response(status=status)

    @property
    def items(self) -> list[dict[str, Any]]:
        return [item for batch in self.notifications for item in batch["value"]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config() -> GraphEmulatorConfig:
    return GraphEmulatorConfig(
        time_scale=TIME_SCALE, allow_http_callbacks=True, seed=7, delivery_poll_interval_s=0.02
    )


@pytest.fixture
def emulator(clock: FakeClock, config: GraphEmulatorConfig) -> GraphEmulator:
    return GraphEmulator(clock, config)


@pytest.fixture
async def base(emulator: GraphEmulator, aiohttp_server: Any) -> str:
    server = await aiohttp_server(create_app(emulator), host="127.0.0.1")
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
def user(emulator: GraphEmulator) -> SeededUser:
    return emulator.add_user("alice@contoso.com", "Alice")


@pytest.fixture
def credential(base: str, user: SeededUser) -> RefreshTokenCredential:
    return RefreshTokenCredential(base, user)


@pytest.fixture
async def graph(base: str, credential: RefreshTokenCredential) -> AsyncIterator[GraphServiceClient]:
    adapter = GraphRequestAdapter(AzureIdentityAuthenticationProvider(credential, scopes=SCOPES))
    adapter.base_url = f"{base}/v1.0"
    yield GraphServiceClient(request_adapter=adapter)
    await adapter._http_client.aclose()


@pytest.fixture
async def receiver(aiohttp_server: Any) -> Receiver:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/notify", rec.handle)
    app.router.add_post("/lifecycle", rec.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    rec.url = str(server.make_url("")).rstrip("/")
    return rec


@pytest.fixture
async def http(base: str, emulator: GraphEmulator, user: SeededUser) -> AsyncIterator[aiohttp.ClientSession]:
    """Raw HTTP with a bearer token, for what the SDK hides (status codes, headers, its retries)."""
    token = emulator.issue_access_token(user.id)
    async with aiohttp.ClientSession(
        base_url=base + "/", headers={"Authorization": f"Bearer {token}"}
    ) as session:
        yield session


def later(clock: FakeClock, minutes: float) -> str:
    return (clock.now() + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
