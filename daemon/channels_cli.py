"""``calsync channels``: the channel health table, read straight from the configured database.

It opens its own connection (no daemon needed, and it works while daemons run
elsewhere), lists channels soonest expiry first, and prints either a table — with
colour for trouble only when stdout is a terminal — or, with ``--json``, the same
objects as ``GET /v1/channels``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

from calsync.clock import SystemClock
from daemon.api.channels import channel_json
from handlers.channel_health import HealthPolicy
from store.channel_report import list_channels, view_condition
from store.db import Database

_RED, _YELLOW, _RESET = "\x1b[31m", "\x1b[33m", "\x1b[0m"
COLUMNS = (
    ("STATE", "state"),
    ("PROVIDER", "provider"),
    ("PROFILE", "profile_name"),
    ("CALENDAR", "calendar_name"),
    ("EXPIRES", "expires_at"),
    ("LAST RENEWAL", "last_renewed_at"),
    ("LAST NOTIFICATION", "last_notification_at"),
    ("LAST SYNC", "last_synced_at"),
    ("FAIL", "consecutive_failures"),
    ("LAST ERROR", "last_error"),
)


async def collect(
    database_url: str,
    *,
    organization: str | None = None,
    provider: str | None = None,
    state: str | None = None,
    include_stopped: bool = False,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    now = now or SystemClock().now()
    policy = HealthPolicy()
    condition = view_condition(state, now, policy.margin, policy.warn_before) if state else None
    db = Database(database_url)
    try:
        async with db.session() as session:
            rows = await list_channels(
                session, organization_id=organization, provider=provider, condition=condition,
                include_stopped=include_stopped or state == "stopped",
            )  # fmt: skip
    finally:
        await db.close()
    return [channel_json(row, now, policy) for row in rows]


def _short(value: Any, column: str) -> str:
    if value is None:
        return "-"
    text = str(value)
    if column.endswith("_at") and "T" in text:
        text = text[:16].replace("T", " ")  # minutes are enough at a glance
    if column == "last_error" and len(text) > 60:
        text = text[:57] + "..."
    return text


def render_table(items: Sequence[dict[str, Any]], *, colour: bool) -> str:
    if not items:
        return "no channels"
    cells = [[_short(item[key], key) for _, key in COLUMNS] for item in items]
    widths = [max(len(title), *(len(row[i]) for row in cells)) for i, (title, _) in enumerate(COLUMNS)]
    lines = ["  ".join(title.ljust(w) for (title, _), w in zip(COLUMNS, widths, strict=True)).rstrip()]
    for item, row in zip(items, cells, strict=True):
        line = "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        if colour and item["state"] in ("error", "expiring_soon"):
            line = f"{_RED}{line}{_RESET}"
        elif colour and item["state"] == "renewing" and item["consecutive_failures"]:
            line = f"{_YELLOW}{line}{_RESET}"
        lines.append(line)
    return "\n".join(lines)


def emit(items: Sequence[dict[str, Any]], out: TextIO, *, as_json: bool) -> None:
    if as_json:
        out.write(json.dumps(list(items), indent=2) + "\n")
    else:
        out.write(render_table(items, colour=out.isatty()) + "\n")
