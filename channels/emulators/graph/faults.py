"""Request-side faults and counters: injected 429s, per-mailbox request counts and concurrency.

MS-THRL: Outlook allows 4 concurrent requests per app+mailbox; with ``enforce_mailbox_concurrency``
the emulator answers the fifth with 429 ``ApplicationThrottled`` and ``Retry-After``. Tests can also
queue 429s for the next N calls of one mailbox and add real latency to watch concurrency build up.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class InjectedThrottle:
    remaining: int
    retry_after_s: int
    code: str = "TooManyRequests"
    message: str = "Application is over its MailboxConcurrency limit."


@dataclass
class Counters:
    requests: Counter[str] = field(default_factory=Counter)
    in_flight: Counter[str] = field(default_factory=Counter)
    peak_concurrency: Counter[str] = field(default_factory=Counter)
    throttled_responses: Counter[str] = field(default_factory=Counter)
    notification_posts: int = 0
    notifications_delivered: int = 0
    notifications_failed_attempts: int = 0
    notifications_retried: int = 0
    notifications_discarded: int = 0
    notifications_dropped_fault: int = 0
    notifications_dropped_throttled: int = 0
    notifications_delayed_throttled: int = 0
    notifications_duplicated: int = 0
    lifecycle_delivered: int = 0
    validations: int = 0
    validations_failed: int = 0

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in vars(self).items():
            out[key] = dict(value) if isinstance(value, Counter) else value
        return out


class RequestFaults:
    def __init__(self) -> None:
        self.injected: dict[str, InjectedThrottle] = {}
        #: Real seconds added to each API call (to make concurrency observable).
        self.latency_s = 0.0

    def inject_429(self, user_id: str, count: int, retry_after_s: int, code: str = "TooManyRequests") -> None:
        self.injected[user_id] = InjectedThrottle(count, retry_after_s, code)

    def take(self, user_id: str) -> InjectedThrottle | None:
        fault = self.injected.get(user_id)
        if fault is None or fault.remaining <= 0:
            return None
        fault.remaining -= 1
        return fault
