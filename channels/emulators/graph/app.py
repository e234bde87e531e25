"""``create_app``: the aiohttp Application serving Graph v1.0, the token endpoint and the control API.

Middlewares, outermost first: the error envelope (GraphError → Graph JSON with ``innerError``,
unknown ``/v1.0`` segments → 400 like Graph), then for ``/v1.0`` the bearer check, per-mailbox
counters, injected 429s and the optional 4-concurrent-requests rule. The notifier (outbound HTTP
session and delivery worker) lives in ``cleanup_ctx``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from . import control, routes_auth, routes_delta, routes_events, routes_subscriptions
from .emulator import GraphEmulator
from .web_common import EMULATOR, TOKEN, graph_json
from .wire import GraphError, error_body

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error_response(request: web.Request, err: GraphError) -> web.Response:
    emu = request.app[EMULATOR]
    request_id = emu.ids.guid()
    client_request_id = request.headers.get("client-request-id", request_id)
    body = error_body(
        err.code, err.message, now=emu.now(), request_id=request_id, client_request_id=client_request_id
    )
    headers = {"request-id": request_id, "client-request-id": client_request_id, **err.headers}
    return graph_json(body, status=err.status, headers=headers)


@web.middleware
async def graph_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except GraphError as err:
        return _error_response(request, err)
    except web.HTTPNotFound:
        if request.path.startswith("/v1.0"):
            segment = request.path.rstrip("/").rsplit("/", 1)[-1]
            return _error_response(
                request, GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
            )
        raise
    except web.HTTPMethodNotAllowed:
        if request.path.startswith("/v1.0"):
            return _error_response(
                request,
                GraphError(
                    405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."
                ),
            )
        raise


@web.middleware
async def graph_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/v1.0/"):
        return await handler(request)
    emu = request.app[EMULATOR]
    token = emu.auth.authenticate(request.headers.get("Authorization"), emu.now())
    request[TOKEN] = token
    mailbox = token.user_id
    counters = emu.counters
    counters.requests[mailbox] += 1
    injected = emu.request_faults.take(mailbox)
    if injected is not None:
        counters.throttled_responses[mailbox] += 1
        raise GraphError(
            429, injected.code, injected.message, headers={"Retry-After": str(injected.retry_after_s)}
        )
    counters.in_flight[mailbox] += 1
    try:
        counters.peak_concurrency[mailbox] = max(
            counters.peak_concurrency[mailbox], counters.in_flight[mailbox]
        )
        limit = emu.config.mailbox_concurrency_limit
        if emu.config.enforce_mailbox_concurrency and counters.in_flight[mailbox] > limit:
            counters.throttled_responses[mailbox] += 1
            raise GraphError(
                429,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
                headers={"Retry-After": str(emu.config.concurrency_retry_after_s)},
            )
        if emu.request_faults.latency_s > 0:
            await asyncio.sleep(emu.request_faults.latency_s)
        response = await handler(request)
    finally:
        counters.in_flight[mailbox] -= 1
    response.headers.setdefault("request-id", emu.ids.guid())
    response.headers.setdefault("client-request-id", request.headers.get("client-request-id", ""))
    return response


def create_app(emulator: GraphEmulator) -> web.Application:
    app = web.Application(middlewares=[graph_errors, graph_auth])
    app[EMULATOR] = emulator

    async def notifier_ctx(_: web.Application) -> AsyncIterator[None]:
        await emulator.start()
        yield
        await emulator.stop()

    app.cleanup_ctx.append(notifier_ctx)
    routes_auth.add_routes(app)
    routes_events.add_routes(app)
    routes_delta.add_routes(app)
    routes_subscriptions.add_routes(app)
    control.add_routes(app)
    return app
