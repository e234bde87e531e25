"""``/v1/accounts``: provider accounts connected to a profile with credentials the operator holds.

Connecting stores the client secret and refresh token encrypted (no key: 503, nothing
stored) and, unless ``verify`` is false, lists the account's calendars once: a token
the provider refuses is a 422 on ``refresh_token`` and the account is not kept.
Disconnecting stops the account's channels at the provider, takes its calendars out
of sync and deletes the encrypted credentials; repeating it changes nothing.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from calsync.errors import AuthorizationRevoked, Conflict, InvalidInput, NotFound, ProviderError, SecretsError
from channels.base import ProviderCalendar
from daemon.api.auth import principal_of
from daemon.api.body import json_response, path_id, query_required, read_model
from daemon.api.connect_schemas import AccountIn, AccountList, AccountOut, ProviderCalendarList
from daemon.api.connect_support import (
    channel_manager,
    credentials_of,
    list_provider_calendars,
    provider_problem,
    require_cipher,
    secrets_problem,
)
from daemon.api.registry import Param, Reply, Route, id_param
from daemon.appkeys import CLOCK, DATABASE
from handlers.adapters import ADAPTERS
from store import accounts, connections
from store import channels as channel_store
from store.profiles import get_profile
from store.tables import ProviderAccount

COLLECTION: Final = "/v1/accounts"
ITEM: Final = "/v1/accounts/{id}"
CALENDARS: Final = "/v1/accounts/{id}/calendars"


def account_json(account: ProviderAccount) -> dict[str, Any]:
    return {
        "id": account.id,
        "profile": account.profile_id,
        "provider": account.provider,
        "external_account": account.external_account,
        "state": account.state,
        "last_error": account.last_error,
        "created_at": account.created_at.isoformat(),
        "updated_at": account.updated_at.isoformat(),
    }


def _primary_login(calendars: list[ProviderCalendar]) -> str | None:
    """Google's primary calendar id is the account's e-mail address."""
    return next((c.external_id for c in calendars if c.primary and "@" in c.external_id), None)


async def _verify(app: web.Application, account_id: str) -> list[ProviderCalendar]:
    """List the new account's calendars; the account is removed again if that fails."""
    async with app[DATABASE].session() as session:
        account = await connections.get_visible_account(session, account_id, None)
        creds = credentials_of(app, account)
    try:
        return await app[ADAPTERS].get(creds.provider).list_calendars(creds)
    except ProviderError as err:
        async with app[DATABASE].session() as session:
            await connections.discard_account(session, account_id)
        if isinstance(err, AuthorizationRevoked):
            raise InvalidInput("refresh_token", "the provider refused this refresh token") from err
        raise provider_problem(err) from err


async def post_account(request: web.Request) -> web.Response:
    app, principal = request.app, principal_of(request)
    body = await read_model(request, AccountIn)
    cipher = require_cipher(app)  # before anything is read or stored
    external = body.external_account or ""
    async with app[DATABASE].session() as session:
        try:
            profile = await get_profile(session, body.profile, principal.scope)
        except NotFound:
            raise InvalidInput("profile", f"unknown profile {body.profile!r}") from None
        if external and await connections.find_connected(session, profile.id, body.provider, external):
            raise Conflict(f"{external} is already connected to profile {profile.id}; disconnect it first")
        try:
            account = await accounts.create_account(
                session, organization_id=profile.organization_id, profile_id=profile.id,
                provider=body.provider, external_account=external, client_id=body.client_id,
                client_secret=body.client_secret, refresh_token=body.refresh_token, cipher=cipher,
                now=app[CLOCK].now(),
            )  # fmt: skip
        except SecretsError as err:
            raise secrets_problem(err) from err
        account_id = account.id
    if body.verify:
        login = None if external else _primary_login(await _verify(app, account_id))
        if login is not None:
            async with app[DATABASE].session() as session:
                duplicate = await connections.find_connected(session, body.profile, body.provider, login)
                if duplicate is not None:
                    await connections.discard_account(session, account_id)  # committed, then the 409
                else:
                    await connections.set_external_account(session, account_id, login, app[CLOCK].now())
            if duplicate is not None:
                raise Conflict(f"{login} is already connected to profile {body.profile}; disconnect it first")
    async with app[DATABASE].session() as session:
        payload = account_json(await connections.get_visible_account(session, account_id, None))
    return json_response(payload, 201, {"Location": f"{COLLECTION}/{account_id}"})


async def get_account_view(request: web.Request) -> web.Response:
    account_id = path_id(request, 64)
    async with request.app[DATABASE].session() as session:
        account = await connections.get_visible_account(session, account_id, principal_of(request).scope)
        return json_response(account_json(account))


async def list_accounts_view(request: web.Request) -> web.Response:
    profile_id = query_required(request, "profile")
    async with request.app[DATABASE].session() as session:
        try:
            await get_profile(session, profile_id, principal_of(request).scope)
        except NotFound:
            return json_response({"items": []})  # like any filter matching nothing
        rows = await connections.accounts_for_profile(session, profile_id)
        return json_response({"items": [account_json(a) for a in rows]})


async def delete_account(request: web.Request) -> web.Response:
    app = request.app
    account_id = path_id(request, 64)
    async with app[DATABASE].session() as session:
        account = await connections.get_visible_account(session, account_id, principal_of(request).scope)
        if account.state == "disconnected":
            return web.Response(status=204)
        calendar_ids = await connections.begin_disconnect(session, account_id, app[CLOCK].now())
    # Committed: nothing re-watches these calendars now. Stop their channels while the
    # credentials still exist; a channel the provider would not stop is retired by the
    # renewal loop and then just forgotten (Google channels lapse; a Graph subscription
    # without credentials cannot be deleted, it expires within days).
    manager = channel_manager(app)
    if manager is not None:
        for calendar_id in calendar_ids:
            async with app[DATABASE].session() as session:
                live = [
                    c.id for c in await channel_store.channels_for_calendar(session, calendar_id)
                    if c.state != "stopped"
                ]  # fmt: skip
            for channel_id in live:
                await manager.stop(channel_id)
    async with app[DATABASE].session() as session:
        await connections.finish_disconnect(session, account_id, app[CLOCK].now())
    return web.Response(status=204)


async def list_calendars_view(request: web.Request) -> web.Response:
    app = request.app
    account_id = path_id(request, 64)
    async with app[DATABASE].session() as session:
        account = await connections.get_visible_account(session, account_id, principal_of(request).scope)
        creds = credentials_of(app, account)
        known = {c.external_id: c for c in await connections.calendars_of_account(session, account_id)}
    found = await list_provider_calendars(app, creds)
    items = []
    for cal in found:
        row = known.get(cal.external_id)
        role = row.role if row is not None and row.state != "removed" else "none"
        items.append(
            {
                "calendar": cal.external_id, "name": cal.name, "primary": cal.primary,
                "writable": cal.writable, "time_zone": cal.time_zone, "selected": role != "none",
                "role": role, "id": row.id if row is not None else None,
            }
        )  # fmt: skip
    return json_response({"account": account_id, "items": items})


_ID = id_param("id", "account", 64)
_TAG = "accounts"

ROUTES: Final = (
    Route(
        "POST", COLLECTION, post_account, "connectAccount", "Connect a provider account to a profile", _TAG,
        description="Credentials are stored encrypted with CALSYNC_SECRET_KEY (503 without it; nothing is "
        "stored) and never returned. With `verify` (default) the account's calendars are listed first: "
        "a refused refresh token is a 422 on `refresh_token`. Connecting the same login to the same "
        "profile twice is a 409.",
        body=AccountIn,
        replies={201: Reply("Connected.", AccountOut, {"Location": "URL of the account."})},
        problems=(400, 409, 413, 415, 422, 502, 503),
    ),
    Route(
        "GET", COLLECTION, list_accounts_view, "listAccounts", "List a profile's accounts", _TAG,
        description="Disconnected accounts are listed too (state `disconnected`).",
        params=(Param("profile", "query", {"type": "string"}, required=True, description="The profile."),),
        replies={200: Reply("The profile's accounts, oldest first.", AccountList)},
        problems=(422,),
    ),
    Route(
        "GET", ITEM, get_account_view, "getAccount", "Read an account", _TAG,
        params=(_ID,), replies={200: Reply("The account.", AccountOut)}, problems=(404, 422),
    ),
    Route(
        "DELETE", ITEM, delete_account, "disconnectAccount", "Disconnect an account", _TAG,
        description="Stops every channel of the account's calendars at the provider, takes the calendars "
        "out of sync (role `none`, state `removed`) and deletes the stored credentials. Idempotent.",
        params=(_ID,), replies={204: Reply("Disconnected.")}, problems=(404, 422),
    ),
    Route(
        "GET", CALENDARS, list_calendars_view, "listAccountCalendars", "List the account's calendars", _TAG,
        description="Asks the provider; each calendar says whether it is selected for the profile and its "
        "role. 409 when the provider refuses the credentials (reconnect the account); 503 with "
        "Retry-After when it is unavailable.",
        params=(_ID,), replies={200: Reply("The provider's calendars.", ProviderCalendarList)},
        problems=(404, 409, 422, 502, 503),
    ),
)  # fmt: skip
