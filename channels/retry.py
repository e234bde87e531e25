"""Run a provider call under its account's throttle, retrying what is worth retrying.

RateLimited drains the account's bucket for Retry-After (or a backoff delay) so
that every concurrent caller of that account waits too; other transient
failures back off with jitter. Everything else propagates at once.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from calsync.clock import Clock
from calsync.errors import RateLimited, TransientProviderError
from channels.throttle import AccountThrottle, Backoff

T = TypeVar("T")


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    throttle: AccountThrottle,
    clock: Clock,
    backoff: Backoff,
    rng: random.Random,
    attempts: int = 5,
) -> T:
    last: TransientProviderError | None = None
    for attempt in range(attempts):
        try:
            async with throttle.slot():
                return await call()
        except RateLimited as err:
            last = err
            throttle.slow_down(backoff.delay(attempt, rng, err.retry_after))
        except TransientProviderError as err:
            last = err
            await clock.sleep(backoff.delay(attempt, rng))
    assert last is not None
    raise last
