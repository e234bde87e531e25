"""The notifier: consumer of ``calsync.appointments`` (group ``calsync-notify``) plus a retry sweep.

A message that announces notifications (see ``notify_policy.announces_notifications``)
wakes the delivery of the pending ``sent_notification`` rows of its (appointment,
version): client e-mail over SMTP and the signed host webhook. Each row is claimed, sent
and settled in short transactions (``store.notifications``), so a redelivered message or
a restart finds it ``sent`` and does nothing; transient failures go back to ``pending``
and the sweep retries them with backoff, from the announcing envelope still in the outbox.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import structlog
from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.clock import Clock
from calsync.crypto import Cipher
from calsync.envelope import decode
from calsync.errors import PoisonMessage, SecretsError
from calsync.observe import NULL_OBSERVER, Observer
from handlers.host_webhook import HostWebhookSender
from handlers.mailer import Mail, SmtpMailer, compose, render_when
from handlers.notify_policy import (
    NOTIFIED_TYPES,
    DeliveryError,
    Outcome,
    PermanentDeliveryError,
    RetryPolicy,
    TransientDeliveryError,
    after_failure,
    announces_notifications,
)
from store import notifications
from store.db import Database
from store.tables import Appointment, Organization, Profile, SentNotification

log = structlog.get_logger("calsync.notify")

CONSUMER_GROUP: Final = "calsync-notify"
TEMPLATES: Final = {
    "appointment.cancelled": "cancelled",
    "appointment.occurrence_cancelled": "occurrence_cancelled",
    "appointment.rescheduled": "rescheduled",
    "appointment.reassigned": "reassigned",
}


@dataclass(frozen=True, slots=True)
class _Context:
    row: SentNotification
    appt: Appointment
    profile: Profile
    org: Organization
    previous_profile: Profile | None


def _when_of(value: object) -> datetime | date | None:
    if not isinstance(value, str) or not value:
        return None
    return date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)


def mail_values(message_type: str, data: dict[str, Any], ctx: _Context) -> dict[str, str]:
    """Template values; every date and time in the (new) profile's time zone."""
    zone, appt = ctx.profile.time_zone, ctx.appt
    start, end = _when_of(data.get("start")), _when_of(data.get("end"))
    if message_type == "appointment.occurrence_cancelled":
        original = _when_of(data.get("original_start"))
        if isinstance(original, datetime):
            start, end = original, original + (appt.end_utc - appt.start_utc)
    values = {
        "client_name": appt.client_name or appt.client_email,
        "title": appt.title or "Appointment",
        "profile_name": ctx.profile.name,
        "organization": ctx.org.name,
        "when": render_when(start, end, zone, all_day=appt.all_day) if start else "",
        "previous_when": "",
        "previous_profile_name": ctx.previous_profile.name if ctx.previous_profile else "",
    }
    previous = _when_of(data.get("previous_start"))
    if previous is not None:
        values["previous_when"] = render_when(
            previous, _when_of(data.get("previous_end")), zone, all_day=appt.all_day
        )
    return values


class Notifier:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        cipher: Cipher,
        mailer: SmtpMailer | None,
        webhooks: HostWebhookSender,
        *,
        mail_from: str,
        policy: RetryPolicy | None = None,
        observer: Observer = NULL_OBSERVER,
    ) -> None:
        self._db, self._clock, self._cipher = db, clock, cipher
        self._observer = observer
        self._mailer, self._webhooks, self._from = mailer, webhooks, mail_from
        self.policy = policy or RetryPolicy()
        self.stats: Counter[str] = Counter()  # "<kind>:<outcome>" -> count

    async def handle(self, value: bytes) -> None:
        """One ``calsync.appointments`` record: deliver what it announces, ignore the rest."""
        envelope = decode(value)
        if not announces_notifications(envelope.type, envelope.data.get("reason")):
            return
        version = envelope.data.get("version")
        if not isinstance(version, int):
            raise PoisonMessage(f"{envelope.type} without an integer data.version")
        async with self._db.session() as session:
            rows = await notifications.rows_for(session, envelope.key, version)
        for row in rows:
            if self._ready(row, self._clock.now()):
                await self._deliver(row, value)

    async def sweep(self, limit: int = 100) -> int:
        """Retry due pending rows and re-claim stale sending ones; returns how many were tried."""
        now = self._clock.now()
        async with self._db.session() as session:
            rows = await notifications.due(
                session, retry_before=now - self.policy.backoff_initial,
                stale_before=now - self.policy.stale_after, limit=limit,
            )  # fmt: skip
        tried = 0
        for row in rows:
            if not self._ready(row, now):
                continue
            async with self._db.session() as session:
                payload = await notifications.find_envelope(
                    session, row.appointment_id, row.version, NOTIFIED_TYPES
                )
            if payload is None:
                await self._settle(
                    row, Outcome.FAILED, "announcing message no longer in the outbox", claim=True
                )
                continue
            tried += 1
            await self._deliver(row, payload)
        return tried

    def _ready(self, row: SentNotification, now: datetime) -> bool:
        if row.state == "pending":
            return self.policy.due(row.attempts, row.sent_at, now)
        return (
            row.state == "sending" and row.sent_at is not None and row.sent_at < now - self.policy.stale_after
        )

    async def _deliver(self, row: SentNotification, payload: bytes) -> None:
        assert row.id is not None
        now = self._clock.now()
        async with self._db.session() as session:
            if not await notifications.claim(
                session, row.id, stale_before=now - self.policy.stale_after, now=now
            ):
                return  # another replica, or an earlier delivery, has it
            ctx = await self._context(session, row.id)
        try:
            if ctx.row.kind == notifications.EMAIL:
                await self._email(ctx, payload)
            elif ctx.row.kind == notifications.HOST_WEBHOOK:
                await self._webhook(ctx, payload)
            else:
                raise PermanentDeliveryError(f"unknown notification kind {ctx.row.kind!r}")
        except DeliveryError as err:
            await self._settle(ctx.row, after_failure(err, ctx.row.attempts, self.policy), str(err))
            return
        except Exception as err:
            # A bug of ours (template, rendering): release the claim so the row is retried on the
            # normal backoff — and fails visibly after max_attempts — instead of sitting in
            # "sending" until the stale sweep.
            log.exception("notification_failed_unexpectedly", kind=ctx.row.kind)
            failure = TransientDeliveryError(f"unexpected {type(err).__name__}: {err}")
            await self._settle(ctx.row, after_failure(failure, ctx.row.attempts, self.policy), str(failure))
            return
        await self._settle(ctx.row, Outcome.SENT, None)

    async def _context(self, session: AsyncSession, row_id: int) -> _Context:
        row = await session.get(SentNotification, row_id, populate_existing=True)
        appt = await session.get(Appointment, row.appointment_id) if row else None
        profile = await session.get(Profile, appt.profile_id) if appt else None
        org = await session.get(Organization, appt.organization_id) if appt else None
        assert row is not None and appt is not None and profile is not None and org is not None
        return _Context(row, appt, profile, org, None)

    async def _email(self, ctx: _Context, payload: bytes) -> None:
        if self._mailer is None:
            raise PermanentDeliveryError("CALSYNC_SMTP_URL is not set")
        if not ctx.appt.client_email:
            raise PermanentDeliveryError("the appointment has no client e-mail address")
        envelope = json.loads(payload)
        data = dict(envelope.get("data") or {})
        previous_id = data.get("previous_profile")
        if isinstance(previous_id, str):
            async with self._db.session() as session:
                previous = await session.get(Profile, previous_id)
            ctx = _Context(ctx.row, ctx.appt, ctx.profile, ctx.org, previous)
        mail = Mail(
            kind=TEMPLATES[envelope["type"]],
            values=mail_values(envelope["type"], data, ctx),
            message_id=ctx.row.message_id,
            sender=self._from,
            recipient=ctx.appt.client_email,
            reply_to=ctx.profile.email or None,
        )
        await self._mailer.send(compose(mail))

    async def _webhook(self, ctx: _Context, payload: bytes) -> None:
        if not ctx.org.webhook_url:
            raise PermanentDeliveryError("the organization has no webhook_url")
        if not ctx.org.webhook_secret_enc:
            raise PermanentDeliveryError("the organization has no webhook secret")
        try:
            secret = self._cipher.decrypt(ctx.org.webhook_secret_enc)
        except SecretsError as err:
            raise PermanentDeliveryError(str(err)) from err
        timestamp = int(self._clock.now().timestamp())
        await self._webhooks.post(ctx.org.webhook_url, secret, ctx.row.message_id, timestamp, payload)

    async def _settle(
        self, row: SentNotification, outcome: Outcome, error: str | None, *, claim: bool = False
    ) -> None:
        assert row.id is not None
        now = self._clock.now()
        async with self._db.session() as session:
            if claim and not await notifications.claim(
                session, row.id, stale_before=now - self.policy.stale_after, now=now
            ):
                return
            if outcome is Outcome.SENT:
                await notifications.mark_sent(session, row.id, now)
            elif outcome is Outcome.RETRY:
                await notifications.mark_retry(session, row.id, error or "")
            else:
                await notifications.mark_failed(session, row.id, error or "")
        self.stats[f"{row.kind}:{outcome.value}"] += 1
        if row.kind == notifications.EMAIL:
            self._observer.email(outcome.value)
        event = "notification_" + outcome.value
        level = log.warning if outcome is Outcome.FAILED else log.info
        level(event, kind=row.kind, appointment_id=row.appointment_id, version=row.version, error=error)
