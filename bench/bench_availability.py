"""Availability: index vs naive per-query expansion, HTTP throughput, freshness from the emulator.

1. In-process: a profile with 3 pull calendars x 2,000 events (a third recurring) on SQLite;
   random 30-day queries answered by the index (warm, and with its per-request fingerprint
   query) vs a naive baseline that loads and expands every stored event for each query.
2. HTTP: ``GET /v1/profiles/{id}/availability`` (the real API app, auth included) vs a bare
   aiohttp handler; the server runs in this process, the load in a subprocess.
3. Freshness: Google emulator + the real daemon (``tests/sync/harness``): an event seeded in
   the emulator -> push -> sync -> reconcile -> busy block -> the HTTP answer shows it.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web
from sqlalchemy import update
from sqlmodel import col

from calsync.clock import SystemClock
from daemon.api import setup_api
from daemon.appkeys import CLOCK, DATABASE, SETTINGS
from daemon.config import Settings
from handlers.availability.expand import expand, zone
from handlers.availability.intervals import merge, to_epoch
from handlers.availability_index import AvailabilityIndex, _block_source
from store.api_keys import create_key
from store.availability import load_blocks
from store.db import Database
from store.migrate import upgrade
from store.tables import BusyBlock, Calendar, Organization, Profile, ProviderAccount

CALENDARS, EVENTS = 3, 2000
INDEX_QUERIES, NAIVE_QUERIES = 3000, 10
HTTP_SECONDS, HTTP_CONCURRENCY = 2.5, 32
CHANGES, FRESHNESS_BUDGET = 200, 240.0  # 200 spaced changes take about two minutes
SPACING = 0.55  # seconds between external changes
PROFILE = "bench-profile"

LOAD_SCRIPT = r"""
import asyncio, json, sys, time
import aiohttp
url, seconds, conc, auth = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
async def main():
    lat, errors = [], 0
    headers = {"Authorization": auth} if auth else {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as http:
        for _ in range(50):
            async with http.get(url, headers=headers) as r: await r.read()
        end = time.perf_counter() + seconds
        async def worker():
            nonlocal errors
            while time.perf_counter() < end:
                t = time.perf_counter()
                async with http.get(url, headers=headers) as r:
                    await r.read()
                    errors += r.status != 200
                lat.append(time.perf_counter() - t)
        begin = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        took = time.perf_counter() - begin
    lat.sort()
    p50, p99 = lat[len(lat) // 2], lat[int(len(lat) * .99)]
    print(json.dumps({"rps": len(lat) / took, "p50": p50, "p99": p99, "errors": errors}))
asyncio.run(main())
"""


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def _seed(db: Database, now: datetime) -> None:
    rnd = random.Random(6)
    async with db.session() as s:
        s.add(Organization(id="bench", name="Bench", created_at=now))
        await s.flush()
        s.add(Profile(id=PROFILE, organization_id="bench", name="B", email="b@example.com",
                      time_zone="Europe/Berlin", created_at=now, updated_at=now))  # fmt: skip
        await s.flush()
        for c in range(CALENDARS):
            account = ProviderAccount(
                id=f"acc{c}", organization_id="bench", profile_id=PROFILE, provider="google",
                created_at=now, updated_at=now,
            )  # fmt: skip
            s.add(account)
            await s.flush()
            s.add(Calendar(id=f"cal{c}", account_id=account.id, profile_id=PROFILE, external_id=f"x{c}",
                           role="pull", last_synced_at=now, created_at=now, updated_at=now))  # fmt: skip
            await s.flush()
            for n in range(EVENTS):
                recurring = n % 3 == 0
                offset = (
                    rnd.randrange(-60 * 96, 120 * 96) * 900
                    if not recurring
                    else rnd.randrange(-60, 30) * 86400
                )
                start = now + timedelta(
                    seconds=offset + rnd.randrange(28, 72) * 900 * (1 if recurring else 0)
                )
                length = timedelta(minutes=rnd.choice((15, 30, 60, 90, 120)))
                rule = None
                exdates: list[str] = []
                if recurring:
                    until = f"{(now + timedelta(days=200)):%Y%m%dT%H%M%SZ}"
                    rule = rnd.choice(
                        ("RRULE:FREQ=WEEKLY", "RRULE:FREQ=DAILY;COUNT=40", f"RRULE:FREQ=WEEKLY;UNTIL={until}")
                    )
                    exdates = [(start + timedelta(days=7 * rnd.randrange(1, 10))).astimezone(UTC).isoformat()]
                s.add(BusyBlock(profile_id=PROFILE, calendar_id=f"cal{c}", external_event_id=f"e{c}-{n}",
                                start_utc=start, end_utc=start + length, rrule=rule, exdates=exdates,
                                time_zone="Europe/Berlin", tentative=n % 7 == 0, updated_at=now))  # fmt: skip
            await s.flush()


async def _naive(db: Database, lo: int, hi: int) -> list[tuple[int, int]]:
    """Baseline: load every stored event and expand it for this one query."""
    async with db.session() as s:
        rows = await load_blocks(s, PROFILE)
    tz = zone("Europe/Berlin")
    return merge(i for row in rows for i in expand(_block_source(row), lo, hi, tz))


async def _in_process(db: Database, now: datetime) -> list[tuple[str, str]]:
    index = AvailabilityIndex()
    rnd = random.Random(7)
    base = to_epoch(now)
    windows = [
        (w, w + 30 * 86400) for w in (base + rnd.randrange(-7, 60) * 86400 for _ in range(INDEX_QUERIES))
    ]
    begin = time.perf_counter()
    async with db.session() as s:
        snap = await index.snapshot(s, PROFILE, base, base + 1, now)
    build = time.perf_counter() - begin
    warm: list[float] = []
    for lo, hi in windows:
        t = time.perf_counter()
        snap.busy.window(lo, hi)
        warm.append(time.perf_counter() - t)
    checked: list[float] = []
    for lo, hi in windows[:1000]:
        t = time.perf_counter()
        async with db.session() as s:
            got = (await index.snapshot(s, PROFILE, lo, hi, now)).busy.window(lo, hi)
        checked.append(time.perf_counter() - t)
    naive: list[float] = []
    for lo, hi in windows[:NAIVE_QUERIES]:
        t = time.perf_counter()
        expected = await _naive(db, lo, hi)
        naive.append(time.perf_counter() - t)
        got = await _snapshot_window(index, db, lo, hi, now)
        assert got == [(max(s, lo), min(e, hi)) for s, e in expected if s < hi and e > lo], "index != naive"
    assert index.rebuilds == 1
    # One foreign event moves: the next query reloads the rows and re-expands only that one.
    async with db.session() as s:
        await s.exec(
            update(BusyBlock).where(col(BusyBlock.external_event_id) == "e0-1")
            .values(start_utc=now + timedelta(hours=1), updated_at=now + timedelta(seconds=1))
        )  # fmt: skip
    t = time.perf_counter()
    await _snapshot_window(index, db, base, base + 30 * 86400, now)
    refresh = time.perf_counter() - t
    ms = 1000.0
    n50, n99 = _pct(naive, 0.5), _pct(naive, 0.99)
    return [
        ("index build (6,000 rows, cold)", f"{build * ms:.1f} ms"),
        ("index refresh after one change", f"{refresh * ms:.1f} ms"),
        (
            "index lookup, in-process  p50 / p99",
            f"{_pct(warm, 0.5) * ms:.4f} / {_pct(warm, 0.99) * ms:.4f} ms",
        ),
        (
            "index + fingerprint query p50 / p99",
            f"{_pct(checked, 0.5) * ms:.3f} / {_pct(checked, 0.99) * ms:.3f} ms",
        ),
        ("naive scan+expand         p50 / p99", f"{n50 * ms:.1f} / {n99 * ms:.1f} ms"),
        ("speed-up in-process (p50 naive / p50 index)", f"{n50 / _pct(warm, 0.5):,.0f}x"),
        ("speed-up incl. fingerprint query (p50)", f"{n50 / _pct(checked, 0.5):,.0f}x"),
    ]


async def _snapshot_window(
    index: AvailabilityIndex, db: Database, lo: int, hi: int, now: datetime
) -> list[tuple[int, int]]:
    async with db.session() as s:
        return (await index.snapshot(s, PROFILE, lo, hi, now)).busy.window(lo, hi)


async def _load(url: str, auth: str) -> dict[str, float]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOAD_SCRIPT, url, str(HTTP_SECONDS), str(HTTP_CONCURRENCY), auth,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    result: dict[str, float] = json.loads(out)
    return result


async def _http(db: Database, now: datetime) -> list[tuple[str, str]]:
    async with db.session() as s:
        key, _ = await create_key(s, "bench", None, now)
    api = web.Application()
    api[SETTINGS], api[DATABASE], api[CLOCK] = Settings(), db, SystemClock()
    setup_api(api)

    async def bare(_: web.Request) -> web.Response:
        return web.json_response({"busy": []})

    plain = web.Application()
    plain.router.add_get("/", bare)
    rows: list[tuple[str, str]] = []
    lo = now.replace(microsecond=0)
    hi = lo + timedelta(days=30)
    query = f"start={lo:%Y-%m-%dT%H:%M:%SZ}&end={hi:%Y-%m-%dT%H:%M:%SZ}"
    for name, app, path, auth in (
        ("bare aiohttp handler", plain, "/", ""),
        ("GET availability (30 days)", api, f"/v1/profiles/{PROFILE}/availability?{query}", f"Bearer {key}"),
    ):
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        r = await _load(f"http://127.0.0.1:{port}{path}", auth)
        await runner.cleanup()
        rows.append(
            (
                f"HTTP {name}",
                f"{r['rps']:,.0f} req/s  p50 {r['p50'] * 1000:.1f} ms  p99 {r['p99'] * 1000:.1f} ms  "
                f"errors {r['errors']:.0f}",
            )
        )
    return rows


async def _freshness(tmp: Path) -> list[tuple[str, str]]:
    from tests.sync.harness import FAST, running_harness

    url = f"sqlite:///{tmp}/fresh.db"
    upgrade(url)
    # The daemon's default coalescing (one sync start per 0.5 s per calendar); changes arrive
    # sporadically, at least SPACING apart, as a person edits their calendar.
    settings = FAST
    latencies: list[float] = []
    async with running_harness(url, sync_settings=settings) as h:
        async with h.db.session() as s:
            key, _ = await create_key(s, "bench", None, SystemClock().now())
        import aiohttp

        base = SystemClock().now().replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
        deadline = time.monotonic() + FRESHNESS_BUDGET
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
            for n in range(CHANGES):
                if time.monotonic() > deadline:
                    break
                start = base + timedelta(hours=n)
                window = {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}
                body = {
                    "start": {"dateTime": start.isoformat()},
                    "end": {"dateTime": (start + timedelta(minutes=30)).isoformat()},
                    "summary": "x",
                }
                t0 = time.perf_counter()
                h.emulator.seed_event(h.user, body)
                while time.perf_counter() - t0 < 5.0:
                    async with http.get(
                        f"{h.url}/v1/profiles/{h.profile_id}/availability", params=window
                    ) as r:
                        if (await r.json())["busy"]:
                            latencies.append(time.perf_counter() - t0)
                            break
                    await asyncio.sleep(0.01)
                await asyncio.sleep(max(0.0, SPACING - (time.perf_counter() - t0)))
    if not latencies:
        return [("freshness", "no change became visible (is the reconciler wired?)")]
    return [
        (
            "freshness: changes measured",
            f"{len(latencies)} of {CHANGES} (spaced >= {SPACING} s; default sync min_interval "
            f"{settings.sync.min_interval} s)",
        ),
        (
            "freshness emulator -> answer p50 / p99",
            f"{_pct(latencies, 0.5) * 1000:.0f} / {_pct(latencies, 0.99) * 1000:.0f} ms",
        ),
    ]


def _table(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"  {k.ljust(width)}  {v}")


async def main() -> None:
    from daemon.logging import configure_logging

    configure_logging("console", level="warning")
    started = time.perf_counter()
    now = SystemClock().now().replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        db = Database(url)
        try:
            await _seed(db, now)
            _table(await _in_process(db, now))
            _table(await _http(db, now))
        finally:
            await db.close()
        _table(await _freshness(Path(tmp)))
    print(f"  total {time.perf_counter() - started:.1f} s")
