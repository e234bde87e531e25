"""Subscription creation, validation handshake and management through the real SDK (§3)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from msgraph import GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.subscription import Subscription

from calsync.clock import FakeClock
from channels.emulators.graph import GraphEmulator, GraphEmulatorConfig, SeededUser
from channels.emulators.graph.subscriptions import SubscriptionRules
from channels.emulators.graph.wire import GraphError

from .conftest import Receiver, later


def subscription(receiver: Receiver, clock: FakeClock, minutes: float = 60, **extra: object) -> Subscription:
    return Subscription(
        change_type="created,updated,deleted",
        notification_url=f"{receiver.url}/notify",
        lifecycle_notification_url=f"{receiver.url}/lifecycle",
        resource="/me/events",
        expiration_date_time=clock.now() + timedelta(minutes=minutes),
        client_state="s3cret",
        **extra,
    )


async def test_create_validates_both_urls_and_returns_201(
    graph: GraphServiceClient, receiver: Receiver, clock: FakeClock, user: SeededUser
) -> None:
    sub = await graph.subscriptions.post(subscription(receiver, clock))
    assert sub.id and sub.resource == "/me/events" and sub.client_state == "s3cret"
    assert sub.change_type == "created,updated,deleted" and sub.creator_id == user.id
    assert sub.latest_supported_tls_version == "v1_2" and sub.application_id == user.client_id
    assert len(receiver.validations) == 2  # notificationUrl and lifecycleNotificationUrl
    assert receiver.validations[0].startswith("Validation: Testing client application reachability")


async def test_validation_wrong_echo_or_too_late_fails_with_400(
    graph: GraphServiceClient, receiver: Receiver, clock: FakeClock, emulator: GraphEmulator
) -> None:
    receiver.echo = lambda token: token[:-1]
    with pytest.raises(ODataError) as err:
        await graph.subscriptions.post(subscription(receiver, clock))
    assert err.value.response_status_code == 400
    receiver.echo = lambda token: token
    receiver.echo_delay_s = 0.6  # the 10 s limit is 0.5 s at this time_scale
    with pytest.raises(ODataError) as err:
        await graph.subscriptions.post(subscription(receiver, clock))
    assert err.value.response_status_code == 400
    assert emulator.subscriptions == {}
    assert (await graph.subscriptions.get()).value == []


async def test_expiry_floor_and_ceiling(
    graph: GraphServiceClient, receiver: Receiver, clock: FakeClock
) -> None:
    sub = await graph.subscriptions.post(subscription(receiver, clock, minutes=5))
    assert sub.expiration_date_time == clock.now() + timedelta(minutes=45)
    with pytest.raises(ODataError) as err:
        await graph.subscriptions.post(subscription(receiver, clock, minutes=10_081))
    assert err.value.response_status_code == 400
    assert err.value.error.message == "Subscription expiration can only be 10080 minutes in the future."


async def test_patch_delete_reauthorize_codes(
    graph: GraphServiceClient, http: aiohttp.ClientSession, receiver: Receiver, clock: FakeClock
) -> None:
    sub = await graph.subscriptions.post(subscription(receiver, clock))
    async with http.patch(
        f"v1.0/subscriptions/{sub.id}", json={"expirationDateTime": later(clock, 3000)}
    ) as resp:
        body = await resp.json()
    assert resp.status == 200 and body["expirationDateTime"].startswith(
        (clock.now() + timedelta(minutes=3000)).strftime("%Y-%m-%dT%H:%M")
    )
    async with http.patch(
        f"v1.0/subscriptions/{sub.id}", json={"lifecycleNotificationUrl": f"{receiver.url}/other"}
    ) as resp:
        assert resp.status == 400
    async with http.post(f"v1.0/subscriptions/{sub.id}/reauthorize") as resp:
        assert resp.status == 204
    renewed = await graph.subscriptions.by_subscription_id(sub.id).patch(
        Subscription(expiration_date_time=clock.now() + timedelta(hours=2))
    )
    assert renewed.expiration_date_time == clock.now() + timedelta(hours=2)
    await graph.subscriptions.by_subscription_id(sub.id).reauthorize.post()
    async with http.delete(f"v1.0/subscriptions/{sub.id}") as resp:
        assert resp.status == 204
    async with http.get(f"v1.0/subscriptions/{sub.id}") as resp:
        assert resp.status == 404


async def test_request_rules(
    http: aiohttp.ClientSession, receiver: Receiver, clock: FakeClock, user: SeededUser
) -> None:
    base = {
        "changeType": "created",
        "notificationUrl": f"{receiver.url}/notify",
        "resource": "me/events",
        "expirationDateTime": later(clock, 60),
    }
    async with http.post("v1.0/subscriptions", json={**base, "clientState": "x" * 129}) as resp:
        assert resp.status == 400
    async with http.post("v1.0/subscriptions", json={**base, "resource": "me/messages"}) as resp:
        assert resp.status == 400
    async with http.post("v1.0/subscriptions", json={**base, "resource": f"users/{user.id}/events"}) as resp:
        assert resp.status == 201
    async with http.post("v1.0/subscriptions", json={**base, "changeType": "created,renamed"}) as resp:
        assert resp.status == 400


def test_https_required_and_quota(config: GraphEmulatorConfig) -> None:
    emulator = GraphEmulator(FakeClock(), replace(config, allow_http_callbacks=False))
    rules = SubscriptionRules(emulator.config, emulator.ids)
    with pytest.raises(GraphError) as err:
        rules.check_url("http://127.0.0.1:9/notify", "notificationUrl")
    assert err.value.status == 400
    assert rules.check_url("https://hooks.example.com/n", "notificationUrl")
    seeded = emulator.add_user("q@contoso.com")
    body = {
        "changeType": "created",
        "notificationUrl": "https://hooks.example.com/n",
        "resource": "/me/events",
        "expirationDateTime": (datetime(2026, 1, 5, 10, tzinfo=UTC)).isoformat(),
    }
    user = emulator.auth.users[seeded.id]
    with pytest.raises(GraphError) as err:
        rules.parse_create(body, user, seeded.client_id, emulator.now(), emulator.auth.find_user, set(), 1000)
    assert err.value.status == 403
