"""The notifier against a real SMTP server (aiosmtpd) and a real webhook receiver (aiohttp)."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta

from sqlmodel import select

from channels.model import EventStatus, ExternalEvent, Provider
from handlers.adapters import AdapterRegistry
from handlers.host_webhook import HostWebhookSender
from handlers.mailer import SmtpMailer, parse_smtp_url
from handlers.notify import Notifier
from handlers.reconcile import ReconcileConsumer
from store import notifications as store
from store.db import Database
from store.tables import SentNotification
from tests.reconcile.conftest import Inbox, Receiver, World, seed_world


async def cancelled_world(
    database: Database, smtp_url: str, receiver: Receiver
) -> tuple[World, Notifier, bytes]:
    world = await seed_world(database)
    receiver.secret = await world.set_webhook(receiver.url)
    receiver.now = world.clock.now
    await world.appointment()
    gone = ExternalEvent(Provider.GOOGLE, world.push_calendar, "evt-1", EventStatus.CANCELLED, etag="x")
    await ReconcileConsumer(world.db, AdapterRegistry(), world.cipher, world.clock).reconcile("m1", gone)
    notifier = Notifier(
        world.db, world.clock, world.cipher, SmtpMailer(parse_smtp_url(smtp_url), timeout=5.0),
        HostWebhookSender(timeout=5.0), mail_from="calsync@acme.test",
    )  # fmt: skip
    [payload] = await world.outbox_payloads("appointment.cancelled")
    return world, notifier, payload


async def rows(world: World) -> dict[str, SentNotification]:
    async with world.db.session() as session:
        return {r.kind: r for r in (await session.exec(select(SentNotification))).all()}


async def test_cancellation_mails_the_client_and_signs_the_webhook_exactly_once(
    database: Database, smtp: tuple[Inbox, str], receiver: Receiver
) -> None:
    inbox, url = smtp
    world, notifier, payload = await cancelled_world(database, url, receiver)
    await notifier.handle(payload)
    await notifier.handle(payload)  # redelivered
    await notifier.sweep()
    assert len(inbox.messages) == 1 and len(receiver.deliveries) == 1
    message = email.message_from_bytes(inbox.messages[0], policy=email.policy.default)
    assert message["To"] == "Ann <ann@example.com>" and message["Subject"].startswith("Cancelled: Check-up")
    assert "Monday, 12 January 2026, 10:00–11:00 (Europe/Berlin)" in message["Subject"]
    found = await rows(world)
    assert {k: r.state for k, r in found.items()} == {"email": "sent", "host_webhook": "sent"}
    assert message["Message-ID"] == f"<{found['email'].message_id}@acme.test>"
    headers, body = receiver.deliveries[0]
    assert body == payload and headers["webhook-id"] == found["host_webhook"].message_id
    assert receiver.bodies()[0]["data"]["reason"] == "deleted_in_external_calendar"


async def test_transient_smtp_failure_is_retried_after_backoff(
    database: Database, smtp: tuple[Inbox, str], receiver: Receiver
) -> None:
    inbox, url = smtp
    inbox.replies = ["451 4.3.0 try later", "451 4.3.0 try later"]
    world, notifier, payload = await cancelled_world(database, url, receiver)
    await notifier.handle(payload)
    assert (await rows(world))["email"].state == "pending"
    await notifier.sweep()  # backoff not over: nothing
    assert inbox.messages == [] and (await rows(world))["email"].attempts == 1
    world.clock.advance(timedelta(seconds=31))
    await notifier.sweep()
    world.clock.advance(timedelta(seconds=61))
    await notifier.sweep()
    world.clock.advance(timedelta(hours=2))
    await notifier.sweep()
    email_row = (await rows(world))["email"]
    assert (email_row.state, email_row.attempts, len(inbox.messages)) == ("sent", 3, 1)


async def test_permanent_smtp_failure_fails_without_retry(
    database: Database, smtp: tuple[Inbox, str], receiver: Receiver
) -> None:
    inbox, url = smtp
    inbox.replies = ["550 5.1.1 no such mailbox"]
    world, notifier, payload = await cancelled_world(database, url, receiver)
    await notifier.handle(payload)
    world.clock.advance(timedelta(hours=3))
    await notifier.sweep()
    row = (await rows(world))["email"]
    assert (row.state, row.attempts, inbox.messages) == ("failed", 1, [])
    assert row.last_error is not None and "550" in row.last_error
    assert notifier.stats["email:failed"] == 1


async def test_a_sender_that_died_mid_send_is_replaced_after_the_stale_limit(
    database: Database, smtp: tuple[Inbox, str], receiver: Receiver
) -> None:
    inbox, url = smtp
    world, notifier, payload = await cancelled_world(database, url, receiver)
    async with world.db.session() as session:  # a replica claimed the rows, then crashed
        for row in (await session.exec(select(SentNotification))).all():
            assert row.id is not None
            assert await store.claim(session, row.id, stale_before=world.clock.now(), now=world.clock.now())
    await notifier.handle(payload)
    await notifier.sweep()
    assert inbox.messages == [] and receiver.deliveries == []
    world.clock.advance(timedelta(minutes=6))
    await notifier.sweep()
    assert len(inbox.messages) == 1 and len(receiver.deliveries) == 1
    assert {r.state for r in (await rows(world)).values()} == {"sent"}


async def test_webhook_5xx_retries_and_4xx_fails(
    database: Database, smtp: tuple[Inbox, str], receiver: Receiver
) -> None:
    _, url = smtp
    receiver.statuses = [503]
    world, notifier, payload = await cancelled_world(database, url, receiver)
    await notifier.handle(payload)
    assert (await rows(world))["host_webhook"].state == "pending"
    world.clock.advance(timedelta(seconds=31))
    await notifier.sweep()
    assert (await rows(world))["host_webhook"].state == "sent" and len(receiver.deliveries) == 1

    receiver.statuses = [400]
    async with world.db.session() as session:
        await store.create_pending(session, "appt-1", 2, ["host_webhook"], world.clock.now())  # no-op: exists
        row = (
            await session.exec(select(SentNotification).where(SentNotification.kind == "host_webhook"))
        ).one()
        row.state, row.attempts, row.sent_at = "pending", 0, None  # as if new
        session.add(row)
    await notifier.handle(payload)
    row = (await rows(world))["host_webhook"]
    assert row.state == "failed" and "400" in (row.last_error or "")
