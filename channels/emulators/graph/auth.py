"""Identity: users (mailboxes), refresh tokens and short-lived bearer access tokens.

Sans-IO: every method takes ``now``. The token endpoint route turns these results into the
OAuth 2.0 v2.0 JSON shapes; the API middleware calls :meth:`AuthRegistry.authenticate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .ids import IdFactory
from .wire import GraphError


@dataclass(slots=True)
class User:
    id: str
    email: str
    display_name: str


@dataclass(slots=True)
class RefreshToken:
    user_id: str
    client_id: str
    scopes: list[str]
    expires_at: datetime
    revoked: bool = False


@dataclass(slots=True)
class AccessToken:
    user_id: str
    client_id: str
    expires_at: datetime
    revoked: bool = False


class OAuthError(Exception):
    """An AAD token-endpoint failure (``invalid_grant`` …) with its AADSTS code."""

    def __init__(self, error: str, aadsts: int, description: str) -> None:
        super().__init__(f"{error}: AADSTS{aadsts}")
        self.error = error
        self.aadsts = aadsts
        self.description = description


@dataclass(slots=True)
class TokenGrant:
    access_token: str
    refresh_token: str
    scopes: list[str]
    expires_in: int


@dataclass
class AuthRegistry:
    ids: IdFactory
    access_lifetime: timedelta
    refresh_lifetime: timedelta
    users: dict[str, User] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    access_tokens: dict[str, AccessToken] = field(default_factory=dict)

    def add_user(self, email: str, display_name: str | None = None, user_id: str | None = None) -> User:
        user = User(
            id=user_id or self.ids.guid(), email=email, display_name=display_name or email.split("@")[0]
        )
        self.users[user.id] = user
        return user

    def find_user(self, key: str) -> User | None:
        """Graph addresses a user by object id or by userPrincipalName, case-insensitively."""
        if key in self.users:
            return self.users[key]
        lowered = key.lower()
        return next(
            (u for u in self.users.values() if u.id.lower() == lowered or u.email.lower() == lowered), None
        )

    def issue_refresh_token(self, user_id: str, client_id: str, scopes: list[str], now: datetime) -> str:
        token = "0.AAAA" + self.ids.opaque(48)
        self.refresh_tokens[token] = RefreshToken(user_id, client_id, scopes, now + self.refresh_lifetime)
        return token

    def issue_access_token(self, user_id: str, client_id: str, now: datetime) -> str:
        token = "eyJ0eXAiOiJKV1Qi." + self.ids.opaque(48)
        self.access_tokens[token] = AccessToken(user_id, client_id, now + self.access_lifetime)
        return token

    def redeem_refresh_token(self, token: str, scope: str | None, now: datetime) -> TokenGrant:
        """The refresh_token grant. AAD keeps old refresh tokens valid after rotation, so do we."""
        record = self.refresh_tokens.get(token)
        if record is None:
            raise OAuthError("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
        if record.revoked:
            raise OAuthError(
                "invalid_grant",
                50173,
                "The provided grant has expired due to it being revoked, a fresh auth token is needed.",
            )
        if record.expires_at <= now:
            raise OAuthError(
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to inactivity.",
            )
        scopes = scope.split() if scope else record.scopes
        access = self.issue_access_token(record.user_id, record.client_id, now)
        refresh = self.issue_refresh_token(record.user_id, record.client_id, scopes, now)
        return TokenGrant(access, refresh, scopes, int(self.access_lifetime.total_seconds()))

    def revoke(self, user_id: str, *, access_tokens: bool = False) -> None:
        """Revoke sign-in sessions: refresh tokens die at once; access tokens only if asked (CAE-like)."""
        for rt in self.refresh_tokens.values():
            if rt.user_id == user_id:
                rt.revoked = True
        if access_tokens:
            for at in self.access_tokens.values():
                if at.user_id == user_id:
                    at.revoked = True

    def authenticate(self, authorization: str | None, now: datetime) -> AccessToken:
        """Bearer header → access token record, or Graph's 401 ``InvalidAuthenticationToken``."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        record = self.access_tokens.get(authorization[7:].strip())
        if record is None:
            raise GraphError(401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.")
        if record.revoked or record.expires_at <= now:
            raise GraphError(
                401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."
            )
        return record
