"""Schema behaviour that must hold on both backends: UTC times, JSON/bytes, constraints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import select

from calsync.envelope import Envelope
from store.db import Database
from store.outbox import enqueue
from store.tables import BusRecord, EventLink, Organization, OutboxMessage, Profile, SentNotification

from .conftest import NOW


async def test_utc_datetimes_round_trip_aware(database: Database) -> None:
    berlin = timezone(timedelta(hours=2))
    async with database.session() as s:
        s.add(Organization(id="org1", name="Acme", created_at=NOW))
        s.add(Organization(id="org2", name="Other", created_at=datetime(2026, 3, 29, 3, 30, tzinfo=berlin)))
    async with database.session() as s:
        orgs = {o.id: o for o in (await s.exec(select(Organization))).all()}
    assert orgs["org1"].created_at == NOW and orgs["org1"].created_at.tzinfo == UTC
    # An aware non-UTC value is stored as the same instant and comes back in UTC.
    assert orgs["org2"].created_at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert orgs["org2"].created_at.tzinfo == UTC


async def test_utc_datetime_comparisons_use_instants(database: Database) -> None:
    async with database.session() as s:
        s.add(Organization(id="org1", name="Acme", created_at=NOW))
    async with database.session() as s:
        later = (
            await s.exec(select(Organization).where(Organization.created_at > NOW - timedelta(seconds=1)))
        ).all()
        earlier = (await s.exec(select(Organization).where(Organization.created_at < NOW))).all()
    assert [o.id for o in later] == ["org1"] and earlier == []


async def test_naive_datetime_is_rejected(database: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        async with database.session() as s:
            s.add(Organization(id="org1", name="Acme", created_at=datetime(2026, 3, 29, 1, 30)))
    async with database.session() as s:
        assert (await s.exec(select(Organization))).all() == []


async def test_json_and_bytes_round_trip(database: Database) -> None:
    async with database.session() as s:
        s.add(
            BusRecord(topic="t", partition=0, offset=2**40, key="k", value=b"\x00\xffraw",
                      headers={"h": "v"}, created_at=NOW)
        )  # fmt: skip
    async with database.session() as s:
        rec = (await s.exec(select(BusRecord))).one()
    assert (rec.offset, rec.value, rec.headers) == (2**40, b"\x00\xffraw", {"h": "v"})


async def test_outbox_ids_are_assigned_in_insert_order(database: Database) -> None:
    async with database.session() as s:
        for n in range(3):
            enqueue(s, "calsync.changes", Envelope(f"m{n}", "x", 1, "cal1", NOW), NOW)
    async with database.session() as s:
        rows = (await s.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all()  # type: ignore[arg-type]
    assert [r.message_id for r in rows] == ["m0", "m1", "m2"]
    assert all(isinstance(r.id, int) for r in rows)


async def test_outbox_message_id_is_unique(database: Database) -> None:
    async with database.session() as s:
        enqueue(s, "t", Envelope("m1", "x", 1, "k", NOW), NOW)
    with pytest.raises(IntegrityError):
        async with database.session() as s:
            enqueue(s, "t", Envelope("m1", "x", 1, "k", NOW), NOW)


def _link(instance_key: str = "") -> EventLink:
    return EventLink(appointment_id="a1", calendar_id="cal1", instance_key=instance_key,
                     external_event_id="ev1", updated_at=NOW)  # fmt: skip


async def test_event_link_unique_per_appointment_calendar_instance(seeded: Database) -> None:
    async with seeded.session() as s:
        s.add(_link())
        s.add(_link("2026-03-30T09:00:00Z"))  # another occurrence is fine
    with pytest.raises(IntegrityError, match=r"(?i)unique|duplicate"):
        async with seeded.session() as s:
            s.add(_link())
    async with seeded.session() as s:
        assert len((await s.exec(select(EventLink))).all()) == 2


def _sent(kind: str = "email", version: int = 1) -> SentNotification:
    return SentNotification(appointment_id="a1", version=version, kind=kind, message_id="m", created_at=NOW)


async def test_sent_notification_unique_per_appointment_version_kind(seeded: Database) -> None:
    async with seeded.session() as s:
        s.add_all([_sent(), _sent(kind="host_webhook"), _sent(version=2)])
    with pytest.raises(IntegrityError, match=r"(?i)unique|duplicate"):
        async with seeded.session() as s:
            s.add(_sent())


async def test_foreign_keys_are_enforced(database: Database) -> None:
    # SQLite enforces them only with PRAGMA foreign_keys=ON, which the engine sets.
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
        async with database.session() as s:
            s.add(
                Profile(id="p1", organization_id="nobody", name="x", email="x@example.com",
                        time_zone="UTC", created_at=NOW, updated_at=NOW)
            )  # fmt: skip


async def test_outbox_commit_notifies_listeners_only_after_commit(database: Database) -> None:
    calls: list[str] = []
    database.on_outbox_commit(lambda: calls.append("woke"))
    envelope = Envelope("m-1", "t", 1, "k", datetime(2026, 1, 1, tzinfo=UTC), {})
    with pytest.raises(RuntimeError):
        async with database.session() as s:
            enqueue(s, "topic", envelope)
            raise RuntimeError("rolled back")
    assert calls == []
    async with database.session() as s:
        enqueue(s, "topic", envelope)
    assert calls == ["woke"]
    async with database.session() as s:
        pass  # no outbox write, no wake-up
    assert calls == ["woke"]
