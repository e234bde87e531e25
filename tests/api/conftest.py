"""API fixtures: a real aiohttp app with the API mounted on a migrated database, keys minted in the store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel import select

from calsync.clock import FakeClock
from daemon.api import setup_api
from daemon.appkeys import CLOCK, DATABASE, SETTINGS
from daemon.config import Settings
from store.api_keys import create_key
from store.db import Database
from store.tables import Appointment, Organization, OutboxMessage, Profile

Client = TestClient[web.Request, web.Application]


class Api:
    """A test client plus helpers to mint keys and seed data the way the CLI and host would."""

    def __init__(self, client: Client, db: Database, clock: FakeClock) -> None:
        self.client = client
        self.db = db
        self.clock = clock

    async def key(self, organization: str | None = None, read_only: bool = False) -> dict[str, str]:
        async with self.db.session() as s:
            plaintext, _ = await create_key(s, "test", organization, self.clock.now(), read_only)
        return {"Authorization": f"Bearer {plaintext}"}

    async def seed(self, org: str = "org1", profile: str = "p1", tz: str = "Europe/Berlin") -> None:
        async with self.db.session() as s:
            if await s.get(Organization, org) is None:
                s.add(Organization(id=org, name=org.upper(), created_at=self.clock.now()))
                await s.flush()
            s.add(
                Profile(
                    id=profile,
                    organization_id=org,
                    name=profile.upper(),
                    email=f"{profile}@example.com",
                    time_zone=tz,
                    created_at=self.clock.now(),
                    updated_at=self.clock.now(),
                )
            )

    async def outbox(self) -> list[OutboxMessage]:
        async with self.db.session() as s:
            return list((await s.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all())  # type: ignore[arg-type]

    async def appointments(self) -> list[Appointment]:
        async with self.db.session() as s:
            return list((await s.exec(select(Appointment))).all())


@pytest.fixture
async def api(database: Database, aiohttp_client: Callable[[web.Application], Awaitable[Client]]) -> Api:
    clock = FakeClock()
    app = web.Application()
    app[SETTINGS] = Settings()
    app[DATABASE] = database
    app[CLOCK] = clock
    setup_api(app)
    return Api(await aiohttp_client(app), database, clock)


@pytest.fixture
async def operator(api: Api) -> dict[str, str]:
    await api.seed()
    return await api.key()


def appointment_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "profile": "p1",
        "start": "2026-01-12T10:00:00+01:00",
        "end": "2026-01-12T11:00:00+01:00",
        "title": "Check-up",
        "client": {"name": "Ann", "email": "ann@example.com"},
    }
    body.update(changes)
    return body
