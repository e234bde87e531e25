"""Appointment repository: idempotent upsert, versioning, outbox in the same transaction, windows."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from calsync.envelope import TOPIC_APPOINTMENTS, decode
from calsync.errors import NotFound
from store.appointments import (
    AppointmentFields,
    Outcome,
    cancel_appointment,
    get_appointment,
    list_appointments,
    load_for_write,
    snapshot,
    upsert_appointment,
)
from store.db import Database
from store.tables import Appointment, Organization, OutboxMessage, Profile

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
START = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)


def fields(**changes: object) -> AppointmentFields:
    base = AppointmentFields(
        profile_id="p1",
        organization_id="org1",
        start_utc=START,
        end_utc=START + timedelta(hours=1),
        time_zone="Europe/Berlin",
        title="Check-up",
        client_email="client@example.com",
        extra={"ticket": "T-1"},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def db(database: Database) -> Database:
    async with database.session() as s:
        s.add(Organization(id="org1", name="One", created_at=NOW))
        await s.flush()
        s.add(
            Profile(
                id="p1",
                organization_id="org1",
                name="P",
                email="p@example.com",
                time_zone="Europe/Berlin",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    return database


async def put(db: Database, appointment_id: str, f: AppointmentFields, now: datetime = NOW) -> Outcome:
    async with db.session() as s:
        existing = await load_for_write(s, appointment_id, None)
        _, outcome = await upsert_appointment(s, appointment_id, existing, f, now)
    return outcome


async def outbox(db: Database) -> list[dict[str, object]]:
    async with db.session() as s:
        rows = (await s.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all()  # type: ignore[arg-type]
    assert all(r.topic == TOPIC_APPOINTMENTS for r in rows)
    return [json.loads(r.payload) for r in rows]


async def test_create_then_same_content_is_a_no_op(db: Database) -> None:
    assert await put(db, "a1", fields()) is Outcome.CREATED
    assert await put(db, "a1", fields(), NOW + timedelta(hours=1)) is Outcome.UNCHANGED
    async with db.session() as s:
        appt = await get_appointment(s, "a1")
    assert appt.version == 1 and appt.updated_at == NOW
    (message,) = await outbox(db)
    assert message["type"] == "appointment.upserted" and message["key"] == "a1" and message["version"] == 1
    data = message["data"]
    assert isinstance(data, dict)
    assert (
        data["version"] == 1
        and data["organization"] == "org1"
        and data["start"] == "2026-01-12T10:00:00+01:00"
    )


async def test_changed_content_bumps_version_and_publishes(db: Database) -> None:
    await put(db, "a1", fields())
    later = NOW + timedelta(hours=1)
    assert await put(db, "a1", fields(title="Follow-up"), later) is Outcome.UPDATED
    async with db.session() as s:
        appt = await get_appointment(s, "a1")
    assert (appt.version, appt.title, appt.updated_at, appt.created_at) == (2, "Follow-up", later, NOW)
    messages = await outbox(db)
    assert [m["type"] for m in messages] == ["appointment.upserted", "appointment.upserted"]
    envelope = decode(json.dumps(messages[1]).encode())
    assert envelope.data["version"] == 2 and envelope.data["title"] == "Follow-up"


async def test_cancel_once(db: Database) -> None:
    await put(db, "a1", fields())
    async with db.session() as s:
        appt = await get_appointment(s, "a1")
        assert await cancel_appointment(s, appt, "deleted_externally", NOW) is True
    async with db.session() as s:
        appt = await get_appointment(s, "a1")
        assert await cancel_appointment(s, appt, "cancelled_by_host", NOW) is False
    assert (appt.status, appt.cancel_reason, appt.version) == ("cancelled", "deleted_externally", 2)
    messages = await outbox(db)
    assert messages[-1]["type"] == "appointment.cancelled"
    data = messages[-1]["data"]
    assert isinstance(data, dict) and data["reason"] == "deleted_externally" and len(messages) == 2


async def test_put_with_status_cancelled_then_reactivate(db: Database) -> None:
    await put(db, "a1", fields())
    await put(db, "a1", fields(status="cancelled"))
    async with db.session() as s:
        appt = await get_appointment(s, "a1")
        assert (appt.status, appt.cancel_reason, appt.version) == ("cancelled", "cancelled_by_host", 2)
    await put(db, "a1", fields())
    async with db.session() as s:
        appt = await get_appointment(s, "a1")
    assert (appt.status, appt.cancel_reason, appt.version) == ("confirmed", None, 3)
    assert [m["type"] for m in await outbox(db)] == [
        "appointment.upserted",
        "appointment.cancelled",
        "appointment.upserted",
    ]


async def test_scope_hides_other_organizations(db: Database) -> None:
    await put(db, "a1", fields())
    async with db.session() as s:
        with pytest.raises(NotFound):
            await get_appointment(s, "a1", "org2")
        with pytest.raises(NotFound):
            await load_for_write(s, "a1", "org2")
        assert await load_for_write(s, "missing", None) is None


async def test_failed_transaction_leaves_no_rows(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.session() as s:
            await upsert_appointment(s, "a1", None, fields(), NOW)
            raise RuntimeError("boom")
    async with db.session() as s:
        assert (await s.exec(select(Appointment))).all() == []
    assert await outbox(db) == []


async def test_list_window_keyset_pages(db: Database) -> None:
    for day in range(5):
        at = START + timedelta(days=day)
        await put(db, f"a{day}", fields(start_utc=at, end_utc=at + timedelta(hours=1)))
    await put(db, "series", fields(rrule="FREQ=DAILY", start_utc=START - timedelta(days=30)))
    await put(db, "old-series", fields(rrule="FREQ=DAILY;COUNT=1", start_utc=START - timedelta(days=30)))

    def only_open_series(appt: Appointment, start: datetime, end: datetime) -> bool:
        return appt.id == "series"

    window = {"start": START + timedelta(days=1), "end": START + timedelta(days=4)}
    async with db.session() as s:
        page1, more1 = await list_appointments(
            s, profile_id="p1", after=None, limit=2, occurs_in=only_open_series, **window
        )
        last = page1[-1]
        page2, more2 = await list_appointments(
            s, profile_id="p1", after=(last.start_utc, last.id), limit=2, occurs_in=only_open_series, **window
        )
    assert [a.id for a in page1] == ["series", "a1"] and more1
    assert [a.id for a in page2] == ["a2", "a3"] and not more2


def test_snapshot_all_day_and_recurrence() -> None:
    appt = Appointment(
        id="x",
        organization_id="o",
        profile_id="p",
        start_utc=START,
        end_utc=START + timedelta(days=1),
        all_day=True,
        start_date="2026-01-12",
        end_date="2026-01-13",
        time_zone="UTC",
        rrule="FREQ=WEEKLY",
        exdates=["2026-01-19"],
        created_at=NOW,
        updated_at=NOW,
    )
    data = snapshot(appt)
    assert (data["start"], data["end"], data["all_day"]) == ("2026-01-12", "2026-01-13", True)
    assert data["recurrence"] == {"rrule": "FREQ=WEEKLY", "exdates": ["2026-01-19"]}
    assert data["client"] == {"name": None, "email": None}
