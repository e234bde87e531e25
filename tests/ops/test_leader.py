"""Leader election on real PostgreSQL sessions: one leader, takeover after its session dies."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from sqlalchemy import create_engine, text

from calsync.clock import SystemClock
from daemon.leader import LeaderElector, LeaderSettings, conninfo, lock_key

FAST = LeaderSettings(retry_interval=0.2, check_interval=0.1, ping_timeout=0.5)


def terminate_lock_holder(postgres_url: str, schema: str) -> bool:
    """End (server-side) exactly the session holding this schema's leader lock."""
    key = lock_key(schema) & 0xFFFFFFFFFFFFFFFF
    admin = create_engine(postgres_url.split("?")[0], isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND granted AND objsubid = 1 AND classid::bigint = :hi AND objid::bigint = :lo"
                    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"hi": key >> 32, "lo": key & 0xFFFFFFFF},
            ).all()
    finally:
        admin.dispose()
    return len(rows) == 1


class Recorder:
    """Who runs the work when: (instance, started, ended) per term, in real time."""

    def __init__(self) -> None:
        self.terms: list[list[object]] = []

    def work(self, name: str):  # type: ignore[no-untyped-def]
        async def run() -> None:
            term: list[object] = [name, time.monotonic(), None]
            self.terms.append(term)
            try:
                await asyncio.Event().wait()
            finally:
                term[2] = time.monotonic()

        return run


async def _until(condition, timeout: float) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


def test_conninfo_drops_the_driver_and_keeps_options() -> None:
    url = "postgresql+psycopg://127.0.0.1:5432/test?options=-csearch_path%3Dt_1"
    assert conninfo(url) == "postgresql://127.0.0.1:5432/test?options=-csearch_path%3Dt_1"


async def test_sqlite_process_is_always_the_leader(sqlite_url: str) -> None:
    rec = Recorder()
    elector = LeaderElector(sqlite_url, SystemClock(), FAST, instance="solo")
    task = asyncio.create_task(elector.run(rec.work("solo")))
    await _until(lambda: elector.is_leader, 2.0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert not elector.is_leader and rec.terms[0][2] is not None


@pytest.mark.postgres
async def test_one_leader_and_takeover_when_its_session_is_killed(postgres_url: str) -> None:
    rec = Recorder()
    electors = [LeaderElector(postgres_url, SystemClock(), FAST, instance=f"i{n}") for n in range(3)]
    tasks = [asyncio.create_task(e.run(rec.work(e.instance))) for e in electors]
    try:
        await _until(lambda: any(e.is_leader for e in electors), 5.0)
        await asyncio.sleep(0.6)  # followers retried a few times meanwhile
        assert sum(e.is_leader for e in electors) == 1 and len(rec.terms) == 1
        first = next(e for e in electors if e.is_leader)
        # Cut the leader's session from the server side (what a partition + idle timeout does).
        schema = postgres_url.rsplit("%3D", 1)[1]
        killed = terminate_lock_holder(postgres_url, schema)
        assert killed
        took = await _until(lambda: any(e.is_leader and e is not first for e in electors), 10.0)
        assert took < 3.0
        await _until(lambda: not first.is_leader and len(rec.terms) >= 2, 2.0)
        # No overlapping terms: each term ended before the next one began (ping interval apart).
        ordered = sorted(rec.terms, key=lambda t: t[1])  # type: ignore[arg-type, return-value]
        assert len(ordered) >= 2
        assert ordered[0][2] is not None and ordered[0][2] <= ordered[1][1] + FAST.check_interval  # type: ignore[operator]
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
