"""Webhook ingest: ``POST /webhooks/google`` (valid notifications, real SQLite DB) vs a bare handler.

Both servers run in this process on loopback; the same aiohttp client load (N requests,
C concurrent) hits each. The calsync side is the real ``create_app`` (outbox + embedded
bus + relay) with a seeded channel; every notification carries a new message number, so
each one is verified, recorded durably (group commit) and answered 200.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from cryptography.fernet import Fernet

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
CONCURRENCY = 64
WARMUP = 300


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _load(url: str, headers_for: object, n: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(n))
    make = headers_for  # callable: int -> headers

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal errors
        for i in counter:
            begin = time.perf_counter()
            async with http.post(url, headers=make(i)) as response:  # type: ignore[operator]
                await response.read()
                if response.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - begin)

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, errors


def _row(
    name: str, n: int, elapsed: float, latencies: list[float], errors: int
) -> tuple[str, float, float, float, int]:
    cuts = statistics.quantiles(latencies, n=100)
    return name, n / elapsed, cuts[49] * 1000, cuts[98] * 1000, errors


async def _seed(app: web.Application) -> tuple[str, str, str]:
    now = SystemClock().now()
    token = new_channel_secret()
    channel_id, resource_id = uuid.uuid4().hex, "res-bench"
    async with app[DATABASE].session() as s:
        await upsert_organization(s, "org-bench", "Bench", None, now)
        await create_profile(
            s, profile_id="prof-bench", organization_id="org-bench", name="B", email="b@example.com",
            time_zone="UTC", now=now,
        )  # fmt: skip
        account = await accounts.create_account(
            s, organization_id="org-bench", profile_id="prof-bench", provider=Provider.GOOGLE,
            external_account="b@example.com", client_id="c", client_secret="s", refresh_token="r",
            cipher=app[SYNC].cipher, now=now,
        )  # fmt: skip
        # role "none": no sync passes run against a real Google while we measure ingest.
        cal = await calendars.upsert_calendar(
            s, account_id=account.id, profile_id="prof-bench", external_id="b@example.com", name="B",
            role="none", now=now,
        )  # fmt: skip
        await channel_store.add_channel(
            s, calendar_id=cal.id, provider="google", external_id=channel_id, resource_id=resource_id,
            secret_hash=hash_secret(token), expires_at=now + timedelta(days=7), now=now,
        )  # fmt: skip
    return channel_id, resource_id, token


async def main() -> None:
    configure_logging("json", "warning")  # as `calsync run` does with CALSYNC_LOG_LEVEL=warning
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        await asyncio.to_thread(upgrade, db_url)
        port, bare_port = _free_port(), _free_port()
        settings = Settings(
            listen_port=port, public_url=f"http://127.0.0.1:{port}", database_url=db_url,
            secret_keys=(Fernet.generate_key().decode(),), log_level="warning",
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
            channel_id, resource_id, token = await _seed(app)
            offset = [0]

            def headers(i: int) -> dict[str, str]:
                return {
                    "X-Goog-Channel-ID": channel_id,
                    "X-Goog-Message-Number": str(offset[0] + i + 1),
                    "X-Goog-Resource-ID": resource_id,
                    "X-Goog-Resource-State": "exists",
                    "X-Goog-Resource-URI": "https://www.googleapis.com/calendar/v3/calendars/b/events",
                    "X-Goog-Channel-Token": token,
                }

            rows = []
            for name, target in (("bare aiohttp handler", bare_port), ("POST /webhooks/google", port)):
                url = f"http://127.0.0.1:{target}/webhooks/google"
                await _load(url, headers, WARMUP)
                offset[0] += WARMUP
                elapsed, latencies, errors = await _load(url, headers, REQUESTS)
                offset[0] += REQUESTS
                rows.append(_row(name, REQUESTS, elapsed, latencies, errors))
        finally:
            await runner.cleanup()
            await bare_runner.cleanup()
    print(f"{REQUESTS} requests, {CONCURRENCY} concurrent, loopback, SQLite (WAL)")
    print(f"{'target':<24}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-200':>9}")
    for name, rps, p50, p99, errors in rows:
        print(f"{name:<24}{rps:>10.0f}{p50:>10.2f}{p99:>10.2f}{errors:>9}")
    print(f"webhook / bare throughput: {rows[1][1] / rows[0][1]:.0%} (goal >= 60%)")
