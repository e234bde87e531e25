"""Provider accounts: one connected Google/Microsoft login and its encrypted credentials.

Refresh tokens and client secrets are encrypted with the daemon's ``Cipher``
before they touch the database; ``credentials`` decrypts them into an in-memory
``AccountCredentials`` for the duration of a provider call. Without a key,
``create_account`` raises ``SecretsError`` rather than storing anything in the clear.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.crypto import Cipher
from calsync.errors import NotFound, SecretsError
from channels.base import AccountCredentials
from channels.model import Provider
from store.tables import ProviderAccount

_ERROR_CAP = 2000  # last_error is for operators; a provider's whole error page is not


async def create_account(
    session: AsyncSession,
    *,
    organization_id: str,
    profile_id: str,
    provider: Provider | str,
    external_account: str,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    cipher: Cipher,
    now: datetime,
) -> ProviderAccount:
    if not cipher.enabled:
        raise SecretsError("CALSYNC_SECRET_KEY is not set: refusing to store provider credentials")
    account = ProviderAccount(
        id=uuid.uuid4().hex,
        organization_id=organization_id,
        profile_id=profile_id,
        provider=Provider(provider).value,
        external_account=external_account,
        client_id=client_id,
        client_secret_enc=cipher.encrypt(client_secret),
        refresh_token_enc=cipher.encrypt(refresh_token),
        created_at=now,
        updated_at=now,
    )
    session.add(account)
    await session.flush()
    return account


async def get_account(session: AsyncSession, account_id: str) -> ProviderAccount | None:
    return await session.get(ProviderAccount, account_id)


def credentials(account: ProviderAccount, cipher: Cipher) -> AccountCredentials:
    """Decrypt the account's secrets; SecretsError when they cannot be (no key, rotated away)."""
    if account.refresh_token_enc is None:
        raise SecretsError(f"account {account.id} has no refresh token (disconnected)")
    return AccountCredentials(
        account_id=account.id,
        provider=Provider(account.provider),
        client_id=account.client_id,
        client_secret=cipher.decrypt(account.client_secret_enc) if account.client_secret_enc else "",
        refresh_token=cipher.decrypt(account.refresh_token_enc),
        external_account=account.external_account,
    )


async def _require(session: AsyncSession, account_id: str) -> ProviderAccount:
    account = await session.get(ProviderAccount, account_id, with_for_update=True)
    if account is None:
        raise NotFound(f"no provider account {account_id!r}")
    return account


async def save_refresh_token(
    session: AsyncSession, account_id: str, refresh_token: str, cipher: Cipher, now: datetime
) -> None:
    """Store a rotated refresh token (Microsoft rotates them); a working token clears the error."""
    account = await _require(session, account_id)
    account.refresh_token_enc = cipher.encrypt(refresh_token)
    account.state = "active"
    account.last_error = None
    account.updated_at = now
    session.add(account)


async def mark_account_error(session: AsyncSession, account_id: str, error: str, now: datetime) -> None:
    """The account needs attention (revoked consent): visible to operators, never a deletion."""
    account = await _require(session, account_id)
    account.state = "error"
    account.last_error = error[:_ERROR_CAP]
    account.updated_at = now
    session.add(account)
