"""Channel health for operators: view states, ``GET /v1/channels``, ``/status`` auth, ``calsync channels``."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from cryptography.fernet import Fernet

from calsync.clock import FakeClock
from calsync.crypto import Cipher
from calsync.secrets import hash_secret
from daemon import status_page
from daemon.api import setup_api
from daemon.appkeys import CLOCK, DATABASE, SETTINGS
from daemon.channels_cli import render_table
from daemon.config import Settings
from handlers.channel_health import HealthPolicy, view_state
from store import channels as channel_store
from store.api_keys import create_key
from store.db import Database
from store.tables import Channel
from tests.daemon_process import base_env, cli
from tests.ops.seed import seed_account

Client = TestClient[web.Request, web.Application]
NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)
H = timedelta(hours=1)


def test_view_states_from_stored_state_and_clock() -> None:
    p = HealthPolicy()
    assert view_state("active", NOW + 5 * 24 * H, NOW, p) == "active"
    assert view_state("active", NOW + 20 * H, NOW, p) == "renewing"
    assert view_state("retiring", NOW + 20 * H, NOW, p) == "renewing"
    assert view_state("error", NOW + 5 * H, NOW, p) == "expiring_soon"
    assert view_state("active", NOW + 5 * H, NOW, p) == "expiring_soon"
    assert view_state("error", NOW + 30 * H, NOW, p) == "error"
    assert view_state("active", NOW - H, NOW, p) == "error"  # lapsed
    assert view_state("stopped", NOW + 30 * H, NOW, p) == "stopped"


# (name, provider, stored state, expires in, failures, error) -> expected view state
CASES = [
    ("healthy", "google", "active", 5 * 24 * H, 0, None, "active"),
    ("due", "microsoft", "active", 20 * H, 0, None, "renewing"),
    ("doomed", "google", "error", 3 * H, 7, "google 500 backendError", "expiring_soon"),
    ("flaky", "microsoft", "error", 3 * 24 * H, 2, "graph 429 TooManyRequests", "error"),
    ("old", "google", "stopped", 2 * H, 0, None, "stopped"),
]


async def seed(db: Database) -> dict[str, str]:
    """Channels in every view state for org1, one healthy channel for org2; name -> channel id."""
    cipher = Cipher([Fernet.generate_key().decode()])
    ids: dict[str, str] = {}
    other = ("other", "google", "active", 4 * 24 * H, 0, None, "active")
    groups = [
        ("org1", "google", [c for c in CASES if c[1] == "google"]),
        ("org1", "microsoft", [c for c in CASES if c[1] == "microsoft"]),
        ("org2", "google", [other]),
    ]
    for org, provider, mine in groups:
        seeded = await seed_account(
            db, cipher, NOW, organization_id=org, profile_id=f"{org}-{provider}", provider=provider,
            email=f"{org}@{provider}.example", refresh_token="rt", client_id="c",
            external_calendar_ids=[f"cal-{n[0]}" for n in mine],
        )  # fmt: skip
        async with db.session() as s:
            for (name, _, state, left, failures, error, _), cal in zip(
                mine, seeded.calendar_ids, strict=True
            ):
                row = await channel_store.add_channel(
                    s, calendar_id=cal, provider=provider, external_id=f"ext-{name}", resource_id=None,
                    secret_hash=hash_secret("t"), expires_at=NOW + left, now=NOW, state=state,
                )  # fmt: skip
                ch = await s.get(Channel, row.id)
                assert ch is not None
                ch.consecutive_failures, ch.last_error = failures, error
                ids[name] = row.id
    return ids


@pytest.fixture
async def app_client(
    database: Database, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> tuple[Client, Database]:
    app = web.Application()
    app[SETTINGS] = Settings()
    app[DATABASE] = database
    app[CLOCK] = FakeClock(NOW)
    setup_api(app)
    status_page.install(app)
    return await aiohttp_client(app), database


async def _key(db: Database, org: str | None = None, read_only: bool = False) -> str:
    async with db.session() as s:
        plaintext, _ = await create_key(s, "ops", org, NOW, read_only)
    return plaintext


async def test_list_filter_scope_and_paginate(app_client: tuple[Client, Database]) -> None:
    client, db = app_client
    ids = await seed(db)
    auth = {"Authorization": f"Bearer {await _key(db)}"}
    body = await (await client.get("/v1/channels", params={"organization": "org1"}, headers=auth)).json()
    got = [(i["id"], i["state"]) for i in body["items"]]
    expected = sorted(CASES, key=lambda c: c[3])
    assert got == [(ids[c[0]], c[6]) for c in expected]  # soonest expiry first, derived states
    doomed = next(i for i in body["items"] if i["id"] == ids["doomed"])
    assert doomed["consecutive_failures"] == 7 and doomed["last_error"] == "google 500 backendError"
    assert doomed["provider"] == "google" and doomed["profile_id"] == "org1-google"
    for case in CASES:
        page = await client.get(
            "/v1/channels", params={"state": case[6], "organization": "org1"}, headers=auth
        )
        assert [i["id"] for i in (await page.json())["items"]] == [ids[case[0]]]
    micro = await (await client.get("/v1/channels", params={"provider": "microsoft"}, headers=auth)).json()
    assert {i["id"] for i in micro["items"]} == {ids["due"], ids["flaky"]}
    # Pages of 2 chain through everything once.
    seen, cursor = [], None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await (await client.get("/v1/channels", params=params, headers=auth)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids.values()) and len(seen) == len(set(seen))
    # An org key sees only its organization, whatever it asks for.
    org2 = {"Authorization": f"Bearer {await _key(db, 'org2', read_only=True)}"}
    mine = await (await client.get("/v1/channels", headers=org2)).json()
    assert [i["id"] for i in mine["items"]] == [ids["other"]]
    other = await (await client.get("/v1/channels", params={"organization": "org1"}, headers=org2)).json()
    assert other["items"] == []
    bad = await client.get("/v1/channels", params={"state": "dead"}, headers=auth)
    assert bad.status == 422


async def test_status_page_auth_and_highlighting(app_client: tuple[Client, Database]) -> None:
    client, db = app_client
    ids = await seed(db)
    assert (await client.get("/status")).status == 401
    writer = await _key(db)
    assert (await client.get("/status", params={"key": writer})).status == 401  # query keys: read-only only
    assert (await client.get("/status", headers={"Authorization": f"Bearer {writer}"})).status == 200
    reader = await _key(db, read_only=True)
    response = await client.get("/status", params={"key": reader})
    assert response.status == 200 and response.content_type == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    html = await response.text()
    assert f'<tr class="trouble" data-channel="{ids["doomed"]}" data-state="expiring_soon">' in html
    assert f'data-channel="{ids["old"]}"' not in html  # stopped channels are left off the page
    assert "google 500 backendError" in html


def test_table_colours_trouble_only_on_a_terminal() -> None:
    item = {
        "state": "expiring_soon", "provider": "google", "profile_name": "P", "calendar_name": "C",
        "expires_at": "2026-01-05T12:00:00+00:00", "last_renewed_at": None, "last_notification_at": None,
        "last_synced_at": None, "consecutive_failures": 3, "last_error": "boom",
    }  # fmt: skip
    assert "\x1b[31m" in render_table([item], colour=True)
    assert "\x1b" not in render_table([item], colour=False)
    assert render_table([item], colour=False).splitlines()[1].startswith("expiring_soon  google")


async def test_cli_reads_the_database_directly(sqlite_url: str, tmp_path: Path) -> None:
    from tests.conftest import _migrate

    _migrate(sqlite_url)
    db = Database(sqlite_url)
    try:
        ids = await seed(db)
    finally:
        await db.close()
    env = base_env(CALSYNC_DATABASE_URL=sqlite_url)
    items = json.loads(cli(["channels", "--json", "--organization", "org1"], env, tmp_path))
    # Real time now: the seeded 2026-01 channels have all lapsed except the stopped one (hidden).
    assert {i["id"] for i in items} == {ids[c[0]] for c in CASES if c[0] != "old"}
    table = cli(["channels", "--all"], env, tmp_path)
    assert table.splitlines()[0].startswith("STATE") and "\x1b" not in table  # not a TTY
    assert len(table.splitlines()) == 1 + len(ids)
