"""Fault injection and counters: API errors on demand, unreliable push, and usage numbers.

All randomness comes from RNGs seeded from the emulator config, so a failing test replays.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from channels.emulators.google.errors import FAULTS, ApiError, Json, fault

FaultKind = Literal[
    "rateLimitExceeded", "rateLimitExceeded429", "userRateLimitExceeded", "quotaExceeded", "backendError"
]
NotificationCounter = Literal["delivered", "dropped", "duplicated", "retried", "failed", "expired"]


@dataclass(slots=True)
class FaultRule:
    kind: str
    remaining: int | None
    fraction: float | None
    user: str | None


class FaultInjector:
    """Makes API calls fail: the next N calls, or a seeded fraction of calls (per user or all)."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._rules: list[FaultRule] = []

    def inject(
        self, kind: str, *, count: int | None = None, fraction: float | None = None, user: str | None = None
    ) -> None:
        if kind not in FAULTS:
            raise ValueError(f"unknown fault kind {kind!r}; choose from {sorted(FAULTS)}")
        if (count is None) == (fraction is None):
            raise ValueError("give exactly one of count or fraction")
        self._rules.append(FaultRule(kind, count, fraction, user))

    def clear(self) -> None:
        self._rules.clear()

    def check(self, user: str) -> ApiError | None:
        for rule in self._rules:
            if rule.user is not None and rule.user != user:
                continue
            if rule.remaining is not None:
                if rule.remaining > 0:
                    rule.remaining -= 1
                    return fault(rule.kind)
            elif rule.fraction is not None and self._rng.random() < rule.fraction:
                return fault(rule.kind)
        self._rules = [r for r in self._rules if r.remaining is None or r.remaining > 0]
        return None


@dataclass(slots=True)
class PushFaults:
    """How unreliable push delivery is: "Expect a small percentage of messages to get dropped"."""

    drop_fraction: float = 0.0
    duplicate_fraction: float = 0.0
    delay_seconds: float = 0.0


class Counters:
    """Requests per user per minute (emulator clock) and push delivery outcomes."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str]] = Counter()
        self.notifications: Counter[str] = Counter()

    def record_request(self, user: str, now: datetime) -> None:
        self.requests[(user, now.strftime("%Y-%m-%dT%H:%M"))] += 1

    def record_notification(self, outcome: NotificationCounter) -> None:
        self.notifications[outcome] += 1

    def requests_per_minute(self, user: str) -> dict[str, int]:
        return {minute: n for (who, minute), n in sorted(self.requests.items()) if who == user}

    def snapshot(self) -> Json:
        per_user: dict[str, dict[str, int]] = {}
        for (user, minute), count in sorted(self.requests.items()):
            per_user.setdefault(user, {})[minute] = count
        return {"requestsPerUserPerMinute": per_user, "notifications": dict(self.notifications)}

    def reset(self) -> None:
        self.requests.clear()
        self.notifications.clear()
