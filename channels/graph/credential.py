"""An azure-core style async TokenCredential backed by the account's stored refresh token.

msgraph-sdk authenticates through ``AzureIdentityAuthenticationProvider``, which only needs an
object with ``async get_token(*scopes, **kwargs) -> AccessToken``. azure-identity has no credential
that redeems a refresh token we already hold, so this is ours: a refresh-token grant against
``Settings.graph_token_url``, the access token cached until shortly before it expires (read from
the injected Clock), and Microsoft's rotated refresh token handed to ``on_rotate`` so the caller
persists it (AAD keeps old ones working for a while, but a stored token that never moves ages out).

The token response is parsed by a pure function (``parse_token_response``), tested without I/O.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from azure.core.credentials import AccessToken

from calsync.clock import Clock
from calsync.errors import AuthorizationRevoked, ProviderError, RateLimited, TransientProviderError

#: Refresh this long before the access token's own expiry, so no request carries a dying token.
EXPIRY_MARGIN = timedelta(minutes=5)
#: Errors of the token endpoint that mean "the user must consent again" — never retried.
REVOKED_ERRORS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client", "interaction_required"})

RotationCallback = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class TokenGrant:
    access_token: str
    expires_at: datetime
    refresh_token: str | None  # the rotated refresh token, when the endpoint sent one


def parse_token_response(
    status: int, body: bytes, now: datetime, retry_after: str | None = None
) -> TokenGrant:
    """Decide what one token-endpoint answer means; raises the calsync error to act on."""
    try:
        data: Any = json.loads(body) if body else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if status == 200 and isinstance(data.get("access_token"), str):
        lifetime = data.get("expires_in", 3600)
        seconds = int(lifetime) if str(lifetime).isdigit() else 3600
        rotated = data.get("refresh_token")
        return TokenGrant(
            data["access_token"],
            now + timedelta(seconds=seconds),
            rotated if isinstance(rotated, str) and rotated else None,
        )
    error = str(data.get("error", ""))
    # Keep only the AADSTS code line: descriptions carry trace ids, never secrets, but stay short.
    summary = f"graph token endpoint {status} {error}".strip()
    if status == 429:
        return_after = float(retry_after) if retry_after and retry_after.isdigit() else None
        raise RateLimited(summary, retry_after=return_after)
    if status >= 500 or status == 408:
        raise TransientProviderError(summary)
    if error in REVOKED_ERRORS or status in (400, 401):
        raise AuthorizationRevoked(summary)
    raise TransientProviderError(summary)


class RefreshTokenCredential:
    """One account's credential; safe to share between concurrent requests of that account."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        http: httpx.AsyncClient,
        clock: Clock,
        on_rotate: RotationCallback | None = None,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self.initial_refresh_token = refresh_token
        self.refresh_token = refresh_token
        self._http = http
        self._clock = clock
        self._on_rotate = on_rotate
        self._cached: TokenGrant | None = None
        # One refresh at a time: concurrent callers wait for it instead of each redeeming the token.
        self._lock = asyncio.Lock()
        self.refreshes = 0

    def knows(self, refresh_token: str) -> bool:
        """Whether a stored token is one this credential started from or rotated to."""
        return refresh_token in (self.initial_refresh_token, self.refresh_token)

    def invalidate(self) -> None:
        """Forget the access token (after a 401): the next request redeems the refresh token."""
        self._cached = None

    async def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        async with self._lock:
            cached = self._cached
            now = self._clock.now()
            if cached is None or cached.expires_at - EXPIRY_MARGIN <= now:
                cached = self._cached = await self._redeem(scopes, now)
            return AccessToken(cached.access_token, int(cached.expires_at.timestamp()))

    async def _redeem(self, scopes: tuple[str, ...], now: datetime) -> TokenGrant:
        form: Mapping[str, str] = {
            "grant_type": "refresh_token",
            "refresh_token": self.refresh_token,
            "client_id": self._client_id,
            "scope": " ".join(scopes),
            **({"client_secret": self._client_secret} if self._client_secret else {}),
        }
        try:
            response = await self._http.post(self._token_url, data=form)
        except httpx.HTTPError as err:
            raise TransientProviderError(f"graph token endpoint unreachable: {type(err).__name__}") from err
        grant = parse_token_response(
            response.status_code, response.content, now, response.headers.get("Retry-After")
        )
        self.refreshes += 1
        if grant.refresh_token and grant.refresh_token != self.refresh_token:
            self.refresh_token = grant.refresh_token
            if self._on_rotate is not None:
                try:
                    await self._on_rotate(grant.refresh_token)
                except ProviderError:
                    raise
                except Exception as err:  # persisting failed: the old token still works for a while
                    raise TransientProviderError(f"could not persist rotated token: {err}") from err
        return grant

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> RefreshTokenCredential:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None
