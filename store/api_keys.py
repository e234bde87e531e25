"""API keys: mint, verify and revoke the bearer keys host apps use against ``/v1``.

A key reads ``csk_<prefix>_<secret>``. Only the prefix (a lookup hint, not a
secret) and the SHA-256 of the whole key are stored; the plaintext is shown
once, by ``create_key``. A key with an ``organization_id`` is scoped to that
organization; a key without one is an operator key that sees everything.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.errors import InvalidInput, NotFound
from store.tables import ApiKey, Organization

KEY_SCHEME: Final = "csk"
# Writing last_used_at on every request would turn every GET into a write (one writer on SQLite);
# a minute's precision is plenty for "is this key still in use?".
LAST_USED_RESOLUTION: Final = timedelta(minutes=1)
# Compared against when the prefix matches no key, so a miss costs about as much as a hit.
_DUMMY_HASH: Final = hashlib.sha256(b"calsync-no-such-key").hexdigest()


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def split_key(plaintext: str) -> tuple[str, str] | None:
    """``(prefix, secret)`` of a well-formed key, else None. Pure; never raises."""
    scheme, sep, rest = plaintext.partition("_")
    prefix, sep2, secret = rest.partition("_")
    if scheme != KEY_SCHEME or not sep or not sep2 or len(prefix) != 8 or not secret:
        return None
    return prefix, secret


async def create_key(
    session: AsyncSession,
    name: str,
    organization_id: str | None,
    now: datetime,
    read_only: bool = False,
) -> tuple[str, ApiKey]:
    """Mint a key; returns the plaintext (shown once, never stored) and the stored row."""
    if not name.strip() or len(name) > 200:
        raise InvalidInput("name", "must be 1-200 characters")
    if organization_id is not None and await session.get(Organization, organization_id) is None:
        raise InvalidInput("organization", f"unknown organization {organization_id!r}")
    prefix = secrets.token_hex(4)
    plaintext = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        id=uuid.uuid4().hex,
        name=name,
        prefix=prefix,
        key_hash=hash_key(plaintext),
        organization_id=organization_id,
        read_only=read_only,
        created_at=now,
    )
    session.add(key)
    await session.flush()
    return plaintext, key


async def verify_key(session: AsyncSession, plaintext: str, now: datetime) -> ApiKey | None:
    """The live key matching ``plaintext``, or None (unknown, malformed or revoked)."""
    parts = split_key(plaintext)
    presented = hash_key(plaintext)
    candidates: Sequence[ApiKey] = ()
    if parts is not None:
        result = await session.exec(select(ApiKey).where(ApiKey.prefix == parts[0]))
        candidates = result.all()
    found: ApiKey | None = None
    for candidate in candidates or ():
        if hmac.compare_digest(candidate.key_hash, presented):
            found = candidate
    if not candidates:
        hmac.compare_digest(_DUMMY_HASH, presented)
    if found is None or found.revoked_at is not None:
        return None
    if found.last_used_at is None or now - found.last_used_at >= LAST_USED_RESOLUTION:
        found.last_used_at = now
        session.add(found)
    return found


async def revoke_key(session: AsyncSession, key_id: str, now: datetime) -> ApiKey:
    """Revoke by id (idempotent: revoking twice keeps the first revocation time)."""
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key {key_id!r}")
    if key.revoked_at is None:
        key.revoked_at = now
        session.add(key)
    return key


async def list_keys(session: AsyncSession) -> Sequence[ApiKey]:
    """Every key, oldest first (for the operator CLI; hashes are useless to a reader)."""
    result = await session.exec(select(ApiKey).order_by(col(ApiKey.created_at), col(ApiKey.id)))
    return result.all()
