"""End to end through the Microsoft Graph emulator: the coach deletes our event in Outlook.

The real daemon (push worker, Graph sync over a real subscription, reconcile, notify) runs
against the emulator; the coach's delete is made in the emulator as another client would;
e-mail goes to a real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import asyncio
import email
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from daemon.appkeys import CLOCK, DATABASE
from daemon.reconcile_wiring import RECONCILE
from daemon.sync_wiring import SYNC
from handlers.host_webhook import HostWebhookSender
from handlers.mailer import SmtpMailer, parse_smtp_url
from handlers.notify import Notifier
from store import event_links
from store.appointments import AppointmentFields, upsert_appointment
from store.tables import Appointment, Calendar, EventLink, OutboxMessage
from tests.graph.harness import Stack, graph_stack
from tests.reconcile.conftest import Inbox

pytestmark = pytest.mark.slow

ORG, PROFILE = "org", "p1"  # as tests/graph/seed.py seeds them


@pytest.fixture
async def stack(sqlite_url: str) -> AsyncIterator[Stack]:
    from tests.conftest import _migrate

    _migrate(sqlite_url)
    async with graph_stack(sqlite_url) as s:
        async with s.app[DATABASE].session() as session:
            calendar = await session.get(Calendar, s.calendar_id)
            assert calendar is not None
            calendar.role = "push"
            session.add(calendar)
        yield s


async def appointment(stack: Stack, appointment_id: str = "appt-1") -> Appointment:
    async with stack.app[DATABASE].session() as session:
        found = await session.get(Appointment, appointment_id)
        assert found is not None
        return found


async def link(stack: Stack, appointment_id: str = "appt-1") -> EventLink | None:
    async with stack.app[DATABASE].session() as session:
        links = await event_links.links_for(session, appointment_id)
    return links[0] if links and links[0].etag else None


async def cancellations(stack: Stack) -> list[dict[str, Any]]:
    async with stack.app[DATABASE].session() as session:
        rows = (await session.exec(select(OutboxMessage))).all()
    return [e for e in (json.loads(r.payload) for r in rows) if e["type"] == "appointment.cancelled"]


async def until(condition: Any, timeout: float = 10.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (found := await condition()):
            await asyncio.sleep(0.02)
    return found


async def test_delete_in_outlook_cancels_and_mails_the_client_exactly_once(
    stack: Stack, smtp: tuple[Inbox, str]
) -> None:
    inbox, url = smtp
    app = stack.app
    app[RECONCILE].notifier = Notifier(
        app[DATABASE], app[CLOCK], app[SYNC].cipher, SmtpMailer(parse_smtp_url(url), timeout=5.0),
        HostWebhookSender(timeout=5.0), mail_from="calsync@coaching.test",
    )  # fmt: skip
    assert await stack.channels.watch(stack.calendar_id) is not None  # the Graph subscription

    now = datetime.now(UTC)
    start = now.replace(microsecond=0, second=0) + timedelta(days=2)
    async with app[DATABASE].session() as session:
        fields = AppointmentFields(
            profile_id=PROFILE, organization_id=ORG, start_utc=start, end_utc=start + timedelta(hours=1),
            time_zone="Europe/Berlin", title="Coaching", client_name="Ann", client_email="ann@example.com",
        )  # fmt: skip
        await upsert_appointment(session, "appt-1", None, fields, now)
    written = await until(lambda: link(stack), timeout=10.0)
    event_id = written.external_event_id
    assert event_id in stack.emulator.mailbox(stack.user.id).events  # pushed to the Outlook calendar
    # Our own write comes back through the subscription + delta: wait until it has been seen.
    await stack.wait_for(lambda cs: any(c["event_id"] == event_id for c in cs), 5.0)

    stack.emulator.delete_event(stack.user.id, event_id)  # the coach deletes it in Outlook
    await asyncio.wait_for(inbox.arrived.wait(), 10.0)

    cancelled = await appointment(stack)
    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "deleted_in_external_calendar")
    [announcement] = await cancellations(stack)
    assert announcement["data"]["reason"] == "deleted_in_external_calendar"
    [message] = inbox.messages
    assert "ann@example.com" in str(email.message_from_bytes(message)["To"])
    await asyncio.sleep(1.5)  # let every in-flight notification, sync and consumer pass run out
    assert len(inbox.messages) == 1 and len(await cancellations(stack)) == 1
    assert (await appointment(stack)).version == cancelled.version
