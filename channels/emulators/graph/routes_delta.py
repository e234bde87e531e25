"""Routes for calendarView delta: ``/me/calendarView/delta`` and the calendar-scoped variant.

The SDK calls ``…/calendarView/delta()`` (function syntax); Graph's own links use ``delta``; both
are served. ``/me/calendars/{id}/calendarView/delta`` is beta-only at Microsoft (MS-DELTA-B) but the
v1.0 SDK has a builder for it, so it is served under ``/v1.0`` too — an adapter should prefer the
documented ``/me/calendarView/delta``. An evicted sync state answers 410 Gone with a ``Location``
holding an empty ``$deltatoken`` (or, by configuration, 400 ``syncStateNotFound``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from .delta import Round, Token, decode_token, encode_token
from .state import Mailbox
from .web_common import (
    OWNER,
    base_url,
    emulator_of,
    graph_json,
    mailbox_for,
    out_zone,
    owner_path,
    prefer,
    query,
)
from .wire import GraphError, iso_utc, parse_query_instant


def _link(request: web.Request, cal_id: str | None, params: str) -> str:
    scope = f"/calendars/{cal_id}" if cal_id else ""
    return f"{base_url(request)}/v1.0/{owner_path(request)}{scope}/calendarView/delta?{params}"


def _reset(request: web.Request, token: Token) -> GraphError:
    emu = emulator_of(request)
    if emu.delta_reset_mode == "sync_state_not_found":
        return GraphError(400, "syncStateNotFound", "The sync state generation is not found or has expired.")
    window = f"startDateTime={quote(token.start)}&endDateTime={quote(token.end)}&$deltatoken="
    return GraphError(
        410,
        "SyncStateInvalid",
        "The sync state is no longer valid; resync from the Location link.",
        headers={"Location": _link(request, token.calendar_id, window)},
    )


def _page_size(request: web.Request) -> tuple[int, dict[str, str]]:
    emu = emulator_of(request)
    raw = prefer(request).get("odata.maxpagesize")
    if raw is None or not raw.isdigit() or int(raw) <= 0:
        return emu.config.delta_default_page_size, {}
    size = min(int(raw), emu.config.delta_max_page_size)
    return size, {"Preference-Applied": f"odata.maxpagesize={size}"}


def _serve(request: web.Request, box: Mailbox, rnd: Round, token: Token, offset: int) -> web.Response:
    emu = emulator_of(request)
    size, headers = _page_size(request)
    if emu.delta.empty_pages > 0 and offset < len(rnd.entries):
        # Graph may hand out an empty page with a nextLink; the client must keep following.
        emu.delta.empty_pages -= 1
        page: list[dict[str, Any]] = []
        next_offset: int | None = offset
    else:
        page = rnd.entries[offset : offset + size]
        next_offset = offset + size if offset + size < len(rnd.entries) else None
    body: dict[str, Any] = {
        "@odata.context": f"{base_url(request)}/v1.0/$metadata#Collection(event)",
        "value": page,
    }
    if next_offset is not None:
        skip = Token("skip", rnd.id, next_offset, box.user.id, token.calendar_id, token.start, token.end)
        body["@odata.nextLink"] = _link(request, token.calendar_id, f"$skiptoken={encode_token(skip)}")
    else:
        final = Token("delta", rnd.final_state_id, 0, box.user.id, token.calendar_id, token.start, token.end)
        body["@odata.deltaLink"] = _link(request, token.calendar_id, f"$deltatoken={encode_token(final)}")
    return graph_json(body, headers=headers)


async def calendar_view_delta(request: web.Request) -> web.Response:
    emu = emulator_of(request)
    box = mailbox_for(request)
    cal_id = request.match_info.get("cal")
    if cal_id is not None:
        emu.store.calendar(box, cal_id)
    for unsupported in ("$select", "$expand", "$filter", "$orderby", "$search"):
        if query(request, unsupported):
            raise GraphError(
                400,
                "ErrorInvalidUrlQuery",
                f"The query parameter '{unsupported}' is not supported with delta.",
            )
    skip_text, delta_text = query(request, "$skiptoken"), query(request, "$deltatoken")
    zone = out_zone(request)
    if skip_text:
        token = decode_token(skip_text)
        rnd = emu.delta.rounds.get(token.ref)
        if token.kind != "skip" or token.user_id != box.user.id or rnd is None:
            raise _reset(request, token)
        return _serve(request, box, rnd, token, token.offset)
    if delta_text:
        token = decode_token(delta_text)
        prior = emu.delta.states.get(token.ref)
        if token.kind != "delta" or token.user_id != box.user.id or prior is None:
            raise _reset(request, token)
        rnd = emu.delta.start_round(
            box, prior.calendar_id, prior.start, prior.end, prior, zone, emu.config.delta_replay_last_n
        )
        return _serve(request, box, rnd, token, 0)
    # First call (or a followed reset Location with an empty $deltatoken): the window is required.
    start = parse_query_instant(query(request, "startDateTime"), "startDateTime")
    end = parse_query_instant(query(request, "endDateTime"), "endDateTime")
    rnd = emu.delta.start_round(box, cal_id, start, end, None, zone, 0)
    token = Token("skip", rnd.id, 0, box.user.id, cal_id, iso_utc(start), iso_utc(end))
    return _serve(request, box, rnd, token, 0)


def add_routes(app: web.Application) -> None:
    fn = r"{fn:delta(?:\(\))?}"
    app.router.add_get(f"/v1.0/{OWNER}/calendarView/{fn}", calendar_view_delta)
    app.router.add_get(f"/v1.0/{OWNER}/calendars/{{cal}}/calendarView/{fn}", calendar_view_delta)
