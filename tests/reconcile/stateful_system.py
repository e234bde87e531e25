"""The running system the reconcile state machine drives: emulator, SMTP sink and a restartable daemon.

    loop = LoopThread()                      # one asyncio loop in a thread, for the whole test
    sink = MailSink.start()                  # aiosmtpd in its own thread, like the other suites
    system = loop.run(System.start(db_url, sink.url))
    system.google_service()                  # the real client as the calendar's user (call it
                                             # from the test thread: the loop serves it meanwhile)
    loop.run(system.restart())               # stop the daemon, start a new one on the same database
    loop.run(system.settle())                # until nothing is in flight anywhere

Hypothesis' state machines are synchronous, so everything asynchronous lives on a loop that
keeps running in a background thread between steps: the daemon's consumers, the emulator's
push deliveries and the webhook receiver make progress while the machine decides its next
step, as they would in production. The daemon is the real ``create_app(settings)`` on
SQLite with the embedded bus; its one calendar (the user's primary Google calendar) is the
profile's push calendar. ``tests/sync/harness.py`` builds the same pieces but owns the
emulator and the app for one ``async with``; a restart needs them apart, hence this module.
"""

from __future__ import annotations

import asyncio
import email
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet
from sqlmodel import col, func, select

from calsync.clock import SystemClock
from calsync.crypto import Cipher
from calsync.envelope import TOPIC_SIGNALS
from channels.emulators.google import EmulatorConfig, GoogleEmulator
from channels.emulators.google import create_app as create_emulator_app
from daemon.app import create_app
from daemon.appkeys import DATABASE
from daemon.bus.base import H_MESSAGE_ID
from daemon.buskeys import BUS, RELAY
from daemon.config import Settings
from daemon.reconcile_wiring import RECONCILE, NotifySettings
from daemon.sync_wiring import SYNC
from handlers.signals import calendar_changed
from store import accounts, calendars
from store import channels as channel_store
from store.api_keys import create_key
from store.db import Database
from store.organizations import upsert_organization
from store.outbox import enqueue
from store.profiles import create_profile
from store.tables import Appointment, OutboxMessage, SentNotification
from tests.conftest import _migrate
from tests.emulators.google.conftest import google_client
from tests.sync.harness import CLIENT_ID, FAST, USER
from tests.tansu import free_port

T = TypeVar("T")

# Push retries span ~3 s (0.1 + 0.2 + ... + 1.6): longer than a restart's gap, so a notification
# sent while the daemon is down arrives once it is back, as Google's retries would make it.
EMULATOR_CONFIG = EmulatorConfig(allow_http_callbacks=True, push_retry_scale=0.1, push_retry_base_seconds=1.0)


class LoopThread:
    """An asyncio loop running in a daemon thread; ``run`` submits a coroutine and waits for it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="stateful-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class MailSink:
    """aiosmtpd handler in its own thread: every accepted message with its recipients.

    ``replies`` are consumed first, one per DATA: an SMTP reply (say ``"451 ..."``; the message
    is not kept), or ``"hold"``: answer nothing until ``release`` is set, then 451.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[tuple[tuple[str, ...], bytes]] = []
        self.replies: list[str] = []
        self.release = threading.Event()
        self.url = ""
        self._controller: Controller | None = None

    @classmethod
    def start(cls) -> MailSink:
        sink = cls()
        port = free_port()
        sink._controller = Controller(sink, hostname="127.0.0.1", port=port)
        sink._controller.start()
        sink.url = f"smtp://127.0.0.1:{port}"
        return sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            reply = self.replies.pop(0) if self.replies else None
            if reply is None:
                self._messages.append((tuple(envelope.rcpt_tos), bytes(envelope.content)))
                return "250 OK"
        if reply == "hold":
            while not self.release.is_set():
                await asyncio.sleep(0.01)
            return "451 4.3.0 try again later"
        return reply

    def messages(self) -> list[tuple[tuple[str, ...], bytes]]:
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self.replies.clear()
        self.release.clear()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()


def message_id(content: bytes) -> str:
    """An e-mail's Message-ID local part: the ``sent_notification`` row's ``message_id``."""
    return str(email.message_from_bytes(content)["Message-ID"]).strip("<>").partition("@")[0]


@dataclass(frozen=True, slots=True)
class World:
    """What lives for a whole test: the loop thread, the SMTP sink, a directory for databases."""

    loop: LoopThread
    sink: MailSink
    directory: Path

    def database(self, name: str) -> str:
        """A fresh, migrated SQLite database URL."""
        url = f"sqlite:///{self.directory}/{name}.db"
        _migrate(url)
        return url


@contextmanager
def running_world(directory: Path) -> Iterator[World]:
    loop, sink = LoopThread(), MailSink.start()
    try:
        yield World(loop, sink, directory)
    finally:
        sink.stop()
        loop.close()


@dataclass(frozen=True, slots=True)
class Quiet:
    """What must hold for the system to count as settled, and a fingerprint of its progress."""

    idle: bool
    fingerprint: tuple[int, ...]
    detail: str


@dataclass
class System:
    emulator: GoogleEmulator
    emulator_server: TestServer
    emulator_url: str
    settings: Settings
    user_token: str
    organization_id: str
    profile_id: str
    calendar_id: str
    api_key: str
    notify: NotifySettings
    app: web.Application | None = None
    runner: web.AppRunner | None = None
    http: aiohttp.ClientSession | None = None
    restarts: int = 0
    # Run once, just before the emulator handles calsync's next events.update (PUT): a way to
    # let the owner act at an exact point of the push worker's work (the owner's client never PUTs).
    before_next_update: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _db_view: Database | None = field(default=None, repr=False)

    # -- life cycle ------------------------------------------------------------------------
    @classmethod
    async def start(cls, database_url: str, smtp_url: str, notify: NotifySettings | None = None) -> System:
        emulator = GoogleEmulator(clock=SystemClock(), config=EMULATOR_CONFIG)
        hooks: list[Callable[[], Awaitable[None]]] = []

        @web.middleware
        async def before_update(request: web.Request, handler: Any) -> web.StreamResponse:
            if request.method == "PUT" and "/events/" in request.path and hooks:
                await hooks.pop(0)()
            response: web.StreamResponse = await handler(request)
            return response

        emulator_app = create_emulator_app(emulator)
        emulator_app.middlewares.append(before_update)
        server = TestServer(emulator_app, host="127.0.0.1")
        await server.start_server()
        emulator_url = str(server.make_url("")).rstrip("/")
        port = free_port()
        settings = Settings(
            listen_port=port,
            public_url=f"http://127.0.0.1:{port}",
            database_url=database_url,
            secret_keys=(Fernet.generate_key().decode(),),
            google_api_url=f"{emulator_url}/calendar/v3",
            google_token_url=f"{emulator_url}/token",
            smtp_url=smtp_url,
            log_format="console",
            shutdown_timeout=4.0,
        )
        user_token = emulator.create_user(USER, time_zone="Europe/Berlin", client_id=CLIENT_ID)
        calsync_token = emulator.add_refresh_token(USER, client_id=CLIENT_ID)
        org_id, profile_id = f"org-{uuid.uuid4().hex[:6]}", f"prof-{uuid.uuid4().hex[:6]}"
        now = SystemClock().now()
        db = Database(database_url)
        try:
            async with db.session() as session:
                await upsert_organization(session, org_id, "Acme Coaching", None, now)
                await create_profile(
                    session, profile_id=profile_id, organization_id=org_id, name="Ada",
                    email=USER, time_zone="Europe/Berlin", now=now,
                )  # fmt: skip
                account = await accounts.create_account(
                    session, organization_id=org_id, profile_id=profile_id, provider="google",
                    external_account=USER, client_id=CLIENT_ID, client_secret="s3cret",
                    refresh_token=calsync_token, cipher=Cipher(settings.secret_keys), now=now,
                )  # fmt: skip
                calendar = await calendars.upsert_calendar(
                    session, account_id=account.id, profile_id=profile_id, external_id=USER,
                    name="Ada", role="push", now=now,
                )  # fmt: skip
                api_key, _ = await create_key(session, "stateful", org_id, now)
                calendar_id = calendar.id
        finally:
            await db.close()
        system = cls(
            emulator, server, emulator_url, settings, user_token, org_id, profile_id, calendar_id, api_key,
            notify or NotifySettings(), before_next_update=hooks,
        )  # fmt: skip
        system.http = aiohttp.ClientSession()
        system._db_view = Database(database_url)
        await system.start_daemon()
        return system

    async def start_daemon(self) -> None:
        app = create_app(self.settings, clock=SystemClock())
        app[SYNC].settings = FAST
        app[RECONCILE].settings = self.notify
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.settings.listen_port).start()
        self.app, self.runner = app, runner
        await self._wait(self._ready, 20.0, "daemon ready (bus assigned, calendar synced, channel active)")

    async def stop_daemon(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        self.app = self.runner = None

    async def restart(self) -> None:
        """Stop the daemon (SIGTERM-like: drain, commit, release) and start a new one, same database."""
        await self.stop_daemon()
        self.restarts += 1
        await self.start_daemon()

    async def close(self) -> None:
        await self.stop_daemon()
        if self.http is not None:
            await self.http.close()
        if self._db_view is not None:
            await self._db_view.close()
        await self.emulator.close()
        await self.emulator_server.close()

    async def _ready(self) -> bool:
        assert self.app is not None
        assigned = self.app[BUS].assignment()
        if not assigned or not all(assigned.values()):
            return False
        async with self.db.session() as session:
            cal = await calendars.get_calendar(session, self.calendar_id)
            chans = await channel_store.channels_for_calendar(session, self.calendar_id)
        return cal is not None and cal.last_synced_at is not None and any(c.state == "active" for c in chans)

    @staticmethod
    async def _wait(condition: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not await condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"not reached within {timeout}s: {what}")
            await asyncio.sleep(0.05)

    @property
    def db(self) -> Database:
        """The running daemon's database handle (SQLite: its one connection), else a separate one."""
        if self.app is not None:
            return self.app[DATABASE]
        assert self._db_view is not None
        return self._db_view

    # -- the host app, over the public HTTP API --------------------------------------------
    async def put(self, appointment_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("PUT", appointment_id, body, "?allow_conflict=true")

    async def delete(self, appointment_id: str) -> dict[str, Any]:
        return await self._call("DELETE", appointment_id)

    async def get(self, appointment_id: str) -> dict[str, Any]:
        return await self._call("GET", appointment_id)

    async def _call(
        self, method: str, appointment_id: str, body: dict[str, Any] | None = None, query: str = ""
    ) -> dict[str, Any]:
        assert self.http is not None
        url = f"{self.settings.public_url}/v1/appointments/{appointment_id}{query}"
        headers = {"Authorization": f"Bearer {self.api_key}"}
        async with self.http.request(method, url, json=body, headers=headers) as response:
            assert response.status in (200, 201), f"{method} {url}: {response.status} {await response.text()}"
            data: dict[str, Any] = await response.json()
            return data

    # -- the calendar's user ---------------------------------------------------------------
    def google_service(self) -> Any:
        """The real google-api-python-client, acting as the calendar's owner (not as calsync)."""
        return google_client(self.emulator_url, self.user_token, CLIENT_ID)

    # -- redeliveries ----------------------------------------------------------------------
    async def signal_sync(self, *, full: bool) -> None:
        """A ``calendar.changed`` signal through the outbox, as a manual or safety resync records it."""
        now = SystemClock().now()
        async with self.db.session() as session:
            enqueue(
                session,
                TOPIC_SIGNALS,
                calendar_changed(self.calendar_id, "google", "manual", now, full=full),
                now,
            )

    async def republish(self, pick: int) -> str | None:
        """Publish an already published outbox row to the bus once more (an at-least-once duplicate)."""
        assert self.app is not None
        async with self.db.session() as session:
            rows = (
                await session.exec(
                    select(OutboxMessage)
                    .where(col(OutboxMessage.published_at).is_not(None))
                    .order_by(col(OutboxMessage.id))
                )
            ).all()
        if not rows:
            return None
        row = rows[pick % len(rows)]
        await self.app[BUS].publish(row.topic, row.key, bytes(row.payload), {H_MESSAGE_ID: row.message_id})
        return row.topic

    # -- settling --------------------------------------------------------------------------
    async def quiet(self) -> Quiet:
        """One look at every place work can be in flight."""
        assert self.app is not None
        await self.emulator.wait_idle()  # push deliveries (and their retries) to the webhook
        backlog = await self.app[RELAY].backlog()
        lag = await self.app[BUS].lag()
        async with self.db.session() as session:
            unsent = (
                await session.exec(
                    select(SentNotification).where(col(SentNotification.state).in_(("pending", "sending")))
                )
            ).all()
            pending = (
                await session.exec(select(func.count()).where(col(Appointment.sync_state) == "pending"))
            ).one()
            newest = (await session.exec(select(func.max(OutboxMessage.id)))).one() or 0
        requests = sum(self.emulator.counters.requests.values())
        behind = sum(lag.values())
        idle = backlog.pending == 0 and behind == 0 and not unsent and pending == 0
        notes = [(n.appointment_id, n.version, n.state, n.attempts, n.last_error) for n in unsent]
        detail = (
            f"outbox={backlog.pending} lag={dict(lag)} unsent_notifications={notes} pending_push={pending}"
        )
        return Quiet(idle, (newest, requests, self.restarts), detail)

    async def settle(self, timeout: float = 30.0) -> None:
        """Until two looks 0.15 s apart find nothing in flight and no progress in between."""
        deadline = time.monotonic() + timeout
        previous: Quiet | None = None
        while True:
            now = await self.quiet()
            if (
                now.idle
                and previous is not None
                and previous.idle
                and previous.fingerprint == now.fingerprint
            ):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the system did not settle within {timeout}s: {now.detail}")
            previous = now
            await asyncio.sleep(0.15)

    def failed_pushes(self) -> int:
        """Notifications the emulator gave up on (all retries failed): only a resync recovers them."""
        return int(self.emulator.counters.notifications["failed"])


def slot(day: int, hour: int) -> dict[str, str]:
    """Start and end (one hour) of a slot ``day`` days from today at ``hour`` UTC."""
    base = SystemClock().now().replace(hour=0, minute=0, second=0, microsecond=0)
    start = base + timedelta(days=day, hours=hour)
    return {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}
