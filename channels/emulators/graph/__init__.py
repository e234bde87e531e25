"""A faithful local emulator of Microsoft Graph v1.0 calendars, delta and change notifications.

Written from the Graph documentation only (no code shared with calsync's adapters) so the real
``msgraph-sdk`` can talk to it over HTTP in tests and in ``calsync sandbox``. See DESIGN.md here.
"""

from .app import create_app
from .config import GraphEmulatorConfig
from .emulator import GraphEmulator, SeededUser

__all__ = ["GraphEmulator", "GraphEmulatorConfig", "SeededUser", "create_app"]
