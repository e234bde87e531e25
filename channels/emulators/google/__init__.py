"""A faithful local emulator of Google Calendar API v3 (events, push channels, sync, freeBusy).

Serves ``/calendar/v3/...`` so the real google-api-python-client (static discovery plus
``client_options={"api_endpoint": f"{base}/calendar/v3"}``) and google-auth (``token_uri =
f"{base}/token"``) work against it over HTTP. Written from Google's documentation alone (see
``DESIGN.md`` beside this file); shares no code with calsync's Google adapter.

    emulator = GoogleEmulator(clock=FakeClock(), config=EmulatorConfig(allow_http_callbacks=True))
    refresh_token = emulator.create_user("ada@example.com")
    app = create_app(emulator)
"""

from channels.emulators.google.app import create_app
from channels.emulators.google.config import EmulatorConfig
from channels.emulators.google.emulator import GoogleEmulator

__all__ = ["EmulatorConfig", "GoogleEmulator", "create_app"]
