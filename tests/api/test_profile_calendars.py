"""/v1/profiles/{id}/calendars and /sync-status: selection, channels, first syncs, push migration."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from calsync.envelope import TOPIC_APPOINTMENTS, TOPIC_SIGNALS
from daemon.api.connect_schemas import SelectionOut, SyncStatusOut
from store import accounts, calendars
from store.db import Database
from tests.accounts.fixtures import USER, Client, Stack, connect_stack
from tests.api.conftest import appointment_body


@pytest.fixture
async def stack(
    database: Database, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> AsyncIterator[Stack]:
    async with connect_stack(database, aiohttp_client) as s:
        await s.api.seed()
        yield s


@pytest.fixture
async def operator(stack: Stack) -> dict[str, str]:
    return await stack.api.key()


@pytest.fixture
async def account(stack: Stack, operator: dict[str, str]) -> str:
    response = await stack.api.client.post("/v1/accounts", json=stack.connect_body(), headers=operator)
    assert response.status == 201
    account_id: str = (await response.json())["id"]
    return account_id


async def messages(stack: Stack, topic: str, type_: str) -> list[dict[str, Any]]:
    return [
        json.loads(m.payload)
        for m in await stack.api.outbox()
        if m.topic == topic and json.loads(m.payload)["type"] == type_
    ]


async def select(stack: Stack, headers: dict[str, str], body: dict[str, Any], status: int = 200) -> Any:
    response = await stack.api.client.put("/v1/profiles/p1/calendars", json=body, headers=headers)
    assert response.status == status, await response.text()
    return await response.json()


async def test_select_push_and_pull_watches_and_syncs_them(
    stack: Stack, operator: dict[str, str], account: str
) -> None:
    work = stack.emulator.create_calendar(USER, "Work")
    body = {"push": {"account": account, "calendar": USER}, "pull": [{"account": account, "calendar": work}]}
    selection = SelectionOut.model_validate(await select(stack, operator, body))
    assert selection.push is not None and (selection.push.calendar, selection.push.role) == (USER, "push")
    assert [(c.calendar, c.role) for c in selection.pull] == [(USER, "push"), (work, "pull")]
    assert {c.calendar_id for c in stack.live_channels()} == {USER, work}
    signals = await messages(stack, TOPIC_SIGNALS, "calendar.changed")
    connected = [s["data"] for s in signals if s["data"]["reason"] == "connected"]
    assert sorted(d["calendar_id"] for d in connected) == sorted(c.id for c in selection.pull)
    assert all(d["full"] for d in connected)

    # The same selection again: nothing new anywhere.
    outbox_before = len(await stack.api.outbox())
    again = SelectionOut.model_validate(await select(stack, operator, body))
    assert again == selection.model_copy(update={"push_requests": 0})
    assert len(await stack.api.outbox()) == outbox_before and len(stack.live_channels()) == 2
    got = await (await stack.api.client.get("/v1/profiles/p1/calendars", headers=operator)).json()
    assert SelectionOut.model_validate(got) == again


async def test_a_calendar_both_push_and_pull_is_stored_once(
    stack: Stack, operator: dict[str, str], account: str
) -> None:
    both = {"account": account, "calendar": USER}
    selection = SelectionOut.model_validate(
        await select(stack, operator, {"push": both, "pull": [both, both]})
    )
    assert [(c.calendar, c.role) for c in selection.pull] == [(USER, "push")]
    assert len(stack.live_channels()) == 1


async def test_changing_the_push_calendar_requests_pushes_of_future_appointments(
    stack: Stack, operator: dict[str, str], account: str
) -> None:
    client, headers = stack.api.client, operator
    assert (
        await client.put(
            "/v1/appointments/future?allow_conflict=true", json=appointment_body(), headers=headers
        )
    ).status == 201
    past = appointment_body(start="2025-12-01T10:00:00+01:00", end="2025-12-01T11:00:00+01:00")
    assert (
        await client.put("/v1/appointments/past?allow_conflict=true", json=past, headers=headers)
    ).status == 201
    series = appointment_body(
        start="2025-12-01T10:00:00+01:00",
        end="2025-12-01T11:00:00+01:00",
        recurrence={"rrule": "FREQ=WEEKLY"},
    )
    assert (
        await client.put("/v1/appointments/weekly?allow_conflict=true", json=series, headers=headers)
    ).status == 201
    assert (
        await client.put(
            "/v1/appointments/gone?allow_conflict=true", json=appointment_body(), headers=headers
        )
    ).status == 201
    assert (await client.delete("/v1/appointments/gone", headers=headers)).status == 200

    first = await select(stack, headers, {"push": {"account": account, "calendar": USER}})
    assert first["push_requests"] == 2
    other = stack.emulator.create_calendar(USER, "Bookings")
    moved = await select(stack, headers, {"push": {"account": account, "calendar": other}})
    assert moved["push_requests"] == 2 and moved["push"]["calendar"] == other
    requests = await messages(stack, TOPIC_APPOINTMENTS, "appointment.push_requested")
    assert sorted(r["key"] for r in requests) == ["future", "future", "weekly", "weekly"]
    assert {(r["version"], r["data"]["reason"]) for r in requests} == {(1, "push_calendar_changed")}
    assert all(r["data"]["id"] == r["key"] for r in requests)
    # The old push calendar is no longer selected: its channel was stopped at Google.
    assert [c.calendar_id for c in stack.live_channels()] == [other]
    assert (await select(stack, headers, {"push": {"account": account, "calendar": other}}))[
        "push_requests"
    ] == 0


async def test_clearing_the_selection(stack: Stack, operator: dict[str, str], account: str) -> None:
    await select(stack, operator, {"pull": [{"account": account, "calendar": USER}]})
    cleared = await select(stack, operator, {"push": None, "pull": []})
    assert (cleared["push"], cleared["pull"]) == (None, [])
    assert stack.live_channels() == []


async def test_bad_selections_name_the_field(stack: Stack, operator: dict[str, str], account: str) -> None:
    cases = [
        ({"push": {"account": "nope", "calendar": USER}}, "push.account"),
        (
            {"pull": [{"account": account, "calendar": USER}, {"account": account, "calendar": "x"}]},
            "pull.1.calendar",
        ),
        ({"push": {"account": account}}, "push.calendar"),
        ({"pull": [{"account": account, "calendar": USER, "role": "x"}]}, "pull.0.role"),
        ({"pulls": []}, "pulls"),
    ]
    for body, field in cases:
        response = await stack.api.client.put("/v1/profiles/p1/calendars", json=body, headers=operator)
        assert response.status == 422, (body, await response.text())
        assert [e["field"] for e in (await response.json())["errors"]] == [field]
    missing = await stack.api.client.put("/v1/profiles/nobody/calendars", json={}, headers=operator)
    assert missing.status == 404
    assert stack.live_channels() == [] and await messages(stack, TOPIC_SIGNALS, "calendar.changed") == []

    assert (await stack.api.client.delete(f"/v1/accounts/{account}", headers=operator)).status == 204
    gone = await stack.api.client.put(
        "/v1/profiles/p1/calendars", json={"pull": [{"account": account, "calendar": USER}]}, headers=operator
    )
    assert gone.status == 422 and "disconnected" in (await gone.json())["errors"][0]["message"]


async def test_revoked_account_is_a_conflict(stack: Stack, operator: dict[str, str], account: str) -> None:
    stack.emulator.revoke_refresh_token(stack.refresh_token)
    response = await stack.api.client.put(
        "/v1/profiles/p1/calendars", json={"pull": [{"account": account, "calendar": USER}]}, headers=operator
    )
    assert (
        response.status == 409 and (await response.json())["type"] == "urn:calsync:problem:reconnect-account"
    )


async def test_sync_status_shows_sync_time_channel_and_errors(
    stack: Stack, operator: dict[str, str], account: str
) -> None:
    await select(stack, operator, {"push": {"account": account, "calendar": USER}})
    url = "/v1/profiles/p1/sync-status"
    status = SyncStatusOut.model_validate(await (await stack.api.client.get(url, headers=operator)).json())
    [row] = status.calendars
    assert (row.calendar, row.role, row.provider, row.account) == (USER, "push", "google", account)
    assert row.last_synced_at is None and row.last_error is None
    assert row.channel is not None and row.channel.state == "active"

    now = stack.api.clock.now()
    async with stack.api.db.session() as s:
        await calendars.save_sync_result(s, row.id, cursor="c1", synced_at=now, error=None, now=now)
    row = SyncStatusOut.model_validate(
        await (await stack.api.client.get(url, headers=operator)).json()
    ).calendars[0]
    assert row.last_synced_at == now.isoformat()
    async with stack.api.db.session() as s:
        await calendars.save_sync_result(s, row.id, cursor=None, synced_at=None, error="google 500", now=now)
    row = SyncStatusOut.model_validate(
        await (await stack.api.client.get(url, headers=operator)).json()
    ).calendars[0]
    assert row.last_error is not None and (row.last_error.source, row.last_error.message) == (
        "calendar",
        "google 500",
    )
    assert row.last_synced_at == now.isoformat()  # the last *successful* sync stays visible
    async with stack.api.db.session() as s:
        await accounts.mark_account_error(s, account, "invalid_grant", now)
    row = SyncStatusOut.model_validate(
        await (await stack.api.client.get(url, headers=operator)).json()
    ).calendars[0]
    assert row.last_error is not None and row.last_error.source == "account" and row.account_state == "error"


async def test_other_organizations_see_nothing(stack: Stack, operator: dict[str, str], account: str) -> None:
    await stack.api.seed(org="org2", profile="p2")
    other = await stack.api.key("org2")
    for method, path in (
        ("GET", "/v1/profiles/p1/calendars"),
        ("PUT", "/v1/profiles/p1/calendars"),
        ("GET", "/v1/profiles/p1/sync-status"),
    ):
        response = await stack.api.client.request(method, path, json={}, headers=other)
        assert response.status == 404, (method, path)
    # Another profile cannot use p1's account either.
    response = await stack.api.client.put(
        "/v1/profiles/p2/calendars", json={"pull": [{"account": account, "calendar": USER}]}, headers=other
    )
    assert response.status == 422 and (await response.json())["errors"][0]["field"] == "pull.0.account"
    read_only = await stack.api.key("org1", read_only=True)
    assert (await stack.api.client.put("/v1/profiles/p1/calendars", json={}, headers=read_only)).status == 403


async def test_choosing_a_calendar_in_error_again_restarts_it(
    stack: Stack, operator: dict[str, str], account: str
) -> None:
    body = {"pull": [{"account": account, "calendar": USER}]}
    [chosen] = (await select(stack, operator, body))["pull"]
    async with stack.api.db.session() as s:
        await calendars.mark_calendar_error(s, chosen["id"], "google 404 notFound", stack.api.clock.now())
    before = len(await messages(stack, TOPIC_SIGNALS, "calendar.changed"))
    await select(stack, operator, body)
    signals = await messages(stack, TOPIC_SIGNALS, "calendar.changed")
    assert [s["data"]["reason"] for s in signals[before:]] == ["connected"]
    async with stack.api.db.session() as s:
        row = await calendars.get_calendar(s, chosen["id"])
        assert row is not None and (row.state, row.last_error) == ("active", None)
