"""The reconcile consumer against the real store (SQLite and PostgreSQL), change by change."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from calsync.errors import AuthorizationRevoked, TransientProviderError
from channels.base import CalendarRef
from channels.model import EventStatus, ExternalEvent, Marker, Provider
from handlers.adapters import AdapterRegistry
from handlers.reconcile import ReconcileConsumer
from store import accounts, busy_blocks, event_links
from store.db import Database
from store.tables import Appointment, AppointmentOccurrence, Calendar, SentNotification
from tests.reconcile.conftest import T0, World, seed_world


def event(world: World, **changes: Any) -> ExternalEvent:
    values: dict[str, Any] = {
        "provider": Provider.GOOGLE, "calendar_id": world.push_calendar, "event_id": "evt-1",
        "status": EventStatus.CONFIRMED, "start": T0, "end": T0 + timedelta(hours=1), "etag": "etag-2",
        "marker": Marker("appt-1", 1),
    }  # fmt: skip
    values.update(changes)
    return ExternalEvent(**values)


def tombstone(world: World, **changes: Any) -> ExternalEvent:
    values: dict[str, Any] = {
        "provider": Provider.GOOGLE,
        "calendar_id": world.push_calendar,
        "event_id": "evt-1",
        "etag": "etag-9",
    }
    values.update(changes)
    return ExternalEvent(status=EventStatus.CANCELLED, **values)


def consumer(world: World) -> ReconcileConsumer:
    return ReconcileConsumer(world.db, AdapterRegistry(), world.cipher, world.clock)


async def appt(world: World, appointment_id: str = "appt-1") -> Appointment:
    async with world.db.session() as session:
        found = await session.get(Appointment, appointment_id)
        assert found is not None
        return found


async def notifications(world: World) -> list[tuple[str, int, str, str]]:
    async with world.db.session() as session:
        rows = (await session.exec(select(SentNotification))).all()
    return sorted((r.appointment_id, r.version, r.kind, r.state) for r in rows)


async def test_external_delete_cancels_once_with_notifications(database: Database) -> None:
    world = await seed_world(database)
    await world.set_webhook("http://127.0.0.1:9/hook")
    await world.appointment()
    c = consumer(world)
    await c.reconcile("m1", tombstone(world))
    cancelled = await appt(world)
    assert (cancelled.status, cancelled.cancel_reason, cancelled.version) == (
        "cancelled", "deleted_in_external_calendar", 2,
    )  # fmt: skip
    assert await notifications(world) == [
        ("appt-1", 2, "email", "pending"),
        ("appt-1", 2, "host_webhook", "pending"),
    ]
    # Redelivery of the same message, and a second tombstone, change nothing.
    before = await world.outbox()
    await c.reconcile("m1", tombstone(world))
    await c.reconcile("m2", tombstone(world, etag="etag-10"))
    assert await world.outbox() == before and len(await notifications(world)) == 2
    assert [e["data"]["reason"] for e in before if e["type"] == "appointment.cancelled"] == [
        "deleted_in_external_calendar"
    ]
    async with world.db.session() as session:
        link = await event_links.link_for_event(session, world.push_calendar, "evt-1")
    assert link is not None and link.state == "deleted"


async def test_echo_and_live_changes_never_cancel(database: Database) -> None:
    world = await seed_world(database)
    await world.appointment()
    c = consumer(world)
    outbox = await world.outbox()
    await c.reconcile("m1", event(world, etag="etag-1", start=T0 + timedelta(days=1)))  # our echo
    await c.reconcile("m2", event(world))  # same times, new etag
    assert await world.outbox() == outbox and (await appt(world)).version == 1
    assert c.decisions["Ignore"] == 2


async def test_move_accept_updates_times_and_link(database: Database) -> None:
    world = await seed_world(database, {"on_external_move": "accept"})
    await world.appointment()
    c = consumer(world)
    moved = event(world, start=T0 + timedelta(hours=3), end=T0 + timedelta(hours=4), etag="etag-5")
    await c.reconcile("m1", moved)
    after = await appt(world)
    assert (after.start_utc, after.end_utc, after.version) == (
        T0 + timedelta(hours=3),
        T0 + timedelta(hours=4),
        2,
    )
    types = [e["type"] for e in await world.outbox()]
    assert types[-2:] == ["appointment.upserted", "appointment.rescheduled"]
    rescheduled = (await world.outbox())[-1]["data"]
    assert rescheduled["previous_start"] == "2026-01-12T10:00:00+01:00"
    async with world.db.session() as session:
        link = await event_links.link_for_event(session, world.push_calendar, "evt-1")
    assert link is not None and (link.etag, link.written_version) == ("etag-5", 2)
    # The same version coming back again (another listing) is our echo now.
    await c.reconcile("m2", moved)
    assert (await appt(world)).version == 2
    assert ("appt-1", 2, "email", "pending") in await notifications(world)


async def test_move_revert_and_delete_restore_ask_the_push_worker(database: Database) -> None:
    world = await seed_world(database, {"on_external_move": "revert", "on_external_delete": "restore"})
    await world.appointment()
    c = consumer(world)
    await c.reconcile("m1", event(world, start=T0 + timedelta(hours=3), end=T0 + timedelta(hours=4)))
    await c.reconcile("m2", tombstone(world))
    asked = [e["data"] for e in await world.outbox() if e["type"] == "appointment.push_requested"]
    assert [a["reason"] for a in asked] == ["revert", "restore"]
    assert (await appt(world)).status == "confirmed" and (await appt(world)).version == 1


async def test_delete_ignored_by_policy_only_marks_the_link(database: Database) -> None:
    world = await seed_world(database, {"on_external_delete": "ignore"})
    await world.appointment()
    await consumer(world).reconcile("m1", tombstone(world))
    assert (await appt(world)).status == "confirmed" and await notifications(world) == []
    async with world.db.session() as session:
        link = await event_links.link_for_event(session, world.push_calendar, "evt-1")
    assert link is not None and link.state == "deleted"


async def test_foreign_events_become_busy_blocks_and_go_away(database: Database) -> None:
    world = await seed_world(database)
    c = consumer(world)
    foreign = event(world, calendar_id=world.pull_calendar, event_id="f1", marker=None)
    await c.reconcile("m1", foreign)
    async with world.db.session() as session:
        [block] = await busy_blocks.blocks_for_calendar(session, world.pull_calendar)
    assert (block.start_utc, block.end_utc, block.profile_id) == (T0, T0 + timedelta(hours=1), "prof-a")
    await c.reconcile(
        "m2", event(world, calendar_id=world.pull_calendar, event_id="f1", marker=None, transparent=True)
    )
    async with world.db.session() as session:
        assert await busy_blocks.blocks_for_calendar(session, world.pull_calendar) == []
    await c.reconcile("m3", foreign)
    await c.reconcile("m4", tombstone(world, calendar_id=world.pull_calendar, event_id="f1"))
    async with world.db.session() as session:
        assert await busy_blocks.blocks_for_calendar(session, world.pull_calendar) == []


async def test_foreign_series_keeps_its_exceptions(database: Database) -> None:
    world = await seed_world(database)
    c = consumer(world)
    cal = world.pull_calendar
    week = T0 + timedelta(days=7)
    # The cancelled instance arrives before its master: kept on a placeholder, adopted later.
    await c.reconcile(
        "m1", tombstone(world, calendar_id=cal, event_id="s_1", series_id="s", original_start=week)
    )
    master = event(
        world, calendar_id=cal, event_id="s", marker=None, time_zone="Europe/Berlin",
        recurrence=("RRULE:FREQ=WEEKLY", "EXDATE;TZID=Europe/Berlin:20260202T100000"),
    )  # fmt: skip
    await c.reconcile("m2", master)
    moved = event(world, calendar_id=cal, event_id="s_2", marker=None, series_id="s",
                  original_start=week + timedelta(days=7), start=week + timedelta(days=8),
                  end=week + timedelta(days=8, hours=1))  # fmt: skip
    await c.reconcile("m3", moved)
    async with world.db.session() as session:
        blocks = {b.external_event_id: b for b in await busy_blocks.blocks_for_calendar(session, cal)}
    assert blocks["s"].rrule == "RRULE:FREQ=WEEKLY" and blocks["s"].start_utc == T0
    assert blocks["s"].exdates == sorted(
        [week.isoformat(), (week + timedelta(days=7)).isoformat(), (T0 + timedelta(days=21)).isoformat()]
    )
    assert blocks["s_2"].start_utc == week + timedelta(days=8)


async def test_cancelled_instance_of_our_series_cancels_only_that_occurrence(database: Database) -> None:
    world = await seed_world(database)
    await world.appointment(rrule="FREQ=WEEKLY;COUNT=4")
    c = consumer(world)
    week = T0 + timedelta(days=7)
    gone = tombstone(world, event_id="evt-1_20260119T090000Z", series_id="evt-1", original_start=week)
    await c.reconcile("m1", gone)
    await c.reconcile("m2", gone)  # redelivered
    await c.reconcile("m3", tombstone(world, event_id="evt-1_20260119T090000Z", series_id="evt-1",
                                      original_start=week, etag="etag-11"))  # fmt: skip
    series = await appt(world)
    assert (series.status, series.version) == ("confirmed", 2)
    async with world.db.session() as session:
        [override] = (await session.exec(select(AppointmentOccurrence))).all()
    assert (override.original_start, override.status) == (week, "cancelled")
    kinds = [e["type"] for e in await world.outbox()]
    assert kinds.count("appointment.occurrence_cancelled") == 1 and "appointment.cancelled" not in kinds
    assert ("appt-1", 2, "email", "pending") in await notifications(world)


async def test_marker_on_another_profiles_push_calendar_reassigns(database: Database) -> None:
    world = await seed_world(database, {"on_calendar_change": "reassign"})
    await world.appointment()
    c = consumer(world)
    await c.reconcile("m1", event(world, calendar_id=world.other_push_calendar, etag="etag-7"))
    moved = await appt(world)
    assert (moved.profile_id, moved.version) == ("prof-b", 2)
    reassigned = [e["data"] for e in await world.outbox() if e["type"] == "appointment.reassigned"]
    assert [r["previous_profile"] for r in reassigned] == ["prof-a"]
    # The old calendar's tombstone (Google lists the moved event as cancelled there) cancels nothing.
    await c.reconcile("m2", tombstone(world))
    assert (await appt(world)).status == "confirmed"


# --- a moved event: Google lists it as cancelled in the source calendar ----------------------


@dataclass
class FakeGoogle:
    """``get_event`` from a table (calsync calendar id, event id) -> the event as it is now."""

    events: dict[tuple[str, str], ExternalEvent] = field(default_factory=dict)
    errors: dict[str, Exception] = field(default_factory=dict)  # calendar id -> what its GET raises
    gets: list[tuple[str, str]] = field(default_factory=list)
    provider: Provider = Provider.GOOGLE

    async def get_event(self, account: Any, calendar: CalendarRef, event_id: str) -> ExternalEvent | None:
        self.gets.append((calendar.calendar_id, event_id))
        if calendar.calendar_id in self.errors:
            raise self.errors[calendar.calendar_id]
        return self.events.get((calendar.calendar_id, event_id))


def looking(world: World, fake: FakeGoogle) -> ReconcileConsumer:
    registry = AdapterRegistry()
    registry.register(fake)  # type: ignore[arg-type]
    return ReconcileConsumer(world.db, registry, world.cipher, world.clock)


async def outbox_types(world: World) -> list[str]:
    return [e["type"] for e in await world.outbox()]


async def test_cancelled_entry_of_a_moved_event_reassigns_without_cancelling(database: Database) -> None:
    """The known gap: the source's tombstone is reconciled before the destination was synced."""
    world = await seed_world(database, {"on_calendar_change": "reassign"})
    await world.set_webhook("http://127.0.0.1:9/hook")
    await world.appointment()
    arrived = event(world, calendar_id=world.other_push_calendar, etag="etag-7")
    fake = FakeGoogle({(world.other_push_calendar, "evt-1"): arrived})
    c = looking(world, fake)
    await c.reconcile("m1", tombstone(world))
    moved = await appt(world)
    assert (moved.status, moved.profile_id, moved.version) == ("confirmed", "prof-b", 2)
    assert fake.gets == [(world.other_push_calendar, "evt-1")]  # found: the source needs no look
    types = await outbox_types(world)
    assert types.count("appointment.reassigned") == 1 and "appointment.cancelled" not in types
    assert await notifications(world) == [("appt-1", 2, "host_webhook", "pending")]  # no client e-mail
    # The destination's own sync then lists the same event: our echo. Redelivery: nothing.
    await c.reconcile("m2", arrived)
    await c.reconcile("m1", tombstone(world))
    assert (await appt(world)).version == 2 and (await outbox_types(world)).count(
        "appointment.reassigned"
    ) == 1
    async with world.db.session() as session:
        links = {
            x.calendar_id: (x.state, x.written_version)
            for x in await event_links.links_for(session, "appt-1")
        }
    # Linked at the version the moved event shows, so the push worker rewrites it for profile B.
    assert links == {world.push_calendar: ("deleted", 2), world.other_push_calendar: ("live", 1)}


async def test_cancelled_entry_of_a_moved_event_reverts_and_links_the_stray_copy(database: Database) -> None:
    world = await seed_world(database, {"on_calendar_change": "revert"})
    await world.appointment()
    arrived = event(world, calendar_id=world.other_push_calendar, etag="etag-7")
    c = looking(world, FakeGoogle({(world.other_push_calendar, "evt-1"): arrived}))
    await c.reconcile("m1", tombstone(world))
    kept = await appt(world)
    assert (kept.status, kept.profile_id, kept.version) == ("confirmed", "prof-a", 1)
    asked = [e["data"] for e in await world.outbox() if e["type"] == "appointment.push_requested"]
    assert [a["reason"] for a in asked] == ["revert"] and await notifications(world) == []
    async with world.db.session() as session:
        stray = await event_links.link_for_event(session, world.other_push_calendar, "evt-1")
    assert stray is not None and (stray.appointment_id, stray.state, stray.etag) == (
        "appt-1",
        "live",
        "etag-7",
    )
    # The destination's sync: our echo; the push worker's deletion of the stray copy: no cancellation.
    await c.reconcile("m2", arrived)
    await c.reconcile("m3", tombstone(world, calendar_id=world.other_push_calendar, etag="etag-8"))
    assert (await appt(world)).status == "confirmed" and await notifications(world) == []
    assert (await outbox_types(world)).count("appointment.push_requested") == 1


async def test_plain_delete_looks_elsewhere_then_cancels_once(database: Database) -> None:
    world = await seed_world(database)
    await world.appointment()
    fake = FakeGoogle({(world.push_calendar, "evt-1"): tombstone(world)})  # events.get: cancelled view
    c = looking(world, fake)
    await c.reconcile("m1", tombstone(world))
    await c.reconcile("m1", tombstone(world))
    await c.reconcile("m2", tombstone(world, etag="etag-10"))
    assert fake.gets == [(world.other_push_calendar, "evt-1"), (world.push_calendar, "evt-1")]
    cancelled = await appt(world)
    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "deleted_in_external_calendar")
    assert (await outbox_types(world)).count("appointment.cancelled") == 1
    assert await notifications(world) == [("appt-1", 2, "email", "pending")]


async def test_stale_tombstone_of_an_event_put_back_cancels_nothing(database: Database) -> None:
    """A revert restored the event in the push calendar before the move's tombstone was reconciled."""
    world = await seed_world(database)
    await world.appointment()
    restored = event(world, etag="etag-1")  # as the push worker recorded it: our echo
    c = looking(world, FakeGoogle({(world.push_calendar, "evt-1"): restored}))
    await c.reconcile("m1", tombstone(world))
    assert (await appt(world)).status == "confirmed" and await notifications(world) == []
    assert c.decisions["Ignore"] == 1


async def test_a_failed_look_decides_nothing_and_an_unreadable_calendar_is_skipped(
    database: Database,
) -> None:
    world = await seed_world(database)
    await world.appointment()
    fake = FakeGoogle(errors={world.other_push_calendar: TransientProviderError("503 backendError")})
    c = looking(world, fake)
    with pytest.raises(TransientProviderError):
        await c.reconcile("m1", tombstone(world))
    assert (await appt(world)).status == "confirmed"  # rolled back, dedupe row included
    # Consent revoked on the other account: its calendar tells nothing (its own sync could not see
    # a move either), so the explicit deletion stands.
    fake.errors[world.other_push_calendar] = AuthorizationRevoked("invalid_grant")
    await c.reconcile("m1", tombstone(world))
    assert (await appt(world)).status == "cancelled"
    assert fake.gets[-2:] == [(world.other_push_calendar, "evt-1"), (world.push_calendar, "evt-1")]


async def test_calendars_of_accounts_in_error_are_no_move_candidates(database: Database) -> None:
    world = await seed_world(database)
    await world.appointment()
    async with world.db.session() as session:
        calendar = await session.get(Calendar, world.other_push_calendar)
        assert calendar is not None
        await accounts.mark_account_error(session, calendar.account_id, "invalid_grant", world.clock.now())
    fake = FakeGoogle()
    await looking(world, fake).reconcile("m1", tombstone(world))
    assert (await appt(world)).status == "cancelled" and fake.gets == []  # decided at once
