"""Webhook ingest: ``POST /webhooks/google`` (valid notifications, real SQLite DB) vs a bare handler.

Both servers run in this process on loopback; the same load (N requests, C concurrent) hits
each from a separate load-generator process (``bench/loadgen.py``), as a provider's servers would,
so the client does not eat the server's CPU. The calsync side is the real ``create_app`` (outbox + embedded
bus + relay) with a seeded channel; every notification carries a new message number, so
each one is verified, recorded durably (group commit) and answered 200.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

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
        db_url = _database_url(Path(tmp))
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
            headers = {
                "X-Goog-Channel-ID": channel_id,
                "X-Goog-Message-Number": "{n}",
                "X-Goog-Resource-ID": resource_id,
                "X-Goog-Resource-State": "exists",
                "X-Goog-Resource-URI": "https://www.googleapis.com/calendar/v3/calendars/b/events",
                "X-Goog-Channel-Token": token,
            }
            rows = []
            number = 1
            for name, target in (("bare aiohttp handler", bare_port), ("POST /webhooks/google", port)):
                url = f"http://127.0.0.1:{target}/webhooks/google"
                await load(url, WARMUP, CONCURRENCY, headers, number)
                number += WARMUP
                result = await load(url, REQUESTS, CONCURRENCY, headers, number)
                number += REQUESTS
                latencies = [float(x) for x in result["latencies"]]  # type: ignore[attr-defined]
                rows.append(_row(name, REQUESTS, float(result["elapsed"]), latencies, int(result["errors"])))  # type: ignore[arg-type]
        finally:
            await runner.cleanup()
            await bare_runner.cleanup()
    print(
        f"{REQUESTS} requests, {CONCURRENCY} concurrent from a separate load-generator process, "
        f"loopback, {'PostgreSQL' if os.environ.get('BENCH_POSTGRES') == '1' else 'SQLite (WAL)'}"
    )
    print(f"{'target':<24}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-200':>9}")
    for name, rps, p50, p99, errors in rows:
        print(f"{name:<24}{rps:>10.0f}{p50:>10.2f}{p99:>10.2f}{errors:>9}")
    print(f"webhook / bare throughput: {rows[1][1] / rows[0][1]:.0%} (goal >= 60%)")
