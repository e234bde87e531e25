"""Per-account request pacing: a token bucket, a concurrency cap, and jittered exponential backoff.

Providers meter per user/mailbox (Google ~per-user per-minute quotas, Outlook
10,000 requests / 10 min and 4 concurrent per app+mailbox), so every adapter
call for one account passes through that account's ``AccountThrottle``.
The bucket maths is pure (``reserve(now)``) and property-tested; waiting uses
the injected Clock.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from calsync.clock import Clock


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` banked. Reservations queue: no thundering herd."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp = now

    def reserve(self, now: float) -> float:
        """Take one token; return how long the caller must wait before using it (0 = now)."""
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._stamp = max(self._stamp, now)
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def penalize(self, seconds: float, now: float) -> None:
        """The provider said slow down: drain the bucket so nothing goes out for ``seconds``."""
        self.reserve(now)  # bring the balance up to date
        self._tokens = min(self._tokens, -seconds * self.rate)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Full-jitter exponential backoff (AWS style), never shorter than a provider's Retry-After."""

    base: float = 0.5
    cap: float = 120.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        ceiling = min(self.cap, self.base * (2 ** max(0, attempt)))
        jittered = rng.uniform(ceiling / 2, ceiling)
        return max(jittered, retry_after or 0.0)


class AccountThrottle:
    """One account's pacing: bucket + at most ``concurrency`` requests in flight."""

    def __init__(self, clock: Clock, rate: float, burst: float, concurrency: int) -> None:
        self._clock = clock
        self._bucket = TokenBucket(rate, burst, clock.monotonic())
        self._slots = asyncio.Semaphore(concurrency)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._slots:
            wait = self._bucket.reserve(self._clock.monotonic())
            if wait > 0:
                await self._clock.sleep(wait)
            yield

    def slow_down(self, seconds: float) -> None:
        self._bucket.penalize(seconds, self._clock.monotonic())


class AccountThrottles:
    """One AccountThrottle per account, made on first use, all with the same limits."""

    def __init__(self, clock: Clock, rate: float, burst: float, concurrency: int) -> None:
        self._clock, self._limits = clock, (rate, burst, concurrency)
        self._by_account: dict[str, AccountThrottle] = {}

    def __call__(self, account_id: str) -> AccountThrottle:
        throttle = self._by_account.get(account_id)
        if throttle is None:
            throttle = self._by_account[account_id] = AccountThrottle(self._clock, *self._limits)
        return throttle
