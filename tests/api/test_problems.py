"""Problem bodies: shape and content type for aiohttp's own errors, body limits and crashes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import ClientResponse, web

from calsync.clock import FakeClock
from daemon.api import setup_api
from daemon.appkeys import CLOCK, DATABASE, SETTINGS
from daemon.config import Settings
from store.api_keys import create_key
from store.db import Database
from tests.api.conftest import Api, Client, appointment_body

PROBLEM = "application/problem+json"


async def assert_problem(response: ClientResponse, status: int) -> dict[str, object]:
    assert response.status == status
    assert response.content_type == PROBLEM
    body = await response.json(content_type=PROBLEM)
    assert isinstance(body, dict)
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status and isinstance(body["title"], str) and isinstance(body["detail"], str)
    return body


async def test_unknown_route_is_404_problem(api: Api, operator: dict[str, str]) -> None:
    body = await assert_problem(await api.client.get("/v1/nothing-here", headers=operator), 404)
    assert body["instance"] == "/v1/nothing-here"


async def test_unknown_route_without_key_is_401_not_404(api: Api) -> None:
    await assert_problem(await api.client.get("/v1/nothing-here"), 401)


async def test_wrong_method_is_405_problem_with_allow(api: Api, operator: dict[str, str]) -> None:
    response = await api.client.post("/v1/appointments/a1", json={}, headers=operator)
    await assert_problem(response, 405)
    assert set(response.headers["Allow"].split(",")) == {"PUT", "GET", "DELETE"}


async def test_missing_resource_is_404_problem(api: Api, operator: dict[str, str]) -> None:
    await assert_problem(await api.client.get("/v1/appointments/nope", headers=operator), 404)
    await assert_problem(await api.client.get("/v1/profiles/nope", headers=operator), 404)


async def test_paths_outside_v1_are_left_alone(api: Api) -> None:
    response = await api.client.get("/elsewhere")
    assert response.status == 404 and response.content_type != PROBLEM


async def test_oversized_body_is_413(api: Api, operator: dict[str, str]) -> None:
    body = json.dumps(appointment_body(description="x" * (300 * 1024))).encode()
    response = await api.client.put(
        "/v1/appointments/a1", data=body, headers={**operator, "Content-Type": "application/json"}
    )
    await assert_problem(response, 413)
    assert await api.appointments() == []


async def test_oversized_chunked_body_is_413(api: Api, operator: dict[str, str]) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit is enforced while reading
        for _ in range(300):
            yield b" " * 1024
        yield json.dumps(appointment_body()).encode()

    response = await api.client.put(
        "/v1/appointments/a1", data=chunks(), headers={**operator, "Content-Type": "application/json"}
    )
    await assert_problem(response, 413)
    assert await api.appointments() == []


async def test_wrong_content_type_is_415(api: Api, operator: dict[str, str]) -> None:
    response = await api.client.put(
        "/v1/appointments/a1",
        data=json.dumps(appointment_body()),
        headers={**operator, "Content-Type": "text/plain"},
    )
    await assert_problem(response, 415)


async def test_malformed_json_is_400(api: Api, operator: dict[str, str]) -> None:
    response = await api.client.put(
        "/v1/appointments/a1", data=b'{"profile": ', headers={**operator, "Content-Type": "application/json"}
    )
    await assert_problem(response, 400)


async def test_validation_problem_lists_fields(api: Api, operator: dict[str, str]) -> None:
    response = await api.client.put("/v1/appointments/a1", json={"start": 5, "bogus": 1}, headers=operator)
    body = await assert_problem(response, 422)
    fields = {e["field"] for e in body["errors"]}  # type: ignore[attr-defined]
    assert {"profile", "start", "end", "bogus"} <= fields


async def test_unexpected_error_is_500_without_internals(
    database: Database, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> None:
    async def explode(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals: password=hunter2")

    clock = FakeClock()
    app = web.Application()
    app[SETTINGS] = Settings()
    app[DATABASE] = database
    app[CLOCK] = clock
    setup_api(app)
    app.router.add_get("/v1/explode", explode)
    client = await aiohttp_client(app)
    async with database.session() as s:
        key, _ = await create_key(s, "t", None, clock.now())
    response = await client.get("/v1/explode", headers={"Authorization": f"Bearer {key}"})
    body = await assert_problem(response, 500)
    assert "hunter2" not in json.dumps(body) and "RuntimeError" not in json.dumps(body)
    assert "reference" in str(body["detail"])
