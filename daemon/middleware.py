"""Request context: a request id on every log line of a request, one access log line, HTTP metrics."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Final

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from daemon.appkeys import METRICS

REQUEST_ID_HEADER: Final = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
QUIET_ROUTES: Final = frozenset({"/healthz", "/readyz", "/metrics"})
log = structlog.get_logger("calsync.http")
_STDLIB_LOG = logging.getLogger("calsync.http")  # its level decides (daemon/logging.py)


def _route_label(request: web.Request) -> str:
    """The route template, never the concrete path (ids in paths would explode label cardinality)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    started = time.perf_counter()
    status = 500
    # bind/reset with tokens: bound_contextvars() first copies the whole context (~10 us a request).
    tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
    try:
        response = await handler(request)
        status = response.status
        response.headers[REQUEST_ID_HEADER] = request_id
        return response
    except web.HTTPException as exc:
        status = exc.status
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = _route_label(request)
        request.app[METRICS].http_request(route, request.method, status, elapsed)
        # Providers send webhooks thousands per second in bursts: counted in metrics, logged at
        # debug (checked first: a filtered structlog call still runs its processor chain).
        webhook = route.startswith("/webhooks/")
        if route not in QUIET_ROUTES and (not webhook or _STDLIB_LOG.isEnabledFor(logging.DEBUG)):
            (log.debug if webhook else log.info)(
                "http_request",
                method=request.method,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
        structlog.contextvars.reset_contextvars(**tokens)  # after the access line, which carries it
