"""30 simulated days, 1,000 channels on both providers, random renewal failures: nothing lapses.

One FakeClock drives the emulators, the adapters and the scheduler; the clock moves in
two-hour steps (the renewal loop runs every minute; coarser steps leave fewer chances
to retry inside the margin, so the test is stricter, not looser). After every round:

- every calendar has a channel that our store calls live *and* that the provider still
  has, with its expiry in the future (no lapse, seen from both sides);
- a superseded Google channel is stopped at the provider within overlap + one step.

Failures: each step a few accounts get enough injected errors (Google 500s, Graph 429s
with Retry-After) to exhaust the adapter's in-call retries, so ``ChannelManager`` records
failures and the scheduler retries them on later rounds.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlmodel import col, select

from calsync.clock import FakeClock
from handlers.renewal_scheduler import SpreadPolicy
from store.tables import Channel
from tests.conftest import _migrate
from tests.ops.fleet import Fleet, fleet

pytestmark = pytest.mark.slow

STEP = timedelta(hours=2)
DAYS = int(os.environ.get("CALSYNC_SIM_DAYS", "30"))
OVERLAP = timedelta(minutes=5)


async def _check(f: Fleet, since: datetime) -> int:
    """Assert the invariants now; returns how many channels currently have failures."""
    now = f.clock.now()
    c = Channel
    async with f.db.session() as s:
        rows = (
            await s.exec(
                select(c.calendar_id, c.external_id, c.state, c.expires_at, c.last_renewed_at,
                       c.consecutive_failures).where(c.state != "stopped")
            )
        ).all()  # fmt: skip
        stopped = (
            await s.exec(select(c.external_id).where(c.provider == "google", c.stopped_at >= since))  # type: ignore[operator]
        ).all()
    google = f.google.channels.channels
    graph = f.graph.subscriptions
    covered = {
        cal for cal, ext, state, expires, _, _ in rows
        if state in ("active", "error") and expires > now
        and ((ext in google and google[ext].active(now)) or (ext in graph and graph[ext].expiration > now))
    }  # fmt: skip
    missing = set(f.calendar_ids) - covered
    assert not missing, f"{len(missing)} calendars lapsed at {now}"
    overdue = [
        ext for _, ext, state, _, renewed, failures in rows
        if state == "retiring" and failures == 0 and renewed is not None and now - renewed > OVERLAP + STEP
    ]  # fmt: skip
    assert not overdue, f"{len(overdue)} superseded channels not stopped at {now}"
    for ext in stopped:
        assert ext not in google or not google[ext].active(now), "stopped here, live there"
    return sum(1 for row in rows if row[5] > 0)


@pytest.mark.postgres
@pytest.mark.timeout(300)  # ~90 s on a quiet 2-core machine; CALSYNC_SIM_ACCOUNTS scales it down
async def test_thirty_days_of_renewals_never_lapse(postgres_url: str) -> None:
    # PostgreSQL: its pool lets renewals of different accounts write concurrently (SQLite
    # serializes every session through one connection, 3x slower at this scale).
    url = postgres_url
    _migrate(url)
    outcomes: Counter[tuple[str, str, str]] = Counter()
    rng = random.Random(42)
    started = time.monotonic()

    def observe(provider: str, action: str, outcome: str) -> None:
        outcomes[(provider, action, outcome)] += 1

    accounts = int(os.environ.get("CALSYNC_SIM_ACCOUNTS", "50"))  # x 10 calendars x 2 providers
    clock = FakeClock()
    async with fleet(
        url,
        clock=clock,
        accounts_per_provider=accounts,
        calendars_per_account=10,
        spread=SpreadPolicy(),
        observe=observe,
    ) as f:
        await f.scheduler.tick()  # the initial watches
        since = f.clock.now()
        await _check(f, since)
        in_tick = 0.0
        end = f.clock.now() + timedelta(days=DAYS)
        failing_seen = 0
        while f.clock.now() < end:
            # Fresh faults each step (unused ones would pile up on idle accounts).
            f.google.clear_faults()
            f.graph.request_faults.injected.clear()
            for email in rng.sample(f.google_users, 2):
                f.google.inject_errors("backendError", count=6, user=email)
            for user_id in rng.sample(f.graph_users, 2):
                f.graph.inject_429(user_id, count=6, retry_after_s=1)
            clock.advance(STEP)
            mark = time.monotonic()
            await f.scheduler.tick()
            in_tick += time.monotonic() - mark
            failing_seen = max(failing_seen, await _check(f, since))
            since = f.clock.now()
        # Faults over: within two backoff caps every superseded channel is stopped too.
        f.google.clear_faults()
        f.graph.request_faults.injected.clear()
        for _ in range(3):
            clock.advance(STEP)
            await f.scheduler.tick()
        await _check(f, since)
        async with f.db.session() as s:
            retiring = (
                await s.exec(
                    select(Channel.id).where(
                        Channel.state == "retiring",
                        col(Channel.last_renewed_at) < f.clock.now() - OVERLAP - STEP,
                    )
                )
            ).all()
        assert not retiring, f"{len(retiring)} superseded channels never stopped"
        took = time.monotonic() - started
    renewals = {k: v for k, v in outcomes.items()}
    print(
        f"\n{DAYS} days, {len(f.calendar_ids)} channels: {took:.1f} s real ({in_tick:.1f} s in rounds);"
        f" outcomes {renewals}; max failing at once {failing_seen}"
    )
    per_provider = len(f.calendar_ids) // 2
    cycles = DAYS // 6  # one renewal per channel every 6 days (7-day lifetime, 24 h margin)
    assert outcomes[("google", "renew", "success")] >= per_provider * cycles
    assert outcomes[("microsoft", "renew", "success")] >= per_provider * cycles
    assert outcomes[("google", "stop", "success")] >= per_provider * cycles
    assert outcomes[("google", "renew", "failure")] + outcomes[("microsoft", "renew", "failure")] > 0
