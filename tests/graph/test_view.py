"""POST /webhooks/graph and /webhooks/graph/lifecycle: a real aiohttp app over a real database."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel import select

from calsync.clock import FakeClock
from calsync.envelope import decode
from handlers.webhooks.graph_view import GraphWebhook, LifecycleWork, add_graph_webhook
from store import pending_sync
from store.db import Database
from store.tables import Channel, OutboxMessage
from tests.graph.seed import seed_calendar, seed_channel

SECRET = "s" * 43


def change(
    sub: str = "sub-1", state: str | None = SECRET, etag: str = 'W/"1"', event: str = "AAMk1"
) -> dict[str, Any]:
    return {
        "subscriptionId": sub, "subscriptionExpirationDateTime": "2026-01-08T09:00:00.0000000Z",
        "changeType": "updated", "resource": f"Users/u1/Events/{event}", "clientState": state,
        "tenantId": "t1",
        "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "@odata.id": f"Users/u1/Events/{event}",
                         "@odata.etag": etag, "id": event},
    }  # fmt: skip


@pytest.fixture
async def setup(database: Database, aiohttp_client: Any) -> tuple[TestClient, list[LifecycleWork], str, str]:
    clock = FakeClock()
    _, cal = await seed_calendar(database, clock.now())
    channel = await seed_channel(database, cal, "sub-1", SECRET, clock.now())
    work: list[LifecycleWork] = []
    app = web.Application()
    add_graph_webhook(app, GraphWebhook(database, clock, on_lifecycle=work.append))
    return await aiohttp_client(app), work, cal, channel


async def signals(db: Database) -> list[dict[str, Any]]:
    async with db.session() as s:
        rows = (await s.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all()  # type: ignore[arg-type]
    return [dict(decode(r.payload).data) for r in rows]


async def test_validation_handshake(setup: Any) -> None:
    client, *_ = setup
    for path in ("/webhooks/graph", "/webhooks/graph/lifecycle"):
        resp = await client.post(f"{path}?validationToken=Validation%3A+Testing+client+application")
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert await resp.text() == "Validation: Testing client application"
    resp = await client.post("/webhooks/graph?validationToken=%3Cscript%3Ealert(1)%3C/script%3E")
    assert resp.status == 400 and "<script>" not in await resp.text()


async def test_mixed_batch_keeps_valid_items_and_coalesces_retries(setup: Any, database: Database) -> None:
    client, _, cal, channel = setup
    batch = {
        "value": [change(), change(state="forged"), change(sub="unknown"), {"junk": 1}, change(etag='W/"2"')]
    }
    resp = await client.post("/webhooks/graph", json=batch)
    assert resp.status == 202
    got = await signals(database)
    assert got == [
        {"calendar_id": cal, "provider": "microsoft", "reason": "push", "full": False, "pending": True}
    ]
    resp = await client.post("/webhooks/graph", json=batch)  # Graph retried the same batch
    assert resp.status == 202 and len(await signals(database)) == 1
    await client.post("/webhooks/graph", json={"value": [change(etag='W/"3"')]})  # a new change...
    assert len(await signals(database)) == 1  # ...rides on the signal still waiting for its pass
    async with database.session() as s:
        assert await pending_sync.mark_running(s, cal, FakeClock().now())  # the consumer starts that pass
    await client.post("/webhooks/graph", json={"value": [change(etag='W/"4"')]})  # a change during it
    assert len(await signals(database)) == 2
    async with database.session() as s:
        row = await s.get(Channel, channel)
        assert row is not None and row.last_notification_at is not None


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b'{"value": 3}', "application/json", 400),
        (b"{}", "text/html", 415),
        (b"x" * (1024 * 1024 + 10), "application/json", 413),
    ],
)
async def test_bad_requests_never_5xx(
    setup: Any, database: Database, body: bytes, content_type: str, status: int
) -> None:
    client, *_ = setup
    resp = await client.post("/webhooks/graph", data=body, headers={"Content-Type": content_type})
    assert resp.status == status
    assert await signals(database) == []


async def test_lifecycle_events(setup: Any, database: Database) -> None:
    client, work, cal, channel = setup

    def item(event: str, state: str = SECRET) -> dict[str, Any]:
        return {"subscriptionId": "sub-1", "subscriptionExpirationDateTime": "2026-01-08T09:00:00Z",
                "tenantId": "t1", "clientState": state, "lifecycleEvent": event}  # fmt: skip

    payload = json.dumps({"value": [item("missed"), item("missed", "x")]})
    resp = await client.post(
        "/webhooks/graph/lifecycle", data=payload, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 202
    assert await signals(database) == [
        {"calendar_id": cal, "provider": "microsoft", "reason": "lifecycle_missed", "full": True}
    ]
    resp = await client.post("/webhooks/graph/lifecycle", json={"value": [item("reauthorizationRequired")]})
    assert resp.status == 202 and work == [LifecycleWork("reauthorizationRequired", channel, cal)]
    resp = await client.post("/webhooks/graph/lifecycle", json={"value": [item("subscriptionRemoved")]})
    assert resp.status == 202 and work[-1] == LifecycleWork("subscriptionRemoved", channel, cal)
    assert (await signals(database))[-1]["reason"] == "subscription_removed"
    async with database.session() as s:
        row = await s.get(Channel, channel)
        assert row is not None and row.state == "stopped"
