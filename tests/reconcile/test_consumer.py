"""The reconcile consumer against the real store (SQLite and PostgreSQL), change by change."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import select

from channels.model import EventStatus, ExternalEvent, Marker, Provider
from handlers.adapters import AdapterRegistry
from handlers.reconcile import ReconcileConsumer
from store import busy_blocks, event_links
from store.db import Database
from store.tables import Appointment, AppointmentOccurrence, SentNotification
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
