"""Shared-secret helpers for channel tokens and Graph clientState: mint, hash, compare in constant time.

The token travels to the provider at watch/subscribe time and comes back on
every notification; we keep only its SHA-256, so a database leak does not let
anyone forge notifications.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_channel_secret() -> str:
    """32 random bytes, URL-safe: fits Google's 256-char token and Graph's 128-char clientState."""
    return secrets.token_urlsafe(32)


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def secret_matches(presented: str | None, stored_hash: str) -> bool:
    """Constant-time check of a presented secret against a stored hash."""
    if presented is None:
        return False
    return hmac.compare_digest(hash_secret(presented), stored_hash)
