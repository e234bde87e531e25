"""/v1/profiles: create, list with pages, read, partial update, soft delete."""

from __future__ import annotations

from typing import Any

from daemon.api.schemas import ProfileOut
from tests.api.conftest import Api, appointment_body


def profile_body(**changes: Any) -> dict[str, Any]:
    body = {
        "organization": "org1",
        "name": "Dr Who",
        "email": "who@example.com",
        "time_zone": "Europe/London",
    }
    body.update(changes)
    return body


async def test_create_with_and_without_id(api: Api, operator: dict[str, str]) -> None:
    response = await api.client.post("/v1/profiles", json=profile_body(id="doc"), headers=operator)
    assert response.status == 201
    assert response.headers["Location"] == "/v1/profiles/doc"
    created = ProfileOut.model_validate(await response.json())
    assert (created.id, created.organization, created.time_zone) == ("doc", "org1", "Europe/London")

    generated = await api.client.post("/v1/profiles", json=profile_body(), headers=operator)
    new_id = (await generated.json())["id"]
    assert generated.status == 201 and len(new_id) == 32
    fetched = await api.client.get(generated.headers["Location"], headers=operator)
    assert (await fetched.json())["id"] == new_id

    duplicate = await api.client.post("/v1/profiles", json=profile_body(id="doc"), headers=operator)
    assert duplicate.status == 409


async def test_validation_names_fields(api: Api, operator: dict[str, str]) -> None:
    cases = [
        (profile_body(email="not-an-email"), "email"),
        (profile_body(time_zone="Mars/Olympus"), "time_zone"),
        (profile_body(organization="nope"), "organization"),
        (profile_body(name=""), "name"),
        (profile_body(id="bad id"), "id"),
        ({**profile_body(), "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        response = await api.client.post("/v1/profiles", json=body, headers=operator)
        assert response.status == 422, body
        assert [e["field"] for e in (await response.json())["errors"]] == [field]


async def test_patch_is_partial(api: Api, operator: dict[str, str]) -> None:
    api.clock.advance(60)
    response = await api.client.patch("/v1/profiles/p1", json={"time_zone": "Asia/Tokyo"}, headers=operator)
    assert response.status == 200
    body = await response.json()
    assert (body["name"], body["email"], body["time_zone"]) == ("P1", "p1@example.com", "Asia/Tokyo")
    assert body["updated_at"] != body["created_at"]
    for bad, field in (
        ({"time_zone": "Nowhere"}, "time_zone"),
        ({"name": None}, "name"),
        ({"id": "x"}, "id"),
    ):
        response = await api.client.patch("/v1/profiles/p1", json=bad, headers=operator)
        assert response.status == 422
        assert (await response.json())["errors"][0]["field"] == field


async def test_delete_is_soft_and_keeps_appointments(api: Api, operator: dict[str, str]) -> None:
    await api.client.put("/v1/appointments/a1", json=appointment_body(), headers=operator)
    assert (await api.client.delete("/v1/profiles/p1", headers=operator)).status == 204
    assert (await api.client.get("/v1/profiles/p1", headers=operator)).status == 404
    assert (await api.client.delete("/v1/profiles/p1", headers=operator)).status == 404
    assert (await api.client.patch("/v1/profiles/p1", json={"name": "x"}, headers=operator)).status == 404
    assert (await api.client.get("/v1/appointments/a1", headers=operator)).status == 200
    reuse = await api.client.post("/v1/profiles", json=profile_body(id="p1"), headers=operator)
    assert reuse.status == 409


async def test_list_filters_and_pages(api: Api, operator: dict[str, str]) -> None:
    await api.seed("org2", "q1")
    for pid in ("p2", "p3", "p4"):
        await api.client.post("/v1/profiles", json=profile_body(id=pid), headers=operator)
    seen: list[str] = []
    url = "/v1/profiles?organization=org1&limit=2"
    while True:
        page = await (await api.client.get(url, headers=operator)).json()
        assert len(page["items"]) <= 2
        seen += [p["id"] for p in page["items"]]
        if page["next_cursor"] is None:
            break
        url = f"/v1/profiles?organization=org1&limit=2&cursor={page['next_cursor']}"
    assert seen == ["p1", "p2", "p3", "p4"]
    everything = await (await api.client.get("/v1/profiles", headers=operator)).json()
    assert [p["id"] for p in everything["items"]] == ["p1", "p2", "p3", "p4", "q1"]
    for query, field in (("limit=201", "limit"), ("limit=x", "limit"), ("cursor=zzzz", "cursor")):
        response = await api.client.get(f"/v1/profiles?{query}", headers=operator)
        assert response.status == 422 and (await response.json())["errors"][0]["field"] == field
