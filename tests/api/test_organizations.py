"""PUT/GET /v1/organizations/{id}."""

from __future__ import annotations

from daemon.api.schemas import OrganizationOut
from tests.api.conftest import Api


async def test_put_creates_then_updates_idempotently(api: Api) -> None:
    key = await api.key()
    response = await api.client.put("/v1/organizations/acme", json={"name": "Acme"}, headers=key)
    assert response.status == 201
    created = OrganizationOut.model_validate(await response.json())
    assert (created.id, created.name, created.webhook_url) == ("acme", "Acme", None)

    again = await api.client.put("/v1/organizations/acme", json={"name": "Acme"}, headers=key)
    assert again.status == 200 and await again.json() == await response.json()

    body = {"name": "Acme Inc", "webhook_url": "https://acme.test/calsync"}
    updated = await api.client.put("/v1/organizations/acme", json=body, headers=key)
    assert updated.status == 200
    fetched = await (await api.client.get("/v1/organizations/acme", headers=key)).json()
    assert fetched["name"] == "Acme Inc" and fetched["webhook_url"] == "https://acme.test/calsync"
    assert fetched["created_at"] == created.created_at


async def test_org_key_may_update_its_own_organization(api: Api) -> None:
    await api.seed("org1", "p1")
    key = await api.key("org1")
    response = await api.client.put("/v1/organizations/org1", json={"name": "Renamed"}, headers=key)
    assert response.status == 200 and (await response.json())["name"] == "Renamed"


async def test_validation(api: Api) -> None:
    key = await api.key()
    cases = [
        ("/v1/organizations/acme", {"name": ""}, "name"),
        ("/v1/organizations/acme", {"name": "A", "webhook_url": "ftp://x"}, "webhook_url"),
        ("/v1/organizations/a%20b", {"name": "A"}, "id"),
        ("/v1/organizations/" + "x" * 65, {"name": "A"}, "id"),
    ]
    for path, body, field in cases:
        response = await api.client.put(path, json=body, headers=key)
        assert response.status == 422, path
        assert [e["field"] for e in (await response.json())["errors"]] == [field]


async def test_get_missing_is_404(api: Api) -> None:
    key = await api.key()
    assert (await api.client.get("/v1/organizations/nope", headers=key)).status == 404
