"""Push notification channels (events.watch / channels.stop) and their webhook delivery.

Delivery follows the push guide: POST with an empty body, ``User-Agent: APIs-Google`` and the
``X-Goog-*`` headers; message 1 is ``sync``, later ones ``exists`` with increasing but
non-sequential numbers. 200/201/202/204/102 count as delivered; 500/502/503/504 (and network
failures) are retried with exponential backoff; anything else fails the message for good.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp

from calsync.clock import Clock
from channels.emulators.google.config import EmulatorConfig
from channels.emulators.google.faults import Counters, PushFaults
from channels.emulators.google.timeutil import http_date

SUCCESS = frozenset({102, 200, 201, 202, 204})
RETRYABLE = frozenset({500, 502, 503, 504})


@dataclass(slots=True)
class Channel:
    id: str
    resource_id: str
    resource_uri: str
    calendar_id: str
    owner: str
    client_id: str | None
    address: str
    token: str | None
    expiration: datetime
    last_number: int = 0
    stopped: bool = False

    def active(self, now: datetime) -> bool:
        return not self.stopped and now < self.expiration


@dataclass(frozen=True, slots=True)
class Message:
    channel: Channel
    number: int
    state: str

    def headers(self) -> dict[str, str]:
        out = {
            "User-Agent": "APIs-Google",
            "Content-Type": "application/json; utf-8",
            "X-Goog-Channel-ID": self.channel.id,
            "X-Goog-Channel-Expiration": http_date(self.channel.expiration),
            "X-Goog-Message-Number": str(self.number),
            "X-Goog-Resource-ID": self.channel.resource_id,
            "X-Goog-Resource-State": self.state,
            "X-Goog-Resource-URI": self.channel.resource_uri,
        }
        if self.channel.token is not None:
            out["X-Goog-Channel-Token"] = self.channel.token
        return out


class Notifier:
    """Schedules one delivery task per message; ``wait_idle`` flushes them for tests."""

    def __init__(self, clock: Clock, config: EmulatorConfig, faults: PushFaults, counters: Counters) -> None:
        self._clock = clock
        self._config = config
        self._faults = faults
        self._counters = counters
        self._rng = random.Random(config.seed + 1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def notify(self, channel: Channel, state: str) -> asyncio.Task[None] | None:
        now = self._clock.now()
        if not channel.active(now):
            return None
        # The first message on a channel is number 1; later ones leave gaps, as Google's do.
        channel.last_number = (
            1 if channel.last_number == 0 else channel.last_number + self._rng.randint(2, 40)
        )
        message = Message(channel, channel.last_number, state)
        task = asyncio.get_running_loop().create_task(self._deliver(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _deliver(self, message: Message) -> None:
        if self._faults.delay_seconds > 0:
            await self._clock.sleep(self._faults.delay_seconds)
        if self._rng.random() < self._faults.drop_fraction:
            self._counters.record_notification("dropped")
            return
        copies = 1
        if self._rng.random() < self._faults.duplicate_fraction:
            copies = 2
            self._counters.record_notification("duplicated")
        for _ in range(copies):
            await self._send(message)

    async def _send(self, message: Message) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        timeout = aiohttp.ClientTimeout(total=self._config.push_timeout_seconds)
        for attempt in range(self._config.push_max_attempts):
            if not message.channel.active(self._clock.now()):
                self._counters.record_notification("expired")
                return
            status: int | None = None
            try:
                async with self._session.post(
                    message.channel.address, data=b"", headers=message.headers(), timeout=timeout
                ) as response:
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                status = None
            if status in SUCCESS:
                self._counters.record_notification("delivered")
                return
            if (
                status is not None and status not in RETRYABLE
            ) or attempt + 1 == self._config.push_max_attempts:
                break
            self._counters.record_notification("retried")
            delay = self._config.push_retry_base_seconds * (2**attempt) * self._config.push_retry_scale
            await self._clock.sleep(delay)
        self._counters.record_notification("failed")


def expiration_for(now: datetime, requested_ms: int | None, ttl: timedelta, cap: timedelta) -> datetime:
    """The more restrictive of the requested expiration, the ttl and the emulator's limit."""
    limit = now + min(ttl, cap)
    if requested_ms is None:
        return limit
    requested = datetime.fromtimestamp(requested_ms / 1000, tz=now.tzinfo)
    return min(requested, limit)
