"""The JSON control API under ``/_emulator``: the test/fault operations for out-of-process use.

The sandbox (and any test that runs the emulator in another process) drives users, seeding,
faults, the clock and counters through these endpoints; each maps 1:1 onto a
``GoogleEmulator`` method. No authentication: the emulator binds to loopback only.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from channels.emulators.google.emulator import GoogleEmulator
from channels.emulators.google.errors import ApiError
from channels.emulators.google.routes import EMULATOR
from channels.emulators.google.timeutil import format_millis

CONTROL = "/_emulator"


def _emulator(request: web.Request) -> GoogleEmulator:
    return request.app[EMULATOR]


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.text() or "{}")
    except ValueError as err:
        raise web.HTTPBadRequest(text="body must be JSON") from err
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return body


def _done() -> web.Response:
    return web.Response(status=204)


async def create_user(request: web.Request) -> web.Response:
    body = await _json(request)
    token = _emulator(request).create_user(
        body["email"],
        time_zone=body.get("timeZone", "UTC"),
        refresh_token=body.get("refreshToken"),
        client_id=body.get("clientId"),
    )
    return web.json_response({"email": body["email"], "calendarId": body["email"], "refreshToken": token})


async def add_refresh_token(request: web.Request) -> web.Response:
    body = await _json(request)
    token = _emulator(request).add_refresh_token(
        body["email"], body.get("refreshToken"), body.get("clientId")
    )
    return web.json_response({"refreshToken": token})


async def revoke(request: web.Request) -> web.Response:
    _emulator(request).revoke_refresh_token((await _json(request))["refreshToken"])
    return _done()


async def create_calendar(request: web.Request) -> web.Response:
    body = await _json(request)
    calendar_id = _emulator(request).create_calendar(
        body["owner"], body["summary"], time_zone=body.get("timeZone")
    )
    return web.json_response({"id": calendar_id})


async def seed_event(request: web.Request) -> web.Response:
    event = _emulator(request).seed_event(
        request.match_info["calendarId"], await _json(request), user=request.query.get("user")
    )
    return web.json_response(event)


async def invalidate(request: web.Request) -> web.Response:
    _emulator(request).invalidate_sync_tokens(request.match_info["calendarId"])
    return _done()


async def hold_push(request: web.Request) -> web.Response:
    _emulator(request).hold_push(request.match_info["calendarId"])
    return _done()


async def release_push(request: web.Request) -> web.Response:
    _emulator(request).release_push(request.match_info["calendarId"])
    return _done()


async def inject_faults(request: web.Request) -> web.Response:
    body = await _json(request)
    try:
        _emulator(request).inject_errors(
            body["kind"], count=body.get("count"), fraction=body.get("fraction"), user=body.get("user")
        )
    except ValueError as err:
        raise web.HTTPBadRequest(text=str(err)) from err
    return _done()


async def clear_faults(request: web.Request) -> web.Response:
    _emulator(request).clear_faults()
    return _done()


async def push_faults(request: web.Request) -> web.Response:
    body = await _json(request)
    _emulator(request).set_push_faults(
        drop_fraction=float(body.get("dropFraction", 0.0)),
        duplicate_fraction=float(body.get("duplicateFraction", 0.0)),
        delay_seconds=float(body.get("delaySeconds", 0.0)),
    )
    return _done()


async def advance_clock(request: web.Request) -> web.Response:
    body = await _json(request)
    try:
        now = _emulator(request).advance_clock(float(body["seconds"]))
    except TypeError as err:
        raise web.HTTPConflict(text=str(err)) from err
    return web.json_response({"now": format_millis(now)})


async def counters(request: web.Request) -> web.Response:
    return web.json_response(_emulator(request).counters.snapshot())


async def wait_idle(request: web.Request) -> web.Response:
    await _emulator(request).wait_idle()
    return _done()


@web.middleware
async def control_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turn a missing field or unknown calendar into a 400/404 instead of a 500."""
    if not request.path.startswith(CONTROL + "/"):
        response: web.StreamResponse = await handler(request)
        return response
    try:
        answer: web.StreamResponse = await handler(request)
        return answer
    except KeyError as err:
        raise web.HTTPBadRequest(text=f"missing or unknown: {err}") from err
    except ApiError as err:
        return web.json_response(err.body(), status=err.status)


def add_control_routes(app: web.Application) -> None:
    app.router.add_post(f"{CONTROL}/users", create_user)
    app.router.add_post(f"{CONTROL}/refresh-tokens", add_refresh_token)
    app.router.add_post(f"{CONTROL}/refresh-tokens/revoke", revoke)
    app.router.add_post(f"{CONTROL}/calendars", create_calendar)
    app.router.add_post(f"{CONTROL}/calendars/{{calendarId}}/events", seed_event)
    app.router.add_post(f"{CONTROL}/calendars/{{calendarId}}/invalidate-sync-tokens", invalidate)
    app.router.add_post(f"{CONTROL}/calendars/{{calendarId}}/hold-push", hold_push)
    app.router.add_post(f"{CONTROL}/calendars/{{calendarId}}/release-push", release_push)
    app.router.add_post(f"{CONTROL}/faults", inject_faults)
    app.router.add_delete(f"{CONTROL}/faults", clear_faults)
    app.router.add_post(f"{CONTROL}/push-faults", push_faults)
    app.router.add_post(f"{CONTROL}/clock/advance", advance_clock)
    app.router.add_get(f"{CONTROL}/counters", counters)
    app.router.add_post(f"{CONTROL}/wait-idle", wait_idle)
