"""The host-facing REST API under ``/v1``: routes, auth, problem bodies and the OpenAPI document.

``setup_api`` is the one entry point the composition root calls: it appends the
problem middleware (outermost, so it also shapes auth failures) and the auth
middleware, adds every registered route and serves the OpenAPI document built
from the same registry.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from calsync import __version__
from daemon.api import appointments, availability, connect_routes, occurrences, organizations, profiles
from daemon.api import channels as channel_routes
from daemon.api.auth import auth_middleware
from daemon.api.availability_support import AVAILABILITY_INDEX
from daemon.api.body import json_response
from daemon.api.openapi import build_document
from daemon.api.problems import problem_middleware
from daemon.api.registry import Reply, Route
from daemon.appkeys import SETTINGS
from handlers.availability_index import AvailabilityIndex

OPENAPI_PATH: Final = "/v1/openapi.json"
OPENAPI_DOCUMENT = web.AppKey("openapi_document", dict[str, Any])


async def get_openapi(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI_DOCUMENT])


OPENAPI_ROUTE: Final = Route(
    "GET",
    OPENAPI_PATH,
    get_openapi,
    "getOpenApi",
    "This OpenAPI document",
    "meta",
    description="Served without authentication.",
    replies={200: Reply("The OpenAPI 3.1 document.")},
    public=True,
)

ROUTES: Final[tuple[Route, ...]] = (
    *organizations.ROUTES,
    *profiles.ROUTES,
    *appointments.ROUTES,
    *occurrences.ROUTES,
    *connect_routes.ROUTES,
    *channel_routes.ROUTES,
    *availability.ROUTES,
    OPENAPI_ROUTE,
)


def setup_api(app: web.Application) -> None:
    app[AVAILABILITY_INDEX] = AvailabilityIndex()  # per app: each profile's expanded busy time
    app.middlewares.append(problem_middleware)
    app.middlewares.append(auth_middleware([route.path for route in ROUTES if route.public]))
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    app[OPENAPI_DOCUMENT] = build_document(ROUTES, version=__version__, server_url=app[SETTINGS].public_url)


__all__ = ["ROUTES", "setup_api"]
