"""The /status page in a real headless Chromium, driven over the DevTools protocol (no extra deps).

Loads the page with a read-only ``?key=``, asks the DOM which rows are highlighted and
what colour they render in, and saves a screenshot to ``test-artifacts/status-page.png``.
Skipped when no Chromium is installed (``apt-get install -y chromium``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from calsync.clock import FakeClock
from daemon import status_page
from daemon.api import setup_api
from daemon.appkeys import CLOCK, DATABASE, SETTINGS
from daemon.config import Settings
from store.db import Database
from tests.conftest import _migrate
from tests.daemon_process import free_port
from tests.ops.test_channels_view import NOW, _key, seed

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install -y chromium)"),
]


class Tab:
    """One page target over CDP: ``call`` sends a command, events are queued by method."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws, self._ids = ws, itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self._ws:
            data = json.loads(message.data)
            if "id" in data and data["id"] in self._pending:
                self._pending.pop(data["id"]).set_result(data)
            else:
                await self.events.put(data)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        await self._ws.send_json({"id": call_id, "method": method, "params": params})
        reply = await asyncio.wait_for(future, 30)
        assert "error" not in reply, reply
        return dict(reply["result"])

    async def wait_event(self, method: str) -> None:
        while (await asyncio.wait_for(self.events.get(), 30)).get("method") != method:
            pass

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@contextlib.asynccontextmanager
async def chromium(tmp: Path) -> AsyncIterator[Tab]:
    assert CHROMIUM is not None
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        f"--remote-debugging-port={port}", f"--user-data-dir={tmp / 'chromium'}",
        "--window-size=1400,900", "about:blank",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with aiohttp.ClientSession() as http:
            targets: list[dict[str, Any]] = []
            for _ in range(300):  # up to 30 s: a cold start on a busy machine is slow
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
                        targets = [t for t in await response.json() if t.get("type") == "page"]
                if targets:
                    break
                await asyncio.sleep(0.1)
            assert targets, "chromium exposed no page target"
            async with http.ws_connect(targets[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                tab = Tab(ws)
                try:
                    yield tab
                finally:
                    await tab.close()
    finally:
        proc.kill()
        await proc.wait()


async def test_status_page_highlights_the_channel_in_trouble(sqlite_url: str, tmp_path: Path) -> None:
    _migrate(sqlite_url)
    db = Database(sqlite_url)
    app = web.Application()
    app[SETTINGS], app[DATABASE], app[CLOCK] = Settings(), db, FakeClock(NOW)
    setup_api(app)
    status_page.install(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        ids = await seed(db)
        key = await _key(db, read_only=True)
        async with chromium(tmp_path) as tab:
            await tab.call("Page.enable")
            await tab.call("Page.navigate", url=f"http://127.0.0.1:{port}/status?key={key}")
            await tab.wait_event("Page.loadEventFired")
            script = (
                "JSON.stringify([...document.querySelectorAll('#channels tbody tr')].map(r => "
                "({id: r.dataset.channel, state: r.dataset.state, trouble: r.classList.contains('trouble'),"
                " bg: getComputedStyle(r).backgroundColor})))"
            )
            result = await tab.call("Runtime.evaluate", expression=script, returnByValue=True)
            rows = {r["id"]: r for r in json.loads(result["result"]["value"])}
            shot = await tab.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "status-page.png").write_bytes(base64.b64decode(shot["data"]))
        doomed, healthy = rows[ids["doomed"]], rows[ids["healthy"]]
        assert doomed["state"] == "expiring_soon" and doomed["trouble"]
        assert doomed["bg"] == "rgb(253, 232, 232)"  # the trouble tint, as rendered
        assert not healthy["trouble"] and healthy["bg"] in ("rgba(0, 0, 0, 0)", "transparent")
        assert rows[ids["flaky"]]["trouble"] and ids["old"] not in rows
    finally:
        await runner.cleanup()
        await db.close()
