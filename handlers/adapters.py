"""The adapter registry: which ``CalendarAdapter`` speaks for which provider.

Provider-neutral handlers (sync, channel renewal, resync) look adapters up here;
``daemon/google_wiring.py`` and ``daemon/graph_wiring.py`` register theirs.
"""

from __future__ import annotations

from aiohttp import web

from calsync.errors import PermanentProviderError
from channels.base import CalendarAdapter
from channels.model import Provider


class AdapterRegistry:
    def __init__(self) -> None:
        self._adapters: dict[Provider, CalendarAdapter] = {}

    def register(self, adapter: CalendarAdapter) -> None:
        self._adapters[Provider(adapter.provider)] = adapter

    def get(self, provider: Provider | str) -> CalendarAdapter:
        try:
            return self._adapters[Provider(provider)]
        except (KeyError, ValueError):
            raise PermanentProviderError(f"no adapter registered for provider {provider!r}") from None

    def __contains__(self, provider: object) -> bool:
        try:
            return Provider(str(provider)) in self._adapters
        except ValueError:
            return False

    def providers(self) -> list[Provider]:
        return list(self._adapters)


ADAPTERS = web.AppKey("adapters", AdapterRegistry)
