"""The Google Calendar emulator as a separate process: the provider the bench's daemon syncs against.

    python -m bench.google_peer [CALENDARS]

Prints one JSON line (API and token URLs, the user's refresh token and CALENDARS calendar ids,
default 1) once it listens, then serves until its standard input closes. Running it out of process keeps its
CPU out of the measured server, as Google's own servers would be.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys

from aiohttp import web

from channels.emulators.google import GoogleEmulator
from channels.emulators.google import create_app as google_app

USER = "bench@example.com"


async def serve(count: int) -> None:
    emulator = GoogleEmulator()
    refresh_token = emulator.create_user(USER)
    calendars = [USER] + [emulator.create_calendar(USER, f"Bench {i}") for i in range(1, count)]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    runner = web.AppRunner(google_app(emulator), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    peer = {"api_url": f"{base}/calendar/v3", "token_url": f"{base}/token", "user": USER,
            "calendars": calendars, "refresh_token": refresh_token}  # fmt: skip
    print(json.dumps(peer), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent goes
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]) if len(sys.argv) > 1 else 1))
