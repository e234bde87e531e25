"""Fixtures: the emulator on a real loopback HTTP server, the real Google client, a webhook receiver.

The google-api-python-client is synchronous (httplib2), so every call runs in a worker thread
(``await call(request)``) while the emulator serves on the test's event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from calsync.clock import FakeClock
from channels.emulators.google import EmulatorConfig, GoogleEmulator, create_app

USER = "ada@example.com"
OTHER = "bob@example.com"
CLIENT_ID = "calsync-test.apps.googleusercontent.com"


async def call(request: Any) -> Any:
    """Execute one googleapiclient request off the event loop."""
    return await asyncio.to_thread(request.execute)


async def fails(request: Any) -> HttpError:
    """Execute a request that must fail; the HttpError as the client raises it."""
    with pytest.raises(HttpError) as info:
        await call(request)
    return info.value


def error_body(err: HttpError) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(err.content)
    return body


def reason(err: HttpError) -> str:
    return str(error_body(err)["error"]["errors"][0]["reason"])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config() -> EmulatorConfig:
    return EmulatorConfig(allow_http_callbacks=True, push_retry_scale=0.001, push_retry_base_seconds=1.0)


@pytest.fixture
def emulator(clock: FakeClock, config: EmulatorConfig) -> GoogleEmulator:
    return GoogleEmulator(clock=clock, config=config)


@asynccontextmanager
async def serving(emulator: GoogleEmulator) -> AsyncIterator[str]:
    """The emulator's app on a real loopback HTTP server; yields its base URL."""
    server = TestServer(create_app(emulator), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def google_client(base_url: str, refresh_token: str, client_id: str = CLIENT_ID) -> Any:
    """The real client, exactly as calsync builds it, pointed at the emulator."""
    creds = Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token=refresh_token,
        client_id=client_id,
        client_secret="s3cret",
        token_uri=f"{base_url}/token",
    )
    return build(
        "calendar",
        "v3",
        credentials=creds,
        static_discovery=True,
        client_options={"api_endpoint": f"{base_url}/calendar/v3"},
        cache_discovery=False,
    )


@pytest.fixture
async def base_url(emulator: GoogleEmulator) -> AsyncIterator[str]:
    async with serving(emulator) as url:
        yield url


@pytest.fixture
def refresh_token(emulator: GoogleEmulator) -> str:
    return emulator.create_user(USER, time_zone="Europe/Berlin")


ServiceFactory = Callable[..., Any]


@pytest.fixture
def make_service(base_url: str) -> ServiceFactory:
    def factory(token: str, client_id: str = CLIENT_ID) -> Any:
        return google_client(base_url, token, client_id)

    return factory


@pytest.fixture
def service(make_service: ServiceFactory, refresh_token: str) -> Any:
    return make_service(refresh_token)


@dataclass
class Hit:
    headers: dict[str, str]
    body: bytes
    method: str


@dataclass
class Receiver:
    """A webhook endpoint on a real aiohttp server; answers from ``statuses``, then 200."""

    url: str = ""
    hits: list[Hit] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)

    async def handle(self, request: web.Request) -> web.Response:
        self.hits.append(Hit(dict(request.headers), await request.read(), request.method))
        return web.Response(status=self.statuses.popleft() if self.statuses else 200)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    hook.url = str(server.make_url("/hook"))
    try:
        yield hook
    finally:
        await server.close()


def timed(start: str, end: str, zone: str = "Europe/Berlin", **extra: Any) -> dict[str, Any]:
    """An event body with local ``start``/``end`` wall times in ``zone``."""
    return {
        "summary": extra.pop("summary", "Meeting"),
        "start": {"dateTime": start, "timeZone": zone},
        "end": {"dateTime": end, "timeZone": zone},
        **extra,
    }
