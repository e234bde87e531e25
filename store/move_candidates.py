"""Where a provider move could have taken one of our events (a reconciler-only query).

When a calendar lists one of our events as cancelled, the event may have been moved to
another calendar rather than deleted (Google's ``events.move`` keeps the event id). The
calendars worth a look are the push calendars of the organization's other profiles: a move
there is a calendar change the profile's policy reassigns or reverts, so it must not be
taken for a deletion. Only calendars that can be read now count (active, on an active
account of the same provider, of a live profile).
"""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.tables import Calendar, Profile, ProviderAccount


async def other_push_calendars(
    session: AsyncSession, *, organization_id: str, profile_id: str, provider: str, limit: int
) -> list[str]:
    """Ids of the active push calendars of the organization's profiles other than ``profile_id``."""
    found = await session.exec(
        select(Calendar.id)
        .join(ProviderAccount, col(ProviderAccount.id) == col(Calendar.account_id))
        .join(Profile, col(Profile.id) == col(Calendar.profile_id))
        .where(
            col(Profile.organization_id) == organization_id,
            col(Profile.deleted_at).is_(None),
            col(Calendar.profile_id) != profile_id,
            col(Calendar.role) == "push",
            col(Calendar.state) == "active",
            col(ProviderAccount.provider) == provider,
            col(ProviderAccount.state) == "active",
        )
        .order_by(col(Calendar.id))
        .limit(limit)
    )
    return list(found.all())
