"""Bearer keys: missing, wrong, revoked, read-only, and organization isolation."""

from __future__ import annotations

from sqlmodel import select

from store.api_keys import revoke_key
from store.tables import ApiKey
from tests.api.conftest import Api, appointment_body

PROBLEM = "application/problem+json"


async def test_missing_key_is_401_with_challenge(api: Api) -> None:
    response = await api.client.get("/v1/profiles")
    assert response.status == 401
    assert response.content_type == PROBLEM
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = await response.json()
    assert body["status"] == 401 and body["title"] == "Unauthorized" and body["instance"] == "/v1/profiles"


async def test_wrong_scheme_and_wrong_key_are_401(api: Api) -> None:
    key = await api.key()
    token = key["Authorization"].removeprefix("Bearer ")
    for header in (f"Basic {token}", "Bearer csk_00000000_nope", "Bearer", token + "x"):
        response = await api.client.get("/v1/profiles", headers={"Authorization": header})
        assert response.status == 401, header
        assert 'Bearer realm="calsync"' in response.headers["WWW-Authenticate"]


async def test_scheme_is_case_insensitive(api: Api) -> None:
    key = await api.key()
    header = key["Authorization"].replace("Bearer", "bearer")
    assert (await api.client.get("/v1/profiles", headers={"Authorization": header})).status == 200


async def test_revoked_key_is_401(api: Api) -> None:
    key = await api.key()
    assert (await api.client.get("/v1/profiles", headers=key)).status == 200
    async with api.db.session() as s:
        row = (await s.exec(select(ApiKey))).one()
        await revoke_key(s, row.id, api.clock.now())
    response = await api.client.get("/v1/profiles", headers=key)
    assert response.status == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


async def test_openapi_needs_no_key(api: Api) -> None:
    assert (await api.client.get("/v1/openapi.json")).status == 200


async def test_read_only_key_may_only_get(api: Api) -> None:
    await api.seed()
    writer, reader = await api.key(), await api.key(read_only=True)
    assert (
        await api.client.put("/v1/appointments/a1", json=appointment_body(), headers=writer)
    ).status == 201
    assert (await api.client.get("/v1/appointments/a1", headers=reader)).status == 200
    for method, path in (
        ("PUT", "/v1/appointments/a1"),
        ("DELETE", "/v1/appointments/a1"),
        ("POST", "/v1/profiles"),
        ("PUT", "/v1/organizations/org1"),
    ):
        response = await api.client.request(method, path, json={}, headers=reader)
        assert response.status == 403, (method, path)
        assert response.content_type == PROBLEM
    assert len(await api.outbox()) == 1


async def test_org_scoped_key_sees_only_its_organization(api: Api) -> None:
    await api.seed("org1", "p1")
    await api.seed("org2", "p2")
    operator, org1 = await api.key(), await api.key("org1")
    await api.client.put("/v1/appointments/theirs", json=appointment_body(profile="p2"), headers=operator)

    # Own data works.
    assert (await api.client.get("/v1/organizations/org1", headers=org1)).status == 200
    assert (await api.client.get("/v1/profiles/p1", headers=org1)).status == 200
    assert (
        await api.client.put("/v1/appointments/mine", json=appointment_body(), headers=org1)
    ).status == 201

    # Everything of org2 is invisible: 404, or an unknown reference (422) where it is named in a body.
    assert (await api.client.get("/v1/organizations/org2", headers=org1)).status == 404
    assert (await api.client.get("/v1/profiles/p2", headers=org1)).status == 404
    assert (await api.client.patch("/v1/profiles/p2", json={"name": "x"}, headers=org1)).status == 404
    assert (await api.client.delete("/v1/profiles/p2", headers=org1)).status == 404
    assert (await api.client.get("/v1/appointments/theirs", headers=org1)).status == 404
    assert (await api.client.delete("/v1/appointments/theirs", headers=org1)).status == 404
    response = await api.client.put("/v1/appointments/theirs", json=appointment_body(), headers=org1)
    assert response.status == 404
    response = await api.client.put("/v1/appointments/new", json=appointment_body(profile="p2"), headers=org1)
    assert response.status == 422 and (await response.json())["errors"][0]["field"] == "profile"
    body = {"organization": "org2", "name": "X", "email": "x@example.com", "time_zone": "UTC"}
    response = await api.client.post("/v1/profiles", json=body, headers=org1)
    assert response.status == 422 and (await response.json())["errors"][0]["field"] == "organization"
    response = await api.client.put("/v1/organizations/org2", json={"name": "Mine now"}, headers=org1)
    assert response.status == 403

    listed = await (await api.client.get("/v1/profiles", headers=org1)).json()
    assert [p["id"] for p in listed["items"]] == ["p1"]
    listed = await (await api.client.get("/v1/profiles?organization=org2", headers=org1)).json()
    assert listed["items"] == []
    query = "profile=p2&start=2026-01-01T00:00:00Z&end=2026-02-01T00:00:00Z"
    assert (await api.client.get(f"/v1/appointments?{query}", headers=org1)).status == 422

    # The operator key sees both.
    listed = await (await api.client.get("/v1/profiles", headers=operator)).json()
    assert [p["id"] for p in listed["items"]] == ["p1", "p2"]
