"""A fleet of calendars on both emulators, renewed by the real scheduler on one FakeClock.

Shared by the 30-day simulation and ``bench/bench_renewals.py``: in-process Google and
Graph emulators (their HTTP servers on loopback), the real adapters, ``ChannelManager``
and ``RenewalScheduler`` on a SQLite database, and the real Graph webhook receiver for
the subscription validation handshake. Google push is dropped at the emulator: nothing
here needs it.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiohttp import web
from cryptography.fernet import Fernet

from calsync.clock import Clock, FakeClock
from calsync.crypto import Cipher
from channels.emulators.google import EmulatorConfig, GoogleEmulator
from channels.emulators.google import create_app as create_google_app
from channels.emulators.graph import GraphEmulator, GraphEmulatorConfig
from channels.emulators.graph import create_app as create_graph_app
from channels.google.adapter import GoogleAdapter
from channels.graph.adapter import GraphAdapter
from channels.renewal import RenewalPolicy
from channels.throttle import Backoff
from handlers.adapters import AdapterRegistry
from handlers.channels import ChannelManager
from handlers.renewal_scheduler import Observe, RenewalScheduler, SpreadPolicy
from handlers.webhooks.graph_view import GraphWebhook, add_graph_webhook
from store import accounts
from store.db import Database
from tests.daemon_process import free_port
from tests.ops.seed import seed_account

GOOGLE_CLIENT = "fleet.apps.googleusercontent.com"


@dataclass
class Fleet:
    clock: Clock
    db: Database
    google: GoogleEmulator
    graph: GraphEmulator
    google_adapter: GoogleAdapter
    graph_adapter: GraphAdapter
    manager: ChannelManager
    scheduler: RenewalScheduler
    google_users: list[str] = field(default_factory=list)
    graph_users: list[str] = field(default_factory=list)  # emulator user ids
    calendar_ids: list[str] = field(default_factory=list)


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


@asynccontextmanager
async def fleet(
    database_url: str,
    *,
    accounts_per_provider: int,
    calendars_per_account: int,
    start: datetime | None = None,
    spread: SpreadPolicy | None = None,
    google_rate: tuple[float, float] = (5.0, 10.0),
    observe: Observe | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[Fleet]:
    clock = clock or FakeClock(start)
    db = Database(database_url)
    cipher = Cipher([Fernet.generate_key().decode()])
    # Access tokens outlive the run: token refresh is tested elsewhere, and google-auth judges
    # expiry by the real clock, so FakeClock-expired tokens would cost a 401 + refresh per call.
    forever = timedelta(days=400)
    google = GoogleEmulator(
        clock,
        EmulatorConfig(allow_http_callbacks=True, push_retry_scale=0.0, access_token_lifetime=forever),
    )
    google.set_push_faults(drop_fraction=1.0)
    graph = GraphEmulator(
        clock, GraphEmulatorConfig(allow_http_callbacks=True, seed=7, access_token_lifetime=forever)
    )
    await graph.start()
    runners = []
    receiver = web.Application()
    add_graph_webhook(receiver, GraphWebhook(db, clock))
    for app in (create_google_app(google), create_graph_app(graph), receiver):
        runners.append(await _serve(app))
    g_url, m_url, hooks = (url for _, url in runners)

    async def persist(account_id: str, token: str) -> None:
        async with db.session() as session:
            await accounts.save_refresh_token(session, account_id, token, cipher, clock.now())

    rate, burst = google_rate
    g_adapter = GoogleAdapter(
        f"{g_url}/calendar/v3", f"{g_url}/token", clock, rate_per_second=rate, burst=burst,
        backoff=Backoff(0.5, 30.0), rng=random.Random(1),
    )  # fmt: skip
    m_adapter = GraphAdapter(
        f"{m_url}/v1.0", f"{m_url}/{graph.config.tenant_id}/oauth2/v2.0/token", clock,
        on_rotate=persist, backoff=Backoff(0.5, 30.0), rng=random.Random(2),
    )  # fmt: skip
    registry = AdapterRegistry()
    registry.register(g_adapter)
    registry.register(m_adapter)
    paths = {"google": "/webhooks/google", "microsoft": "/webhooks/graph"}
    manager = ChannelManager(
        db, registry, cipher, clock, lambda p: hooks + paths[p], RenewalPolicy(), random.Random(3)
    )
    scheduler = RenewalScheduler(manager, registry, db, clock, spread, observe)
    f = Fleet(clock, db, google, graph, g_adapter, m_adapter, manager, scheduler)
    now = clock.now()
    for n in range(accounts_per_provider):
        email = f"g{n}@example.com"
        token = google.create_user(email, client_id=GOOGLE_CLIENT)
        externals = [email] + [
            google.create_calendar(email, f"c{i}") for i in range(calendars_per_account - 1)
        ]
        seeded = await seed_account(
            db, cipher, now, organization_id=f"org{n % 3}", profile_id=f"gp{n}", provider="google",
            email=email, refresh_token=token, client_id=GOOGLE_CLIENT, external_calendar_ids=externals,
        )  # fmt: skip
        f.google_users.append(email)
        f.calendar_ids.extend(seeded.calendar_ids)
        user = graph.add_user(f"m{n}@contoso.com", f"M {n}")
        seeded = await seed_account(
            db, cipher, now, organization_id=f"org{n % 3}", profile_id=f"mp{n}", provider="microsoft",
            email=user.email, refresh_token=user.refresh_token, client_id=user.client_id,
            external_calendar_ids=[f"cal-{i}" for i in range(calendars_per_account)],
        )  # fmt: skip
        f.graph_users.append(user.id)
        f.calendar_ids.extend(seeded.calendar_ids)
    try:
        yield f
    finally:
        await m_adapter.close()
        await google.close()
        await graph.stop()
        for runner, _ in runners:
            await runner.cleanup()
        await db.close()
