"""Seeding for operations tests: organizations, profiles, accounts and calendars through the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from calsync.crypto import Cipher
from store import accounts, calendars, organizations, profiles
from store.db import Database


@dataclass(frozen=True)
class SeededAccount:
    organization_id: str
    profile_id: str
    account_id: str
    calendar_ids: tuple[str, ...]


async def seed_account(
    db: Database,
    cipher: Cipher,
    now: datetime,
    *,
    organization_id: str,
    profile_id: str,
    provider: str,
    email: str,
    refresh_token: str,
    client_id: str,
    external_calendar_ids: list[str],
) -> SeededAccount:
    """One organization (upserted), profile, account and its pull calendars."""
    async with db.session() as s:
        await organizations.upsert_organization(s, organization_id, organization_id.title(), None, now)
        await profiles.create_profile(
            s, profile_id=profile_id, organization_id=organization_id, name=profile_id, email=email,
            time_zone="UTC", now=now,
        )  # fmt: skip
        account = await accounts.create_account(
            s, organization_id=organization_id, profile_id=profile_id, provider=provider,
            external_account=email, client_id=client_id, client_secret="s3cret",
            refresh_token=refresh_token, cipher=cipher, now=now,
        )  # fmt: skip
        ids = []
        for external in external_calendar_ids:
            cal = await calendars.upsert_calendar(
                s, account_id=account.id, profile_id=profile_id, external_id=external,
                name=external[:40], role="pull", now=now,
            )  # fmt: skip
            ids.append(cal.id)
    return SeededAccount(organization_id, profile_id, account.id, tuple(ids))
