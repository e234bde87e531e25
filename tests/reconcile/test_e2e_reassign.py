"""End to end through the Google emulator: a dispatcher moves our event to another technician.

Two profiles of one organization, each with its own push calendar in the same Google account
(a field-service team's calendar set: the harness user's primary calendar for profile A, a
secondary calendar for profile B; each profile has its own account row for that user). The
real push worker writes the appointment to A's calendar; the dispatcher then moves the event to
B's calendar with ``events.move`` through the real google-api-python-client, exactly as Google's
UI does: the event keeps its id and our marker, A's sync lists it as cancelled, B's lists it as
new. The profile's ``on_calendar_change`` decides: ``reassign`` gives the appointment to B and
tells the host (``appointment.reassigned``, signed webhook), ``revert`` puts the event back in
A. Either way nothing is cancelled and the client gets no e-mail.

The two calendars' changes travel under different bus keys, so either may be reconciled first.
Both orders are forced by holding one calendar's push notifications back in the emulator:
``cancelled_first`` — A's tombstone is reconciled before B was synced at all (the reconciler
finds the event in B by a direct GET); ``marker_first`` — B's sync sees our marker before A's
tombstone arrives.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from daemon.reconcile_wiring import RECONCILE
from store import accounts, calendars, event_links
from store import channels as channel_store
from store.profiles import create_profile
from store.tables import OutboxMessage
from tests.backends import crossed, harness_on
from tests.push.support import listed
from tests.reconcile.conftest import Inbox, Receiver
from tests.reconcile.e2e import Setup, prepare
from tests.sync.harness import CLIENT_ID, USER, Harness

pytestmark = pytest.mark.slow


@dataclass
class TeamMember:
    profile_id: str
    calendar_id: str  # calsync's id
    external_id: str  # the Google calendar id


# Every order on SQLite and PostgreSQL. On Kafka one order per policy, so that both orders and both
# policies still run there: reassign with the tombstone first (the look elsewhere), revert with the
# marker first.
ORDERS = ["cancelled_first", "marker_first"]


@pytest.fixture
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """SQLite + embedded bus, unless a test asks for another backend (``crossed``, indirect)."""
    async with harness_on(request, getattr(request, "param", "sqlite")) as h:
        yield h


async def add_team_member(h: Harness) -> TeamMember:
    """Profile B with a push calendar of its own in the harness user's Google account, watched
    and synced by the running daemon (the renewal round creates its channel)."""
    external = h.emulator.create_calendar(USER, "Grace (field service)")
    refresh = h.emulator.add_refresh_token(USER, client_id=CLIENT_ID)
    now = datetime.now(UTC)
    profile_id = f"prof-{uuid.uuid4().hex[:6]}"
    async with h.db.session() as session:
        await create_profile(
            session, profile_id=profile_id, organization_id=h.organization_id, name="Grace",
            email="grace@example.com", time_zone="Europe/Berlin", now=now,
        )  # fmt: skip
        account = await accounts.create_account(
            session, organization_id=h.organization_id, profile_id=profile_id, provider="google",
            external_account=USER, client_id=CLIENT_ID, client_secret="s3cret", refresh_token=refresh,
            cipher=h.runtime.cipher, now=now,
        )  # fmt: skip
        calendar = await calendars.upsert_calendar(
            session, account_id=account.id, profile_id=profile_id, external_id=external, name="Grace",
            role="push", now=now,
        )  # fmt: skip
    member = TeamMember(profile_id, calendar.id, external)

    async def watched_and_synced() -> bool:
        async with h.db.session() as session:
            cal = await calendars.get_calendar(session, member.calendar_id)
            chans = await channel_store.channels_for_calendar(session, member.calendar_id)
        return cal is not None and cal.last_synced_at is not None and any(c.state == "active" for c in chans)

    await h.wait_until(watched_and_synced, timeout=10.0)
    return member


async def quiet(h: Harness, *calendar_ids: str, for_seconds: float = 0.8) -> None:
    """Until none of the calendars had a sync pass for ``for_seconds``: the set-up's trailing passes
    (debounced by 0.5 s) are over, so only what the test releases can sync them again."""
    last: tuple[object, ...] | None = None
    since = time.monotonic()
    while True:
        async with h.db.session() as session:
            rows = [await calendars.get_calendar(session, c) for c in calendar_ids]
        marks = tuple(row.last_synced_at if row else None for row in rows)
        if marks != last:
            last, since = marks, time.monotonic()
        elif time.monotonic() - since >= for_seconds:
            return
        await asyncio.sleep(0.05)


async def outbox_types(h: Harness) -> list[str]:
    async with h.db.session() as session:
        rows = (await session.exec(select(OutboxMessage))).all()
    return [json.loads(row.payload)["type"] for row in rows]


def seen(h: Harness, calendar_id: str, event_id: str, *, tombstone: bool | None = None) -> bool:
    """Whether calsync's sync has published a change of ``event_id`` in ``calendar_id``."""
    return any(
        e.calendar_id == calendar_id and e.event_id == event_id and tombstone in (None, e.is_tombstone)
        for e in h.events()
    )


@dataclass
class Moved:
    member: TeamMember
    event_id: str
    at: float  # monotonic time of the move


async def moved_by_dispatcher(h: Harness, s: Setup, order: str) -> Moved:
    """Add B, hold back the calendar to be reconciled second, then move our event from A to B."""
    member = await add_team_member(h)
    link = await s.link()
    assert link is not None
    assert len(await listed(h, h.user, "appt-1")) == 1 and await listed(h, member.external_id, "appt-1") == []
    h.emulator.hold_push(member.external_id if order == "cancelled_first" else h.user)
    await quiet(h, h.calendar_id, member.calendar_id)
    events = h.google_service().events()
    started = time.monotonic()
    move = events.move(calendarId=h.user, eventId=link.external_event_id, destination=member.external_id)
    moved = await asyncio.to_thread(move.execute)
    assert moved["id"] == link.external_event_id
    assert moved["extendedProperties"]["private"]["calsync_appointment"] == "appt-1"
    return Moved(member, link.external_event_id, started)


async def release_and_settle(h: Harness, s: Setup, moved: Moved, order: str) -> None:
    """Check the forced order held until the decision, then let the held calendar sync too.

    The change decided on is awaited, not asserted at once: the harness's collector is a consumer
    group of its own, which on Kafka may fetch it a poll (~0.5 s) after the reconciler's group did."""
    member, event_id = moved.member, moved.event_id
    if order == "cancelled_first":
        await h.wait_until(lambda: seen(h, h.calendar_id, event_id, tombstone=True), timeout=5.0)
        assert not seen(h, member.calendar_id, event_id)  # decided before B was ever synced
        assert h.app[RECONCILE].reconciler is not None
        assert h.app[RECONCILE].reconciler.decisions["LookElsewhere"] >= 1
        h.emulator.release_push(member.external_id)
        await h.wait_until(lambda: seen(h, member.calendar_id, event_id), timeout=5.0)
    else:
        await h.wait_until(lambda: seen(h, member.calendar_id, event_id, tombstone=False), timeout=5.0)
        assert not seen(h, h.calendar_id, event_id, tombstone=True)  # decided before A's tombstone
        h.emulator.release_push(h.user)
        if (await s.appointment()).profile_id != h.profile_id:  # reassigned: A still lists it cancelled
            await h.wait_until(lambda: seen(h, h.calendar_id, event_id, tombstone=True), timeout=5.0)
    await s.settle()


@pytest.mark.parametrize(
    ("harness", "order"), crossed(ORDERS, on_kafka=["cancelled_first"]), indirect=["harness"]
)
async def test_reassign_moves_the_appointment_to_the_other_profile(
    harness: Harness, smtp: tuple[Inbox, str], receiver: Receiver, order: str
) -> None:
    h, (inbox, url) = harness, smtp
    s = await prepare(h, inbox, url, receiver, on_calendar_change="reassign")
    moved = await moved_by_dispatcher(h, s, order)
    member, event_id = moved.member, moved.event_id

    async def reassigned() -> bool:
        return (await s.appointment()).profile_id == member.profile_id

    await h.wait_until(reassigned, timeout=10.0)
    print(f"{order}: events.move -> reassigned {time.monotonic() - moved.at:.3f}s")
    await release_and_settle(h, s, moved, order)

    appt = await s.appointment()
    assert (appt.status, appt.profile_id, appt.version) == ("confirmed", member.profile_id, 2)
    types = await outbox_types(h)
    assert types.count("appointment.reassigned") == 1 and "appointment.cancelled" not in types
    await asyncio.wait_for(receiver.arrived.wait(), 10.0)
    assert [b["type"] for b in receiver.bodies()] == ["appointment.reassigned"]
    assert [b["data"]["previous_profile"] for b in receiver.bodies()] == [h.profile_id]
    assert inbox.messages == []  # the client's booking did not change: no e-mail
    # Exactly once, in B's calendar; linked there, and no longer in A's.
    assert await listed(h, h.user, "appt-1") == []
    [there] = await listed(h, member.external_id, "appt-1")
    # Rewritten by the push worker for its new profile (B's title template and privacy settings).
    assert there["id"] == event_id and there["extendedProperties"]["private"]["calsync_version"] == "2"
    assert appt.sync_state == "synced"
    async with h.db.session() as session:
        links = {x.calendar_id: x.state for x in await event_links.links_for(session, "appt-1")}
    assert links == {h.calendar_id: "deleted", member.calendar_id: "live"}
    await s.settle()
    assert (await s.appointment()).version == 2 and (await outbox_types(h)).count(
        "appointment.reassigned"
    ) == 1


@pytest.mark.parametrize(
    ("harness", "order"), crossed(ORDERS, on_kafka=["marker_first"]), indirect=["harness"]
)
async def test_revert_puts_the_event_back_in_its_own_calendar(
    harness: Harness, smtp: tuple[Inbox, str], receiver: Receiver, order: str
) -> None:
    h, (inbox, url) = harness, smtp
    s = await prepare(h, inbox, url, receiver, on_calendar_change="revert")
    moved = await moved_by_dispatcher(h, s, order)
    member, event_id = moved.member, moved.event_id

    async def back_in_place() -> bool:
        home = await listed(h, h.user, "appt-1")
        return len(home) == 1 and await listed(h, member.external_id, "appt-1") == []

    await h.wait_until(back_in_place, timeout=10.0)
    print(f"{order}: events.move -> back in A {time.monotonic() - moved.at:.3f}s")
    await release_and_settle(h, s, moved, order)

    appt = await s.appointment()
    assert (appt.status, appt.profile_id, appt.version) == ("confirmed", h.profile_id, 1)
    types = await outbox_types(h)
    assert "appointment.reassigned" not in types and "appointment.cancelled" not in types
    assert [e["id"] for e in await listed(h, h.user, "appt-1")] == [event_id]  # exactly once, in A
    assert await listed(h, member.external_id, "appt-1") == []
    assert inbox.messages == [] and receiver.deliveries == []


async def test_a_real_delete_still_cancels_once_when_other_push_calendars_exist(
    harness: Harness, smtp: tuple[Inbox, str], receiver: Receiver
) -> None:
    """The look elsewhere finds nothing: one cancellation, one e-mail, one host webhook."""
    h, (inbox, url) = harness, smtp
    s = await prepare(h, inbox, url, receiver, on_calendar_change="reassign")
    await add_team_member(h)
    link = await s.link()
    assert link is not None
    events = h.google_service().events()
    started = time.monotonic()
    await asyncio.to_thread(events.delete(calendarId=h.user, eventId=link.external_event_id).execute)
    await s.check_cancelled_once(link.external_event_id, started)
    assert h.app[RECONCILE].reconciler is not None
    assert h.app[RECONCILE].reconciler.decisions["LookElsewhere"] == 1
