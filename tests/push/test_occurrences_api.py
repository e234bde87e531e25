"""Occurrence overrides through the REST API and the store, on SQLite and PostgreSQL.

Each effective change bumps the appointment version and writes exactly one envelope
through the outbox in the same transaction; repeating it writes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from calsync.envelope import decode
from store.appointments import load_for_write
from store.occurrences import cancel_occurrence, get_overrides
from tests.api.conftest import Api, appointment_body

SERIES = appointment_body(
    start="2026-01-12T10:00:00+01:00",
    end="2026-01-12T11:00:00+01:00",
    recurrence={"rrule": "FREQ=WEEKLY;COUNT=6", "exdates": ["2026-01-26T10:00:00+01:00"]},
)
SECOND = "2026-01-19T09:00:00Z"  # the second occurrence, 10:00 Berlin


async def _series(api: Api, key: dict[str, str]) -> None:
    response = await api.client.put("/v1/appointments/s1", json=SERIES, headers=key)
    assert response.status == 201


async def _envelopes(api: Api) -> list[tuple[str, dict[str, object]]]:
    return [(e.type, dict(e.data)) for e in (decode(m.payload) for m in await api.outbox())]


async def test_move_bumps_version_publishes_once_and_is_idempotent(
    api: Api, operator: dict[str, str]
) -> None:
    await _series(api, operator)
    body = {"start": "2026-01-19T14:00:00+01:00", "end": "2026-01-19T15:00:00+01:00"}
    url = f"/v1/appointments/s1/occurrences/{SECOND}"
    first = await api.client.put(url, json=body, headers=operator)
    assert first.status == 200, await first.text()
    data = await first.json()
    assert data["version"] == 2 and data["status"] == "confirmed"
    assert data["start"] == "2026-01-19T13:00:00+00:00" and first.headers["ETag"] == '"2"'
    again = await api.client.put(url.replace(SECOND, "20260119T090000Z"), json=body, headers=operator)
    assert again.status == 200 and (await again.json())["version"] == 2
    kinds = await _envelopes(api)
    assert [k for k, _ in kinds] == ["appointment.upserted", "appointment.occurrence_changed"]
    assert kinds[1][1] == {
        "id": "s1", "original_start": "2026-01-19T09:00:00+00:00", "version": 2, "reason": "changed_by_host",
    }  # fmt: skip
    (appt,) = await api.appointments()
    assert appt.version == 2 and appt.sync_state == "pending"


async def test_cancel_one_occurrence_only_and_idempotently(api: Api, operator: dict[str, str]) -> None:
    await _series(api, operator)
    url = f"/v1/appointments/s1/occurrences/{SECOND}"
    first = await api.client.delete(url, headers=operator)
    assert first.status == 200
    assert (await first.json())["status"] == "cancelled"
    again = await api.client.delete(url, headers=operator)
    assert again.status == 200 and again.headers["ETag"] == '"2"'
    kinds = await _envelopes(api)
    assert [k for k, _ in kinds] == ["appointment.upserted", "appointment.occurrence_cancelled"]
    assert kinds[1][1]["reason"] == "cancelled_by_host"
    (appt,) = await api.appointments()
    assert appt.status == "confirmed" and appt.version == 2


async def test_not_an_occurrence_is_422(api: Api, operator: dict[str, str]) -> None:
    await _series(api, operator)
    body = {"start": "2026-01-19T14:00:00Z", "end": "2026-01-19T15:00:00Z"}
    for bad in ("2026-01-19T09:30:00Z", "2026-01-26T09:00:00Z", "2026-03-02T09:00:00Z", "yesterday"):
        response = await api.client.put(f"/v1/appointments/s1/occurrences/{bad}", json=body, headers=operator)
        assert response.status == 422, bad
    response = await api.client.delete(
        "/v1/appointments/s1/occurrences/2026-01-26T09:00:00Z", headers=operator
    )
    assert response.status == 422  # an EXDATE is not an occurrence any more
    single = await api.client.put(
        "/v1/appointments/one?allow_conflict=true", json=appointment_body(), headers=operator
    )
    assert single.status == 201
    response = await api.client.delete(
        "/v1/appointments/one/occurrences/2026-01-12T09:00:00Z", headers=operator
    )
    assert response.status == 422
    assert (
        await api.client.delete(f"/v1/appointments/nope/occurrences/{SECOND}", headers=operator)
    ).status == 404


async def test_end_before_start_is_422(api: Api, operator: dict[str, str]) -> None:
    await _series(api, operator)
    body = {"start": "2026-01-19T14:00:00Z", "end": "2026-01-19T13:00:00Z"}
    response = await api.client.put(f"/v1/appointments/s1/occurrences/{SECOND}", json=body, headers=operator)
    assert response.status == 422


async def test_store_cancel_occurrence_for_other_callers(api: Api, operator: dict[str, str]) -> None:
    """The reconciler's entry point: idempotent, bumps the version, carries its reason."""
    await _series(api, operator)
    original = datetime(2026, 1, 19, 9, tzinfo=UTC)
    now = datetime(2026, 1, 15, tzinfo=UTC)
    async with api.db.session() as s:
        appt = await load_for_write(s, "s1", None)
        assert appt is not None
        assert await cancel_occurrence(s, appt, original, "deleted_externally", now) is True
        assert await cancel_occurrence(s, appt, original, "deleted_externally", now) is False
        (override,) = await get_overrides(s, "s1")
    assert override.status == "cancelled" and override.version == 2
    assert override.end_utc - override.start_utc == timedelta(hours=1)
    kinds = await _envelopes(api)
    assert kinds[-1] == (
        "appointment.occurrence_cancelled",
        {
            "id": "s1",
            "original_start": "2026-01-19T09:00:00+00:00",
            "version": 2,
            "reason": "deleted_externally",
        },
    )
