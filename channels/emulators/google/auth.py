"""OAuth 2.0 as the emulator models it: users' refresh tokens and short-lived Bearer tokens.

The ``/token`` endpoint implements the refresh-token grant that ``google.oauth2.credentials``
uses; API calls must carry ``Authorization: Bearer <access token>`` that is neither unknown,
expired (per the emulator clock) nor derived from a revoked refresh token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from calsync.clock import Clock
from channels.emulators.google.errors import Json, auth_error
from channels.emulators.google.store import Store

# What a user consented to unless a test says otherwise: the two scopes a calendar-sync app asks for.
DEFAULT_GRANTED = (
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar.readonly",
)


@dataclass(slots=True)
class RefreshGrant:
    token: str
    email: str
    client_id: str | None
    scopes: tuple[str, ...] = DEFAULT_GRANTED
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user and the OAuth client the access token was issued to."""

    email: str
    client_id: str | None
    access_token: str
    expires_at: datetime
    refresh_token: str


class OAuthError(Exception):
    """A token-endpoint failure, rendered as ``{"error", "error_description"}``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> Json:
        return {"error": self.error, "error_description": self.description}


class AuthRegistry:
    def __init__(self, clock: Clock, store: Store, lifetime: timedelta) -> None:
        self._clock = clock
        self._store = store
        self._lifetime = lifetime
        self._refresh: dict[str, RefreshGrant] = {}
        self._access: dict[str, Principal] = {}

    def add_refresh_token(
        self,
        email: str,
        token: str | None = None,
        client_id: str | None = None,
        scopes: tuple[str, ...] = DEFAULT_GRANTED,
    ) -> str:
        token = token or "1//" + self._store.new_opaque(40)
        self._refresh[token] = RefreshGrant(token, email, client_id, scopes)
        return token

    def revoke(self, token: str) -> None:
        """Revoking a refresh token also kills every access token minted from it, as at Google."""
        grant = self._refresh.get(token)
        if grant is not None:
            grant.revoked = True
        for access, principal in list(self._access.items()):
            if principal.refresh_token == token:
                del self._access[access]

    def issue_access_token(self, refresh_token: str, client_id: str | None = None) -> Principal:
        grant = self._refresh[refresh_token]
        access = "ya29." + self._store.new_opaque(60)
        principal = Principal(
            grant.email, client_id, access, self._clock.now() + self._lifetime, refresh_token
        )
        self._access[access] = principal
        return principal

    def exchange(self, form: Mapping[str, str]) -> Json:
        """The refresh-token grant; raises :class:`OAuthError` like accounts.google.com would."""
        grant_type = form.get("grant_type")
        if grant_type != "refresh_token":
            raise OAuthError(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        if not form.get("client_id"):
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
        grant = self._refresh.get(form.get("refresh_token", ""))
        if grant is None or grant.revoked:
            raise OAuthError(400, "invalid_grant", "Token has been expired or revoked.")
        if grant.client_id is not None and grant.client_id != form["client_id"]:
            raise OAuthError(401, "unauthorized_client", "Unauthorized")
        # A refresh may narrow the grant, never widen it; the answer lists what the token carries.
        requested = form.get("scope", "").split()
        if any(scope not in grant.scopes for scope in requested):
            raise OAuthError(400, "invalid_scope", "Some requested scopes were invalid.")
        principal = self.issue_access_token(grant.token, form["client_id"])
        return {
            "access_token": principal.access_token,
            "expires_in": int(self._lifetime.total_seconds()),
            "scope": " ".join(requested or grant.scopes),
            "token_type": "Bearer",
        }

    def authenticate(self, header: str | None) -> Principal:
        """The caller of an API request, or a 401 ``authError`` exactly as Google sends it."""
        if not header or not header.startswith("Bearer "):
            raise auth_error()
        principal = self._access.get(header[len("Bearer ") :].strip())
        if principal is None or principal.expires_at <= self._clock.now():
            raise auth_error()
        return principal
