"""Organizations: the tenants that own profiles and appointments."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.errors import NotFound
from store.tables import Organization


async def get_organization(session: AsyncSession, organization_id: str) -> Organization:
    org = await session.get(Organization, organization_id)
    if org is None:
        raise NotFound(f"no organization {organization_id!r}")
    return org


async def upsert_organization(
    session: AsyncSession, organization_id: str, name: str, webhook_url: str | None, now: datetime
) -> tuple[Organization, bool]:
    """Create or replace name and webhook URL; returns the row and whether it was created."""
    org = await session.get(Organization, organization_id, with_for_update=True)
    if org is None:
        org = Organization(id=organization_id, name=name, webhook_url=webhook_url, created_at=now)
        session.add(org)
        await session.flush()
        return org, True
    if (org.name, org.webhook_url) != (name, webhook_url):
        org.name = name
        org.webhook_url = webhook_url
        session.add(org)
        await session.flush()
    return org, False
