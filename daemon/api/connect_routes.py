"""The routes of issue 5, "Connecting calendars to a profile", as one tuple for ``daemon.api``.

Accounts (connect, list, read, disconnect, list their calendars), the profile's calendar
selection and sync status, and the profile's sync settings.
"""

from __future__ import annotations

from typing import Final

from daemon.api import accounts, profile_calendars, profile_settings
from daemon.api.registry import Route

ROUTES: Final[tuple[Route, ...]] = (
    *accounts.ROUTES,
    *profile_calendars.ROUTES,
    *profile_settings.ROUTES,
)
