"""Typed, frozen configuration of the Google Calendar emulator, with named defaults."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

DEFAULT_ACCESS_TOKEN_LIFETIME = timedelta(hours=1)
# "Default is 604800 seconds" (7 days) for params.ttl; no published maximum, so the emulator
# caps at the same value unless told otherwise.
DEFAULT_CHANNEL_TTL = timedelta(seconds=604800)
DEFAULT_MAX_CHANNEL_TTL = timedelta(seconds=604800)
DEFAULT_PAGE_SIZE = 250
MAX_PAGE_SIZE = 2500


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """Knobs of the emulator; tests and the sandbox override a few, production never runs it.

    ``allow_http_callbacks``: Google only delivers to HTTPS addresses; tests and the sandbox
    deliver to a loopback HTTP receiver, so they turn this on explicitly.
    ``push_retry_scale`` multiplies every push retry delay (1.0 = seconds as documented-ish,
    tests use a tiny factor so the exponential backoff runs in milliseconds).
    """

    allow_http_callbacks: bool = False
    access_token_lifetime: timedelta = DEFAULT_ACCESS_TOKEN_LIFETIME
    default_channel_ttl: timedelta = DEFAULT_CHANNEL_TTL
    max_channel_ttl: timedelta = DEFAULT_MAX_CHANNEL_TTL
    push_max_attempts: int = 6
    push_retry_base_seconds: float = 1.0
    push_retry_scale: float = 1.0
    push_timeout_seconds: float = 10.0
    # Deliver the `sync` message before answering events.watch (Google says it *may* arrive first).
    sync_before_watch_response: bool = False
    # Recurring series without an end are expanded this far past "now" (or timeMax when given).
    expansion_horizon: timedelta = timedelta(days=730)
    max_instances_per_series: int = 2500
    # None = sync tokens never expire on their own (use invalidate_sync_tokens to force a 410).
    sync_token_ttl: timedelta | None = None
    max_page_snapshots: int = 1000
    public_base_url: str = "https://www.googleapis.com"
    control_api: bool = True
    seed: int = 0
