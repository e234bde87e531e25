"""A wake-up signal that cannot be missed: waiters pass the generation they last saw."""

from __future__ import annotations

import asyncio
import contextlib


class Pulse:
    def __init__(self) -> None:
        self.generation = 0
        self._event = asyncio.Event()

    def fire(self) -> None:
        self.generation += 1
        # set() then clear() wakes everyone waiting now; later waiters compare generations.
        self._event.set()
        self._event.clear()

    async def wait(self, seen: int, timeout: float) -> None:  # noqa: ASYNC109 (a bounded poll, by design)
        """Return when fired after ``seen`` was read, or after ``timeout`` seconds."""
        if self.generation != seen:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)


class TopicPulses:
    """One Pulse per partition of a topic: a publish wakes only the workers of its partitions."""

    def __init__(self) -> None:
        self._pulses: dict[int, Pulse] = {}

    def of(self, partition: int) -> Pulse:
        return self._pulses.setdefault(partition, Pulse())

    def fire(self, partition: int) -> None:
        self.of(partition).fire()

    def fire_all(self) -> None:
        for pulse in self._pulses.values():
            pulse.fire()
