"""Webhook ingest: ``POST /webhooks/google`` (valid notifications, real SQLite DB) vs a bare handler.

Both servers run in this process on loopback; the same load (N requests, C concurrent) hits
each from a separate load-generator process (``bench/loadgen.py``), as a provider's servers would,
so the client does not eat the server's CPU. The calsync side is the real ``create_app`` (outbox +
embedded bus + relay + sync consumer) with a seeded channel on a calendar it really syncs, against
the Google emulator running in another process (``bench/google_peer.py``); every notification
carries a new message number, so each one is verified, recorded durably (group commit) and
answered 200, and the sync passes they trigger run during the measurement.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.fernet import Fernet

from bench.loadgen import load
from calsync.clock import SystemClock
from calsync.secrets import hash_secret, new_channel_secret
from channels.model import Provider
from daemon.app import create_app
from daemon.appkeys import DATABASE
from daemon.config import Settings
from daemon.logging import configure_logging
from daemon.sync_wiring import SYNC
from store import accounts, calendars
from store import channels as channel_store
from store.migrate import upgrade
from store.organizations import upsert_organization
from store.profiles import create_profile

REQUESTS = 5000
SPREAD = 200  # calendars in the spread row: notifications round-robin over their channels
CONCURRENCY = 64
WARMUP = 300


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _database_url(tmp: Path) -> str:
    """SQLite by default; ``BENCH_POSTGRES=1`` uses a fresh schema in the local PostgreSQL."""
    if os.environ.get("BENCH_POSTGRES") != "1":
        return f"sqlite:///{tmp / 'bench.db'}"
    import uuid as _uuid

    from sqlalchemy import create_engine, text

    schema = f"bench_{_uuid.uuid4().hex[:8]}"
    engine = create_engine("postgresql+psycopg://127.0.0.1:5432/test", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return f"postgresql+psycopg://127.0.0.1:5432/test?options=-csearch_path%3D{schema}"


def _row(
    name: str, n: int, elapsed: float, latencies: list[float], errors: int
) -> tuple[str, float, float, float, int]:
    cuts = statistics.quantiles(latencies, n=100)
    return name, n / elapsed, cuts[49] * 1000, cuts[98] * 1000, errors


async def _seed(app: web.Application, peer: dict[str, Any]) -> str:
    """One account with one pull calendar (and one channel ``bench-ch-<i>``) per peer calendar."""
    now = SystemClock().now()
    token = new_channel_secret()  # shared by the bench's channels, so one header template serves all
    async with app[DATABASE].session() as s:
        await upsert_organization(s, "org-bench", "Bench", None, now)
        await create_profile(
            s, profile_id="prof-bench", organization_id="org-bench", name="B", email="b@example.com",
            time_zone="UTC", now=now,
        )  # fmt: skip
        account = await accounts.create_account(
            s, organization_id="org-bench", profile_id="prof-bench", provider=Provider.GOOGLE,
            external_account=peer["user"], client_id="c", client_secret="s",
            refresh_token=peer["refresh_token"], cipher=app[SYNC].cipher, now=now,
        )  # fmt: skip
        for i, external_id in enumerate(peer["calendars"]):
            cal = await calendars.upsert_calendar(
                s, account_id=account.id, profile_id="prof-bench", external_id=external_id,
                name=f"B{i}", role="pull", now=now,
            )  # fmt: skip
            await channel_store.add_channel(
                s, calendar_id=cal.id, provider="google", external_id=f"bench-ch-{i}",
                resource_id=f"res-{i}", secret_hash=hash_secret(token),
                expires_at=now + timedelta(days=7), now=now,
            )  # fmt: skip
    return token


async def _start_peer(count: int) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.google_peer", str(count),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    peer: dict[str, Any] = json.loads(await proc.stdout.readline())
    return proc, peer


async def _measure(
    name: str, url: str, headers: dict[str, str], number: int, spread: int
) -> tuple[str, float, float, float, int, float]:
    await load(url, WARMUP, CONCURRENCY, headers, number, spread)
    cpu = time.process_time()
    result = await load(url, REQUESTS, CONCURRENCY, headers, number + WARMUP, spread)
    cpu_us = (time.process_time() - cpu) / REQUESTS * 1e6  # this process, all its threads
    latencies = [float(x) for x in result["latencies"]]  # type: ignore[attr-defined]
    return (*_row(name, REQUESTS, float(result["elapsed"]), latencies, int(result["errors"])), cpu_us)  # type: ignore[arg-type]


async def main() -> None:
    configure_logging("json", "warning")  # as `calsync run` does with CALSYNC_LOG_LEVEL=warning
    logging.getLogger("google.oauth2.credentials").setLevel(logging.ERROR)  # the emulator grants no scopes
    peer_proc, peer = await _start_peer(SPREAD)
    with tempfile.TemporaryDirectory() as tmp:
        db_url = _database_url(Path(tmp))
        await asyncio.to_thread(upgrade, db_url)
        port, bare_port = _free_port(), _free_port()
        settings = Settings(
            listen_port=port, public_url=f"http://127.0.0.1:{port}", database_url=db_url,
            secret_keys=(Fernet.generate_key().decode(),), log_level="warning",
            google_api_url=peer["api_url"], google_token_url=peer["token_url"],
        )  # fmt: skip
        app = create_app(settings)
        app[SYNC].settings = replace(app[SYNC].settings, loops=False)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

        async def bare(_: web.Request) -> web.Response:
            return web.Response(status=200)

        bare_app = web.Application()
        bare_app.router.add_post("/webhooks/google", bare)
        bare_runner = web.AppRunner(bare_app, handle_signals=False)
        await bare_runner.setup()
        await web.TCPSite(bare_runner, "127.0.0.1", bare_port).start()
        try:
            token = await _seed(app, peer)
            headers = {
                "X-Goog-Channel-ID": "bench-ch-{c}",
                "X-Goog-Message-Number": "{n}",
                "X-Goog-Resource-ID": "res-{c}",
                "X-Goog-Resource-State": "exists",
                "X-Goog-Resource-URI": "https://www.googleapis.com/calendar/v3/calendars/b/events",
                "X-Goog-Channel-Token": token,
            }
            plan = [
                ("bare aiohttp handler", bare_port, 1),
                ("webhook, 1 calendar", port, 1),
                (f"webhook, {SPREAD} calendars", port, SPREAD),
            ]
            rows = []
            for i, (name, target, spread) in enumerate(plan):
                url = f"http://127.0.0.1:{target}/webhooks/google"
                rows.append(await _measure(name, url, headers, 1 + i * (WARMUP + REQUESTS), spread))
            consumer = app[SYNC].consumer
            passes = consumer.stats.passes if consumer is not None else 0
        finally:
            await runner.cleanup()
            await bare_runner.cleanup()
            assert peer_proc.stdin is not None
            peer_proc.stdin.close()
            await peer_proc.wait()
    print(
        f"{REQUESTS} requests per row, {CONCURRENCY} concurrent from a separate load-generator process, "
        f"loopback, {'PostgreSQL' if os.environ.get('BENCH_POSTGRES') == '1' else 'SQLite (WAL)'}"
    )
    columns = (
        ("req/s", 9),
        ("p50 ms", 9),
        ("p99 ms", 9),
        ("non-200", 9),
        ("server CPU us/req", 19),
        ("of bare", 9),
    )
    print(f"{'target':<28}" + "".join(f"{title:>{width}}" for title, width in columns))
    for name, rps, p50, p99, errors, cpu_us in rows:
        share = f"{rps / rows[0][1]:.0%}"
        print(f"{name:<28}{rps:>9.0f}{p50:>9.2f}{p99:>9.2f}{errors:>9}{cpu_us:>19.0f}{share:>9}")
    print("goal: webhook >= 60% of bare")
    print(f"sync passes against the emulator (another process) during the webhook rows: {passes}")
