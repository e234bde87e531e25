"""``/v1/profiles``: the people whose calendars are kept in sync."""

from __future__ import annotations

import uuid
from typing import Any, Final

from aiohttp import web

from calsync.errors import InvalidInput
from daemon.api.auth import principal_of
from daemon.api.body import (
    cursor_text,
    decode_cursor,
    encode_cursor,
    json_response,
    path_id,
    query_int,
    read_model,
)
from daemon.api.registry import CURSOR, LIMIT, Param, Reply, Route, id_param
from daemon.api.schemas import ProfileIn, ProfileOut, ProfilePage, ProfilePatch
from daemon.appkeys import CLOCK, DATABASE
from store.profiles import (
    ProfileChanges,
    create_profile,
    delete_profile,
    get_profile,
    list_profiles,
    update_profile,
)
from store.tables import Profile

COLLECTION: Final = "/v1/profiles"
ITEM: Final = "/v1/profiles/{id}"


def profile_json(profile: Profile) -> dict[str, Any]:
    return {
        "id": profile.id,
        "organization": profile.organization_id,
        "name": profile.name,
        "email": profile.email,
        "time_zone": profile.time_zone,
        "created_at": profile.created_at.isoformat(),
        "updated_at": profile.updated_at.isoformat(),
    }


async def post_profile(request: web.Request) -> web.Response:
    principal = principal_of(request)
    body = await read_model(request, ProfileIn)
    if not principal.can_see(body.organization):
        # Another tenant's organization is indistinguishable from a missing one.
        raise InvalidInput("organization", f"unknown organization {body.organization!r}")
    async with request.app[DATABASE].session() as session:
        profile = await create_profile(
            session,
            profile_id=body.id or uuid.uuid4().hex,
            organization_id=body.organization,
            name=body.name,
            email=body.email,
            time_zone=body.time_zone,
            now=request.app[CLOCK].now(),
        )
        payload = profile_json(profile)
    return json_response(payload, 201, {"Location": f"{COLLECTION}/{profile.id}"})


async def list_profiles_view(request: web.Request) -> web.Response:
    principal = principal_of(request)
    limit = query_int(request, "limit", 50, 1, 200)
    position = decode_cursor(request)
    after = cursor_text(position, "id") if position is not None else None
    wanted = request.query.get("organization") or None
    if principal.scope is not None and wanted not in (None, principal.scope):
        return json_response({"items": [], "next_cursor": None})
    async with request.app[DATABASE].session() as session:
        rows = await list_profiles(
            session, organization_id=wanted or principal.scope, after_id=after, limit=limit + 1
        )
        items = [profile_json(p) for p in rows[:limit]]
    next_cursor = encode_cursor({"id": items[-1]["id"]}) if len(rows) > limit else None
    return json_response({"items": items, "next_cursor": next_cursor})


async def get_profile_view(request: web.Request) -> web.Response:
    profile_id = path_id(request, 64)
    async with request.app[DATABASE].session() as session:
        payload = profile_json(await get_profile(session, profile_id, principal_of(request).scope))
    return json_response(payload)


async def patch_profile(request: web.Request) -> web.Response:
    profile_id = path_id(request, 64)
    body = await read_model(request, ProfilePatch)
    for name in body.model_fields_set:
        if getattr(body, name) is None:
            raise InvalidInput(name, "cannot be null; leave it out to keep the current value")
    changes = ProfileChanges(name=body.name, email=body.email, time_zone=body.time_zone)
    async with request.app[DATABASE].session() as session:
        profile = await update_profile(
            session, profile_id, changes, request.app[CLOCK].now(), principal_of(request).scope
        )
        payload = profile_json(profile)
    return json_response(payload)


async def delete_profile_view(request: web.Request) -> web.Response:
    profile_id = path_id(request, 64)
    async with request.app[DATABASE].session() as session:
        await delete_profile(session, profile_id, request.app[CLOCK].now(), principal_of(request).scope)
    return web.Response(status=204)


_ID = id_param("id", "profile", 64)
_TAG = "profiles"

ROUTES: Final = (
    Route(
        "POST",
        COLLECTION,
        post_profile,
        "createProfile",
        "Create a profile",
        _TAG,
        description="The id is generated when absent; an id in use (even by a deleted profile) is a 409.",
        body=ProfileIn,
        replies={201: Reply("Created.", ProfileOut, {"Location": "URL of the new profile."})},
        problems=(400, 409, 413, 415, 422),
    ),
    Route(
        "GET",
        COLLECTION,
        list_profiles_view,
        "listProfiles",
        "List profiles",
        _TAG,
        description="Ordered by id. Deleted profiles are not listed.",
        params=(
            Param("organization", "query", {"type": "string"}, description="Only this organization's."),
            LIMIT,
            CURSOR,
        ),
        replies={200: Reply("One page of profiles.", ProfilePage)},
        problems=(422,),
    ),
    Route(
        "GET",
        ITEM,
        get_profile_view,
        "getProfile",
        "Read a profile",
        _TAG,
        params=(_ID,),
        replies={200: Reply("The profile.", ProfileOut)},
        problems=(404, 422),
    ),
    Route(
        "PATCH",
        ITEM,
        patch_profile,
        "updateProfile",
        "Change some fields of a profile",
        _TAG,
        description="Fields left out keep their value.",
        params=(_ID,),
        body=ProfilePatch,
        replies={200: Reply("The updated profile.", ProfileOut)},
        problems=(400, 404, 413, 415, 422),
    ),
    Route(
        "DELETE",
        ITEM,
        delete_profile_view,
        "deleteProfile",
        "Delete a profile",
        _TAG,
        description="Soft delete: the profile is gone from the API (404 afterwards); "
        "its appointments are kept.",
        params=(_ID,),
        replies={204: Reply("Deleted.")},
        problems=(404, 422),
    ),
)
