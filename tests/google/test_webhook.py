"""``POST /webhooks/google`` on the real daemon app: verification outcomes, duplicates, coalescing."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import pytest
from sqlmodel import col, func, select

from store import channels as channel_store
from store.tables import OutboxMessage
from tests.conftest import _migrate
from tests.sync.harness import FAST, Harness, running_harness

pytestmark = pytest.mark.slow


def headers(
    channel_id: str, resource_id: str, token: str | None, number: int, state: str = "exists"
) -> dict[str, str]:
    out = {
        "X-Goog-Channel-ID": channel_id,
        "X-Goog-Message-Number": str(number),
        "X-Goog-Resource-ID": resource_id,
        "X-Goog-Resource-State": state,
        "X-Goog-Resource-URI": "https://www.googleapis.com/calendar/v3/calendars/x/events",
    }
    if token is not None:
        out["X-Goog-Channel-Token"] = token
    return out


@pytest.fixture
async def harness(sqlite_url: str) -> AsyncIterator[Harness]:
    _migrate(sqlite_url)
    async with running_harness(sqlite_url, sync_settings=FAST) as h:
        yield h


async def signal_rows(h: Harness) -> int:
    async with h.db.session() as session:
        found = await session.exec(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.topic == "calsync.signals")
        )
        return int(found.one())


async def test_hostile_requests_never_get_a_5xx(harness: Harness) -> None:
    h = harness
    channel_id, resource_id, token = await h.add_test_channel()
    url = f"{h.url}/webhooks/google"
    async with aiohttp.ClientSession() as http:

        async def post(hdrs: dict[str, str], data: bytes = b"") -> int:
            async with http.post(url, headers=hdrs, data=data) as response:
                return response.status

        statuses = {
            "forged": await post(headers(channel_id, resource_id, "not-the-token", 5)),
            "no_token": await post(headers(channel_id, resource_id, None, 6)),
            "wrong_resource": await post(headers(channel_id, "res-other", token, 7)),
            "unknown": await post(headers("nosuchchannel", "res-nobody", "x", 8)),
            "missing": await post({"X-Goog-Channel-ID": channel_id}),
            "garbage_number": await post(
                {**headers(channel_id, resource_id, token, 1), "X-Goog-Message-Number": "x"}
            ),
            "valid": await post(headers(channel_id, resource_id, token, 9)),
            "huge_body": await post(headers(channel_id, resource_id, token, 10), b"x" * (10 * 1024 * 1024)),
        }
    assert statuses == {
        "forged": 403, "no_token": 403, "wrong_resource": 403, "unknown": 200, "missing": 400,
        "garbage_number": 400, "valid": 200, "huge_body": 200,
    }  # fmt: skip
    # Operators see every one of them, by outcome, with bounded labels.
    async with aiohttp.ClientSession() as http, http.get(f"{h.url}/metrics") as response:
        metrics = await response.text()
    assert 'calsync_notifications_rejected_total{provider="google",reason="forged"} 3.0' in metrics
    # At least our stray request; the channel's own `sync` may also land before its row commits
    # (Google may send it before answering events.watch), which is counted the same way.
    unknown = [
        line
        for line in metrics.splitlines()
        if line.startswith('calsync_notifications_rejected_total{provider="google",reason="unknown_channel"}')
    ]
    assert unknown and float(unknown[0].split()[-1]) >= 1
    assert 'calsync_notifications_rejected_total{provider="google",reason="malformed"} 2.0' in metrics
    received = [
        line for line in metrics.splitlines() if line.startswith("calsync_notifications_received_total")
    ]
    assert received and float(received[0].split()[-1]) >= 2  # valid + huge_body (+ the channel's sync)


async def test_duplicate_deliveries_record_one_signal(harness: Harness) -> None:
    h = harness
    channel_id, resource_id, token = await h.add_test_channel()
    before = await signal_rows(h)
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            async with http.post(
                f"{h.url}/webhooks/google", headers=headers(channel_id, resource_id, token, 42)
            ) as r:
                assert r.status == 200
    assert await signal_rows(h) == before + 1


async def test_unknown_channel_on_a_known_resource_is_stopped_at_google(harness: Harness) -> None:
    h = harness
    async with h.db.session() as session:
        live = [
            c
            for c in await channel_store.channels_for_calendar(session, h.calendar_id)
            if c.state == "active"
        ]
    assert live and live[0].resource_id
    async with aiohttp.ClientSession() as http:
        hdrs = headers("stray-channel-1", live[0].resource_id, "whatever", 3)
        async with http.post(f"{h.url}/webhooks/google", headers=hdrs) as response:
            assert response.status == 200

    async def stopped() -> bool:
        async with h.db.session() as session:
            row = await channel_store.find_channel(session, "google", "stray-channel-1")
        return row is not None and row.state == "stopped"

    await h.wait_until(stopped, timeout=5.0)


async def test_a_thousand_signals_in_a_second_cause_at_most_three_syncs(sqlite_url: str) -> None:
    _migrate(sqlite_url)
    async with running_harness(sqlite_url, sync_settings=replace(FAST, renewal_interval=30.0)) as h:
        channel_id, resource_id, token = await h.add_test_channel()
        consumer = h.runtime.consumer
        assert consumer is not None
        await asyncio.sleep(0.6)  # let the initial sync's debounce window pass
        passes_before = consumer.stats.passes
        connector = aiohttp.TCPConnector(limit=50)
        started = time.monotonic()
        async with aiohttp.ClientSession(connector=connector) as http:

            async def post(n: int) -> int:
                # Spread over one second, like a burst of edits.
                await asyncio.sleep(n / 1000)
                async with http.post(
                    f"{h.url}/webhooks/google", headers=headers(channel_id, resource_id, token, 1000 + n)
                ) as r:
                    return r.status

            statuses = await asyncio.gather(*(post(n) for n in range(1000)))
        burst = time.monotonic() - started
        assert set(statuses) == {200}
        await h.wait_until(lambda: _drained(h), timeout=10.0)
        await asyncio.sleep(1.0)
        syncs = consumer.stats.passes - passes_before
        print(f"1000 signals in {burst:.2f}s -> {syncs} syncs, {consumer.stats.skipped} skipped")
        # The coalescer starts at most one sync per min_interval, plus one trailing sync for the
        # signals that arrived during the last one. For a burst within one second that is the goal's
        # "at most 3"; on a loaded CI machine the burst itself may stretch, and the bound scales with it.
        interval = FAST.sync.min_interval
        bound = 3 if burst <= 1.0 else 1 + math.ceil(burst / interval) + 1
        assert syncs <= bound, f"{syncs} syncs for a {burst:.2f}s burst (bound {bound})"


async def _drained(h: Harness) -> bool:
    async with h.db.session() as session:
        found = await session.exec(
            select(func.count()).select_from(OutboxMessage).where(col(OutboxMessage.published_at).is_(None))
        )
        return int(found.one()) == 0


async def test_a_sync_message_racing_our_own_watch_is_never_stopped(harness: Harness) -> None:
    """Google may send a new channel's `sync` before answering events.watch: no orphan, no stop."""
    h = harness
    async with h.db.session() as session:
        live = [
            c
            for c in await channel_store.channels_for_calendar(session, h.calendar_id)
            if c.state == "active"
        ]
    assert live and live[0].resource_id
    async with aiohttp.ClientSession() as http:
        hdrs = headers("just-granted-channel", live[0].resource_id, "tok", 1, state="sync")
        async with http.post(f"{h.url}/webhooks/google", headers=hdrs) as response:
            assert response.status == 200
    async with h.db.session() as session:
        assert await channel_store.find_channel(session, "google", "just-granted-channel") is None
