"""Rows a Graph channel needs in the store: organization, profile, account, calendar, channel."""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography.fernet import Fernet

from calsync.crypto import Cipher
from calsync.secrets import hash_secret
from store import accounts, calendars, organizations, profiles
from store import channels as channel_store
from store.db import Database

CIPHER_KEY = Fernet.generate_key().decode()


async def seed_calendar(
    db: Database,
    now: datetime,
    *,
    refresh_token: str = "rt",
    client_id: str = "app",
    external_id: str = "primary",
) -> tuple[str, str]:
    """(account id, calendar id)."""
    async with db.session() as s:
        await organizations.upsert_organization(s, "org", "Org", None, now)
        await profiles.create_profile(
            s, profile_id="p1", organization_id="org", name="P", email="alice@contoso.com",
            time_zone="UTC", now=now,
        )  # fmt: skip
        account = await accounts.create_account(
            s, organization_id="org", profile_id="p1", provider="microsoft",
            external_account="alice@contoso.com", client_id=client_id, client_secret="",
            refresh_token=refresh_token, cipher=Cipher([CIPHER_KEY]), now=now,
        )  # fmt: skip
        cal = await calendars.upsert_calendar(
            s, account_id=account.id, profile_id="p1", external_id=external_id, name="Calendar",
            role="pull", now=now,
        )  # fmt: skip
        return account.id, cal.id


async def seed_channel(db: Database, calendar_id: str, sub_id: str, secret: str, now: datetime) -> str:
    async with db.session() as s:
        row = await channel_store.add_channel(
            s, calendar_id=calendar_id, provider="microsoft", external_id=sub_id, resource_id=None,
            secret_hash=hash_secret(secret), expires_at=now + timedelta(days=6), now=now,
        )  # fmt: skip
        return row.id
