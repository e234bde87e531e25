"""``/v1/profiles/{id}/settings``: the sync window, privacy of pushed events and external-change policies.

``handlers.profile_settings.ProfileSettings`` is the one model of these settings; this
view only reads and merges. GET answers every setting (stored or default); PATCH takes
any subset, checks the merged result and stores the keys that were ever set, so a
setting never touched keeps following its default.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web
from pydantic import ValidationError

from calsync.errors import InvalidInput
from daemon.api.auth import principal_of
from daemon.api.body import field_errors, json_response, path_id, read_model
from daemon.api.problems import validation_problem
from daemon.api.registry import Reply, Route, id_param
from daemon.appkeys import CLOCK, DATABASE
from handlers.profile_settings import ProfileSettings
from store.profile_settings import read_settings, write_settings

SETTINGS: Final = "/v1/profiles/{id}/settings"


def effective(stored: dict[str, Any]) -> dict[str, Any]:
    return ProfileSettings.from_stored(stored).model_dump(mode="json")


async def get_settings(request: web.Request) -> web.Response:
    profile_id = path_id(request, 64)
    async with request.app[DATABASE].session() as session:
        stored = await read_settings(session, profile_id, principal_of(request).scope)
    return json_response(effective(stored))


async def patch_settings(request: web.Request) -> web.Response:
    profile_id = path_id(request, 64)
    patch = await read_model(request, ProfileSettings)  # 422 naming any unknown or bad field
    changes = patch.model_dump(mode="json", include=patch.model_fields_set)
    for name, value in changes.items():
        if value is None:
            raise InvalidInput(name, "cannot be null; leave it out to keep the current value")
    async with request.app[DATABASE].session() as session:
        stored = await read_settings(session, profile_id, principal_of(request).scope, for_update=True)
        # Keys of older versions that are no longer settings are dropped on the next write.
        merged = {k: v for k, v in stored.items() if k in ProfileSettings.model_fields} | changes
        try:
            ProfileSettings.model_validate(merged)  # one field alone may be fine, the whole must be too
        except ValidationError as err:
            raise validation_problem(field_errors(err)) from None
        await write_settings(session, profile_id, merged, request.app[CLOCK].now())
    return json_response(effective(merged))


_ID = id_param("id", "profile", 64)
_TAG = "profiles"

ROUTES: Final = (
    Route(
        "GET", SETTINGS, get_settings, "getProfileSettings", "Read a profile's sync settings", _TAG,
        description="Every setting, with its default where none was set.",
        params=(_ID,), replies={200: Reply("The settings.", ProfileSettings)}, problems=(404, 422),
    ),
    Route(
        "PATCH", SETTINGS, patch_settings, "updateProfileSettings", "Change some sync settings", _TAG,
        description="Fields left out keep their value; unknown fields and bad values are a 422 naming the "
        "field (for example `title_template` with an unknown placeholder).",
        params=(_ID,), body=ProfileSettings,
        replies={200: Reply("The settings after the change.", ProfileSettings)},
        problems=(400, 404, 413, 415, 422),
    ),
)  # fmt: skip
