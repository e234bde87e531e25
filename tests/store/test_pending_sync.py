"""The pending_sync protocol: one waiting push signal per calendar, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import pending_sync
from store.db import Database
from tests.conftest import _migrate

from .conftest import NOW


async def _claim(db: Database, *calendars: str) -> set[str]:
    async with db.session() as s:
        return await pending_sync.claim_waiting(s, calendars, NOW)


async def _start(db: Database, calendar: str) -> bool:
    async with db.session() as s:
        return await pending_sync.mark_running(s, calendar, NOW)


async def _finish(db: Database, calendar: str) -> None:
    async with db.session() as s:
        await pending_sync.finish(s, calendar)


async def test_a_burst_queues_one_signal_until_its_pass_starts(database: Database) -> None:
    assert await _claim(database, "c1", "c2") == {"c1", "c2"}
    assert await _claim(database, "c1", "c2", "c3") == {"c3"}  # c1 and c2 still wait
    assert await _start(database, "c1")
    assert await _claim(database, "c1", "c2") == {"c1"}  # c1's pass may have listed already
    await _finish(database, "c1")  # waiting again: the row stays for the new signal
    assert await _start(database, "c1")
    await _finish(database, "c1")
    assert not await _start(database, "c1")  # nothing pending: that signal was covered
    assert await _claim(database, "c1") == {"c1"}


async def test_drop_forgets_the_calendar(database: Database) -> None:
    await _claim(database, "c1")
    async with database.session() as s:
        await pending_sync.drop(s, "c1")
    assert not await _start(database, "c1")
    assert await _claim(database, "c1") == {"c1"}


async def test_no_calendars_is_no_statement(database: Database) -> None:
    assert await _claim(database) == set()


@pytest.mark.postgres
async def test_racing_replicas_queue_one_signal(pg_database: Database) -> None:
    # PostgreSQL only: SQLite has one writer, so claims cannot interleave there.
    results = await asyncio.gather(*(_claim(pg_database, "c1", "c2") for _ in range(8)))
    assert sorted(c for r in results for c in r) == ["c1", "c2"]


# A model of the protocol: every notification must be covered by a pass that starts after
# it (a signal queued for it, or one already waiting whose pass has not started).
Step = st.sampled_from(["notify", "start", "finish", "crash"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(Step, max_size=30))
def test_no_notification_is_left_without_a_later_pass(migrated_sqlite_url: str, steps: list[str]) -> None:
    asyncio.run(_run_model(migrated_sqlite_url, f"cal-{next(_EXAMPLES)}", steps))


_EXAMPLES = itertools.count()


async def _run_model(url: str, calendar: str, steps: list[str]) -> None:
    db = Database(url)
    queued = 0  # signals on the bus not yet consumed
    uncovered = 0  # notifications no started pass has covered yet
    running = False
    try:
        for step in steps:
            if step == "notify":
                queued += len(await _claim(db, calendar))
                uncovered += 1
            elif step == "start" and queued and not running:
                queued -= 1  # the consumer takes the next signal
                if await _start(db, calendar):
                    running, uncovered = True, 0
            elif step == "finish" and running:
                await _finish(db, calendar)
                running = False
            elif step == "crash" and running:
                queued += 1  # the bus redelivers the unfinished signal
                running = False
        while queued:  # drain: the consumer runs every queued signal to the end
            queued -= 1
            if await _start(db, calendar):
                uncovered = 0
                await _finish(db, calendar)
        assert uncovered == 0
    finally:
        await db.close()


@pytest.fixture
def migrated_sqlite_url(sqlite_url: str) -> str:
    _migrate(sqlite_url)
    return sqlite_url
