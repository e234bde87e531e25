"""`calsync sandbox` as a newcomer meets it: one command, then the demo works end to end.

The test runs the real command as a subprocess, reads /sandbox.json, and then behaves like
the coach: it edits the coach's Google calendar through the real google-api-python-client
against the sandbox's Google emulator.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build

from tests.daemon_process import base_env, free_port

pytestmark = pytest.mark.slow


def _get(url: str, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def _post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[dict[str, Any]]:
    port = free_port()
    env = base_env(CALSYNC_LISTEN=f"127.0.0.1:{port}", CALSYNC_SANDBOX_DIR=str(tmp_path))
    log = (tmp_path / "sandbox.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon.cli", "sandbox"], env=env, cwd=tmp_path, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 40
        info: dict[str, Any] = {}
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "sandbox.log").read_text()[-3000:]
            try:
                info = _get(f"http://127.0.0.1:{port}/sandbox.json")
                if info.get("ready") or info.get("error"):
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert info.get("ready"), (
            f"sandbox not ready: {info.get('error')} {(tmp_path / 'sandbox.log').read_text()[-3000:]}"
        )
        yield info
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        assert proc.returncode == 0 or proc.returncode == -9


def test_sandbox_is_seeded_connected_and_synced(sandbox: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {sandbox['api_key']}"}
    status = _get(f"{sandbox['daemon']}/v1/profiles/{sandbox['profile']}/sync-status", headers)
    by_provider = {row["provider"]: row for row in status["calendars"]}
    assert set(by_provider) == {"google", "microsoft"}
    for row in by_provider.values():
        assert row["channel"]["state"] == "active" and row["last_synced_at"] is not None, row
    assert by_provider["google"]["role"] == "push" and by_provider["microsoft"]["role"] == "pull"
    today = datetime.now(UTC).date()
    window = f"start={today}T00:00:00Z&end={today + timedelta(days=60)}T00:00:00Z"
    listing = _get(f"{sandbox['daemon']}/v1/appointments?profile={sandbox['profile']}&{window}", headers)
    assert {a["id"] for a in listing["items"]} == set(sandbox["appointments"])
    assert _get(f"{sandbox['daemon']}/sandbox/outbox") == {"messages": []}
    # The curl lines it prints are real commands against this sandbox.
    assert all(sandbox["daemon"] in line for line in sandbox["try"] if line)


def test_sandbox_google_emulator_serves_the_real_client(sandbox: dict[str, Any]) -> None:
    google_base = sandbox["emulators"]["google"].removesuffix("/calendar/v3")
    token = _post(f"{google_base}/_emulator/refresh-tokens", {"email": "coach@sandbox.example"})[
        "refreshToken"
    ]
    creds = Credentials(
        token=None, refresh_token=token, client_id="sandbox-client", client_secret="x",
        token_uri=f"{google_base}/token",
    )  # fmt: skip
    service = build(
        "calendar", "v3", credentials=creds, static_discovery=True,
        client_options={"api_endpoint": sandbox["emulators"]["google"]},
    )  # fmt: skip
    calendars = service.calendarList().list().execute()
    calendar = sandbox["calendars"]["google_push"]
    assert [c["id"] for c in calendars["items"]] == [calendar]

    # The demo appointments were pushed into the coach's Google calendar, once each (the recurring
    # one as a single series).
    def ours() -> dict[str, dict[str, Any]]:
        items = service.events().list(calendarId=calendar).execute()["items"]
        return {
            e["extendedProperties"]["private"]["calsync_appointment"]: e
            for e in items
            if e.get("status") != "cancelled"
            and "calsync_appointment" in e.get("extendedProperties", {}).get("private", {})
        }

    deadline = time.monotonic() + 15
    while set(ours()) != set(sandbox["appointments"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    pushed = ours()
    assert set(pushed) == set(sandbox["appointments"])
    assert len(service.events().list(calendarId=calendar).execute()["items"]) == len(pushed)
    assert any("RRULE:FREQ=WEEKLY;COUNT=6" in line for line in pushed["demo-3"].get("recurrence", []))

    # The coach deletes one in Google: the client is told by e-mail, exactly once.
    service.events().delete(calendarId=calendar, eventId=pushed["demo-1"]["id"]).execute()
    deadline = time.monotonic() + 15
    mails: list[dict[str, Any]] = []
    while not mails and time.monotonic() < deadline:
        mails = _get(f"{sandbox['daemon']}/sandbox/outbox")["messages"]
        time.sleep(0.2)
    assert len(mails) == 1 and mails[0]["to"] == "Sam Client <client@sandbox.example>"
    assert mails[0]["subject"].startswith("Cancelled: Intro session")
    headers = {"Authorization": f"Bearer {sandbox['api_key']}"}
    cancelled = _get(f"{sandbox['daemon']}/v1/appointments/demo-1", headers)
    assert cancelled["status"] == "cancelled" and cancelled["cancel_reason"] == "deleted_in_external_calendar"
    time.sleep(1.0)
    assert len(_get(f"{sandbox['daemon']}/sandbox/outbox")["messages"]) == 1
