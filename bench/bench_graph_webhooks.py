"""Graph notification ingest: req/s and p50/p99 for batches of 1 and 50 items per POST.

Baseline in the same run: a bare aiohttp handler that reads the body and answers 202. The real
path is ``GraphWebhook.notifications`` over a migrated SQLite database (parse, constant-time
clientState check, one transaction with mark_notified + one outbox signal per calendar).
Run: ``.venv/bin/python -c "import asyncio, bench.bench_graph_webhooks as b; asyncio.run(b.main())"``
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from calsync.clock import SystemClock
from handlers.webhooks.graph_view import GraphWebhook, add_graph_webhook
from store.db import Database
from store.migrate import upgrade

REQUESTS = 400
CONCURRENCY = 8
SECRET = "s" * 43


def batch(size: int, round_no: int) -> bytes:
    items = [
        {
            "subscriptionId": "sub-1",
            "changeType": "updated",
            "clientState": SECRET,
            "tenantId": "t",
            "subscriptionExpirationDateTime": "2026-01-08T09:00:00.0000000Z",
            "resource": f"Users/u1/Events/E{i}",
            "resourceData": {
                "@odata.type": "#Microsoft.Graph.Event",
                "@odata.id": f"Users/u1/Events/E{i}",
                "@odata.etag": f'W/"{round_no}-{i}"',
                "id": f"E{i}",
            },
        }
        for i in range(size)
    ]
    return json.dumps({"value": items}).encode()


async def bare(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=202)


async def measure(url: str, size: int) -> tuple[float, float, float]:
    latencies: list[float] = []
    queue = list(range(REQUESTS))
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            while queue:
                n = queue.pop()
                data = batch(size, n)
                started = time.perf_counter()
                async with session.post(url, data=data, headers={"Content-Type": "application/json"}) as r:
                    assert r.status == 202, r.status
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    return REQUESTS / elapsed, statistics.median(latencies) * 1000, p99 * 1000


async def main() -> None:
    from tests.graph.seed import seed_calendar, seed_channel

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        db = Database(url)
        clock = SystemClock()
        _, cal = await seed_calendar(db, clock.now())
        await seed_channel(db, cal, "sub-1", SECRET, clock.now())
        app = web.Application(client_max_size=2 * 1024 * 1024)
        add_graph_webhook(app, GraphWebhook(db, clock))
        app.router.add_post("/bare", bare)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        rows: list[tuple[str, int, Any]] = []
        for size in (1, 50):
            rows.append(("bare aiohttp", size, await measure(f"http://127.0.0.1:{port}/bare", size)))
            rows.append(
                ("graph webhook", size, await measure(f"http://127.0.0.1:{port}/webhooks/graph", size))
            )
        await runner.cleanup()
        await db.close()
    print(f"{'handler':<15} {'items':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for name, size, (rps, p50, p99) in rows:
        print(f"{name:<15} {size:>5} {rps:>8.0f} {p50:>8.2f} {p99:>8.2f}")
    print(f"({REQUESTS} POSTs per row, {CONCURRENCY} concurrent clients, SQLite, one process)")


if __name__ == "__main__":
    asyncio.run(main())
