"""Fixtures for the reconcile suites: a seeded store, a real SMTP server, a real webhook receiver."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet
from sqlmodel import col, select

from calsync.clock import FakeClock
from calsync.crypto import Cipher
from handlers.host_webhook import new_secret, verify
from store import accounts, calendars, event_links
from store.appointments import AppointmentFields, upsert_appointment
from store.db import Database
from store.organizations import upsert_organization
from store.profiles import create_profile
from store.tables import Organization, OutboxMessage
from tests.tansu import free_port

T0 = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)


class Inbox:
    """aiosmtpd handler: records messages; queued replies (e.g. "451 ...") answer DATA first."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.replies: list[str] = []
        self.arrived = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.replies:
            return self.replies.pop(0)
        self.messages.append(envelope.content)
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.arrived.set)
        return "250 OK"

    def message_ids(self) -> list[str]:
        import email

        return [str(email.message_from_bytes(m)["Message-ID"]) for m in self.messages]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, str]]:
    inbox = Inbox()
    inbox.loop = asyncio.get_event_loop_policy().get_event_loop()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


@dataclass
class Receiver:
    """A host app's webhook endpoint: verifies every delivery against the secret it is given."""

    secret: str = ""
    deliveries: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # forced answers, consumed first
    url: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    now: Callable[[], datetime] = lambda: datetime.now(UTC)  # the daemon's clock, for the tolerance

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.statuses:
            return web.Response(status=self.statuses.pop(0))
        verify(self.secret, dict(request.headers), body, self.now())
        self.deliveries.append((dict(request.headers), body))
        self.arrived.set()
        return web.Response(status=204)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.deliveries]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    rec.url = str(server.make_url("/hook"))
    try:
        yield rec
    finally:
        await server.close()


@dataclass
class World:
    db: Database
    clock: FakeClock
    cipher: Cipher
    org_id: str = "org"
    profile_id: str = "prof-a"
    other_profile_id: str = "prof-b"
    push_calendar: str = ""
    pull_calendar: str = ""
    other_push_calendar: str = ""

    async def outbox(self, topic: str = "calsync.appointments") -> list[dict[str, Any]]:
        async with self.db.session() as session:
            rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
        return [json.loads(r.payload) for r in rows if r.topic == topic]

    async def outbox_payloads(self, kind: str) -> list[bytes]:
        async with self.db.session() as session:
            rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
        return [bytes(r.payload) for r in rows if json.loads(r.payload)["type"] == kind]

    async def appointment(
        self, appointment_id: str = "appt-1", *, etag: str = "etag-1", event_id: str = "evt-1", **changes: Any
    ) -> None:
        """An appointment (version 1) whose event the push worker wrote to the push calendar."""
        values: dict[str, Any] = {
            "profile_id": self.profile_id, "organization_id": self.org_id, "start_utc": T0,
            "end_utc": T0 + timedelta(hours=1), "time_zone": "Europe/Berlin", "title": "Check-up",
            "client_name": "Ann", "client_email": "ann@example.com",
        }  # fmt: skip
        values.update(changes)
        async with self.db.session() as session:
            fields = AppointmentFields(**values)
            await upsert_appointment(session, appointment_id, None, fields, self.clock.now())
            await event_links.record_written(
                session, appointment_id=appointment_id, calendar_id=self.push_calendar, instance_key="",
                external_event_id=event_id, etag=etag, version=1, now=self.clock.now(),
            )  # fmt: skip

    async def set_webhook(self, url: str) -> str:
        secret = new_secret()
        async with self.db.session() as session:
            org = await session.get(Organization, self.org_id)
            assert org is not None
            org.webhook_url, org.webhook_secret_enc = url, self.cipher.encrypt(secret)
            session.add(org)
        return secret


async def seed_world(db: Database, settings: dict[str, Any] | None = None) -> World:
    clock = FakeClock(T0 - timedelta(days=1))
    world = World(db, clock, Cipher((Fernet.generate_key().decode(),)))
    now = clock.now()
    async with db.session() as session:
        await upsert_organization(session, world.org_id, "Acme Coaching", None, now)
        for profile_id, name in ((world.profile_id, "Ada"), (world.other_profile_id, "Grace")):
            profile = await create_profile(
                session, profile_id=profile_id, organization_id=world.org_id, name=name,
                email=f"{profile_id}@example.com", time_zone="Europe/Berlin", now=now,
            )  # fmt: skip
            profile.settings = dict(settings or {})
            session.add(profile)
            account = await accounts.create_account(
                session, organization_id=world.org_id, profile_id=profile_id, provider="google",
                external_account=f"{profile_id}@example.com", client_id="c", client_secret="s",
                refresh_token="r", cipher=world.cipher, now=now,
            )  # fmt: skip
            for role in ("push", "pull"):
                cal = await calendars.upsert_calendar(
                    session, account_id=account.id, profile_id=profile_id, external_id=f"{profile_id}-{role}",
                    name=role, role=role, now=now,
                )  # fmt: skip
                if profile_id == world.profile_id:
                    setattr(world, f"{role}_calendar", cal.id)
                elif role == "push":
                    world.other_push_calendar = cal.id
    return world
