"""Translate googleapiclient / google-auth failures into calsync's ProviderError tree.

Google reports quota trouble as 403 (``rateLimitExceeded``, ``userRateLimitExceeded``,
``quotaExceeded``) or 429, which are "functionally similar"; 410 on a sync
token means a full resync; ``invalid_grant`` means re-consent, never deletion.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from googleapiclient.errors import HttpError

from calsync.errors import (
    AuthorizationRevoked,
    PermanentProviderError,
    PreconditionFailed,
    ProviderError,
    RateLimited,
    ResourceGone,
    SyncTokenExpired,
    TransientProviderError,
)

RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})


class DuplicateId(ProviderError):
    """409 ``duplicate``: an event with our client-chosen id already exists (a retried create)."""


def _reasons(err: HttpError) -> list[str]:
    try:
        body: Any = json.loads(err.content.decode() if isinstance(err.content, bytes) else err.content)
        return [str(e.get("reason", "")) for e in body.get("error", {}).get("errors", [])]
    except (ValueError, AttributeError, TypeError):
        return []


def _retry_after(err: HttpError) -> float | None:
    value = err.resp.get("retry-after") if err.resp is not None else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def translate(err: BaseException) -> ProviderError:
    """Map one failure of a Google call; the caller raises the result ``from err``."""
    if isinstance(err, ProviderError):
        return err
    if isinstance(err, RefreshError):
        text = str(err)
        if "invalid_grant" in text or "invalid_client" in text or "unauthorized_client" in text:
            return AuthorizationRevoked(f"google token refresh refused: {text[:200]}")
        return TransientProviderError(f"google token refresh failed: {text[:200]}")
    if isinstance(err, HttpError):
        status = err.status_code
        reasons = _reasons(err)
        summary = f"google {status} {','.join(reasons) or 'error'}"
        if status == 410 and ("fullSyncRequired" in reasons or "updatedMinTooLongAgo" in reasons):
            return SyncTokenExpired(summary)
        if status == 429 or (status == 403 and RATE_REASONS.intersection(reasons)):
            return RateLimited(summary, retry_after=_retry_after(err))
        if status >= 500:
            return TransientProviderError(summary)
        if status == 409 and "duplicate" in reasons:
            return DuplicateId(summary)
        if status == 412:
            return PreconditionFailed(summary)
        if status in (404, 410):
            return ResourceGone(summary)
        if status == 401:
            return AuthorizationRevoked(summary)
        return PermanentProviderError(summary)
    if isinstance(err, TransportError | httplib2.HttpLib2Error | socket.timeout | TimeoutError | OSError):
        return TransientProviderError(f"google unreachable: {type(err).__name__}")
    return PermanentProviderError(f"unexpected google failure: {type(err).__name__}: {str(err)[:200]}")
