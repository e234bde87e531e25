"""Provider-neutral set-up and checks for the reconcile end-to-end suites (Google and Graph).

A rig is either end-to-end harness: ``tests/sync/harness.py`` (Google) or ``tests/graph/harness.py``
(Graph), on any backend of ``tests/backends.py``. ``prepare`` makes the rig's calendar the profile's
push calendar, wires a real SMTP server and a host webhook receiver that verifies signatures, books
an appointment the real push worker writes to the provider, and waits until calsync has seen its own
write come back; ``Setup`` reads the outcomes and checks the deletion path end to end.
"""

from __future__ import annotations

import asyncio
import email
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from aiohttp import web
from sqlmodel import select

from calsync.envelope import Envelope, encode
from daemon.appkeys import CLOCK
from daemon.reconcile_wiring import RECONCILE
from daemon.sync_wiring import SyncRuntime
from handlers.host_webhook import HostWebhookSender, new_secret
from handlers.mailer import SmtpMailer, parse_smtp_url
from handlers.notify import Notifier
from store import calendars, event_links
from store.appointments import AppointmentFields, upsert_appointment
from store.db import Database
from store.tables import Appointment, EventLink, Organization, OutboxMessage, Profile
from tests.reconcile.conftest import Inbox, Receiver

DELETED = "deleted_in_external_calendar"


class Rig(Protocol):
    app: web.Application
    calendar_id: str
    organization_id: str
    profile_id: str

    @property
    def db(self) -> Database: ...

    @property
    def runtime(self) -> SyncRuntime: ...

    @property
    def envelopes(self) -> list[Envelope]: ...  # every delivery on calsync.changes

    @property
    def announcements(self) -> list[Envelope]: ...  # every delivery on calsync.appointments

    async def wait_until(self, condition: Any, timeout: float = 10.0) -> None: ...

    async def wait_seen(self, event_id: str, etag: str | None, timeout: float = 5.0) -> None: ...


@dataclass
class Setup:
    h: Rig
    inbox: Inbox
    receiver: Receiver
    start: datetime

    async def appointment(self, appointment_id: str = "appt-1") -> Appointment:
        async with self.h.db.session() as session:
            found = await session.get(Appointment, appointment_id)
            assert found is not None
            return found

    async def link(self, appointment_id: str = "appt-1") -> EventLink | None:
        async with self.h.db.session() as session:
            links = await event_links.links_for(session, appointment_id)
        return links[0] if links and links[0].etag else None

    async def cancellations(self) -> list[dict[str, Any]]:
        """``appointment.cancelled`` envelopes in the outbox."""
        async with self.h.db.session() as session:
            rows = (await session.exec(select(OutboxMessage))).all()
        envelopes = [json.loads(r.payload) for r in rows]
        return [e for e in envelopes if e["type"] == "appointment.cancelled"]

    def announced(self, kind: str = "appointment.cancelled") -> list[Envelope]:
        """Distinct envelopes of ``kind`` that calsync.appointments carried. A record the relay
        republished (Kafka is at-least-once, DESIGN.md) counts once: consumers dedupe on its id."""
        return list({e.id: e for e in self.h.announcements if e.type == kind}.values())

    async def settle(self, seconds: float = 1.5) -> None:
        """Let every in-flight notification, sync and consumer pass run out."""
        await asyncio.sleep(seconds)

    async def check_cancelled_once(self, event_id: str, started: float) -> None:
        """After the owner deleted ``event_id`` (at monotonic ``started``): the appointment is cancelled
        as deleted externally, with one e-mail, one announcement on the bus and one verified host
        webhook — and nothing more when the deletion and the announcement are delivered again."""
        await asyncio.wait_for(self.inbox.arrived.wait(), 10.0)
        mail_latency = time.monotonic() - started
        await asyncio.wait_for(self.receiver.arrived.wait(), 10.0)
        webhook_latency = time.monotonic() - started
        print(f"external delete -> e-mail {mail_latency:.3f}s, -> host webhook {webhook_latency:.3f}s")

        cancelled = await self.appointment()
        assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", DELETED)
        [announcement] = await self.cancellations()
        assert announcement["data"]["reason"] == DELETED
        [(_, body)] = self.receiver.deliveries  # verified by the receiver against the org's secret
        assert body == encode_like(announcement)
        [message] = self.inbox.messages
        assert "ann@example.com" in str(email.message_from_bytes(message)["To"])
        await self.h.wait_until(self.announced, timeout=10.0)
        [published] = self.announced()
        assert published.id == announcement["id"]

        await self.redeliver(event_id, body)
        assert len(self.inbox.messages) == 1 and len(self.receiver.deliveries) == 1
        assert len(await self.cancellations()) == 1 and len(self.announced()) == 1
        final = await self.appointment()
        assert final.version == cancelled.version
        assert final.sync_state == "synced", final.sync_error  # the push worker found the event gone

    async def redeliver(self, event_id: str, announcement: bytes) -> None:
        """Hand the deletion of ``event_id`` and ``announcement`` to their consumers once more, run
        the notifier's retry sweep, and let everything settle."""
        tombstones = [
            e for e in self.h.envelopes if e.data["event_id"] == event_id and e.data["status"] == "cancelled"
        ]
        assert tombstones
        runtime = self.h.app[RECONCILE]
        assert runtime.reconciler is not None and runtime.notifier is not None
        await runtime.reconciler.handle(encode(tombstones[0]))
        await runtime.notifier.handle(announcement)
        await runtime.notifier.sweep()
        await self.settle()


async def prepare(h: Rig, inbox: Inbox, smtp_url: str, receiver: Receiver, **settings: str) -> Setup:
    """Make the rig's calendar the profile's push calendar, wire SMTP and the host webhook,
    and book an appointment the real push worker writes to the provider."""
    now = datetime.now(UTC)
    secret = new_secret()
    receiver.secret = secret
    cipher = h.runtime.cipher
    async with h.db.session() as session:
        cal = await calendars.get_calendar(session, h.calendar_id)
        assert cal is not None
        cal.role = "push"
        session.add(cal)
        org = await session.get(Organization, h.organization_id)
        assert org is not None
        org.webhook_url, org.webhook_secret_enc = receiver.url, cipher.encrypt(secret)
        session.add(org)
        profile = await session.get(Profile, h.profile_id)
        assert profile is not None
        profile.settings = dict(settings)
        session.add(profile)
    h.app[RECONCILE].notifier = Notifier(
        h.db, h.app[CLOCK], cipher, SmtpMailer(parse_smtp_url(smtp_url), timeout=5.0),
        HostWebhookSender(timeout=5.0), mail_from="calsync@coaching.test",
    )  # fmt: skip
    start = now.replace(microsecond=0, second=0) + timedelta(days=2)
    async with h.db.session() as session:
        fields = AppointmentFields(
            profile_id=h.profile_id, organization_id=h.organization_id, start_utc=start,
            end_utc=start + timedelta(hours=1), time_zone="Europe/Berlin", title="Coaching",
            client_name="Ann", client_email="ann@example.com",
        )  # fmt: skip
        await upsert_appointment(session, "appt-1", None, fields, now)
    s = Setup(h, inbox, receiver, start)
    await h.wait_until(s.link, timeout=10.0)
    link = await s.link()
    assert link is not None
    # Our own write comes back through push + sync: wait until it has been seen (and ignored).
    await h.wait_seen(link.external_event_id, link.etag, timeout=5.0)
    return s


def encode_like(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()
