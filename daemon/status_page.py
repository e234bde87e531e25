"""``GET /status``: a plain server-rendered HTML page for operators. No JavaScript.

Authentication: the same API keys as ``/v1``. Scripts send ``Authorization: Bearer``;
a browser cannot, so a **read-only** key may also come as ``?key=``. Trade-off: a key in
a URL ends up in browser history, bookmarks and any proxy's access log, so only
read-only keys are accepted there (the worst a leaked one does is read channel health),
the page is sent with ``Cache-Control: no-store`` and ``Referrer-Policy: no-referrer``
(the URL never leaks to links), and our own logs scrub query-string secrets. Use a
dedicated read-only key for the page and revoke it if the URL was shared.

Shows: who leads renewals here, counts per view state, a timeline of expiries in the
next 48 hours, the channel table (trouble rows highlighted) and recent errors.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from html import escape
from typing import Any, Final

from aiohttp import hdrs, web

from daemon.api.auth import bearer_token
from daemon.api.channels import HEALTH, channel_json
from daemon.appkeys import CLOCK, DATABASE
from handlers.channel_health import TROUBLE, VIEW_STATES, HealthPolicy
from store.api_keys import verify_key
from store.channel_report import list_channels

PATH: Final = "/status"
MAX_ROWS: Final = 500
HORIZON_HOURS: Final = 48

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1d2330}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.5rem}
table{border-collapse:collapse;width:100%}th,td{padding:.3rem .5rem;border-bottom:1px solid #e3e6eb;
text-align:left;vertical-align:top}th{background:#f4f6f8}
tr.trouble{background:#fde8e8}tr.trouble td.state{color:#a01818;font-weight:600}
tr.renewing td.state{color:#8a5a00}.counts span{display:inline-block;margin-right:1rem}
.timeline{display:flex;align-items:flex-end;gap:2px;height:80px;border-bottom:1px solid #999}
.timeline div{flex:1;background:#4a7bd0;min-height:1px}.muted{color:#6b7280}
"""


def _unauthorized() -> web.Response:
    return web.Response(
        status=401,
        text="Send an API key as `Authorization: Bearer <key>`, or a read-only key as ?key=.",
        headers={hdrs.WWW_AUTHENTICATE: 'Bearer realm="calsync"'},
    )


async def _scope(request: web.Request) -> tuple[bool, str | None]:
    """(authorized, organization scope). Query keys must be read-only (see the module doc)."""
    header = bearer_token(request.headers.get(hdrs.AUTHORIZATION))
    token = header or request.query.get("key")
    if not token:
        return False, None
    async with request.app[DATABASE].session() as session:
        key = await verify_key(session, token, request.app[CLOCK].now())
        if key is None or (header is None and not key.read_only):
            return False, None
        return True, key.organization_id


def _cell(value: Any) -> str:
    return "<td>" + escape("" if value is None else str(value)) + "</td>"


def _timeline(items: list[dict[str, Any]], now: datetime) -> str:
    buckets = Counter(
        int(item["expires_in_seconds"] // 3600)
        for item in items
        if item["state"] != "stopped" and 0 <= item["expires_in_seconds"] < HORIZON_HOURS * 3600
    )
    peak = max(buckets.values(), default=0) or 1
    bars = "".join(
        f'<div title="{escape(str(now + timedelta(hours=h)))}: {buckets.get(h, 0)}"'
        f' style="height:{100 * buckets.get(h, 0) // peak}%"></div>'
        for h in range(HORIZON_HOURS)
    )
    return f'<div class="timeline" aria-label="expiries per hour, next 48 h">{bars}</div>'


def render(items: list[dict[str, Any]], now: datetime, leader: str) -> str:
    counts = Counter(item["state"] for item in items)
    count_html = "".join(f'<span>{s}: <b id="count-{s}">{counts.get(s, 0)}</b></span>' for s in VIEW_STATES)
    rows = []
    for item in items:
        css = "trouble" if item["state"] in TROUBLE else item["state"]
        rows.append(
            f'<tr class="{css}" data-channel="{escape(item["id"])}" data-state="{item["state"]}">'
            + _cell(item["provider"]) + _cell(item["profile_name"]) + _cell(item["calendar_name"])
            + f'<td class="state">{escape(item["state"])}</td>'
            + _cell(item["expires_at"]) + _cell(item["last_renewed_at"])
            + _cell(item["last_notification_at"]) + _cell(item["last_synced_at"])
            + _cell(item["consecutive_failures"]) + _cell(item["last_error"]) + "</tr>"
        )  # fmt: skip
    errors = sorted((i for i in items if i["last_error"]), key=lambda i: -i["consecutive_failures"])[:20]
    error_html = (
        "".join(
            f"<li><b>{escape(i['calendar_name'])}</b> ({escape(i['provider'])}, "
            f"{i['consecutive_failures']} failures): {escape(i['last_error'] or '')}</li>"
            for i in errors
        )
        or '<li class="muted">none</li>'
    )
    head = (
        "<th>provider</th><th>profile</th><th>calendar</th><th>state</th><th>expires</th>"
        "<th>last renewal</th><th>last notification</th><th>last sync</th><th>failures</th>"
        "<th>last error</th>"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>calsync status</title>'
        f"<style>{_CSS}</style></head><body><h1>calsync status</h1>"
        f'<p class="muted">at {escape(now.isoformat())} · renewals here: {escape(leader)}</p>'
        f'<p class="counts">{count_html}</p>'
        f"<h2>Expiries, next {HORIZON_HOURS} h</h2>{_timeline(items, now)}"
        f'<h2>Recent errors</h2><ul id="errors">{error_html}</ul>'
        f'<h2>Channels (soonest expiry first)</h2><table id="channels"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></body></html>"
    )


async def status(request: web.Request) -> web.Response:
    authorized, scope = await _scope(request)
    if not authorized:
        return _unauthorized()
    now = request.app[CLOCK].now()
    policy = request.app.get(HEALTH) or HealthPolicy()
    async with request.app[DATABASE].session() as session:
        rows = await list_channels(session, organization_id=scope, limit=MAX_ROWS, include_stopped=False)
    items = [channel_json(row, now, policy) for row in rows]
    from daemon.sync_wiring import SYNC  # the wiring imports this module; read its key lazily

    elector = request.app[SYNC].leader if SYNC in request.app else None
    leader = "not running"
    if elector is not None:
        leader = f"{elector.instance} ({'leader' if elector.is_leader else 'follower'})"
    return web.Response(
        text=render(items, now, leader),
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def install(app: web.Application) -> None:
    app.router.add_get(PATH, status)
