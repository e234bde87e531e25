"""Background loops owned by the Application: a periodic tick that survives bad rounds, and teardown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

import structlog

from calsync.clock import Clock

log = structlog.get_logger("calsync.background")
ROUND_GRACE: Final = 3.0  # seconds a round in flight may take to finish once its loop is stopped


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
        round_ = asyncio.ensure_future(tick())
        try:
            await asyncio.shield(round_)
        except asyncio.CancelledError:
            await _finish(name, round_)
            raise
        except Exception:  # a loop must outlive one bad round (database blip, provider outage)
            log.exception("loop_round_failed", loop=name)
        await clock.sleep(interval)


async def _finish(name: str, round_: asyncio.Future[object]) -> None:
    """Stopped mid-round: let the round end first, within a bound.

    A round cut off mid-way can strand what it claimed (an e-mail marked ``sending`` waits
    for the stale-claim retry, and may go out twice if the server had accepted it), so the
    round in flight gets ``ROUND_GRACE`` seconds to finish before it is cancelled too.
    """
    try:
        await asyncio.wait_for(round_, ROUND_GRACE)
    except TimeoutError:
        log.warning("loop_round_abandoned", loop=name, grace_seconds=ROUND_GRACE)
    except Exception:  # shutting down: a failing last round is only logged
        log.exception("loop_round_failed", loop=name)


async def cancel_all(tasks: Sequence[asyncio.Task[None]]) -> None:
    """Cancel the tasks and wait until each has finished unwinding."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
