"""Persisting a profile's settings JSON (``profile.settings``).

The store does not validate: ``handlers.profile_settings.ProfileSettings`` owns the names,
defaults and checks, and the API hands over only values it validated. Only the keys a
caller set are stored, so an untouched setting follows future changes of its default.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from store.profiles import get_profile
from store.tables import Profile


async def read_settings(
    session: AsyncSession, profile_id: str, scope: str | None, *, for_update: bool = False
) -> dict[str, Any]:
    """The stored (explicitly set) settings; NotFound for a missing or invisible profile.

    ``for_update`` locks the row for a read-modify-write. SQLite ignores FOR UPDATE, so a
    no-op UPDATE takes its write lock first: two concurrent PATCHes of different keys must
    both survive rather than each overwrite what the other read.
    """
    if for_update:
        connection = await session.connection()
        if connection.dialect.name == "sqlite":
            await session.exec(update(Profile).where(col(Profile.id) == profile_id).values(id=profile_id))
    profile = await get_profile(session, profile_id, scope)
    if for_update:
        await session.refresh(profile, with_for_update=True)
    return dict(profile.settings or {})


async def write_settings(
    session: AsyncSession, profile_id: str, stored: Mapping[str, Any], now: datetime
) -> None:
    """Replace the stored keys (already validated by the caller, read with ``for_update``)."""
    profile = await get_profile(session, profile_id)
    if dict(stored) != profile.settings:
        profile.settings = dict(stored)  # a new dict: JSON columns do not track in-place mutation
        profile.updated_at = now
        session.add(profile)
        await session.flush()
