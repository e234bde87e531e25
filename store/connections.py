"""Connecting calendars to a profile: its provider accounts, the calendar selection, disconnecting.

A profile has at most one **push** calendar (where its appointments are written) and any
number of **pull** calendars (read for busy time). The push calendar is always read as
well: we must watch it to see our own events deleted, and ``synced_calendars`` syncs
both roles, so a calendar chosen as push *and* pull is stored once, with role ``push``.
Calendars that are no longer chosen keep their row (history, event links) with role
``none``; the renewal loop retires their channels if the API could not stop them.

Everything here runs inside the caller's transaction and never calls a provider: the
API commits first and talks to providers afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import update
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.envelope import TOPIC_APPOINTMENTS, Envelope
from calsync.errors import NotFound
from store.calendars import upsert_calendar
from store.outbox import enqueue
from store.tables import Appointment, Calendar, Profile, ProviderAccount

PUSH_REQUESTED: Final = "appointment.push_requested"
PUSH_REQUESTED_VERSION: Final = 1
PUSH_CALENDAR_CHANGED: Final = "push_calendar_changed"
SELECTED_ROLES: Final = ("push", "pull")


@dataclass(frozen=True, slots=True)
class Choice:
    """One chosen calendar: the account it belongs to and the provider's calendar id."""

    account_id: str
    external_id: str
    name: str


@dataclass(frozen=True, slots=True)
class SelectionResult:
    calendars: list[Calendar]  # the selected calendars (role push or pull), push first
    added: list[str]  # calsync calendar ids newly selected: watch them
    removed: list[str]  # calsync calendar ids no longer selected: stop their channels
    push_changed: bool
    push_requests: int  # appointment.push_requested envelopes enqueued


def account_visible(account: ProviderAccount | None, scope: str | None) -> bool:
    return account is not None and (scope is None or account.organization_id == scope)


async def get_visible_account(session: AsyncSession, account_id: str, scope: str | None) -> ProviderAccount:
    """The account if the caller's organization may see it; NotFound otherwise (no existence leak)."""
    account = await session.get(ProviderAccount, account_id)
    if account is None or not account_visible(account, scope):
        raise NotFound(f"no account {account_id!r}")
    return account


async def accounts_for_profile(session: AsyncSession, profile_id: str) -> list[ProviderAccount]:
    found = await session.exec(
        select(ProviderAccount)
        .where(ProviderAccount.profile_id == profile_id)
        .order_by(col(ProviderAccount.created_at), col(ProviderAccount.id))
    )
    return list(found.all())


async def find_connected(
    session: AsyncSession, profile_id: str, provider: str, external_account: str
) -> ProviderAccount | None:
    """A live (not disconnected) account of the profile for the same login, if any."""
    found = await session.exec(
        select(ProviderAccount).where(
            ProviderAccount.profile_id == profile_id,
            ProviderAccount.provider == provider,
            ProviderAccount.external_account == external_account,
            ProviderAccount.state != "disconnected",
        )
    )
    return found.first()


async def discard_account(session: AsyncSession, account_id: str) -> None:
    """Remove an account whose credentials the provider refused at connect time (it has no calendars)."""
    account = await session.get(ProviderAccount, account_id)
    if account is not None:
        await session.delete(account)


async def set_external_account(session: AsyncSession, account_id: str, external: str, now: datetime) -> None:
    account = await session.get(ProviderAccount, account_id, with_for_update=True)
    if account is not None and not account.external_account:
        account.external_account, account.updated_at = external, now
        session.add(account)


async def calendars_of_profile(session: AsyncSession, profile_id: str) -> list[Calendar]:
    found = await session.exec(select(Calendar).where(Calendar.profile_id == profile_id))
    return list(found.all())


async def calendars_of_account(session: AsyncSession, account_id: str) -> list[Calendar]:
    found = await session.exec(select(Calendar).where(Calendar.account_id == account_id))
    return list(found.all())


async def lock_profile(session: AsyncSession, profile_id: str) -> None:
    """Serialize selection changes of one profile (two PUTs must not both see "push changed").

    PostgreSQL: SELECT ... FOR UPDATE. SQLite ignores that, so a no-op UPDATE takes the
    database's write lock before anything is read.
    """
    connection = await session.connection()
    if connection.dialect.name == "sqlite":
        await session.exec(update(Profile).where(col(Profile.id) == profile_id).values(id=profile_id))
    await session.get(Profile, profile_id, with_for_update=True, populate_existing=True)


def _order(calendar: Calendar) -> tuple[int, str, str]:
    return (0 if calendar.role == "push" else 1, calendar.name, calendar.id)


async def apply_selection(
    session: AsyncSession,
    *,
    profile_id: str,
    push: Choice | None,
    pull: Sequence[Choice],
    now: datetime,
) -> SelectionResult:
    """Make the stored roles match the selection; a different push calendar enqueues migrations.

    The caller enqueues the first-sync signals of ``added`` in this same transaction (the
    signal's format belongs to ``handlers``, which ``store`` does not import). A different
    push calendar enqueues one ``appointment.push_requested`` per appointment still to come.
    """
    await lock_profile(session, profile_id)
    before = {(c.account_id, c.external_id): c for c in await calendars_of_profile(session, profile_id)}
    wanted: dict[tuple[str, str], tuple[str, str]] = {}
    for choice in pull:
        wanted[(choice.account_id, choice.external_id)] = ("pull", choice.name)
    if push is not None:
        wanted[(push.account_id, push.external_id)] = ("push", push.name)
    old_push = next((c.id for c in before.values() if c.role == "push" and c.state != "removed"), None)
    selected: list[Calendar] = []
    added: list[str] = []
    for (account_id, external_id), (role, name) in wanted.items():
        previous = before.get((account_id, external_id))
        # A calendar in error (gone, access lost) that is chosen again was just found at the
        # provider: choosing it is the operator's retry, so it starts over like a new one.
        was_selected = previous is not None and previous.role in SELECTED_ROLES and previous.state == "active"
        if previous is not None and previous.state == "error":
            previous.state, previous.last_error = "active", None
        calendar = await upsert_calendar(
            session, account_id=account_id, profile_id=profile_id, external_id=external_id,
            name=name, role=role, now=now,
        )  # fmt: skip
        selected.append(calendar)
        if not was_selected:
            added.append(calendar.id)
    removed: list[str] = []
    for key, calendar in before.items():
        if key not in wanted and calendar.role in SELECTED_ROLES:
            calendar.role, calendar.updated_at = "none", now
            session.add(calendar)
            removed.append(calendar.id)
    new_push = next((c.id for c in selected if c.role == "push"), None)
    push_changed = new_push != old_push
    requests = await request_pushes(session, profile_id, now) if push_changed else 0
    await session.flush()
    return SelectionResult(sorted(selected, key=_order), added, removed, push_changed, requests)


async def request_pushes(session: AsyncSession, profile_id: str, now: datetime) -> int:
    """One ``appointment.push_requested`` per live appointment that is not over yet.

    Series are always included: their row holds the first occurrence, so an ended
    ``end_utc`` says nothing about later occurrences; the push worker knows better.
    """
    found = await session.exec(
        select(Appointment.id)
        .where(
            Appointment.profile_id == profile_id,
            Appointment.status != "cancelled",
            or_(col(Appointment.end_utc) > now, col(Appointment.rrule).is_not(None)),
        )
        .order_by(col(Appointment.start_utc), col(Appointment.id))
    )
    ids = list(found.all())
    for appointment_id in ids:
        envelope = Envelope(
            id=uuid.uuid4().hex,
            type=PUSH_REQUESTED,
            version=PUSH_REQUESTED_VERSION,
            key=appointment_id,
            occurred_at=now,
            data={"id": appointment_id, "reason": PUSH_CALENDAR_CHANGED},
        )
        enqueue(session, TOPIC_APPOINTMENTS, envelope, now)
    return len(ids)


async def selected_calendars(session: AsyncSession, profile_id: str) -> list[Calendar]:
    found = await session.exec(
        select(Calendar).where(
            Calendar.profile_id == profile_id,
            col(Calendar.role).in_(SELECTED_ROLES),
            Calendar.state != "removed",
        )
    )
    return sorted(found.all(), key=_order)


async def begin_disconnect(session: AsyncSession, account_id: str, now: datetime) -> list[str]:
    """First step of a disconnect: the account's calendars stop being synced or watched.

    Returns their ids so the caller can stop their channels at the provider; the
    credentials are kept until ``finish_disconnect`` (stopping a channel needs them).
    """
    ids: list[str] = []
    for calendar in await calendars_of_account(session, account_id):
        if (calendar.role, calendar.state) != ("none", "removed"):
            calendar.role, calendar.state, calendar.updated_at = "none", "removed", now
            session.add(calendar)
        ids.append(calendar.id)
    return ids


async def finish_disconnect(session: AsyncSession, account_id: str, now: datetime) -> ProviderAccount:
    """Last step: the account is disconnected and its encrypted credentials are deleted."""
    account = await session.get(ProviderAccount, account_id, with_for_update=True)
    if account is None:
        raise NotFound(f"no account {account_id!r}")
    if account.state != "disconnected" or account.refresh_token_enc or account.client_secret_enc:
        account.state = "disconnected"
        account.refresh_token_enc = None
        account.client_secret_enc = None
        account.updated_at = now
        session.add(account)
    return account
