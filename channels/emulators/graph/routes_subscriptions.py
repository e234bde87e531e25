"""Routes for ``/v1.0/subscriptions``: create (with validation handshake), list, get, renew, delete,
reauthorize. Status codes per MS-POST / MS-WH / MS-REAUTH: 201, 200, 200, 200, 204, 204."""

from __future__ import annotations

from aiohttp import web

from .web_common import base_url, caller, emulator_of, graph_json, json_body, token_of


async def create_subscription(request: web.Request) -> web.Response:
    emu = emulator_of(request)
    sub = await emu.create_subscription(
        caller(request), token_of(request).client_id, await json_body(request)
    )
    return graph_json(sub.to_json(base_url(request)), status=201)


async def list_subscriptions(request: web.Request) -> web.Response:
    emu = emulator_of(request)
    me = caller(request)
    subs = [s for s in emu.active_in_mailbox(me.id) if s.creator_id == me.id]
    value = [{k: v for k, v in s.to_json(base_url(request)).items() if k != "@odata.context"} for s in subs]
    return graph_json({"@odata.context": f"{base_url(request)}/v1.0/$metadata#subscriptions", "value": value})


async def get_subscription(request: web.Request) -> web.Response:
    sub = emulator_of(request).active_subscription(request.match_info["sid"], caller(request).id)
    return graph_json(sub.to_json(base_url(request)))


async def update_subscription(request: web.Request) -> web.Response:
    emu = emulator_of(request)
    sub = emu.active_subscription(request.match_info["sid"], caller(request).id)
    sub = await emu.update_subscription(sub, await json_body(request))
    return graph_json(sub.to_json(base_url(request)))


async def delete_subscription(request: web.Request) -> web.Response:
    emu = emulator_of(request)
    sub = emu.active_subscription(request.match_info["sid"], caller(request).id)
    del emu.subscriptions[sub.id]
    return web.Response(status=204)


async def reauthorize_subscription(request: web.Request) -> web.Response:
    # The caller's token was validated by the middleware; that is what reauthorization checks.
    emulator_of(request).active_subscription(request.match_info["sid"], caller(request).id)
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1.0/subscriptions", create_subscription)
    app.router.add_get("/v1.0/subscriptions", list_subscriptions)
    app.router.add_get("/v1.0/subscriptions/{sid}", get_subscription)
    app.router.add_patch("/v1.0/subscriptions/{sid}", update_subscription)
    app.router.add_delete("/v1.0/subscriptions/{sid}", delete_subscription)
    app.router.add_post("/v1.0/subscriptions/{sid}/reauthorize", reauthorize_subscription)
