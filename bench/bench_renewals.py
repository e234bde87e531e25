"""Renew 10,000 channels at once against both emulators; report time and per-account pacing.

Set-up (not timed): N calendars over Google accounts and Graph mailboxes (100 calendars
per account), each watched for real; then every channel's expiry is moved 12 h ahead —
inside the 24 h margin, so all of them are due in the same hour. Timed: renewal rounds
of the real ``RenewalScheduler`` (real clock) until every channel is renewed.

Reported against the configured quota: the peak requests per account in any emulator
minute (Google adapter pacing: 5 req/s = 300/min) and the peak concurrent requests per
mailbox (Outlook allows 4). ``CALSYNC_BENCH_CHANNELS`` (default 10000) and
``CALSYNC_BENCH_DATABASE_URL`` (default: a temporary SQLite file) change the set-up.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import update
from sqlmodel import col, func, or_, select

from calsync.clock import SystemClock
from channels.renewal import RenewalPolicy
from daemon.google_wiring import GoogleLimits
from daemon.graph_wiring import GraphLimits
from handlers.renewal_scheduler import SpreadPolicy
from store.migrate import upgrade
from store.tables import Channel
from tests.ops.fleet import Fleet, fleet

PER_ACCOUNT = 100


async def _renewed(f: Fleet, since: datetime) -> int:
    """Live channels renewed since ``since`` (Graph: extended in place; Google: a new channel)."""
    async with f.db.session() as s:
        found = await s.exec(
            select(func.count())
            .select_from(Channel)
            .where(
                col(Channel.state).in_(("active", "error")),
                or_(col(Channel.last_renewed_at) >= since, col(Channel.created_at) > since),
            )
        )
        return int(found.one())


async def main() -> None:
    total = int(os.environ.get("CALSYNC_BENCH_CHANNELS", "10000"))
    accounts = max(1, total // (2 * PER_ACCOUNT))
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("CALSYNC_BENCH_DATABASE_URL") or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        spread = SpreadPolicy(spread=timedelta(0))  # all due now: the worst case for pacing
        clock = SystemClock()
        async with fleet(
            url, accounts_per_provider=accounts, calendars_per_account=PER_ACCOUNT, spread=spread, clock=clock
        ) as f:
            started = time.monotonic()
            while (await f.scheduler.tick()).planned:  # initial watches (budget-limited rounds)
                pass
            setup = time.monotonic() - started
            f.google.counters.reset()
            f.graph.counters.requests.clear()
            f.graph.counters.peak_concurrency.clear()
            due = clock.now() + RenewalPolicy().margin / 2
            async with f.db.session() as s:
                await s.exec(update(Channel).values(expires_at=due))  # type: ignore[call-overload]
            mark, rounds = clock.now(), 0
            started = time.monotonic()
            while (await f.scheduler.tick()).planned:  # budget-limited rounds until none is due
                rounds += 1
            took = time.monotonic() - started
            renewed = await _renewed(f, mark)
            google_peak = max(
                (
                    n
                    for per in f.google.counters.snapshot()["requestsPerUserPerMinute"].values()
                    for n in per.values()
                ),
                default=0,
            )
            graph_conc = max(f.graph.counters.peak_concurrency.values(), default=0)
            graph_reqs = max(f.graph.counters.requests.values(), default=0)
    g, m = GoogleLimits(), GraphLimits()
    print(
        f"channels {len(f.calendar_ids)} ({accounts} Google accounts + {accounts} mailboxes x {PER_ACCOUNT})"
    )
    print(f"{'metric':<44}{'value':>12}{'limit':>12}")
    print(f"{'set-up (initial watches), s':<44}{setup:>12.1f}{'':>12}")
    print(f"{'renew all, s':<44}{took:>12.1f}{60:>12}")
    print(f"{'renewal rounds':<44}{rounds:>12}{'':>12}")
    print(f"{'channels renewed':<44}{renewed:>12}{len(f.calendar_ids):>12}")
    print(
        f"{'Google peak requests / account / minute':<44}{google_peak:>12}{int(g.rate_per_second * 60):>12}"
    )
    print(f"{'Graph peak concurrent requests / mailbox':<44}{graph_conc:>12}{4:>12}")
    print(f"{'Graph requests / mailbox (whole run)':<44}{graph_reqs:>12}{int(m.rate_per_second * 600):>12}")
