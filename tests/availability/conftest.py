"""Availability fixtures: the API app of ``tests/api`` plus helpers seeding pull calendars and busy blocks."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from store.tables import BusyBlock, Calendar, Channel, ProviderAccount
from tests.api.conftest import Api, api, operator

__all__ = ["Api", "add_block", "add_calendar", "api", "operator"]


async def add_calendar(
    api: Api, profile: str = "p1", *, role: str = "pull", org: str = "org1", channel: bool = True
) -> str:
    now = api.clock.now()
    async with api.db.session() as s:
        account = ProviderAccount(
            id=uuid.uuid4().hex, organization_id=org, profile_id=profile, provider="google",
            created_at=now, updated_at=now,
        )  # fmt: skip
        s.add(account)
        await s.flush()
        cal = Calendar(
            id=uuid.uuid4().hex, account_id=account.id, profile_id=profile, external_id=uuid.uuid4().hex,
            role=role, last_synced_at=now, created_at=now, updated_at=now,
        )  # fmt: skip
        s.add(cal)
        await s.flush()
        if channel:
            s.add(
                Channel(
                    id=uuid.uuid4().hex, calendar_id=cal.id, provider="google", external_id=uuid.uuid4().hex,
                    token_hash="x", expires_at=now + timedelta(days=7), created_at=now,
                )
            )  # fmt: skip
        return cal.id


async def add_block(
    api: Api, calendar_id: str, start: str, end: str, profile: str = "p1", **extra: Any
) -> None:
    async with api.db.session() as s:
        s.add(
            BusyBlock(
                profile_id=profile, calendar_id=calendar_id, external_event_id=uuid.uuid4().hex,
                start_utc=datetime.fromisoformat(start), end_utc=datetime.fromisoformat(end),
                updated_at=api.clock.now(), **extra,
            )
        )  # fmt: skip
        api.clock.advance(1)  # writers stamp updated_at = now; keep stamps distinct like a real clock
