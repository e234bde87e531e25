"""The one exception tree of calsync; each name says what the caller does next.

CalsyncError
├── ConfigError(variable)            -> stop start-up, exit 2, name the variable
├── NotFound                         -> 404 to an API caller
├── Conflict                         -> 409 to an API caller
├── InvalidInput(field)              -> 4xx problem body naming the field
├── StoreError                       -> storage unreachable or not migrated
│   └── NotMigrated                  -> run `calsync db upgrade`
├── BusError
│   ├── BusUnavailable               -> keep the outbox, retry later
│   └── PoisonMessage                -> dead-letter at once, never retry
├── SecretsError                     -> no key to encrypt/decrypt credentials
└── ProviderError
    ├── TransientProviderError       -> retry with backoff
    │   └── RateLimited(retry_after) -> wait at least retry_after, then retry
    ├── SyncTokenExpired             -> wipe the cursor, full resync (never cancel anything)
    ├── AuthorizationRevoked         -> mark the account in error, alert, never infer deletion
    ├── ResourceGone                 -> the calendar/event no longer exists at the provider
    └── PermanentProviderError       -> mark in error, stop retrying
"""

from __future__ import annotations


class CalsyncError(Exception):
    """Root of every error calsync raises on purpose."""


class ConfigError(CalsyncError):
    """A configuration value is wrong; ``variable`` names the setting."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable
        self.message = message


class NotFound(CalsyncError):
    """The addressed thing does not exist (or is not visible to the caller)."""


class Conflict(CalsyncError):
    """The request conflicts with the current state."""


class InvalidInput(CalsyncError):
    """Input from outside is wrong; ``field`` names the offending field (dotted path)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class StoreError(CalsyncError):
    """The database cannot be used."""


class NotMigrated(StoreError):
    """The database schema is not at the version this code needs."""


class BusError(CalsyncError):
    """Event bus failure."""


class BusUnavailable(BusError):
    """The broker cannot be reached now; what was accepted stays in the outbox."""


class PoisonMessage(BusError):
    """A message can never be handled (malformed, unknown schema version): dead-letter it."""


class SecretsError(CalsyncError):
    """Credentials cannot be encrypted or decrypted (no key, wrong key)."""


class ProviderError(CalsyncError):
    """A calendar provider call failed."""


class TransientProviderError(ProviderError):
    """Worth retrying later with backoff (5xx, timeouts, connection errors)."""


class RateLimited(TransientProviderError):
    """The provider asked us to slow down; wait at least ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SyncTokenExpired(ProviderError):
    """The sync token / delta link is no longer valid: wipe the cursor and resync in full."""


class AuthorizationRevoked(ProviderError):
    """The refresh token no longer works (``invalid_grant``): the account needs re-consent."""


class ResourceGone(ProviderError):
    """The provider says the resource does not exist (404/410 on a direct GET)."""


class PreconditionFailed(ProviderError):
    """An If-Match/etag check failed: someone changed the event since we last read it."""


class PermanentProviderError(ProviderError):
    """A request the provider will never accept; retrying cannot help."""
