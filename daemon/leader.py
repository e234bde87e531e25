"""Leader election: exactly one replica runs the renewal scheduler and the safety resync.

PostgreSQL: the leader holds a session-level ``pg_try_advisory_lock`` on a *dedicated*
connection opened with psycopg directly (never a pooled one: a pool could hand the
session, and with it the lock, to unrelated work, or recycle it under us). The lock key
is derived from the deployment's schema (``current_schema()``), so deployments that
share one database under different schemas do not contend.

- The leader pings its connection every ``check_interval``; a failed or slow ping means
  the lock may be gone, so the leader cancels its work at once and becomes a follower.
- ``idle_session_timeout`` is set on the leader's session: if the leader is cut off
  (network partition, frozen process), the server ends the session — and frees the lock —
  after that long without a ping, instead of waiting for TCP keepalives (minutes).
- Followers try the lock every ``retry_interval``. Takeover after a leader dies takes at
  most ``retry_interval`` after the server noticed (instantly for a kill -9: the kernel
  closes the socket) — well inside 10 s with the defaults.

Residual overlap: between the server ending the old session and the old leader's next
ping (at most ``check_interval``), the old leader may still finish a provider call it had
started. Renewals are idempotent in effect (a spare Google channel is retired by the
next round), so this costs a duplicate channel, never a lapse.

SQLite: one process owns the file, so it is always the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from sqlalchemy.engine import make_url

from calsync.clock import Clock

log = structlog.get_logger("calsync.leader")

Work = Callable[[], Coroutine[Any, Any, None]]
Conn = psycopg.AsyncConnection[tuple[Any, ...]]
LOCK_NAME = "calsync:renewal-leader"


@dataclass(frozen=True, slots=True)
class LeaderSettings:
    retry_interval: float = 2.0  # followers try the lock this often
    check_interval: float = 1.0  # the leader pings its connection this often
    ping_timeout: float = 2.0  # a ping slower than this counts as a lost connection
    idle_session_timeout_ms: int = 10_000  # server frees the lock of a silent leader after this
    connect_timeout: int = 5


def instance_name() -> str:
    """Who renews, for logs and the status page: host, pid and a random suffix (pids repeat)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def lock_key(schema: str) -> int:
    """A signed 64-bit advisory-lock key for this deployment's schema."""
    digest = hashlib.sha256(f"{LOCK_NAME}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def conninfo(database_url: str) -> str:
    """The libpq URI for a calsync PostgreSQL URL (driver suffix dropped, query options kept)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class LeaderElector:
    """Runs ``work`` only while this instance is the leader; cancels it the moment it is not."""

    def __init__(
        self,
        database_url: str,
        clock: Clock,
        settings: LeaderSettings | None = None,
        instance: str | None = None,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self._url = database_url
        self._clock = clock
        self.settings = settings or LeaderSettings()
        self.instance = instance or instance_name()
        self.is_leader = False
        self.terms = 0  # how many times this instance became leader
        self._on_change = on_change
        self._key = 0

    @property
    def uses_lock(self) -> bool:
        return make_url(self._url).get_backend_name() == "postgresql"

    async def run(self, work: Work) -> None:
        """Forever: win the lock, run ``work`` while holding it, follow otherwise. Cancel to stop."""
        with structlog.contextvars.bound_contextvars(instance=self.instance):
            if not self.uses_lock:
                self._set(True)
                try:
                    await work()
                finally:
                    self._set(False)
                return
            conn: Conn | None = None
            try:
                while True:
                    # Followers keep one connection and retry the lock on it (no connect churn).
                    if conn is None or conn.closed:
                        conn = await self._connect()
                    if conn is not None and await self._try_lock(conn):
                        try:
                            await self._lead(conn, work)
                        finally:
                            self._set(False)
                            await self._close(conn)  # frees the lock server-side, if still held
                            conn = None
                    await self._clock.sleep(self.settings.retry_interval)
            finally:
                if conn is not None:
                    await self._close(conn)

    async def _connect(self) -> Conn | None:
        s = self.settings
        try:
            conn = await psycopg.AsyncConnection.connect(
                conninfo(self._url), autocommit=True, connect_timeout=s.connect_timeout
            )
            await conn.execute(f"SET idle_session_timeout = {int(s.idle_session_timeout_ms)}")
            cur = await conn.execute("SELECT current_schema()")
            row = await cur.fetchone()
        except psycopg.Error as err:
            log.warning("leader_connect_failed", error=type(err).__name__)
            return None
        self._key = lock_key(str(row[0]) if row else "public")
        return conn

    async def _try_lock(self, conn: Conn) -> bool:
        try:
            cur = await asyncio.wait_for(
                conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)), self.settings.ping_timeout
            )
            row = await cur.fetchone()
        except (psycopg.Error, TimeoutError, OSError) as err:
            log.warning("leader_acquire_failed", error=type(err).__name__)
            await self._close(conn)
            return False
        return bool(row and row[0])

    async def _close(self, conn: Conn) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), self.settings.ping_timeout)

    async def _lead(self, conn: Conn, work: Work) -> None:
        self.terms += 1
        self._set(True)
        log.info("leader_acquired", term=self.terms)
        task = asyncio.create_task(work(), name="leader-work")
        try:
            while not task.done():
                done, _ = await asyncio.wait({task}, timeout=self.settings.check_interval)
                if done:
                    break
                if not await self._ping(conn):
                    log.warning("leader_lost", reason="database connection lost")
                    break
        finally:
            if not task.done():
                task.cancel()
            await asyncio.wait({task})  # never raises: the work's own failure is logged below
        if not task.cancelled() and task.exception() is not None:
            log.error("leader_work_failed", error=repr(task.exception()))

    async def _ping(self, conn: Conn) -> bool:
        try:
            await asyncio.wait_for(conn.execute("SELECT 1"), self.settings.ping_timeout)
        except (psycopg.Error, TimeoutError, OSError):
            return False
        return True

    def _set(self, leader: bool) -> None:
        if leader != self.is_leader:
            self.is_leader = leader
            if self._on_change is not None:
                self._on_change(leader)
