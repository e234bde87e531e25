"""Background loops owned by the Application: a periodic tick that survives bad rounds, and teardown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

import structlog

from calsync.clock import Clock

log = structlog.get_logger("calsync.background")


async def every(
    name: str,
    interval: float,
    tick: Callable[[], Awaitable[object]],
    clock: Clock,
    *,
    first_delay: float = 0.0,
) -> None:
    """Run ``tick`` every ``interval`` seconds until cancelled; a failing round is logged, not fatal."""
    if first_delay > 0:
        await clock.sleep(first_delay)
    while True:
        try:
            await tick()
        except asyncio.CancelledError:
            raise
        except Exception:  # a loop must outlive one bad round (database blip, provider outage)
            log.exception("loop_round_failed", loop=name)
        await clock.sleep(interval)


async def cancel_all(tasks: Sequence[asyncio.Task[None]]) -> None:
    """Cancel the tasks and wait until each has finished unwinding."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
