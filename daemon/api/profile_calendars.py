"""``/v1/profiles/{id}/calendars`` and ``/sync-status``: which calendars a profile uses, and how they fare.

PUT replaces the selection: one push calendar (written to, and always read too) and any
number of pull calendars (read for busy time), from any of the profile's connected
accounts. The chosen calendars are checked against the provider's list first (they
must exist; the push calendar must be writable). The roles, the first-sync signals of
newly chosen calendars and, when the push calendar changes, one
``appointment.push_requested`` per appointment still to come are committed together;
only then are channels created for new calendars and stopped for dropped ones. A
provider failure at that point is left to the renewal loop, which converges on the
stored roles. Repeating a PUT changes nothing.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from calsync.envelope import TOPIC_SIGNALS
from calsync.errors import InvalidInput
from channels.base import AccountCredentials, ProviderCalendar
from daemon.api.auth import principal_of
from daemon.api.body import json_response, path_id, read_model
from daemon.api.connect_schemas import CalendarChoice, SelectionIn, SelectionOut, SyncStatusOut
from daemon.api.connect_support import channel_manager, credentials_of, list_provider_calendars
from daemon.api.registry import Reply, Route, id_param
from daemon.appkeys import CLOCK, DATABASE
from handlers.signals import calendar_changed
from store import channels as channel_store
from store import connections
from store.outbox import enqueue
from store.profiles import get_profile
from store.sync_status import CalendarStatus, profile_sync_status
from store.tables import Calendar, ProviderAccount

CALENDARS: Final = "/v1/profiles/{id}/calendars"
SYNC_STATUS: Final = "/v1/profiles/{id}/sync-status"


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def selection_json(
    profile_id: str, selected: list[Calendar], providers: dict[str, str], push_requests: int = 0
) -> dict[str, Any]:
    def one(calendar: Calendar) -> dict[str, Any]:
        return {
            "id": calendar.id, "account": calendar.account_id,
            "provider": providers.get(calendar.account_id, ""), "calendar": calendar.external_id,
            "name": calendar.name, "role": calendar.role,
        }  # fmt: skip

    push = next((one(c) for c in selected if c.role == "push"), None)
    return {
        "profile": profile_id,
        "push": push,
        "pull": [one(c) for c in selected],
        "push_requests": push_requests,
    }


def _choices(body: SelectionIn) -> list[tuple[str, CalendarChoice]]:
    """Every chosen calendar with the field path that names it in a 422."""
    named = [("push", body.push)] if body.push is not None else []
    return named + [(f"pull.{i}", choice) for i, choice in enumerate(body.pull)]


def _checked_accounts(
    choices: list[tuple[str, CalendarChoice]], owned: dict[str, ProviderAccount]
) -> dict[str, ProviderAccount]:
    used: dict[str, ProviderAccount] = {}
    for path, choice in choices:
        account = owned.get(choice.account)
        if account is None:
            raise InvalidInput(f"{path}.account", f"{choice.account!r} is not an account of this profile")
        if account.state == "disconnected":
            raise InvalidInput(f"{path}.account", f"account {choice.account} is disconnected")
        used[account.id] = account
    return used


def _resolve(
    path: str, choice: CalendarChoice, listed: dict[str, dict[str, ProviderCalendar]]
) -> connections.Choice:
    found = listed[choice.account].get(choice.calendar)
    if found is None:
        raise InvalidInput(
            f"{path}.calendar", f"{choice.calendar!r} is not a calendar of account {choice.account}"
        )
    if path == "push" and not found.writable:
        raise InvalidInput(
            "push.calendar", "is read-only at the provider; the push calendar must be writable"
        )
    return connections.Choice(choice.account, choice.calendar, found.name)


async def put_calendars(request: web.Request) -> web.Response:
    app = request.app
    profile_id = path_id(request, 64)
    body = await read_model(request, SelectionIn)
    choices = _choices(body)
    async with app[DATABASE].session() as session:
        await get_profile(session, profile_id, principal_of(request).scope)
        owned = {a.id: a for a in await connections.accounts_for_profile(session, profile_id)}
        used = _checked_accounts(choices, owned)
        creds: dict[str, AccountCredentials] = {aid: credentials_of(app, a) for aid, a in used.items()}
    # Ask the providers outside any transaction: they may be slow or down.
    listed = {
        aid: {c.external_id: c for c in await list_provider_calendars(app, cred)}
        for aid, cred in creds.items()
    }
    resolved = [_resolve(path, choice, listed) for path, choice in choices]
    push = resolved[0] if body.push is not None else None
    pull = resolved[1:] if body.push is not None else resolved
    providers = {aid: a.provider for aid, a in owned.items()}
    now = app[CLOCK].now()
    async with app[DATABASE].session() as session:
        # Again inside the write: an account may have been disconnected while we asked the provider.
        _checked_accounts(
            choices, {a.id: a for a in await connections.accounts_for_profile(session, profile_id)}
        )
        result = await connections.apply_selection(
            session, profile_id=profile_id, push=push, pull=pull, now=now
        )
        by_id = {c.id: c for c in result.calendars}
        for calendar_id in result.added:
            provider = providers[by_id[calendar_id].account_id]
            enqueue(
                session,
                TOPIC_SIGNALS,
                calendar_changed(calendar_id, provider, "connected", now, full=True),
                now,
            )
        payload = selection_json(profile_id, result.calendars, providers, result.push_requests)
    await _converge_channels(app, result.added, result.removed)
    return json_response(payload)


async def _converge_channels(app: web.Application, added: list[str], removed: list[str]) -> None:
    """Committed roles -> channels at the provider, now rather than at the next renewal round."""
    manager = channel_manager(app)
    if manager is None:
        return  # not started yet: the renewal loop will do it
    for calendar_id in removed + added:
        async with app[DATABASE].session() as session:
            live = [
                c.id for c in await channel_store.channels_for_calendar(session, calendar_id)
                if c.state in channel_store.LIVE_STATES
            ]  # fmt: skip
        if calendar_id in removed:
            for channel_id in live:
                await manager.stop(channel_id)  # records its own failures; the loop retries
        elif not live:
            await manager.watch(calendar_id)


async def get_calendars(request: web.Request) -> web.Response:
    profile_id = path_id(request, 64)
    async with request.app[DATABASE].session() as session:
        await get_profile(session, profile_id, principal_of(request).scope)
        providers = {a.id: a.provider for a in await connections.accounts_for_profile(session, profile_id)}
        payload = selection_json(
            profile_id, await connections.selected_calendars(session, profile_id), providers
        )
    return json_response(payload)


def status_json(status: CalendarStatus) -> dict[str, Any]:
    channel = status.channel
    error = status.last_error
    return {
        "id": status.id, "account": status.account_id, "account_state": status.account_state,
        "provider": status.provider, "calendar": status.external_id, "name": status.name,
        "role": status.role, "state": status.state, "last_synced_at": _iso(status.last_synced_at),
        "channel": None if channel is None else {
            "id": channel.id, "state": channel.state, "expires_at": channel.expires_at.isoformat(),
            "last_notification_at": _iso(channel.last_notification_at),
            "consecutive_failures": channel.consecutive_failures,
        },
        "last_error": None if error is None else {"source": error.source, "message": error.message},
    }  # fmt: skip


async def get_sync_status(request: web.Request) -> web.Response:
    profile_id = path_id(request, 64)
    async with request.app[DATABASE].session() as session:
        await get_profile(session, profile_id, principal_of(request).scope)
        rows = await profile_sync_status(session, profile_id)
    return json_response({"profile": profile_id, "calendars": [status_json(s) for s in rows]})


_ID = id_param("id", "profile", 64)
_TAG = "calendars"

ROUTES: Final = (
    Route(
        "PUT", CALENDARS, put_calendars, "selectProfileCalendars", "Choose the profile's calendars", _TAG,
        description="Replaces the selection. `push` is the one calendar appointments are written to (it "
        "must be writable) and is always read for busy time too; `pull` calendars are read for busy "
        "time. A calendar in both is stored once, as push. Newly chosen calendars get a push channel "
        "and a full first sync; dropped ones lose their channels. Changing the push calendar queues "
        "every appointment still to come for moving to it (`push_requests`). Idempotent.",
        params=(_ID,), body=SelectionIn,
        replies={200: Reply("The resulting selection.", SelectionOut)},
        problems=(400, 404, 409, 413, 415, 422, 502, 503),
    ),
    Route(
        "GET", CALENDARS, get_calendars, "getProfileCalendars", "Read the profile's calendar selection", _TAG,
        params=(_ID,), replies={200: Reply("The selection.", SelectionOut)}, problems=(404, 422),
    ),
    Route(
        "GET", SYNC_STATUS, get_sync_status, "getProfileSyncStatus", "When each calendar last synced", _TAG,
        description="Per selected calendar: the last successful sync (when the pass began), the live "
        "channel expiring soonest, and the most telling error (account, then calendar, then channel).",
        params=(_ID,), replies={200: Reply("The status of every selected calendar.", SyncStatusOut)},
        problems=(404, 422),
    ),
)  # fmt: skip
