"""``POST /webhooks/google``: the thin aiohttp view over ``google_push`` (verify, record, ack).

Never calls Google and never reads the body (Google sends none; a large body is left
unread, not buffered). Outcomes:

- headers missing or unusable -> 400;
- channel unknown, state ``sync`` -> 200, no work, nothing recorded: Google may send a channel's
  first message before answering our ``events.watch``, so this is usually our own channel whose
  row is not committed yet, and stopping it would silently kill a live channel;
- channel unknown otherwise -> 200, no work; if the ``X-Goog-Resource-ID`` belongs to a calendar we
  watch, an orphan ``retiring`` row is recorded so the renewal loop stops that channel with
  that calendar's credentials (Google lets only the creator stop a channel, and the resource
  id is the only owner hint we have). Otherwise it is logged once and left to expire;
- token or resource mismatch -> 403; retired-and-stopped channel -> 200, no work;
- ``sync`` -> channel marked live (200); ``exists``/``not_exists`` -> in the same transaction
  as ``mark_notified``, a ``calendar.changed`` signal unless one is already waiting for that
  calendar (``record_push``): a burst, or Google's retries of one message, queue one pass.

Concurrent requests are recorded together in one transaction (group commit, see
``GoogleWebhook``); each is still answered only after its transaction committed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from typing import Final

import structlog
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.clock import Clock
from calsync.observe import NULL_OBSERVER, Observer
from channels.model import Provider
from handlers.signals import WaitingCalendars, record_push
from handlers.webhooks.channel_lookup import ChannelLookup, ChannelView
from handlers.webhooks.google_push import (
    GoogleNotification,
    KnownChannel,
    MalformedNotification,
    Verdict,
    judge,
    parse_headers,
)
from store import channels as channel_store
from store.db import Database

log = structlog.get_logger("calsync.webhooks.google")

PATH: Final = "/webhooks/google"
ORPHAN_HASH: Final = ""  # orphans we never owned: no token can ever match
MAX_ORPHANS_PER_CALENDAR: Final = 20  # forged channel ids must not grow the table without bound
_GATHER_TICKS: Final = 4  # loop ticks the writer waits for a burst to finish arriving
_PROVIDER: Final = Provider.GOOGLE.value
_OUTCOMES: Final = {
    Verdict.CHANGED: "accepted",
    Verdict.CHANNEL_LIVE: "accepted",
    Verdict.FORGED: "forged",
    Verdict.UNKNOWN_CHANNEL: "unknown_channel",
    Verdict.STOPPED_CHANNEL: "stopped_channel",
}


class GoogleWebhook:
    """Verifies and records notifications with group commit.

    Each request waits for the transaction that records it (nothing is acknowledged before
    it is durable), but concurrent requests share one transaction: a writer task drains
    everything queued so far, so a burst costs one commit per batch, not one per request.
    """

    def __init__(
        self,
        db: Database,
        clock: Clock,
        max_batch: int = 256,
        observer: Observer = NULL_OBSERVER,
        waiting: WaitingCalendars | None = None,
    ) -> None:
        self._db, self._clock, self._max_batch = db, clock, max_batch
        self._waiting = waiting or WaitingCalendars(enabled=False)
        self._observer = observer
        self._channels = ChannelLookup(_PROVIDER, clock)
        self._logged_unknown: OrderedDict[str, None] = OrderedDict()  # log each unknown channel once
        self._queue: asyncio.Queue[tuple[GoogleNotification, asyncio.Future[Verdict]]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    async def handle(self, request: web.Request) -> web.Response:
        try:
            notification = parse_headers(request.headers)
        except MalformedNotification as err:
            self._observer.notification(_PROVIDER, "malformed")
            return web.Response(status=400, text=str(err))
        try:
            verdict = await self._submit(notification)
        except SQLAlchemyError as err:
            # Not persisted: 503 asks Google to retry with backoff.
            log.error("google_webhook_store_failed", error=type(err).__name__)
            return web.Response(status=503)
        self._observer.notification(_PROVIDER, _OUTCOMES[verdict])
        if verdict is Verdict.FORGED:
            log.warning("google_webhook_forged", channel_id=notification.channel_id[:64])
            return web.Response(status=403)
        return web.Response(status=200)

    async def _submit(self, n: GoogleNotification) -> Verdict:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop())
        future: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((n, future))
        return await future

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            # Let requests that arrived together reach the queue first (a loop tick each, while
            # it still grows): a burst then costs one commit, not one for its first request
            # and another for the rest. Ticks, not a timer: an idle server adds no latency.
            for _ in range(_GATHER_TICKS):
                queued = self._queue.qsize()
                await asyncio.sleep(0)
                if self._queue.qsize() == queued:
                    break
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                verdicts = await self._record_batch([n for n, _ in batch])
            except Exception as err:  # the requests answer 503; the writer lives on
                for _, future in batch:
                    if not future.done():
                        future.set_exception(err)
                continue
            for (_, future), verdict in zip(batch, verdicts, strict=True):
                if not future.done():
                    future.set_result(verdict)

    async def _record_batch(self, batch: list[GoogleNotification]) -> list[Verdict]:
        now = self._clock.now()
        epoch = self._waiting.epoch
        verdicts: list[Verdict] = []
        changed: set[str] = set()
        async with self._db.session() as session:
            rows: dict[str, ChannelView | None] = {}
            notified: set[str] = set()
            for n in batch:
                if n.channel_id not in rows:
                    rows[n.channel_id] = await self._channels.find(session, n.channel_id)
                row = rows[n.channel_id]
                if row is not None and row.token_hash == ORPHAN_HASH:
                    verdicts.append(Verdict.UNKNOWN_CHANNEL)  # already scheduled for a stop
                    continue
                known = (
                    KnownChannel(row.calendar_id, row.resource_id, row.token_hash, row.state == "stopped")
                    if row is not None
                    else None
                )
                verdict = judge(n, known)
                verdicts.append(verdict)
                if verdict is Verdict.UNKNOWN_CHANNEL and n.resource_state != "sync":
                    await self._schedule_stop(session, n)
                    rows.pop(n.channel_id, None)  # re-read: it may be an orphan row now
                    self._channels.forget(n.channel_id)
                elif row is not None and verdict in (Verdict.CHANNEL_LIVE, Verdict.CHANGED):
                    notified.add(row.id)
                    if verdict is Verdict.CHANGED:
                        changed.add(row.calendar_id)
            await self._channels.mark_notified(session, notified, now)
            # "Look again" needs one waiting signal per calendar, however many notifications.
            await record_push(session, _PROVIDER, self._waiting.unknown(changed), now)
        self._waiting.learned(changed, epoch)
        return verdicts

    async def _schedule_stop(self, session: AsyncSession, n: GoogleNotification) -> None:
        calendar_id = await channel_store.calendar_for_resource(session, _PROVIDER, n.resource_id)
        if (
            calendar_id is not None
            and await channel_store.count_retiring(session, calendar_id) < MAX_ORPHANS_PER_CALENDAR
        ):
            now = self._clock.now()
            await channel_store.add_channel(
                session, calendar_id=calendar_id, provider=_PROVIDER, external_id=n.channel_id[:200],
                resource_id=n.resource_id[:500], secret_hash=ORPHAN_HASH, expires_at=now, now=now,
                state="retiring",
            )  # fmt: skip
            log.info(
                "google_unknown_channel_stop_scheduled", channel_id=n.channel_id[:64], calendar_id=calendar_id
            )
            return
        if n.channel_id not in self._logged_unknown:
            self._logged_unknown[n.channel_id] = None
            if len(self._logged_unknown) > 1000:
                self._logged_unknown.popitem(last=False)
            log.info("google_unknown_channel_ignored", channel_id=n.channel_id[:64])


WEBHOOK = web.AppKey("google_webhook", GoogleWebhook)


def add_google_webhook(app: web.Application, webhook: GoogleWebhook) -> None:
    async def close(_: web.Application) -> None:
        await webhook.close()

    app[WEBHOOK] = webhook
    app.router.add_post(PATH, webhook.handle)
    app.on_cleanup.append(close)
