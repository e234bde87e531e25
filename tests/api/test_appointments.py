"""PUT/GET/DELETE /v1/appointments/{id}: upsert semantics, validation, outbox, preconditions."""

from __future__ import annotations

import json

from calsync.envelope import TOPIC_APPOINTMENTS, decode
from daemon.api.schemas import AppointmentOut
from tests.api.conftest import Api, appointment_body


async def test_create_returns_201_version_1_and_one_event(api: Api, operator: dict[str, str]) -> None:
    response = await api.client.put("/v1/appointments/a1", json=appointment_body(), headers=operator)
    assert response.status == 201
    assert response.headers["ETag"] == '"1"'
    body = await response.json()
    appt = AppointmentOut.model_validate(body)
    assert (appt.id, appt.profile, appt.organization, appt.version) == ("a1", "p1", "org1", 1)
    assert (appt.start, appt.end, appt.all_day) == (
        "2026-01-12T10:00:00+01:00",
        "2026-01-12T11:00:00+01:00",
        False,
    )
    assert appt.time_zone == "Europe/Berlin"  # the profile's
    assert (appt.client.name, appt.client.email) == ("Ann", "ann@example.com")
    assert (appt.status, appt.cancel_reason, appt.sync_state, appt.recurrence) == (
        "confirmed",
        None,
        "pending",
        None,
    )

    (row,) = await api.outbox()
    assert row.topic == TOPIC_APPOINTMENTS and row.key == "a1"
    envelope = decode(row.payload)
    assert (envelope.type, envelope.version, envelope.key) == ("appointment.upserted", 1, "a1")
    assert dict(envelope.data) == body
    assert len(envelope.id) == 32


async def test_same_put_twice_is_one_version_and_one_event(api: Api, operator: dict[str, str]) -> None:
    first = await api.client.put("/v1/appointments/a1", json=appointment_body(), headers=operator)
    api.clock.advance(60)
    # The same instant written with another offset is the same content.
    same = appointment_body(start="2026-01-12T09:00:00Z", end="2026-01-12T10:00:00Z")
    second = await api.client.put("/v1/appointments/a1", json=same, headers=operator)
    assert second.status == 200
    assert await second.json() == await first.json()
    assert len(await api.outbox()) == 1


async def test_changed_content_bumps_the_version(api: Api, operator: dict[str, str]) -> None:
    await api.client.put("/v1/appointments/a1", json=appointment_body(), headers=operator)
    api.clock.advance(60)
    response = await api.client.put(
        "/v1/appointments/a1", json=appointment_body(title="Moved", extra={"ticket": "T-9"}), headers=operator
    )
    assert response.status == 200 and response.headers["ETag"] == '"2"'
    body = await response.json()
    assert (body["version"], body["title"], body["extra"]) == (2, "Moved", {"ticket": "T-9"})
    assert body["updated_at"] > body["created_at"]
    events = [decode(r.payload) for r in await api.outbox()]
    assert [(e.type, e.data["version"]) for e in events] == [
        ("appointment.upserted", 1),
        ("appointment.upserted", 2),
    ]


async def test_get(api: Api, operator: dict[str, str]) -> None:
    put = await api.client.put("/v1/appointments/a1", json=appointment_body(), headers=operator)
    response = await api.client.get("/v1/appointments/a1", headers=operator)
    assert response.status == 200 and response.headers["ETag"] == '"1"'
    assert await response.json() == await put.json()


async def test_all_day_and_recurrence(api: Api, operator: dict[str, str]) -> None:
    body = appointment_body(
        start="2026-01-12",
        end="2026-01-13",
        time_zone="America/New_York",
        recurrence={"rrule": "RRULE:FREQ=WEEKLY;COUNT=4", "exdates": ["2026-01-19"]},
    )
    response = await api.client.put("/v1/appointments/a1", json=body, headers=operator)
    assert response.status == 201
    out = await response.json()
    assert (out["start"], out["end"], out["all_day"], out["time_zone"]) == (
        "2026-01-12",
        "2026-01-13",
        True,
        "America/New_York",
    )
    assert out["recurrence"] == {"rrule": "FREQ=WEEKLY;COUNT=4", "exdates": ["2026-01-19"]}
    (row,) = await api.appointments()
    assert row.start_utc.isoformat() == "2026-01-12T05:00:00+00:00"  # local midnight in New York


async def test_timed_recurrence_with_exdates(api: Api, operator: dict[str, str]) -> None:
    body = appointment_body(
        recurrence={"rrule": "FREQ=DAILY;UNTIL=20260120T000000Z", "exdates": ["2026-01-13T09:00:00Z"]}
    )
    response = await api.client.put("/v1/appointments/a1", json=body, headers=operator)
    assert response.status == 201
    assert (await response.json())["recurrence"]["exdates"] == ["2026-01-13T10:00:00+01:00"]


async def test_validation_errors_name_the_field(api: Api, operator: dict[str, str]) -> None:
    cases = [
        (appointment_body(end="2026-01-12T09:00:00+01:00"), "end"),
        (appointment_body(end="2026-01-12T10:00:00+01:00"), "end"),
        (appointment_body(start="2026-01-12T10:00:00"), "start"),
        (appointment_body(end="2026-01-12T11:00:00"), "end"),
        (appointment_body(start="2026-13-12T10:00:00Z"), "start"),
        (appointment_body(start="next tuesday"), "start"),
        (appointment_body(start="2026-01-12", end="2026-01-12T11:00:00Z"), "end"),
        (appointment_body(start="2026-01-12", end="2026-01-12"), "end"),
        (appointment_body(time_zone="Europe/Atlantis"), "time_zone"),
        (appointment_body(profile="ghost"), "profile"),
        (appointment_body(client={"email": "nope"}), "client.email"),
        (appointment_body(status="maybe"), "status"),
        (appointment_body(extra={"n": 1}), "extra.n"),
        (appointment_body(recurrence={"rrule": "FREQ=SOMETIMES"}), "recurrence.rrule"),
        (appointment_body(recurrence={"rrule": "FREQ=WEEKLY;BYDAY=XX"}), "recurrence.rrule"),
        (appointment_body(recurrence={"rrule": "FREQ=WEEKLY;INTERVAL=x"}), "recurrence.rrule"),
        (
            appointment_body(recurrence={"rrule": "DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY"}),
            "recurrence.rrule",
        ),
        (appointment_body(recurrence={"rrule": "FREQ=DAILY;DTSTART=20260101"}), "recurrence.rrule"),
        (appointment_body(recurrence={"rrule": "FREQ=HOURLY"}), "recurrence.rrule"),
        (appointment_body(recurrence={"rrule": "FREQ=DAILY;COUNT=0"}), "recurrence.rrule"),
        (appointment_body(recurrence={"rrule": "FREQ=DAILY;UNTIL=20250101T000000Z"}), "recurrence.rrule"),
        (appointment_body(recurrence={"rrule": "FREQ=DAILY;UNTIL=20260201"}), "recurrence.rrule"),
        (
            appointment_body(recurrence={"rrule": "FREQ=DAILY", "exdates": ["2026-01-13"]}),
            "recurrence.exdates.0",
        ),
        (
            appointment_body(recurrence={"rrule": "FREQ=DAILY", "exdates": ["2026-01-13T10:00:00"]}),
            "recurrence.exdates.0",
        ),
    ]
    for body, field in cases:
        response = await api.client.put("/v1/appointments/a1", json=body, headers=operator)
        assert response.status == 422, (field, body)
        problem = await response.json()
        assert [e["field"] for e in problem["errors"]] == [field], (field, problem)
    assert await api.appointments() == []
    assert await api.outbox() == []


async def test_bad_id_is_422(api: Api, operator: dict[str, str]) -> None:
    for bad in ("has%20space", "x" * 201, "slash%2Fy"):
        response = await api.client.put(f"/v1/appointments/{bad}", json=appointment_body(), headers=operator)
        assert response.status in (404, 422), bad
    response = await api.client.put(
        "/v1/appointments/" + "x" * 201, json=appointment_body(), headers=operator
    )
    assert response.status == 422 and (await response.json())["errors"][0]["field"] == "id"
    ok = "host.app:1@x-Y_z"
    assert (
        await api.client.put(f"/v1/appointments/{ok}", json=appointment_body(), headers=operator)
    ).status == 201


async def test_failed_update_leaves_the_old_state(api: Api, operator: dict[str, str]) -> None:
    await api.client.put("/v1/appointments/a1", json=appointment_body(), headers=operator)
    bad = await api.client.put(
        "/v1/appointments/a1", json=appointment_body(title="New", time_zone="Nowhere/Else"), headers=operator
    )
    assert bad.status == 422
    (row,) = await api.appointments()
    assert (row.title, row.version) == ("Check-up", 1)
    assert len(await api.outbox()) == 1


async def test_delete_cancels_once(api: Api, operator: dict[str, str]) -> None:
    await api.client.put("/v1/appointments/a1", json=appointment_body(), headers=operator)
    api.clock.advance(60)
    first = await api.client.delete("/v1/appointments/a1", headers=operator)
    assert first.status == 200 and first.headers["ETag"] == '"2"'
    body = await first.json()
    assert (body["status"], body["cancel_reason"], body["version"]) == ("cancelled", "cancelled_by_host", 2)
    api.clock.advance(60)
    again = await api.client.delete("/v1/appointments/a1", headers=operator)
    assert again.status == 200 and await again.json() == body
    fetched = await (await api.client.get("/v1/appointments/a1", headers=operator)).json()
    assert fetched == body
    events = [decode(r.payload) for r in await api.outbox()]
    assert [e.type for e in events] == ["appointment.upserted", "appointment.cancelled"]
    assert events[1].data["reason"] == "cancelled_by_host" and events[1].data["version"] == 2
    assert (await api.client.delete("/v1/appointments/nope", headers=operator)).status == 404


async def test_if_match(api: Api, operator: dict[str, str]) -> None:
    # If-Match on something that does not exist yet fails (RFC 9110).
    response = await api.client.put(
        "/v1/appointments/a1", json=appointment_body(), headers={**operator, "If-Match": '"1"'}
    )
    assert response.status == 412 and response.content_type == "application/problem+json"
    await api.client.put("/v1/appointments/a1", json=appointment_body(), headers=operator)
    stale = await api.client.put(
        "/v1/appointments/a1", json=appointment_body(title="B"), headers={**operator, "If-Match": '"7"'}
    )
    assert stale.status == 412
    fresh = await api.client.put(
        "/v1/appointments/a1", json=appointment_body(title="B"), headers={**operator, "If-Match": '"0", "1"'}
    )
    assert fresh.status == 200 and fresh.headers["ETag"] == '"2"'
    assert (
        await api.client.delete("/v1/appointments/a1", headers={**operator, "If-Match": '"1"'})
    ).status == 412
    assert (
        await api.client.delete("/v1/appointments/a1", headers={**operator, "If-Match": "*"})
    ).status == 200
    assert len(await api.outbox()) == 3


async def test_status_cancelled_via_put_and_reactivation(api: Api, operator: dict[str, str]) -> None:
    await api.client.put("/v1/appointments/a1", json=appointment_body(), headers=operator)
    cancelled = await api.client.put(
        "/v1/appointments/a1", json=appointment_body(status="cancelled"), headers=operator
    )
    assert (await cancelled.json())["cancel_reason"] == "cancelled_by_host"
    revived = await api.client.put("/v1/appointments/a1", json=appointment_body(), headers=operator)
    body = await revived.json()
    assert (body["status"], body["cancel_reason"], body["version"]) == ("confirmed", None, 3)
    types = [decode(r.payload).type for r in await api.outbox()]
    assert types == ["appointment.upserted", "appointment.cancelled", "appointment.upserted"]


async def test_moving_to_a_profile_of_another_organization_is_refused(
    api: Api, operator: dict[str, str]
) -> None:
    await api.seed("org2", "q1")
    await api.client.put("/v1/appointments/a1", json=appointment_body(), headers=operator)
    response = await api.client.put(
        "/v1/appointments/a1", json=appointment_body(profile="q1"), headers=operator
    )
    assert response.status == 422 and (await response.json())["errors"][0]["field"] == "profile"


async def test_envelope_payload_is_compact_json(api: Api, operator: dict[str, str]) -> None:
    await api.client.put("/v1/appointments/a1", json=appointment_body(), headers=operator)
    (row,) = await api.outbox()
    assert json.loads(row.payload)["data"]["organization"] == "org1"
