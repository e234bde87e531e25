"""Profiles: the people whose calendars calsync keeps in sync.

Profiles are soft-deleted (``deleted_at``): their appointments and history stay,
but a deleted profile is invisible to every lookup here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.errors import Conflict, InvalidInput, NotFound
from store.tables import Organization, Profile


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    """A partial update; None leaves the field as it is."""

    name: str | None = None
    email: str | None = None
    time_zone: str | None = None


def _visible(profile: Profile | None, scope: str | None) -> bool:
    """Live and inside the caller's organization (``scope`` None = operator, sees all)."""
    return (
        profile is not None
        and profile.deleted_at is None
        and (scope is None or profile.organization_id == scope)
    )


async def get_profile(session: AsyncSession, profile_id: str, scope: str | None = None) -> Profile:
    profile = await session.get(Profile, profile_id)
    if profile is None or not _visible(profile, scope):
        raise NotFound(f"no profile {profile_id!r}")
    return profile


async def create_profile(
    session: AsyncSession,
    *,
    profile_id: str,
    organization_id: str,
    name: str,
    email: str,
    time_zone: str,
    now: datetime,
) -> Profile:
    """Insert a profile; the organization must exist and the id must be unused (even by a deleted one)."""
    if await session.get(Organization, organization_id) is None:
        raise InvalidInput("organization", f"unknown organization {organization_id!r}")
    if await session.get(Profile, profile_id) is not None:
        # Deleted profiles keep their id: their appointments still point at it.
        raise Conflict(f"profile id {profile_id!r} is already in use")
    profile = Profile(
        id=profile_id,
        organization_id=organization_id,
        name=name,
        email=email,
        time_zone=time_zone,
        created_at=now,
        updated_at=now,
    )
    session.add(profile)
    await session.flush()
    return profile


async def list_profiles(
    session: AsyncSession, *, organization_id: str | None, after_id: str | None, limit: int
) -> Sequence[Profile]:
    """Live profiles ordered by id, starting after ``after_id`` (keyset pagination)."""
    query = select(Profile).where(col(Profile.deleted_at).is_(None))
    if organization_id is not None:
        query = query.where(Profile.organization_id == organization_id)
    if after_id is not None:
        query = query.where(col(Profile.id) > after_id)
    result = await session.exec(query.order_by(col(Profile.id)).limit(limit))
    return result.all()


async def update_profile(
    session: AsyncSession, profile_id: str, changes: ProfileChanges, now: datetime, scope: str | None = None
) -> Profile:
    profile = await get_profile(session, profile_id, scope)
    updated = False
    for field in ("name", "email", "time_zone"):
        value = getattr(changes, field)
        if value is not None and value != getattr(profile, field):
            setattr(profile, field, value)
            updated = True
    if updated:
        profile.updated_at = now
        session.add(profile)
        await session.flush()
    return profile


async def delete_profile(
    session: AsyncSession, profile_id: str, now: datetime, scope: str | None = None
) -> Profile:
    """Soft-delete: the profile disappears from the API, its appointments are kept."""
    profile = await get_profile(session, profile_id, scope)
    profile.deleted_at = now
    profile.updated_at = now
    session.add(profile)
    await session.flush()
    return profile
