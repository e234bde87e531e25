"""End to end through the Google emulator: the coach changes our event in their calendar.

The real daemon (push worker, sync, reconcile, notify) runs against the emulator; the
coach acts through the real google-api-python-client; e-mail goes to a real SMTP server
(aiosmtpd) and the host webhook to a real aiohttp receiver that verifies its signature.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from store import accounts, busy_blocks
from tests.backends import BACKENDS, crossed, harness_on
from tests.push.support import listed
from tests.reconcile.conftest import Inbox, Receiver
from tests.reconcile.e2e import prepare
from tests.sync.harness import Harness

pytestmark = pytest.mark.slow


@pytest.fixture
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """SQLite + embedded bus, unless a test asks for another backend (``BACKENDS``, indirect)."""
    async with harness_on(request, getattr(request, "param", "sqlite")) as h:
        yield h


@pytest.mark.parametrize("harness", BACKENDS, indirect=True)
async def test_delete_in_google_cancels_and_notifies_exactly_once(
    harness: Harness, smtp: tuple[Inbox, str], receiver: Receiver
) -> None:
    inbox, url = smtp
    s = await prepare(harness, inbox, url, receiver)
    link = await s.link()
    assert link is not None
    assert len(await listed(harness, harness.user, "appt-1")) == 1  # once in the push calendar
    events = harness.google_service().events()
    started = time.monotonic()
    await asyncio.to_thread(events.delete(calendarId=harness.user, eventId=link.external_event_id).execute)
    await s.check_cancelled_once(link.external_event_id, started)


async def test_revoked_token_or_expired_sync_token_cancels_nothing(
    harness: Harness, smtp: tuple[Inbox, str], receiver: Receiver
) -> None:
    inbox, url = smtp
    s = await prepare(harness, inbox, url, receiver)
    h = harness
    # Sync token expired: the next pass is a full resync that still lists our event: nothing happens.
    h.emulator.invalidate_sync_tokens(h.user)
    events = h.google_service().events()
    foreign = {"summary": "x", "start": {"dateTime": (s.start + timedelta(days=1)).isoformat()},
               "end": {"dateTime": (s.start + timedelta(days=1, hours=1)).isoformat()}}  # fmt: skip
    created = await asyncio.to_thread(events.insert(calendarId=h.user, body=foreign).execute)
    await h.wait_for(lambda e: e.event_id == created["id"], timeout=5.0)
    assert h.runtime.consumer is not None and h.runtime.consumer.stats.full_passes >= 2
    # Token revoked, then the coach deletes our event: calsync can no longer see it; it must not guess.
    async with h.db.session() as session:
        account = await accounts.get_account(session, h.account_id)
        assert account is not None
        h.emulator.revoke_refresh_token(accounts.credentials(account, h.runtime.cipher).refresh_token)
    link = await s.link()
    assert link is not None
    await asyncio.to_thread(events.delete(calendarId=h.user, eventId=link.external_event_id).execute)

    # The next sync meets invalid_grant: the account is marked in error, visibly — and nothing is
    # inferred from it. Then give the pipeline (~0.6 s for a real deletion) five times that.
    async def account_in_error() -> bool:
        async with h.db.session() as session:
            row = await accounts.get_account(session, h.account_id)
            return row is not None and row.state == "error"

    await h.wait_until(account_in_error, timeout=10.0)
    await asyncio.sleep(3.0)
    assert (await s.appointment()).status == "confirmed"
    assert inbox.messages == [] and receiver.deliveries == [] and await s.cancellations() == []


async def test_foreign_event_blocks_time_until_made_free_or_deleted(
    harness: Harness, smtp: tuple[Inbox, str], receiver: Receiver
) -> None:
    h = harness
    events = h.google_service().events()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    body = {"summary": "Private: therapy", "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + timedelta(hours=1)).isoformat()}}  # fmt: skip
    created = await asyncio.to_thread(events.insert(calendarId=h.user, body=body).execute)

    async def blocks() -> list[tuple[datetime, datetime]]:
        async with h.db.session() as session:
            return [
                (b.start_utc, b.end_utc)
                for b in await busy_blocks.blocks_for_calendar(session, h.calendar_id)
            ]

    async def has_block() -> bool:
        return await blocks() == [(start, start + timedelta(hours=1))]

    async def no_block() -> bool:
        return await blocks() == []

    await h.wait_until(has_block, timeout=5.0)
    patch = events.patch(calendarId=h.user, eventId=created["id"], body={"transparency": "transparent"})
    await asyncio.to_thread(patch.execute)
    await h.wait_until(no_block, timeout=5.0)
    patch = events.patch(calendarId=h.user, eventId=created["id"], body={"transparency": "opaque"})
    await asyncio.to_thread(patch.execute)
    await h.wait_until(has_block, timeout=5.0)
    await asyncio.to_thread(events.delete(calendarId=h.user, eventId=created["id"]).execute)
    await h.wait_until(no_block, timeout=5.0)


# On Kafka only ``accept``: it crosses the bus most (reschedule, push echo, e-mail); ``revert`` only pushes.
@pytest.mark.parametrize(
    ("harness", "policy"), crossed(["accept", "revert"], on_kafka=["accept"]), indirect=["harness"]
)
async def test_move_in_google_follows_the_move_policy(
    harness: Harness, smtp: tuple[Inbox, str], receiver: Receiver, policy: str
) -> None:
    inbox, url = smtp
    s = await prepare(harness, inbox, url, receiver, on_external_move=policy)
    h = harness
    link = await s.link()
    assert link is not None
    later = s.start + timedelta(hours=3)
    moved = {
        "start": {"dateTime": later.isoformat()},
        "end": {"dateTime": (later + timedelta(hours=1)).isoformat()},
    }
    events = h.google_service().events()
    await asyncio.to_thread(
        events.patch(calendarId=h.user, eventId=link.external_event_id, body=moved).execute
    )

    if policy == "accept":

        async def rescheduled() -> bool:
            return (await s.appointment()).start_utc == later

        await h.wait_until(rescheduled, timeout=5.0)
        await asyncio.wait_for(inbox.arrived.wait(), 10.0)
        assert "Moved: Coaching" in inbox.messages[0].decode()
    else:

        async def back_in_place() -> bool:
            item = await asyncio.to_thread(
                events.get(calendarId=h.user, eventId=link.external_event_id).execute
            )
            return bool(datetime.fromisoformat(item["start"]["dateTime"]) == s.start)

        await h.wait_until(back_in_place, timeout=10.0)
        assert (await s.appointment()).start_utc == s.start
    await s.settle()
    # No loop: the appointment settles at one version and nothing is cancelled.
    version = (await s.appointment()).version
    await s.settle()
    assert (await s.appointment()).version == version and await s.cancellations() == []
    assert len(inbox.messages) == (1 if policy == "accept" else 0)
