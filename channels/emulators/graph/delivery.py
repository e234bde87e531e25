"""Outbound HTTP: the subscription validation handshake and batched notification delivery.

MS-VAL: POST ``{url}?validationToken=…`` (text/plain), expect 200 ``text/plain`` echoing the decoded
token within 10 s. MS-WH: POST ``{"value": [...]}``; anything but a 2xx within 3 s is a failure and is
retried (emulator time) for up to 4 hours, then discarded. Items due for the same URL travel in one
batch, and at most one batch per URL is in flight. Retry waits, throttle penalties and the retry
horizon are emulator time (the Clock); receiver timeouts are real time scaled by ``time_scale``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

import aiohttp

from calsync.clock import Clock

from .config import GraphEmulatorConfig
from .faults import Counters
from .ids import IdFactory
from .throttling import ThrottleBook

Kind = Literal["change", "lifecycle"]
JSON_TYPE = "application/json; charset=utf-8"
#: The text Graph itself puts in validation tokens; it needs URL-encoding, which receivers must undo.
VALIDATION_PREFIX = "Validation: Testing client application reachability for subscription Request-Id: "


@dataclass(slots=True)
class Pending:
    url: str
    item: dict[str, Any]
    kind: Kind
    first_at: datetime
    not_before: datetime
    attempts: int = 0


@dataclass(slots=True)
class DeliveryFaults:
    drop_next: int = 0
    duplicate_next: int = 0
    delay: timedelta = timedelta(0)


class Notifier:
    def __init__(self, config: GraphEmulatorConfig, clock: Clock, ids: IdFactory, counters: Counters) -> None:
        self.config = config
        self.clock = clock
        self.ids = ids
        self.counters = counters
        self.throttle = ThrottleBook(config)
        self.faults = DeliveryFaults()
        self.queue: list[Pending] = []
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    # --- lifecycle ---
    async def start(self) -> None:
        if self._worker is None:
            self._session = aiohttp.ClientSession()
            self._worker = asyncio.create_task(self._run(), name="graph-emulator-delivery")

    async def stop(self) -> None:
        """Cancel the worker and in-flight posts; undelivered items stay queued (and are lost)."""
        tasks = [t for t in (self._worker, *self._busy.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._worker = None
        self._busy.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError(
                "GraphEmulator not started: call `await emulator.start()` or serve create_app()"
            )
        return self._session

    def kick(self) -> None:
        self._wake.set()

    # --- validation handshake ---
    async def validate(self, url: str) -> bool:
        token = f"{VALIDATION_PREFIX}{self.ids.guid()}"
        target = f"{url}{'&' if '?' in url else '?'}validationToken={quote(token, safe='')}"
        self.counters.validations += 1
        timeout = aiohttp.ClientTimeout(total=self.config.scaled(self.config.validation_timeout_s))
        try:
            async with self.session.post(
                target, data=b"", headers={"Content-Type": "text/plain; charset=utf-8"}, timeout=timeout
            ) as resp:
                body = await resp.text()
                ok = resp.status == 200 and resp.content_type == "text/plain" and body == token
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        self.counters.validations_failed += int(not ok)
        return ok

    # --- queueing ---
    def enqueue(self, url: str, item: dict[str, Any], kind: Kind = "change") -> None:
        now = self.clock.now()
        if kind == "change" and self.faults.drop_next > 0:
            self.faults.drop_next -= 1
            self.counters.notifications_dropped_fault += 1
            return
        copies = 1
        if kind == "change" and self.faults.duplicate_next > 0:
            self.faults.duplicate_next -= 1
            self.counters.notifications_duplicated += 1
            copies = 2
        for _ in range(copies):
            self.queue.append(Pending(url, item, kind, now, now + self.faults.delay))
        self.kick()

    def _due(self, now: datetime) -> list[Pending]:
        return [p for p in self.queue if p.not_before <= now and p.url not in self._busy]

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.delivery_poll_interval_s)
            self._wake.clear()
            self._dispatch()

    def _dispatch(self) -> None:
        now = self.clock.now()
        by_url: dict[str, list[Pending]] = {}
        for p in self._due(now):
            by_url.setdefault(p.url, []).append(p)
        for url, items in by_url.items():
            state = self.throttle.state(url, now)
            if state == "dropping":
                self._forget(items)
                self.counters.notifications_dropped_throttled += len(items)
                self.throttle.note(url, now, dropped=len(items))
                continue
            if state == "throttled":
                for p in items:
                    p.not_before = now + self.config.throttle_delay
                self.counters.notifications_delayed_throttled += len(items)
                self.throttle.note(url, now, delayed=len(items))
                continue
            batch = items[: self.config.max_batch_size]
            self._forget(batch)
            self._busy[url] = asyncio.create_task(self._send(url, batch))

    def _forget(self, items: list[Pending]) -> None:
        ids = {id(p) for p in items}
        self.queue = [p for p in self.queue if id(p) not in ids]

    async def _send(self, url: str, batch: list[Pending]) -> None:
        loop = asyncio.get_running_loop()
        limit = self.config.scaled(self.config.delivery_timeout_s)
        # Real elapsed time of the receiver's answer: an I/O measurement, not business time.
        started = loop.time()
        ok = False
        try:
            self.counters.notification_posts += 1
            async with self.session.post(
                url,
                json={"value": [p.item for p in batch]},
                headers={"Content-Type": JSON_TYPE},
                timeout=aiohttp.ClientTimeout(total=limit),
            ) as resp:
                await resp.read()
                ok = 200 <= resp.status < 300
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        elapsed = loop.time() - started
        ok = ok and elapsed <= limit
        now = self.clock.now()
        self.throttle.record(
            url, slow=elapsed > self.config.scaled(self.config.slow_threshold_s), ok=ok, now=now
        )
        if ok:
            for p in batch:
                if p.kind == "lifecycle":
                    self.counters.lifecycle_delivered += 1
                else:
                    self.counters.notifications_delivered += 1
        else:
            self.counters.notifications_failed_attempts += len(batch)
            for p in batch:
                p.attempts += 1
                if now - p.first_at >= self.config.retry_horizon:
                    self.counters.notifications_discarded += 1
                    continue
                backoff = self.config.retry_base_delay * (2 ** (p.attempts - 1))
                p.not_before = now + min(backoff, self.config.retry_max_delay)
                self.counters.notifications_retried += 1
                self.queue.append(p)
        self._busy.pop(url, None)
        self.kick()

    # --- test helpers ---
    async def wait_idle(self, limit_s: float = 10.0) -> None:
        """Return once nothing is in flight and nothing queued is due at the current emulator time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while True:
            now = self.clock.now()
            # Items for throttled or dropping endpoints count too: dispatch will delay or drop them.
            due = [p for p in self.queue if p.not_before <= now]
            if not self._busy and not due:
                return
            if loop.time() > deadline:
                raise TimeoutError(f"deliveries still pending: {len(due)} due, {len(self._busy)} in flight")
            self.kick()
            await asyncio.sleep(0.005)
