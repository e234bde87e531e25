"""Graph push end to end: emulator -> webhook -> outbox -> bus -> sync consumer -> calsync.changes."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest

from calsync.clock import SystemClock
from tests.graph.harness import Stack, graph_stack
from tests.tansu import TansuBroker


def when(offset_h: int) -> dict[str, str]:
    moment = SystemClock().now() + timedelta(days=2, hours=offset_h)
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:00:00"), "timeZone": "UTC"}


def body(subject: str, hour: int = 0, **extra: Any) -> dict[str, Any]:
    return {"subject": subject, "start": when(hour), "end": when(hour + 1), **extra}


def last(changes: list[dict[str, Any]], event_id: str) -> dict[str, Any] | None:
    return next((c for c in reversed(changes) if c["event_id"] == event_id), None)


async def scenario(stack: Stack, warm_up: float = 0.0) -> list[float]:
    """Create, update, decline, mark free, delete; each change must arrive within 1 s, in order.

    ``warm_up``: wait for one event to make it through first (Kafka consumer groups take seconds
    to get their partitions assigned); the latency budget applies after that."""
    channel = await stack.channels.watch(stack.calendar_id)
    assert channel is not None
    if warm_up:
        first = stack.emulator.seed_event(stack.user.id, body("warm-up", 10))
        await stack.wait_for(lambda c: last(c, first) is not None, warm_up)
    emu, uid = stack.emulator, stack.user.id
    latencies: list[float] = []

    async def step(act: Any, check: Any) -> None:
        started = time.monotonic()
        act()
        await stack.wait_for(check, 1.0)
        latencies.append(time.monotonic() - started)

    ids: dict[str, str] = {}
    await step(lambda: ids.setdefault("a", emu.seed_event(uid, body("Dentist"))),
               lambda c: last(c, ids.get("a", "")) is not None)  # fmt: skip

    def has(key: str, check: Any) -> Any:
        return lambda c: (e := last(c, ids["a"])) is not None and check(e[key])

    moved = when(3)["dateTime"][:13]
    declined = {"responseStatus": {"response": "declined"}}
    await step(lambda: emu.patch_event(uid, ids["a"], {"start": when(3), "end": when(4)}),
               has("start", lambda v: v.startswith(moved)))  # fmt: skip
    await step(lambda: emu.patch_event(uid, ids["a"], declined, trusted=True),
               has("owner_response", lambda v: v == "declined"))  # fmt: skip
    await step(lambda: emu.patch_event(uid, ids["a"], {"showAs": "free"}), has("transparent", bool))
    await step(lambda: emu.delete_event(uid, ids["a"]),
               lambda c: (e := last(c, ids["a"])) is not None and e["status"] == "cancelled")  # fmt: skip
    mine = [c["status"] for c in stack.changes if c["event_id"] == ids["a"]]
    assert mine[0] == "confirmed" and mine[-1] == "cancelled" and mine.count("cancelled") == 1
    return latencies


@pytest.mark.slow
async def test_embedded_bus(sqlite_url: str) -> None:
    from tests.conftest import _migrate

    _migrate(sqlite_url)
    async with graph_stack(sqlite_url) as stack:
        latencies = await scenario(stack)
    print("graph e2e latencies (s):", [round(x, 3) for x in latencies])
    assert max(latencies) < 1.0


@pytest.mark.slow
@pytest.mark.kafka
async def test_kafka_bus(sqlite_url: str) -> None:
    from tests.conftest import _migrate

    _migrate(sqlite_url)
    with TansuBroker() as broker:
        async with graph_stack(sqlite_url, (broker.bootstrap,)) as stack:
            latencies = await scenario(stack, warm_up=20.0)
    print("graph e2e latencies (s):", [round(x, 3) for x in latencies])
    assert max(latencies) < 1.0


@pytest.mark.slow
async def test_lifecycle_events_recover_without_losing_changes(sqlite_url: str) -> None:
    from daemon.graph_wiring import GRAPH_LIFECYCLE
    from tests.conftest import _migrate

    _migrate(sqlite_url)
    async with graph_stack(sqlite_url) as stack:
        emu, uid = stack.emulator, stack.user.id
        channel = await stack.channels.watch(stack.calendar_id)
        assert channel is not None
        # missed: the notification is dropped, the lifecycle event triggers a full resync.
        emu.drop_notifications(1)
        lost = emu.seed_event(uid, body("dropped notification"))
        emu.fire_lifecycle(channel.external_id, "missed")
        await stack.wait_for(lambda c: last(c, lost) is not None, 1.0)
        # reauthorizationRequired: reauthorized in the background, pushes keep flowing.
        emu.fire_lifecycle(channel.external_id, "reauthorizationRequired")
        after = emu.seed_event(uid, body("after reauthorization", 1))
        await stack.wait_for(lambda c: last(c, after) is not None, 1.0)
        lifecycle = stack.app[GRAPH_LIFECYCLE]
        assert [w.event for w in lifecycle.done] == ["reauthorizationRequired"]
        # subscriptionRemoved: a change made while no subscription exists is caught by the resync,
        # and a new subscription carries the next one.
        emu.fire_lifecycle(channel.external_id, "subscriptionRemoved")
        during = emu.seed_event(uid, body("while removed", 2))
        await stack.wait_for(lambda c: last(c, during) is not None, 1.0)
        async with asyncio.timeout(1.0):
            while len(lifecycle.done) < 2:
                await asyncio.sleep(0.01)
        assert len(emu.subscriptions) == 1 and channel.external_id not in emu.subscriptions
        later = emu.seed_event(uid, body("on the new subscription", 3))
        await stack.wait_for(lambda c: last(c, later) is not None, 1.0)
