"""PUT/GET /v1/organizations/{id} and the host webhook secret."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from cryptography.fernet import Fernet

from calsync.clock import FakeClock
from calsync.crypto import Cipher
from daemon.api import setup_api
from daemon.api.schemas import OrganizationOut
from daemon.appkeys import CLOCK, DATABASE, SETTINGS
from daemon.config import Settings
from handlers.host_webhook import sign, verify
from store.db import Database
from store.tables import Organization
from tests.api.conftest import Api

KEY = Fernet.generate_key().decode()


@pytest.fixture
async def api(
    database: Database,
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]],
) -> Api:
    """As the shared fixture, but with a secret key: webhook secrets are stored encrypted."""
    clock = FakeClock()
    app = web.Application()
    app[SETTINGS] = Settings(secret_keys=(KEY,))
    app[DATABASE] = database
    app[CLOCK] = clock
    setup_api(app)
    return Api(await aiohttp_client(app), database, clock)


async def stored_secret(api: Api, org_id: str) -> str:
    async with api.db.session() as session:
        org = await session.get(Organization, org_id)
        assert org is not None and org.webhook_secret_enc is not None
        assert not org.webhook_secret_enc.startswith("whsec_")  # encrypted at rest
        return Cipher((KEY,)).decrypt(org.webhook_secret_enc)


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
    secret = (await updated.json())["webhook_secret"]
    assert secret.startswith("whsec_") and secret == await stored_secret(api, "acme")
    # Shown once: the next PUT and GET do not carry it, and it stays the same.
    again = await api.client.put("/v1/organizations/acme", json=body, headers=key)
    assert "webhook_secret" not in await again.json()
    assert await stored_secret(api, "acme") == secret
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


async def test_a_webhook_url_on_creation_gets_a_secret_that_signs_verifiably(api: Api) -> None:
    key = await api.key()
    body = {"name": "Acme", "webhook_url": "https://acme.test/hook"}
    response = await api.client.put("/v1/organizations/acme", json=body, headers=key)
    assert response.status == 201
    secret = (await response.json())["webhook_secret"]
    payload = b'{"type":"appointment.cancelled"}'
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    verify(secret, sign(secret, "msg_1", int(now.timestamp()), payload), payload, now)
    fetched = await (await api.client.get("/v1/organizations/acme", headers=key)).json()
    assert "webhook_secret" not in fetched


async def test_rotate_returns_a_new_secret_once(api: Api) -> None:
    key = await api.key()
    body = {"name": "Acme", "webhook_url": "https://acme.test/hook"}
    first = (await (await api.client.put("/v1/organizations/acme", json=body, headers=key)).json())[
        "webhook_secret"
    ]
    rotated = await api.client.post("/v1/organizations/acme/webhook-secret", headers=key)
    assert rotated.status == 200
    second = (await rotated.json())["webhook_secret"]
    assert second.startswith("whsec_") and second != first
    assert await stored_secret(api, "acme") == second


async def test_rotate_is_scoped_and_refused_to_read_only_keys(api: Api) -> None:
    await api.seed("org1", "p1")
    await api.seed("org2", "p2")
    other = await api.key("org2")
    assert (await api.client.post("/v1/organizations/org1/webhook-secret", headers=other)).status == 404
    read_only = await api.key("org1", read_only=True)
    assert (await api.client.post("/v1/organizations/org1/webhook-secret", headers=read_only)).status == 403
    assert (
        await api.client.post("/v1/organizations/nope/webhook-secret", headers=await api.key())
    ).status == 404
