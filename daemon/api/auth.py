"""Bearer-key authentication and authorization for ``/v1``.

Every ``/v1`` route except the public ones (the OpenAPI document) needs
``Authorization: Bearer <api key>``. The verified key becomes a ``Principal``
on the request: its organization scope and whether it may write.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from daemon.api.problems import API_PREFIX, ApiProblem
from daemon.appkeys import CLOCK, DATABASE
from store.api_keys import verify_key

READ_METHODS: Final = frozenset({"GET", "HEAD"})
_CHALLENGE: Final = 'Bearer realm="calsync"'


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    organization_id: str | None  # None: an operator key that sees every organization
    read_only: bool

    @property
    def scope(self) -> str | None:
        return self.organization_id

    def can_see(self, organization_id: str) -> bool:
        return self.organization_id is None or self.organization_id == organization_id


PRINCIPAL = web.RequestKey("principal", Principal)


def _unauthorized(detail: str, error: str | None) -> ApiProblem:
    challenge = f'{_CHALLENGE}, error="{error}"' if error else _CHALLENGE
    return ApiProblem(
        401, detail, type_="urn:calsync:problem:unauthorized", headers={hdrs.WWW_AUTHENTICATE: challenge}
    )


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header (scheme case-insensitive), else None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def auth_middleware(public_paths: Collection[str]) -> Middleware:
    public = frozenset(public_paths)

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX) or request.path in public:
            return await handler(request)
        token = bearer_token(request.headers.get(hdrs.AUTHORIZATION))
        if token is None:
            raise _unauthorized("Send an API key as `Authorization: Bearer <key>`.", None)
        async with request.app[DATABASE].session() as session:
            key = await verify_key(session, token, request.app[CLOCK].now())
            principal = None if key is None else Principal(key.id, key.organization_id, key.read_only)
        if principal is None:
            raise _unauthorized("The API key is unknown or revoked.", "invalid_token")
        if principal.read_only and request.method not in READ_METHODS:
            raise ApiProblem(403, "This API key is read-only.", type_="urn:calsync:problem:read-only-key")
        request[PRINCIPAL] = principal
        return await handler(request)

    return authenticate


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]
