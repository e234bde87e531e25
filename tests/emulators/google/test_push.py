"""Push channels: watch response, sync/exists messages and headers, retries, stop, expiry (§1)."""

from __future__ import annotations

import itertools
import re
from email.utils import parsedate_to_datetime
from typing import Any

from calsync.clock import FakeClock
from channels.emulators.google import EmulatorConfig, GoogleEmulator
from tests.emulators.google.conftest import (
    USER,
    Receiver,
    ServiceFactory,
    call,
    error_body,
    fails,
    google_client,
    reason,
    serving,
    timed,
)


def _watch_body(receiver: Receiver, channel_id: str = "chan-1", **extra: Any) -> dict[str, Any]:
    return {"id": channel_id, "type": "web_hook", "address": receiver.url, **extra}


async def _watch(service: Any, receiver: Receiver, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = await call(
        service.events().watch(calendarId="primary", body=_watch_body(receiver, **extra))
    )
    return result


async def _insert(service: Any) -> dict[str, Any]:
    result: dict[str, Any] = await call(
        service.events().insert(calendarId="primary", body=timed("2026-01-06T10:00", "2026-01-06T11:00"))
    )
    return result


async def test_watch_response_and_sync_message(
    service: Any, receiver: Receiver, emulator: GoogleEmulator, clock: FakeClock
) -> None:
    channel = await _watch(service, receiver, token="tok=1")
    assert set(channel) == {"kind", "id", "resourceId", "resourceUri", "token", "expiration"}
    assert channel["kind"] == "api#channel" and channel["id"] == "chan-1" and channel["token"] == "tok=1"
    assert isinstance(channel["expiration"], str) and channel["expiration"].isdigit()
    expected_ms = int((clock.now().timestamp() + 604800) * 1000)
    assert int(channel["expiration"]) == expected_ms  # default ttl: 7 days
    await emulator.wait_idle()
    [sync] = receiver.hits
    assert sync.method == "POST" and sync.body == b""
    headers = sync.headers
    assert headers["User-Agent"] == "APIs-Google"
    assert headers["X-Goog-Channel-ID"] == "chan-1"
    assert headers["X-Goog-Channel-Token"] == "tok=1"
    assert headers["X-Goog-Message-Number"] == "1"
    assert headers["X-Goog-Resource-State"] == "sync"
    assert headers["X-Goog-Resource-ID"] == channel["resourceId"]
    assert headers["X-Goog-Resource-URI"] == channel["resourceUri"]
    assert re.match(
        r"^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$", headers["X-Goog-Channel-Expiration"]
    )
    assert parsedate_to_datetime(headers["X-Goog-Channel-Expiration"]).timestamp() * 1000 == expected_ms


async def test_exists_messages_after_changes_with_increasing_non_sequential_numbers(
    service: Any, receiver: Receiver, emulator: GoogleEmulator
) -> None:
    channel = await _watch(service, receiver, params={"ttl": "3600"})
    created = await _insert(service)
    await emulator.wait_idle()
    await call(service.events().patch(calendarId="primary", eventId=created["id"], body={"summary": "x"}))
    await emulator.wait_idle()
    await call(service.events().delete(calendarId="primary", eventId=created["id"]))
    await emulator.wait_idle()
    states = [h.headers["X-Goog-Resource-State"] for h in receiver.hits]
    assert states == ["sync", "exists", "exists", "exists"]
    numbers = [int(h.headers["X-Goog-Message-Number"]) for h in receiver.hits]
    assert numbers[0] == 1 and numbers == sorted(numbers) and len(set(numbers)) == 4
    assert any(b - a > 1 for a, b in itertools.pairwise(numbers))
    assert all("X-Goog-Channel-Token" not in h.headers for h in receiver.hits)  # no token given
    assert all(h.headers["X-Goog-Resource-ID"] == channel["resourceId"] for h in receiver.hits)


async def test_retry_on_503_and_no_retry_on_404(
    service: Any, receiver: Receiver, emulator: GoogleEmulator
) -> None:
    receiver.statuses.extend([503, 503])
    await _watch(service, receiver)
    await emulator.wait_idle()
    assert [h.headers["X-Goog-Message-Number"] for h in receiver.hits] == ["1", "1", "1"]
    assert emulator.counters.notifications["retried"] == 2
    receiver.statuses.extend([404])
    await _insert(service)
    await emulator.wait_idle()
    assert len(receiver.hits) == 4  # the 404 was not retried
    assert emulator.counters.notifications["failed"] == 1
    assert emulator.counters.notifications["delivered"] == 1


async def test_stop_ends_delivery_and_needs_the_same_user(
    service: Any, receiver: Receiver, emulator: GoogleEmulator, make_service: ServiceFactory
) -> None:
    channel = await _watch(service, receiver)
    await emulator.wait_idle()
    intruder = make_service(emulator.create_user("mallory@example.com"))
    body = {"id": channel["id"], "resourceId": channel["resourceId"]}
    err = await fails(intruder.channels().stop(body=body))
    assert err.resp.status == 404
    wrong = await fails(service.channels().stop(body={"id": channel["id"], "resourceId": "nope"}))
    assert wrong.resp.status == 404
    assert await call(service.channels().stop(body=body)) == ""
    await _insert(service)
    await emulator.wait_idle()
    assert len(receiver.hits) == 1  # only the sync message


async def test_expiry_ends_delivery(
    service: Any, receiver: Receiver, emulator: GoogleEmulator, clock: FakeClock
) -> None:
    expiration = int((clock.now().timestamp() + 600) * 1000)
    channel = await _watch(service, receiver, expiration=str(expiration), params={"ttl": "86400"})
    assert channel["expiration"] == str(expiration)  # the more restrictive of the two
    await emulator.wait_idle()
    clock.advance(601)
    await _insert(service)
    await emulator.wait_idle()
    assert len(receiver.hits) == 1


async def test_channel_validation(service: Any, receiver: Receiver) -> None:
    await _watch(service, receiver)
    duplicate = await fails(service.events().watch(calendarId="primary", body=_watch_body(receiver)))
    assert duplicate.resp.status == 400 and reason(duplicate) == "channelIdNotUnique"
    too_long = await fails(service.events().watch(calendarId="primary", body=_watch_body(receiver, "x" * 65)))
    assert too_long.resp.status == 400
    token = await fails(
        service.events().watch(calendarId="primary", body=_watch_body(receiver, "c2", token="t" * 257))
    )
    assert token.resp.status == 400
    kind = await fails(
        service.events().watch(calendarId="primary", body={**_watch_body(receiver, "c3"), "type": "email"})
    )
    assert kind.resp.status == 400


async def test_http_address_rejected_unless_allowed(receiver: Receiver, clock: FakeClock) -> None:
    strict = GoogleEmulator(clock=clock, config=EmulatorConfig())  # the default: HTTPS only
    async with serving(strict) as root:
        api = google_client(root, strict.create_user(USER))
        err = await fails(api.events().watch(calendarId="primary", body=_watch_body(receiver)))
    assert err.resp.status == 400 and reason(err) == "push.webhookUrlNotHttps"
    assert receiver.url in error_body(err)["error"]["message"]


async def test_push_faults_drop_duplicate_and_delay(
    service: Any, receiver: Receiver, emulator: GoogleEmulator
) -> None:
    emulator.set_push_faults(drop_fraction=1.0)
    await _watch(service, receiver)
    await emulator.wait_idle()
    assert receiver.hits == [] and emulator.counters.notifications["dropped"] == 1
    emulator.set_push_faults(duplicate_fraction=1.0, delay_seconds=5)
    await _insert(service)
    await emulator.wait_idle()
    assert len(receiver.hits) == 2
    assert (
        receiver.hits[0].headers["X-Goog-Message-Number"] == receiver.hits[1].headers["X-Goog-Message-Number"]
    )
    assert emulator.counters.notifications["delivered"] == 2


async def test_sync_message_can_precede_the_watch_response(receiver: Receiver, clock: FakeClock) -> None:
    emulator = GoogleEmulator(
        clock=clock, config=EmulatorConfig(allow_http_callbacks=True, sync_before_watch_response=True)
    )
    async with serving(emulator) as root:
        api = google_client(root, emulator.create_user(USER))
        await call(api.events().watch(calendarId="primary", body=_watch_body(receiver)))
        assert [h.headers["X-Goog-Resource-State"] for h in receiver.hits] == ["sync"]  # before any wait_idle
