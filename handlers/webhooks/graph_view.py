"""``POST /webhooks/graph`` and ``POST /webhooks/graph/lifecycle``: thin views over graph_notifications.

Graph wants a 2xx within 3 s (MS-WH), so a view only verifies, records and answers 202; it never
calls Graph. Outcomes:

- ``?validationToken=`` -> 200 ``text/plain; charset=utf-8`` echoing the decoded token with
  ``X-Content-Type-Options: nosniff``; a token the sans-IO module refuses -> 400 (never reflected).
- wrong content type -> 415; oversized body -> 413; not a notification batch -> 400.
- a batch -> each item judged alone (clientState in constant time against its subscription's
  stored hash); unknown, stopped and forged items are dropped and logged, the valid ones kept:
  with ``mark_notified``, in one transaction, a ``calendar.changed`` signal for each calendar
  that has none waiting (``record_push``), so bursts and Graph's retries of a batch queue one
  pass per calendar. 202 either way.
- storage failure -> 503, so Graph retries (MS-WH: "return 5xx if not persisted").

Lifecycle items (MS-LIFE): ``missed`` -> a full-resync signal; ``subscriptionRemoved`` -> the
channel is marked stopped and a full-resync signal recorded in one transaction, then a new
subscription is made in the background (if the process dies first, the renewal loop sees a
calendar without a live channel and watches it again); ``reauthorizationRequired`` -> reauthorized
in the background (the renewal loop's PATCH reauthorizes too, so a lost task costs nothing).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

import structlog
from aiohttp import web
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from calsync.clock import Clock
from calsync.envelope import TOPIC_SIGNALS
from calsync.observe import NULL_OBSERVER, Observer
from channels.model import Provider
from handlers.signals import WaitingCalendars, calendar_changed, record_push
from handlers.webhooks.channel_lookup import ChannelLookup, ChannelView
from handlers.webhooks.graph_notifications import (
    ChangeItem,
    ItemVerdict,
    KnownSubscription,
    LifecycleItem,
    MalformedBatch,
    judge_item,
    parse_change_batch,
    parse_lifecycle_batch,
    validation_token,
)
from store import channels as channel_store
from store.db import Database
from store.outbox import enqueue

log = structlog.get_logger("calsync.webhooks.graph")

PATH: Final = "/webhooks/graph"
LIFECYCLE_PATH: Final = "/webhooks/graph/lifecycle"
#: Graph batches at most ~100 small items; 1 MiB is ample and bounds what we buffer.
MAX_BODY: Final = 1024 * 1024
_PROVIDER: Final = Provider.MICROSOFT.value
_LIFECYCLE_REASONS: Final = {"missed": "lifecycle_missed", "subscriptionRemoved": "subscription_removed"}


@dataclass(frozen=True, slots=True)
class LifecycleWork:
    """Provider work a lifecycle event asks for, done outside the request."""

    event: str  # reauthorizationRequired | subscriptionRemoved
    channel_id: str
    calendar_id: str


LifecycleSink = Callable[[LifecycleWork], None]


def _validation_response(request: web.Request) -> web.Response | None:
    try:
        token = validation_token(request.query)
    except ValueError as err:
        return web.Response(status=400, text=str(err))
    if token is None:
        return None
    return web.Response(
        status=200,
        body=token.encode(),
        headers={"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"},
    )


async def _read_body(request: web.Request) -> bytes | web.Response:
    if request.content_type != "application/json":
        return web.Response(status=415, text="expected application/json")
    if request.content_length is not None and request.content_length > MAX_BODY:
        return web.Response(status=413)
    body = await request.content.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return web.Response(status=413)
    return body


def batch_message_id(kind: str, calendar_id: str, deliveries: Sequence[str]) -> str:
    """One id per (calendar, set of deliveries): a redelivered batch maps to the same signal."""
    raw = "\n".join([kind, calendar_id, *sorted(deliveries)])
    return "m:" + hashlib.sha256(raw.encode()).hexdigest()[:40]


T = TypeVar("T")


class GraphWebhook:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        on_lifecycle: LifecycleSink | None = None,
        observer: Observer = NULL_OBSERVER,
        waiting: WaitingCalendars | None = None,
    ) -> None:
        self._db, self._clock = db, clock
        self._waiting = waiting or WaitingCalendars(enabled=False)
        self.on_lifecycle = on_lifecycle
        self._observer = observer
        self._channels = ChannelLookup(_PROVIDER, clock)

    async def _known(self, sub_ids: set[str]) -> dict[str, ChannelView]:
        out: dict[str, ChannelView] = {}
        async with self._db.session() as session:
            for sub_id in sorted(sub_ids):
                row = await self._channels.find(session, sub_id)
                if row is not None:
                    out[sub_id] = row
        return out

    def _judge(
        self, items: Sequence[ChangeItem | LifecycleItem | None], rows: dict[str, ChannelView]
    ) -> list[tuple[int, ChangeItem | LifecycleItem, ChannelView]]:
        accepted: list[tuple[int, ChangeItem | LifecycleItem, ChannelView]] = []
        for index, item in enumerate(items):
            row = rows.get(item.subscription_id) if item is not None else None
            known = (
                KnownSubscription(row.calendar_id, row.token_hash, row.state in ("stopped", "retiring"))
                if row is not None
                else None
            )
            verdict = judge_item(item, known)
            self._observer.notification("microsoft", verdict.value)
            if verdict is ItemVerdict.ACCEPTED and item is not None and row is not None:
                accepted.append((index, item, row))
            else:
                sub = item.subscription_id[:64] if item is not None else None
                log.warning("graph_notification_dropped", verdict=verdict.value, subscription_id=sub)
        return accepted

    async def _batch(self, request: web.Request, parse: Callable[[bytes], list[T]]) -> list[T] | web.Response:
        """Both endpoints open alike: a validation request is answered, else the body is read and parsed."""
        validation = _validation_response(request)
        if validation is not None:
            return validation
        body = await _read_body(request)
        if isinstance(body, web.Response):
            return body
        try:
            return parse(body)
        except MalformedBatch as err:
            self._observer.notification("microsoft", "malformed")
            return web.Response(status=400, text=str(err))

    async def notifications(self, request: web.Request) -> web.Response:
        items = await self._batch(request, parse_change_batch)
        if isinstance(items, web.Response):
            return items
        try:
            rows = await self._known({i.subscription_id for i in items if i is not None})
            changed = {row.id: row for _, _, row in self._judge(items, rows)}
            await self._record(push=list(changed.values()))
        except SQLAlchemyError as err:
            log.error("graph_webhook_store_failed", error=type(err).__name__)
            return web.Response(status=503)  # not persisted: Graph retries
        return web.Response(status=202)

    async def lifecycle(self, request: web.Request) -> web.Response:
        items = await self._batch(request, parse_lifecycle_batch)
        if isinstance(items, web.Response):
            return items
        work: list[LifecycleWork] = []
        try:
            rows = await self._known({i.subscription_id for i in items if i is not None})
            signals: list[tuple[ChannelView, str, bool, str]] = []
            for _, item, row in self._judge(items, rows):
                assert isinstance(item, LifecycleItem)
                log.info("graph_lifecycle", lifecycle_event=item.lifecycle_event, channel_id=row.id)
                reason = _LIFECYCLE_REASONS.get(item.lifecycle_event)
                if reason is not None:
                    mid = batch_message_id(item.lifecycle_event, row.calendar_id, [item.subscription_id])
                    signals.append((row, reason, True, mid))
                if item.lifecycle_event != "missed":
                    work.append(LifecycleWork(item.lifecycle_event, row.id, row.calendar_id))
            await self._record(
                signals=signals, stop=[w.channel_id for w in work if w.event == "subscriptionRemoved"]
            )
        except SQLAlchemyError as err:
            log.error("graph_lifecycle_store_failed", error=type(err).__name__)
            return web.Response(status=503)
        if self.on_lifecycle is not None:
            for job in work:
                self.on_lifecycle(job)
        return web.Response(status=202)

    async def _record(
        self,
        push: Sequence[ChannelView] = (),
        signals: Sequence[tuple[ChannelView, str, bool, str]] = (),
        stop: Sequence[str] = (),
    ) -> None:
        """All in one transaction; if a lifecycle signal was recorded before (a retry), each alone."""
        if not push and not signals and not stop:
            return
        try:
            await self._write(push, signals, stop)
        except IntegrityError:
            for signal in signals:
                try:
                    await self._write((), [signal], stop)
                except IntegrityError:
                    continue  # this delivery was recorded already

    async def _write(
        self,
        push: Sequence[ChannelView],
        signals: Sequence[tuple[ChannelView, str, bool, str]],
        stop: Sequence[str],
    ) -> None:
        now = self._clock.now()
        epoch = self._waiting.epoch
        pushed = {row.calendar_id for row in push}
        async with self._db.session() as session:
            for channel_id in stop:
                await channel_store.mark_stopped(session, channel_id, now)
            notified = {row.id for row in push} | {row.id for row, *_ in signals}
            await self._channels.mark_notified(session, notified - set(stop), now)
            # Change notifications only say "look again": one waiting signal per calendar.
            await record_push(session, _PROVIDER, self._waiting.unknown(pushed), now)
            for row, reason, full, message_id in signals:
                envelope = calendar_changed(
                    row.calendar_id, _PROVIDER, reason, now, message_id=message_id, full=full
                )
                enqueue(session, TOPIC_SIGNALS, envelope, now)
            await session.flush()  # surface a duplicate message id here, inside the transaction
        self._waiting.learned(pushed, epoch)


WEBHOOK = web.AppKey("graph_webhook", GraphWebhook)


def add_graph_webhook(app: web.Application, webhook: GraphWebhook) -> None:
    app[WEBHOOK] = webhook
    app.router.add_post(PATH, webhook.notifications)
    app.router.add_post(LIFECYCLE_PATH, webhook.lifecycle)
