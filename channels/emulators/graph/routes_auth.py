"""The Microsoft identity platform v2.0 token endpoint, refresh_token grant only.

``POST /{tenant}/oauth2/v2.0/token`` with a form body. Success and error JSON follow the shapes of
the v2.0 OAuth docs (``token_type``, ``scope``, ``expires_in``, ``ext_expires_in``…; ``error``,
``error_description`` starting with the AADSTS code, ``error_codes``, trace and correlation ids).
"""

from __future__ import annotations

from aiohttp import web

from .auth import OAuthError
from .web_common import emulator_of, graph_json


def _oauth_error(request: web.Request, err: OAuthError) -> web.Response:
    emu = emulator_of(request)
    trace, correlation = emu.ids.guid(), emu.ids.guid()
    stamp = emu.now().strftime("%Y-%m-%d %H:%M:%SZ")
    return graph_json(
        {
            "error": err.error,
            "error_description": f"AADSTS{err.aadsts}: {err.description} Trace ID: {trace} "
            f"Correlation ID: {correlation} Timestamp: {stamp}",
            "error_codes": [err.aadsts],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={err.aadsts}",
        },
        status=400,
    )


async def token(request: web.Request) -> web.Response:
    emu = emulator_of(request)
    form = await request.post()
    grant = form.get("grant_type")
    if grant != "refresh_token":
        return _oauth_error(
            request,
            OAuthError("unsupported_grant_type", 70003, "The app requested an unsupported grant type."),
        )
    refresh = form.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        return _oauth_error(
            request,
            OAuthError(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'refresh_token'.",
            ),
        )
    scope = form.get("scope")
    try:
        grant_result = emu.auth.redeem_refresh_token(
            refresh, scope if isinstance(scope, str) else None, emu.now()
        )
    except OAuthError as err:
        return _oauth_error(request, err)
    return graph_json(
        {
            "token_type": "Bearer",
            "scope": " ".join(grant_result.scopes),
            "expires_in": grant_result.expires_in,
            "ext_expires_in": grant_result.expires_in,
            "access_token": grant_result.access_token,
            "refresh_token": grant_result.refresh_token,
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
