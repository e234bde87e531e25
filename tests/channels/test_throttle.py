"""The token bucket never lets more than burst + rate*T requests start in any window T."""

from __future__ import annotations

import asyncio
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from calsync.clock import FakeClock
from channels.throttle import AccountThrottle, Backoff, TokenBucket


@settings(max_examples=200)
@given(
    rate=st.floats(0.5, 50),
    burst=st.integers(1, 20),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=200),
)
def test_bucket_bound_holds_for_any_arrival_pattern(rate: float, burst: int, gaps: list[float]) -> None:
    bucket = TokenBucket(rate, burst, now=0.0)
    now, starts = 0.0, []
    for gap in gaps:
        now += gap
        starts.append(now + bucket.reserve(now))
    starts.sort()
    # Any window [starts[i], starts[j]] holds j-i+1 starts; it may not exceed burst + rate * width.
    for i in range(len(starts)):
        for j in range(i, len(starts)):
            assert j - i + 1 <= burst + rate * (starts[j] - starts[i]) + 1e-6


def test_reservations_queue_in_order() -> None:
    bucket = TokenBucket(rate=1, burst=1, now=0)
    assert [bucket.reserve(0) for _ in range(3)] == [0, 1, 2]


def test_penalty_blocks_for_retry_after() -> None:
    bucket = TokenBucket(rate=10, burst=10, now=0)
    bucket.penalize(5, now=0)
    assert bucket.reserve(0) >= 5


@given(st.integers(0, 30), st.one_of(st.none(), st.floats(0, 500)))
def test_backoff_bounds(attempt: int, retry_after: float | None) -> None:
    policy = Backoff(base=0.5, cap=60)
    delay = policy.delay(attempt, random.Random(attempt), retry_after)
    ceiling = min(60, 0.5 * 2**attempt)
    assert delay >= (retry_after or 0) and (delay <= ceiling or delay == retry_after)


async def test_throttle_caps_concurrency_and_paces() -> None:
    clock = FakeClock()
    throttle = AccountThrottle(clock, rate=2, burst=2, concurrency=4)
    in_flight = peak = 0
    started: list[float] = []

    async def call() -> None:
        nonlocal in_flight, peak
        async with throttle.slot():
            started.append(clock.monotonic())
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0)
            in_flight -= 1

    await asyncio.gather(*(call() for _ in range(10)))
    assert peak <= 4
    assert len(started) == 10 and max(started) >= (10 - 2) / 2 - 1e-9  # 8 beyond the burst at 2/s
