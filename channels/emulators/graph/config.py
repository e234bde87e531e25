"""Typed, frozen configuration of the Microsoft Graph emulator, with the documented defaults.

Two kinds of time appear here. *Emulator time* (subscription lifetimes, retry horizon, throttling
penalties, token lifetimes) is read from the injected Clock, so tests move it with ``advance``.
*Network time* (how long a receiver may take to answer) is real wall time on the event loop and is
multiplied by ``time_scale`` so that a test can exercise the 3 s / 10 s rules in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

DeltaResetMode = Literal["gone", "sync_state_not_found"]


@dataclass(frozen=True, slots=True)
class GraphEmulatorConfig:
    tenant_id: str = "9188040d-6c67-4c5b-b112-36a304b66dad"
    application_id: str = "00000000-0000-0000-0000-00000000ca15"
    #: Multiplies every real-time network limit below (receiver timeouts, slow threshold).
    time_scale: float = 1.0
    #: Graph requires HTTPS callbacks; tests and the sandbox allow plain http on loopback.
    allow_http_callbacks: bool = False
    # --- tokens (emulator time) ---
    access_token_lifetime: timedelta = timedelta(hours=1)
    refresh_token_lifetime: timedelta = timedelta(days=90)
    # --- subscriptions (providers.md §3) ---
    min_subscription_lifetime: timedelta = timedelta(minutes=45)
    #: 10,080 min is the current include (MS-LT); older pages said 4,230 min.
    max_subscription_lifetime: timedelta = timedelta(minutes=10_080)
    max_subscriptions_per_mailbox: int = 1000
    max_client_state_length: int = 128
    #: ``me/calendars/{id}/events`` is not in the documented resource table; accepted by default.
    allow_calendar_scoped_subscriptions: bool = True
    validation_timeout_s: float = 10.0
    # --- notification delivery (MS-WH) ---
    delivery_timeout_s: float = 3.0
    slow_threshold_s: float = 2.9
    retry_horizon: timedelta = timedelta(hours=4)
    retry_base_delay: timedelta = timedelta(minutes=1)
    retry_max_delay: timedelta = timedelta(minutes=30)
    max_batch_size: int = 100
    throttle_window_size: int = 100
    throttle_min_samples: int = 100
    throttle_slow_ratio: float = 0.10
    drop_slow_ratio: float = 0.15
    throttle_delay: timedelta = timedelta(minutes=10)
    throttle_window_flush: timedelta = timedelta(minutes=10)
    #: Real seconds between checks for deliveries that became due as emulator time passed.
    delivery_poll_interval_s: float = 0.5
    # --- delta (MS-DQO) ---
    delta_default_page_size: int = 10
    delta_max_page_size: int = 1000
    delta_reset_mode: DeltaResetMode = "gone"
    delta_replay_last_n: int = 0
    # --- throttling of API calls (MS-THRL) ---
    enforce_mailbox_concurrency: bool = False
    mailbox_concurrency_limit: int = 4
    concurrency_retry_after_s: int = 1
    #: Seed for ids and tokens so that runs are reproducible.
    seed: int | None = None

    def scaled(self, seconds: float) -> float:
        """A real-time network limit after applying ``time_scale``."""
        return seconds * self.time_scale
