"""Change and lifecycle notifications to a real aiohttp receiver: shape, batching, retries,
throttling of slow endpoints, expiry, injected delivery faults (§3)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import aiohttp
import pytest
from msgraph import GraphServiceClient

from calsync.clock import FakeClock
from channels.emulators.graph import GraphEmulator, GraphEmulatorConfig, SeededUser
from channels.emulators.graph.throttling import ThrottleBook

from .conftest import TIME_SCALE, Receiver, later


def when(day: int, hour: int) -> dict[str, str]:
    return {"dateTime": f"2026-01-{day:02d}T{hour:02d}:00:00", "timeZone": "UTC"}


async def subscribe(
    http: aiohttp.ClientSession,
    receiver: Receiver,
    clock: FakeClock,
    change_type: str = "created,updated,deleted",
    path: str = "notify",
) -> dict[str, str]:
    body = {
        "changeType": change_type,
        "notificationUrl": f"{receiver.url}/{path}",
        "resource": "/me/events",
        "lifecycleNotificationUrl": f"{receiver.url}/lifecycle",
        "expirationDateTime": later(clock, 60),
        "clientState": "s3cret",
    }
    async with http.post("v1.0/subscriptions", json=body) as resp:
        assert resp.status == 201
        return dict(await resp.json())


async def create(http: aiohttp.ClientSession, subject: str = "N", day: int = 6) -> str:
    async with http.post(
        "v1.0/me/events", json={"subject": subject, "start": when(day, 9), "end": when(day, 10)}
    ) as resp:
        return str((await resp.json())["id"])


async def test_payload_shape_for_create_update_delete(
    graph: GraphServiceClient,
    http: aiohttp.ClientSession,
    receiver: Receiver,
    clock: FakeClock,
    emulator: GraphEmulator,
    user: SeededUser,
) -> None:
    sub = await subscribe(http, receiver, clock)
    event_id = await create(http)
    await emulator.wait_idle()
    [item] = receiver.items
    assert item == {
        "subscriptionId": sub["id"],
        "subscriptionExpirationDateTime": sub["expirationDateTime"],
        "changeType": "created",
        "resource": f"Users/{user.id}/Events/{event_id}",
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Event",
            "@odata.id": f"Users/{user.id}/Events/{event_id}",
            "@odata.etag": item["resourceData"]["@odata.etag"],
            "id": event_id,
        },
        "clientState": "s3cret",
        "tenantId": user.tenant_id,
    }
    async with http.patch(f"v1.0/me/events/{event_id}", json={"showAs": "free"}) as resp:
        etag = (await resp.json())["@odata.etag"]
    await graph.me.events.by_event_id(event_id).delete()
    await emulator.wait_idle()
    assert [i["changeType"] for i in receiver.items] == ["created", "updated", "deleted"]
    assert receiver.items[1]["resourceData"]["@odata.etag"] == etag


async def test_batches_subscriptions_sharing_a_url_and_filters_change_types(
    http: aiohttp.ClientSession, receiver: Receiver, clock: FakeClock, emulator: GraphEmulator
) -> None:
    first = await subscribe(http, receiver, clock)
    second = await subscribe(http, receiver, clock)
    deletes_only = await subscribe(http, receiver, clock, "deleted", path="notify?only=deleted")
    await create(http)
    await emulator.wait_idle()
    assert len(receiver.notifications) == 1
    assert {i["subscriptionId"] for i in receiver.notifications[0]["value"]} == {first["id"], second["id"]}
    assert deletes_only["id"] not in {i["subscriptionId"] for i in receiver.items}


async def test_retry_on_503_then_delivered(
    http: aiohttp.ClientSession, receiver: Receiver, clock: FakeClock, emulator: GraphEmulator
) -> None:
    await subscribe(http, receiver, clock)
    receiver.statuses = [503]
    await create(http)
    await emulator.wait_idle()
    assert receiver.items == [] and emulator.counters.notifications_retried == 1
    emulator.advance(timedelta(minutes=2))
    await emulator.wait_idle()
    assert [i["changeType"] for i in receiver.items] == ["created"]


async def test_discarded_after_four_hours_of_failures(
    http: aiohttp.ClientSession, receiver: Receiver, clock: FakeClock, emulator: GraphEmulator
) -> None:
    await subscribe(http, receiver, clock)
    receiver.statuses = [500] * 100
    await create(http)
    for _ in range(12):
        await emulator.wait_idle()
        emulator.advance(timedelta(minutes=30))
    await emulator.wait_idle()
    assert receiver.items == []
    assert emulator.counters.notifications_discarded == 1
    assert emulator.counters.notifications_failed_attempts > 5


@pytest.mark.parametrize(
    "config",
    [
        GraphEmulatorConfig(
            time_scale=TIME_SCALE,
            allow_http_callbacks=True,
            seed=7,
            delivery_poll_interval_s=0.02,
            throttle_window_size=10,
            throttle_min_samples=10,
        )
    ],
)
async def test_slow_receiver_is_throttled_then_dropped(
    http: aiohttp.ClientSession, receiver: Receiver, clock: FakeClock, emulator: GraphEmulator
) -> None:
    await subscribe(http, receiver, clock)
    receiver.delay_s = 0.2  # beyond the scaled 3 s limit
    for day in range(10):
        await create(http, day=6 + day)
        await emulator.wait_idle()
    stats = emulator.counters_snapshot()["endpoints"][f"{receiver.url}/notify"]
    assert stats["slow"] == 10 and stats["window"] == 10
    await create(http, day=20)
    await emulator.wait_idle()
    assert emulator.counters.notifications_dropped_throttled == 1
    # The window is flushed after 10 minutes: a now-fast receiver is served again.
    receiver.delay_s = 0.0
    emulator.advance(timedelta(minutes=11))
    await create(http, day=21)
    await emulator.wait_idle()
    assert any(i["resourceData"]["id"] for i in receiver.items)


def test_throttle_thresholds(clock: FakeClock, config: GraphEmulatorConfig) -> None:
    book = ThrottleBook(config)
    url = "https://hooks.example.com/n"
    for n in range(100):
        book.record(url, slow=n >= 88, ok=True, now=clock.now())
    assert book.state(url, clock.now()) == "throttled"
    for _ in range(3):
        book.record(url, slow=True, ok=True, now=clock.now())
    assert book.state(url, clock.now()) == "dropping"
    clock.advance(timedelta(minutes=10))
    assert book.state(url, clock.now()) == "normal"
    fast = "https://fast.example.com/n"
    for _ in range(100):
        book.record(fast, slow=False, ok=True, now=clock.now())
    assert book.state(fast, clock.now()) == "normal"


async def test_lifecycle_events(
    graph: GraphServiceClient,
    http: aiohttp.ClientSession,
    receiver: Receiver,
    clock: FakeClock,
    emulator: GraphEmulator,
    user: SeededUser,
) -> None:
    sub = await subscribe(http, receiver, clock)
    emulator.fire_lifecycle(sub["id"], "reauthorizationRequired")
    emulator.fire_lifecycle(sub["id"], "missed")
    await emulator.wait_idle()
    items = [i for batch in receiver.lifecycle for i in batch["value"]]
    assert items[0] == {
        "subscriptionId": sub["id"],
        "subscriptionExpirationDateTime": sub["expirationDateTime"],
        "tenantId": user.tenant_id,
        "clientState": "s3cret",
        "lifecycleEvent": "reauthorizationRequired",
    }
    assert [i["lifecycleEvent"] for i in items] == ["reauthorizationRequired", "missed"]
    emulator.fire_lifecycle(sub["id"], "subscriptionRemoved")
    await emulator.wait_idle()
    async with http.get(f"v1.0/subscriptions/{sub['id']}") as resp:
        assert resp.status == 404


async def test_expired_subscription_stops_notifications(
    http: aiohttp.ClientSession, receiver: Receiver, clock: FakeClock, emulator: GraphEmulator
) -> None:
    await subscribe(http, receiver, clock)
    emulator.advance(timedelta(minutes=61))
    token = emulator.issue_access_token(next(iter(emulator.auth.users)))  # the fixture's token expired too
    async with http.post(
        "v1.0/me/events",
        json={"subject": "late", "start": when(6, 9), "end": when(6, 10)},
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        assert resp.status == 201
    await emulator.wait_idle()
    assert receiver.items == []


async def test_drop_duplicate_delay_faults(
    http: aiohttp.ClientSession, receiver: Receiver, clock: FakeClock, emulator: GraphEmulator
) -> None:
    await subscribe(http, receiver, clock)
    emulator.drop_notifications(1)
    await create(http, "dropped")
    emulator.duplicate_notifications(1)
    second = await create(http, "twice")
    await emulator.wait_idle()
    assert [i["resourceData"]["id"] for i in receiver.items] == [second, second]
    emulator.delay_notifications(timedelta(minutes=5))
    third = await create(http, "later")
    await emulator.wait_idle()
    assert len(receiver.items) == 2
    emulator.advance(timedelta(minutes=5))
    await emulator.wait_idle()
    assert receiver.items[-1]["resourceData"]["id"] == third


def test_replace_keeps_config_frozen(config: GraphEmulatorConfig) -> None:
    assert replace(config, time_scale=1.0).scaled(3.0) == 3.0
