"""Translate kiota / ODataError / httpx failures into calsync's ProviderError tree.

The mapping (providers.md §4, MS-DQO, MS-THR):

- 429 (any code) -> RateLimited with Retry-After seconds; 503/504 with Retry-After likewise.
- 5xx, timeouts, connection errors -> TransientProviderError.
- 401 -> AuthorizationRevoked, but only after the caller has refreshed the access token once
  (``GraphClient.run`` does that); invalid_grant at the token endpoint is mapped in credential.py.
- On a delta call: 410 (sync state gone, ``Location`` with an empty ``$deltatoken``) or the
  ``syncStateNotFound`` family -> SyncTokenExpired (the consumer wipes the cursor, full resync).
- Otherwise 404 / 410 -> ResourceGone; 412 -> PreconditionFailed; other 4xx -> Permanent.
"""

from __future__ import annotations

from typing import Any

import httpx
from kiota_abstractions.api_error import APIError

from calsync.errors import (
    PermanentProviderError,
    PreconditionFailed,
    ProviderError,
    RateLimited,
    ResourceGone,
    SyncTokenExpired,
    TransientProviderError,
)

SYNC_STATE_CODES = frozenset({"syncStateNotFound", "syncStateInvalid", "SyncStateInvalid", "resyncRequired"})


class Unauthorized(ProviderError):
    """401 from Graph: refresh the access token and try once more before giving up on the account."""


def error_code(err: APIError) -> str:
    """The OData ``error.code`` when kiota could parse the body, else ""."""
    main: Any = getattr(err, "error", None)
    code = getattr(main, "code", None)
    return code if isinstance(code, str) else ""


def retry_after(headers: Any) -> float | None:
    """Retry-After in seconds (Graph sends delta-seconds), or None when absent or unreadable."""
    if headers is None:
        return None
    try:
        value = headers.get("Retry-After") or headers.get("retry-after")
    except AttributeError:
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value[0] if isinstance(value, list) else value))
    except (TypeError, ValueError):
        return None


def translate(err: BaseException, *, delta: bool = False) -> ProviderError:
    """Map one failure of a Graph call; the caller raises the result ``from err``."""
    if isinstance(err, ProviderError):
        return err
    if isinstance(err, APIError):
        status = err.response_status_code or 0
        code = error_code(err)
        summary = f"graph {status} {code or 'error'}"
        if status == 429 or (status in (503, 504) and retry_after(err.response_headers) is not None):
            return RateLimited(summary, retry_after=retry_after(err.response_headers))
        if status >= 500 or status == 408:
            return TransientProviderError(summary)
        if delta and (status == 410 or code in SYNC_STATE_CODES):
            return SyncTokenExpired(summary)
        if status == 401:
            return Unauthorized(summary)
        if status in (404, 410):
            return ResourceGone(summary)
        if status == 412:
            return PreconditionFailed(summary)
        return PermanentProviderError(f"{summary}: {str(err.primary_message or '')[:200]}")
    if isinstance(err, httpx.TimeoutException | httpx.TransportError | TimeoutError | OSError):
        return TransientProviderError(f"graph unreachable: {type(err).__name__}")
    return PermanentProviderError(f"unexpected graph failure: {type(err).__name__}: {str(err)[:200]}")


class SubscriptionValidationFailed(PermanentProviderError):
    """Graph could not complete the validation handshake with our notification URL (create -> 400)."""

    def __init__(self, notification_url: str) -> None:
        super().__init__(
            f"Graph could not validate the notification URL {notification_url}: it must be reachable from "
            "Microsoft over HTTPS and echo validationToken as text/plain within 10 s "
            "(check CALSYNC_PUBLIC_URL)"
        )
        self.notification_url = notification_url
