"""End-to-end harness: the calsync daemon app on a real port, the Graph emulator delivering to it,
and a test consumer on ``calsync.changes`` and ``calsync.appointments`` — all real components, real time.

    async with graph_stack(database_url) as stack:                    # embedded bus
    async with graph_stack(url, (broker.bootstrap,)) as stack:        # Kafka: returns once assigned
        async with stack.outlook() as outlook:                        # msgraph-sdk, as the mailbox owner
            [event] = await outlook.ours("appt-1")

The stack answers to the same names as the Google harness (``tests/sync/harness.py``) where the
end-to-end suites share code: ``db``, ``runtime``, ``url``, ``organization_id``, ``profile_id``,
``calendar_id``, ``envelopes``, ``announcements``, ``wait_until`` and ``wait_seen``.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.event import Event
from msgraph.generated.users.item.calendar.events.events_request_builder import EventsRequestBuilder

from calsync.clock import SystemClock
from calsync.envelope import TOPIC_APPOINTMENTS, TOPIC_CHANGES, Envelope, decode
from channels.emulators.graph import GraphEmulator, GraphEmulatorConfig, SeededUser, create_app
from channels.graph.marker import MARKER_PROPERTY_ID
from daemon.app import CONSUMERS
from daemon.app import create_app as create_daemon
from daemon.appkeys import DATABASE
from daemon.bus.base import Bus, Record
from daemon.buskeys import BUS
from daemon.config import Settings
from daemon.sync_wiring import SYNC, SyncRuntime, SyncSettings
from handlers.channels import ChannelManager
from handlers.sync import SyncOptions
from store.db import Database
from tests.emulators.graph.conftest import SCOPES, RefreshTokenCredential
from tests.graph.seed import CIPHER_KEY, seed_calendar
from tests.sync.harness import wait_until

#: Another client of the mailbox (Outlook itself), with its own refresh token.
OUTLOOK_CLIENT_ID = "outlook-desktop"
MARKER_EXPAND = f"singleValueExtendedProperties($filter=id eq '{MARKER_PROPERTY_ID}')"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    emulator: GraphEmulator
    user: SeededUser
    app: web.Application
    calendar_id: str
    url: str = ""  # the daemon's base URL
    organization_id: str = "org"  # as tests/graph/seed.py seeds them
    profile_id: str = "p1"
    emulator_url: str = ""
    changes: list[dict[str, Any]] = field(default_factory=list)  # the ``data`` of every change
    envelopes: list[Envelope] = field(default_factory=list)  # the same changes, whole
    announcements: list[Envelope] = field(default_factory=list)  # what calsync.appointments carried
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def db(self) -> Database:
        return self.app[DATABASE]

    @property
    def runtime(self) -> SyncRuntime:
        return self.app[SYNC]

    @property
    def channels(self) -> ChannelManager:
        manager = self.runtime.channels
        assert manager is not None
        return manager

    async def wait_for(self, predicate: Any, limit_s: float = 1.0) -> list[dict[str, Any]]:
        """Changes seen so far once ``predicate(changes)`` holds, or fail after ``limit_s``."""
        async with asyncio.timeout(limit_s):
            while not predicate(self.changes):
                self.arrived.clear()
                await self.arrived.wait()
        return self.changes

    async def wait_until(self, condition: Callable[[], Any], timeout: float = 10.0) -> None:
        await wait_until(condition, timeout)

    async def wait_seen(self, event_id: str, etag: str | None, timeout: float = 5.0) -> None:
        """Until the change of ``event_id`` at ``etag`` (e.g. our own write coming back) was synced."""
        await self.wait_for(
            lambda cs: any(c["event_id"] == event_id and c["etag"] == etag for c in cs), timeout
        )

    @asynccontextmanager
    async def outlook(self) -> AsyncIterator[Outlook]:
        """The real msgraph-sdk as the mailbox owner (another client than calsync, like Outlook)."""
        token = self.emulator.issue_refresh_token(self.user.id, OUTLOOK_CLIENT_ID)
        owner = SeededUser(self.user.id, self.user.email, token, self.user.tenant_id, OUTLOOK_CLIENT_ID)
        credential = RefreshTokenCredential(self.emulator_url, owner)
        adapter = GraphRequestAdapter(AzureIdentityAuthenticationProvider(credential, scopes=SCOPES))
        adapter.base_url = f"{self.emulator_url}/v1.0"
        try:
            yield Outlook(GraphServiceClient(request_adapter=adapter))
        finally:
            await adapter._http_client.aclose()


class Outlook:
    """What the mailbox owner sees and does in the default calendar, through msgraph-sdk."""

    def __init__(self, graph: GraphServiceClient) -> None:
        self.graph = graph

    async def ours(self, appointment_id: str) -> list[Event]:
        """Events in the default calendar that carry calsync's marker for ``appointment_id``."""
        query = EventsRequestBuilder.EventsRequestBuilderGetQueryParameters(expand=[MARKER_EXPAND], top=100)
        page = await self.graph.me.calendar.events.get(RequestConfiguration(query_parameters=query))
        assert page.odata_next_link is None, "more than one page: raise $top"
        return [e for e in page.value or [] if (marker_of(e) or {}).get("appointment") == appointment_id]

    async def delete(self, event_id: str) -> None:
        await self.graph.me.events.by_event_id(event_id).delete()


def marker_of(event: Event) -> dict[str, Any] | None:
    """calsync's marker on ``event`` as written (appointment, version, instance), or None."""
    for prop in event.single_value_extended_properties or []:
        if (prop.id or "").lower() == MARKER_PROPERTY_ID.lower():
            found: dict[str, Any] = json.loads(prop.value or "{}")
            return found
    return None


@asynccontextmanager
async def graph_stack(database_url: str, kafka_bootstrap: tuple[str, ...] = ()) -> AsyncIterator[Stack]:
    clock = SystemClock()
    emulator = GraphEmulator(
        clock, GraphEmulatorConfig(allow_http_callbacks=True, delivery_poll_interval_s=0.02)
    )
    await emulator.start()
    emu_runner = web.AppRunner(create_app(emulator))
    await emu_runner.setup()
    emu_port = free_port()
    await web.TCPSite(emu_runner, "127.0.0.1", emu_port).start()
    emu = f"http://127.0.0.1:{emu_port}"
    user = emulator.add_user("alice@contoso.com", "Alice")
    port = free_port()
    settings = Settings(
        listen_port=port, public_url=f"http://127.0.0.1:{port}", database_url=database_url,
        kafka_bootstrap=kafka_bootstrap, kafka_enable_idempotence=False, secret_keys=(CIPHER_KEY,),
        graph_api_url=f"{emu}/v1.0", graph_token_url=f"{emu}/{user.tenant_id}/oauth2/v2.0/token",
    )  # fmt: skip
    app = create_daemon(settings, clock=clock)
    app[SYNC].settings = SyncSettings(sync=SyncOptions(min_interval=0.05), loops=False)
    stack = Stack(emulator, user, app, "", url=settings.public_url, emulator_url=emu)

    def listen(app: web.Application, bus: Bus) -> None:
        async def handle(record: Record) -> None:
            envelope = decode(record.value)
            stack.envelopes.append(envelope)
            stack.changes.append(dict(envelope.data))
            stack.arrived.set()

        async def announce(record: Record) -> None:
            stack.announcements.append(decode(record.value))

        bus.subscribe(TOPIC_CHANGES, "graph-e2e", handle)
        bus.subscribe(TOPIC_APPOINTMENTS, "graph-e2e", announce)

    app[CONSUMERS].append(listen)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        db = Database(database_url)
        _, stack.calendar_id = await seed_calendar(
            db, clock.now(), refresh_token=user.refresh_token, client_id=user.client_id
        )
        await db.close()
        if kafka_bootstrap:  # consumer groups still joining: records would wait for them
            await wait_until(lambda: (a := app[BUS].assignment()) and all(a.values()), timeout=30.0)
        yield stack
    finally:
        await runner.cleanup()
        await emu_runner.cleanup()
        await emulator.stop()
