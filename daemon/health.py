"""Operational endpoints: liveness, readiness and the Prometheus scrape."""

from __future__ import annotations

from aiohttp import web

from calsync.errors import StoreError
from daemon.appkeys import DATABASE, LIFECYCLE, METRICS
from daemon.buskeys import BUS
from daemon.metrics import CONTENT_TYPE


async def healthz(_request: web.Request) -> web.Response:
    """Liveness: the event loop answers. No dependency checks, so a database outage never restarts us."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: database reachable and bus healthy; 503 with the reasons otherwise."""
    app = request.app
    problems: dict[str, str] = {}
    checks: dict[str, str] = {}
    if app[LIFECYCLE].draining:
        problems["daemon"] = "shutting down"
    try:
        await app[DATABASE].ping()
        checks["database"] = "ok"
    except StoreError as err:
        problems["database"] = str(err)
    bus = app.get(BUS)
    if bus is not None:
        health = await bus.health()
        if health.ok:
            checks["bus"] = "ok"
        else:
            # Degraded, not down: the outbox keeps everything until the broker is back.
            problems["bus"] = f"degraded: {health.detail}"
    status = 503 if problems else 200
    return web.json_response(
        {"status": "ok" if status == 200 else "unavailable", **checks, **problems}, status=status
    )


async def metrics(request: web.Request) -> web.Response:
    body = await request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def add_health_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
