"""The aiohttp application: Calendar API v3, the OAuth token endpoint and the control API.

``create_app(emulator)`` is all a test, the sandbox or a benchmark needs. Middleware order:
Bearer authentication, request counting, then injected faults, then the handler; every
``ApiError`` becomes Google's JSON error body. The app owns the push-delivery HTTP session
through ``cleanup_ctx``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from channels.emulators.google.auth import OAuthError
from channels.emulators.google.control import add_control_routes, control_errors
from channels.emulators.google.emulator import GoogleEmulator
from channels.emulators.google.errors import ApiError, not_found
from channels.emulators.google.routes import EMULATOR, PREFIX, PRINCIPAL, add_api_routes

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(err: ApiError) -> web.Response:
    return web.json_response(err.body(), status=err.status, headers=err.headers)


@web.middleware
async def api_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(PREFIX + "/"):
        return await handler(request)
    emulator = request.app[EMULATOR]
    try:
        principal = emulator.auth.authenticate(request.headers.get("Authorization"))
        emulator.counters.record_request(principal.email, emulator.clock.now())
        injected = emulator.faults.check(principal.email)
        if injected is not None:
            raise injected
        request[PRINCIPAL] = principal
        return await handler(request)
    except ApiError as err:
        return error_response(err)
    except web.HTTPNotFound:
        return error_response(not_found())


async def token_endpoint(request: web.Request) -> web.Response:
    """OAuth 2.0 token endpoint (refresh-token grant, form-encoded) as google-auth calls it."""
    form = await request.post()
    fields = {key: str(value) for key, value in form.items()}
    try:
        return web.json_response(request.app[EMULATOR].auth.exchange(fields))
    except OAuthError as err:
        return web.json_response(err.body(), status=err.status)


def create_app(emulator: GoogleEmulator) -> web.Application:
    app = web.Application(middlewares=[api_guard, control_errors])
    app[EMULATOR] = emulator
    app.router.add_post("/token", token_endpoint)
    add_api_routes(app)
    if emulator.config.control_api:
        add_control_routes(app)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        yield
        await app[EMULATOR].close()  # cancels pending deliveries, closes their HTTP session

    app.cleanup_ctx.append(lifecycle)
    return app
