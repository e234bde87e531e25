"""Reusable end-to-end set-up: Google emulator + the daemon app on a real port + a seeded account.

    async with running_harness(database_url) as h:      # embedded bus
    async with running_harness(url, kafka=broker.bootstrap) as h:
        service = h.google_service()                     # the real client, as the calendar's user
        service.events().insert(calendarId=h.user, body=...).execute()
        change = await h.wait_for(lambda c: ..., timeout=1.0)

The emulator runs on the test's loop with HTTP callbacks allowed, so its push
notifications reach ``POST /webhooks/google`` on the daemon. The daemon is the real
``create_app(settings)`` (outbox, bus, sync consumer, renewal and resync loops); a
collector consumer records every envelope on ``calsync.changes`` (``changes``) and on
``calsync.appointments`` (``announcements``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.fernet import Fernet

from calsync.clock import SystemClock
from calsync.envelope import TOPIC_APPOINTMENTS, TOPIC_CHANGES, Envelope, decode
from calsync.secrets import hash_secret, new_channel_secret
from channels.emulators.google import EmulatorConfig, GoogleEmulator
from channels.emulators.google import create_app as create_emulator_app
from channels.google.adapter import GoogleAdapter
from channels.model import ExternalEvent, Provider, from_wire
from channels.renewal import RenewalPolicy
from channels.throttle import Backoff
from daemon.app import CONSUMERS, create_app
from daemon.appkeys import CLOCK, DATABASE
from daemon.bus.base import Bus, Record
from daemon.buskeys import BUS
from daemon.config import Settings
from daemon.sync_wiring import SYNC, SyncRuntime, SyncSettings
from handlers.adapters import ADAPTERS
from handlers.sync import SyncOptions
from store import accounts, calendars
from store import channels as channel_store
from store.db import Database
from store.organizations import upsert_organization
from store.profiles import create_profile
from tests.emulators.google.conftest import google_client
from tests.tansu import free_port

USER = "owner@example.com"
CLIENT_ID = "calsync-e2e.apps.googleusercontent.com"

FAST = SyncSettings(
    sync=SyncOptions(min_interval=0.5),
    renewal=RenewalPolicy(retry_base=timedelta(seconds=0.2), retry_cap=timedelta(seconds=2)),
    renewal_interval=0.2,
    resync_interval=timedelta(minutes=15),
    resync_check_interval=0.2,
)


@dataclass
class Harness:
    emulator: GoogleEmulator
    emulator_url: str
    app: web.Application
    url: str  # the daemon's base URL
    user: str
    user_token: str  # a refresh token for acting as the calendar's user (not calsync's)
    organization_id: str
    profile_id: str
    account_id: str
    calendar_id: str  # calsync's id; the Google calendar id is ``user`` (primary)
    changes: list[Envelope] = field(default_factory=list)
    calsync_requests: list[float] = field(default_factory=list)  # monotonic times of calsync's API calls
    arrived: list[float] = field(default_factory=list)  # monotonic arrival time per change
    announcements: list[Envelope] = field(default_factory=list)  # what calsync.appointments carried
    _pulse: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def db(self) -> Database:
        return self.app[DATABASE]

    @property
    def runtime(self) -> SyncRuntime:
        return self.app[SYNC]

    def google_service(self) -> Any:
        """The real google-api-python-client as the calendar's user (another client, like the UI)."""
        return google_client(self.emulator_url, self.user_token, CLIENT_ID)

    @property
    def envelopes(self) -> list[Envelope]:
        """Every delivery on ``calsync.changes`` (the name the Graph stack shares)."""
        return self.changes

    async def wait_seen(self, event_id: str, etag: str | None, timeout: float = 5.0) -> None:
        """Until the change of ``event_id`` at ``etag`` (e.g. our own write coming back) was synced."""
        await self.wait_for(lambda e: e.event_id == event_id and e.etag == etag, timeout)

    def events(self) -> list[ExternalEvent]:
        return [from_wire(dict(e.data)) for e in self.changes]

    def distinct_events(self) -> list[ExternalEvent]:
        """Changes once each in effect: the first delivery of every message id, in arrival order."""
        seen: set[str] = set()
        out: list[ExternalEvent] = []
        for envelope in self.changes:
            if envelope.id not in seen:
                seen.add(envelope.id)
                out.append(from_wire(dict(envelope.data)))
        return out

    async def wait_for(
        self, predicate: Callable[[ExternalEvent], bool], timeout: float = 5.0
    ) -> ExternalEvent:
        deadline = time.monotonic() + timeout
        checked = 0
        while True:
            while checked < len(self.changes):
                event = from_wire(dict(self.changes[checked].data))
                checked += 1
                if predicate(event):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching change within {timeout}s ({len(self.changes)} seen)")
            self._pulse.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._pulse.wait(), min(remaining, 0.05))

    async def wait_until(self, condition: Callable[[], Any], timeout: float = 10.0) -> None:
        await wait_until(condition, timeout)

    async def add_test_channel(self) -> tuple[str, str, str]:
        """A channel row with a token the test knows: (channel id, resource id, token)."""
        token = new_channel_secret()
        channel_id, resource_id = uuid.uuid4().hex, f"res-{uuid.uuid4().hex[:12]}"
        async with self.db.session() as session:
            await channel_store.add_channel(
                session, calendar_id=self.calendar_id, provider="google", external_id=channel_id,
                resource_id=resource_id, secret_hash=hash_secret(token),
                expires_at=SystemClock().now() + timedelta(days=7), now=SystemClock().now(),
            )  # fmt: skip
        return channel_id, resource_id, token

    def use_google_limits(self, rate: float, burst: float, concurrency: int = 4) -> None:
        self.app[ADAPTERS].register(
            GoogleAdapter(
                f"{self.emulator_url}/calendar/v3",
                f"{self.emulator_url}/token",
                self.app[CLOCK],
                rate_per_second=rate,
                burst=burst,
                concurrency=concurrency,
                backoff=Backoff(0.05, 1.0),
            )
        )


async def wait_until(condition: Callable[[], Any], timeout: float = 10.0) -> None:
    """Poll ``condition`` (plain or async) every 20 ms until it is truthy, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while not await _maybe_await(condition()):
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)


async def _maybe_await(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) else value


@asynccontextmanager
async def running_harness(
    database_url: str,
    *,
    kafka: str | None = None,
    sync_settings: SyncSettings = FAST,
    emulator_config: EmulatorConfig | None = None,
    watch: bool = True,
) -> AsyncIterator[Harness]:
    emulator = GoogleEmulator(
        clock=SystemClock(),
        config=emulator_config
        or EmulatorConfig(allow_http_callbacks=True, push_retry_scale=0.01, push_retry_base_seconds=1.0),
    )
    emulator_app = create_emulator_app(emulator)
    calsync_access: set[str] = set()
    calsync_times: list[float] = []
    calsync_refresh: list[str] = []

    @web.middleware
    async def count_calsync(request: web.Request, handler: Any) -> web.StreamResponse:
        """Tell calsync's own API calls apart (by the access tokens its refresh token got)."""
        if request.path.endswith("/token"):
            form = await request.post()
            response = await handler(request)
            if form.get("refresh_token") in calsync_refresh and isinstance(response, web.Response):
                with contextlib.suppress(ValueError, TypeError):
                    # An error answer (invalid_grant for a revoked token) carries no access token.
                    token = json.loads(response.body).get("access_token")  # type: ignore[arg-type]
                    if token:
                        calsync_access.add(token)
            return response
        if request.headers.get("Authorization", "").removeprefix("Bearer ") in calsync_access:
            calsync_times.append(time.monotonic())
        return await handler(request)

    emulator_app.middlewares.append(count_calsync)
    emulator_server = TestServer(emulator_app, host="127.0.0.1")
    await emulator_server.start_server()
    emulator_url = str(emulator_server.make_url("")).rstrip("/")
    port = free_port()
    settings = Settings(
        listen_port=port,
        public_url=f"http://127.0.0.1:{port}",
        database_url=database_url,
        kafka_bootstrap=(kafka,) if kafka else (),
        kafka_enable_idempotence=False,  # Tansu has no InitProducerId
        kafka_partitions=4,
        secret_keys=(Fernet.generate_key().decode(),),
        google_api_url=f"{emulator_url}/calendar/v3",
        google_token_url=f"{emulator_url}/token",
        log_format="console",
    )
    app = create_app(settings, clock=SystemClock())
    app[SYNC].settings = sync_settings if watch else replace(sync_settings, loops=False)
    harness_box: list[Harness] = []

    def collector(app: web.Application, bus: Bus) -> None:
        async def record(rec: Record) -> None:
            if harness_box:
                h = harness_box[0]
                h.changes.append(decode(rec.value))
                h.arrived.append(time.monotonic())
                h._pulse.set()

        async def announce(rec: Record) -> None:
            if harness_box:
                harness_box[0].announcements.append(decode(rec.value))

        group = f"harness-{uuid.uuid4().hex[:8]}"
        bus.subscribe(TOPIC_CHANGES, group, record)
        bus.subscribe(TOPIC_APPOINTMENTS, group, announce)

    app[CONSUMERS].append(collector)
    user_token = emulator.create_user(USER, time_zone="Europe/Berlin", client_id=CLIENT_ID)
    calsync_token = emulator.add_refresh_token(USER, client_id=CLIENT_ID)
    calsync_refresh.append(calsync_token)
    now = SystemClock().now()
    org_id, profile_id = f"org-{uuid.uuid4().hex[:6]}", f"prof-{uuid.uuid4().hex[:6]}"
    # Seed before the loops start, so the first renewal round already sees the calendar.
    seed_db = Database(database_url)
    try:
        async with seed_db.session() as session:
            await upsert_organization(session, org_id, "Org", None, now)
            await create_profile(
                session, profile_id=profile_id, organization_id=org_id, name="Ada",
                email=USER, time_zone="Europe/Berlin", now=now,
            )  # fmt: skip
            account = await accounts.create_account(
                session, organization_id=org_id, profile_id=profile_id, provider=Provider.GOOGLE,
                external_account=USER, client_id=CLIENT_ID, client_secret="s3cret",
                refresh_token=calsync_token, cipher=app[SYNC].cipher, now=now,
            )  # fmt: skip
            calendar = await calendars.upsert_calendar(
                session, account_id=account.id, profile_id=profile_id, external_id=USER,
                name="Ada", role="pull", now=now,
            )  # fmt: skip
            account_id, calendar_id = account.id, calendar.id
    finally:
        await seed_db.close()
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    harness = Harness(
        emulator, emulator_url, app, settings.public_url, USER, user_token,
        org_id, profile_id, account_id, calendar_id, calsync_requests=calsync_times,
    )  # fmt: skip
    harness_box.append(harness)
    try:
        if watch:
            await harness.wait_until(lambda: _synced(harness), timeout=20.0)
        yield harness
    finally:
        await runner.cleanup()
        await emulator.close()
        await emulator_server.close()


async def _synced(h: Harness) -> bool:
    assigned = h.app[BUS].assignment()
    if len(assigned) < 2 or not all(assigned.values()):
        return False  # Kafka groups still joining: records would wait for them
    async with h.db.session() as session:
        cal = await calendars.get_calendar(session, h.calendar_id)
        chans = await channel_store.channels_for_calendar(session, h.calendar_id)
    return cal is not None and cal.last_synced_at is not None and any(c.state == "active" for c in chans)
