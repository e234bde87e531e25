"""Signed POSTs to the host app's webhook, following the Standard Webhooks specification.

Headers: ``webhook-id`` (stable across retries: the receiver's idempotency key),
``webhook-timestamp`` (Unix seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">``. Secrets look like ``whsec_<base64 key>``. ``sign`` and
``verify`` are pure; ``verify`` is what a host app (and our tests) run on the raw body,
accepting a space-separated list of signatures so secrets can rotate without downtime.

Answers map to the retry policy: 2xx delivered; 408, 429 and 5xx (and connection
trouble) transient; 410 and any other 4xx permanent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Final

import aiohttp

from handlers.notify_policy import PermanentDeliveryError, TransientDeliveryError

SECRET_PREFIX: Final = "whsec_"
TOLERANCE_SECONDS: Final = 300


class InvalidSignature(Exception):
    """A webhook failed verification (missing header, stale timestamp or wrong signature)."""


def new_secret() -> str:
    """A fresh ``whsec_`` secret: 32 random bytes, base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, now: datetime, tolerance: int = TOLERANCE_SECONDS
) -> None:
    """Raise InvalidSignature unless one ``v1`` signature matches and the timestamp is fresh."""
    lowered = {key.lower(): value for key, value in headers.items()}
    message_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    presented = lowered.get("webhook-signature")
    if not message_id or not stamp or not presented:
        raise InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise InvalidSignature("webhook-timestamp is not an integer") from None
    if abs(now.timestamp() - timestamp) > tolerance:
        raise InvalidSignature("webhook-timestamp outside the tolerance")
    expected = signature(secret, message_id, timestamp, body).encode()
    for candidate in presented.split(" "):
        if candidate.startswith("v1,") and hmac.compare_digest(candidate.encode(), expected):
            return
    raise InvalidSignature("no matching signature")


class HostWebhookSender:
    """POSTs signed bodies, one short-lived client session per delivery.

    Webhooks are rare (one per external cancellation or move), so a session per POST costs
    nothing that matters and leaves no long-lived resource to order against bus shutdown.
    """

    def __init__(self, *, timeout: float = 15.0) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def post(self, url: str, secret: str, message_id: str, timestamp: int, body: bytes) -> None:
        headers = {"content-type": "application/json", **sign(secret, message_id, timestamp, body)}
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.post(url, data=body, headers=headers, allow_redirects=False) as response,
            ):
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            raise TransientDeliveryError(f"host webhook unreachable: {type(err).__name__}") from err
        if 200 <= status < 300:
            return
        if status in (408, 429) or status >= 500:
            raise TransientDeliveryError(f"host webhook answered {status}")
        raise PermanentDeliveryError(f"host webhook answered {status}")
