"""/v1/accounts: connect with encrypted credentials, read, list, list calendars, disconnect; scoping."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from sqlmodel import select

from daemon.api.connect_schemas import AccountOut, ProviderCalendarList
from store.db import Database
from store.tables import ProviderAccount
from tests.accounts.fixtures import USER, Client, Stack, connect_stack


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


async def rows(stack: Stack) -> list[ProviderAccount]:
    async with stack.api.db.session() as s:
        return list((await s.exec(select(ProviderAccount))).all())


async def connect(stack: Stack, headers: dict[str, str], **changes: object) -> dict[str, object]:
    response = await stack.api.client.post(
        "/v1/accounts", json=stack.connect_body(**changes), headers=headers
    )
    assert response.status == 201, await response.text()
    body: dict[str, object] = await response.json()
    return body


async def test_connect_encrypts_never_echoes_and_finds_the_login(
    stack: Stack, operator: dict[str, str]
) -> None:
    response = await stack.api.client.post("/v1/accounts", json=stack.connect_body(), headers=operator)
    assert response.status == 201
    text = await response.text()
    assert stack.refresh_token not in text and "s3cret-client" not in text
    body = AccountOut.model_validate(await response.json())
    assert (body.profile, body.provider, body.state, body.external_account) == (
        "p1",
        "google",
        "active",
        USER,
    )
    assert response.headers["Location"] == f"/v1/accounts/{body.id}"
    [row] = await rows(stack)
    stored = " ".join(str(v) for v in row.model_dump().values())
    assert stack.refresh_token not in stored and "s3cret-client" not in stored
    assert row.refresh_token_enc and row.client_secret_enc

    fetched = await stack.api.client.get(f"/v1/accounts/{body.id}", headers=operator)
    assert (await fetched.json())["id"] == body.id
    listed = await stack.api.client.get("/v1/accounts?profile=p1", headers=operator)
    assert [a["id"] for a in (await listed.json())["items"]] == [body.id]

    again = await stack.api.client.post("/v1/accounts", json=stack.connect_body(), headers=operator)
    assert again.status == 409 and len(await rows(stack)) == 1


async def test_without_a_secret_key_nothing_is_stored(
    database: Database, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> None:
    async with connect_stack(database, aiohttp_client, secret_key=False) as stack:
        await stack.api.seed()
        headers = await stack.api.key()
        response = await stack.api.client.post("/v1/accounts", json=stack.connect_body(), headers=headers)
        assert response.status == 503
        detail = (await response.json())["detail"]
        assert "CALSYNC_SECRET_KEY" in detail and "calsync secret-key" in detail
        assert await rows(stack) == []


async def test_bad_input_names_the_field(stack: Stack, operator: dict[str, str]) -> None:
    cases = [
        (stack.connect_body(provider="yahoo"), "provider"),
        (stack.connect_body(profile="nobody"), "profile"),
        (stack.connect_body(refresh_token=""), "refresh_token"),
        (stack.connect_body(client_id=""), "client_id"),
        ({**stack.connect_body(), "scope": "all"}, "scope"),
        (stack.connect_body(refresh_token="1//revoked-or-never-issued"), "refresh_token"),
    ]
    for body, field in cases:
        response = await stack.api.client.post("/v1/accounts", json=body, headers=operator)
        assert response.status == 422, (body, await response.text())
        assert [e["field"] for e in (await response.json())["errors"]] == [field]
    refused = await stack.api.client.post(
        "/v1/accounts", json=stack.connect_body(refresh_token="1//nope"), headers=operator
    )
    assert (await refused.json())["errors"][0]["message"] == "the provider refused this refresh token"
    assert await rows(stack) == []  # refused tokens are not kept
    missing = await stack.api.client.get("/v1/accounts", headers=operator)
    assert missing.status == 422 and (await missing.json())["errors"][0]["field"] == "profile"


async def test_list_calendars_marks_the_selected_ones(stack: Stack, operator: dict[str, str]) -> None:
    second = stack.emulator.create_calendar(USER, "Private")
    account = await connect(stack, operator)
    response = await stack.api.client.get(f"/v1/accounts/{account['id']}/calendars", headers=operator)
    assert response.status == 200
    listing = ProviderCalendarList.model_validate(await response.json())
    by_id = {c.calendar: c for c in listing.items}
    assert set(by_id) == {USER, second}
    assert by_id[USER].primary and by_id[USER].writable and not by_id[USER].selected
    put = await stack.api.client.put(
        "/v1/profiles/p1/calendars",
        json={"push": {"account": account["id"], "calendar": second}},
        headers=operator,
    )
    assert put.status == 200
    again = ProviderCalendarList.model_validate(
        await (await stack.api.client.get(f"/v1/accounts/{account['id']}/calendars", headers=operator)).json()
    )
    chosen = {c.calendar: (c.selected, c.role) for c in again.items}
    assert chosen == {second: (True, "push"), USER: (False, "none")}


async def test_provider_trouble_becomes_a_problem(stack: Stack, operator: dict[str, str]) -> None:
    account = await connect(stack, operator)
    stack.emulator.inject_errors("backendError", count=50)
    response = await stack.api.client.get(f"/v1/accounts/{account['id']}/calendars", headers=operator)
    assert response.status == 503 and int(response.headers["Retry-After"]) >= 1
    stack.emulator.clear_faults()

    stack.emulator.revoke_refresh_token(stack.refresh_token)
    revoked = await stack.api.client.get(f"/v1/accounts/{account['id']}/calendars", headers=operator)
    assert revoked.status == 409 and "reconnect" in (await revoked.json())["detail"]
    state = await (await stack.api.client.get(f"/v1/accounts/{account['id']}", headers=operator)).json()
    assert state["state"] == "error" and state["last_error"]


async def test_unverified_account_is_kept(stack: Stack, operator: dict[str, str]) -> None:
    account = await connect(
        stack, operator, refresh_token="1//unknown", verify=False, external_account="x@y.z"
    )
    assert (account["state"], account["external_account"]) == ("active", "x@y.z")
    response = await stack.api.client.get(f"/v1/accounts/{account['id']}/calendars", headers=operator)
    assert response.status == 409


async def test_disconnect_deletes_credentials_and_is_idempotent(
    stack: Stack, operator: dict[str, str]
) -> None:
    account = await connect(stack, operator)
    url = f"/v1/accounts/{account['id']}"
    put = await stack.api.client.put(
        "/v1/profiles/p1/calendars",
        json={"pull": [{"account": account["id"], "calendar": USER}]},
        headers=operator,
    )
    assert put.status == 200 and len(stack.live_channels()) == 1
    for _ in range(2):
        response = await stack.api.client.delete(url, headers=operator)
        assert response.status == 204
    assert stack.live_channels() == []
    [row] = await rows(stack)
    assert (row.state, row.refresh_token_enc, row.client_secret_enc) == ("disconnected", None, None)
    assert (await (await stack.api.client.get(url, headers=operator)).json())["state"] == "disconnected"
    calendars = await stack.api.client.get(f"{url}/calendars", headers=operator)
    assert calendars.status == 409
    selection = await (await stack.api.client.get("/v1/profiles/p1/calendars", headers=operator)).json()
    assert selection["push"] is None and selection["pull"] == []


async def test_other_organizations_see_nothing(stack: Stack, operator: dict[str, str]) -> None:
    account = await connect(stack, operator)
    await stack.api.seed(org="org2", profile="p2")
    other = await stack.api.key("org2")
    url = f"/v1/accounts/{account['id']}"
    for method, path in (("GET", url), ("DELETE", url), ("GET", f"{url}/calendars")):
        response = await stack.api.client.request(method, path, headers=other)
        assert response.status == 404, (method, path)
    listed = await stack.api.client.get("/v1/accounts?profile=p1", headers=other)
    assert (await listed.json())["items"] == []
    post = await stack.api.client.post("/v1/accounts", json=stack.connect_body(), headers=other)
    assert post.status == 422 and (await post.json())["errors"][0]["field"] == "profile"
    own = await stack.api.key("org1")
    assert (await stack.api.client.get(url, headers=own)).status == 200
    read_only = await stack.api.key("org1", read_only=True)
    assert (await stack.api.client.delete(url, headers=read_only)).status == 403
