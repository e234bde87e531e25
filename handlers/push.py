"""The push worker: consumer of ``calsync.appointments`` (group ``calsync-push``).

Convergent rather than event-driven: whatever the message (upserted, cancelled,
occurrence_*, push_requested), it loads the appointment's current state — overrides,
links, the profile's current push calendar — lets ``push_plan.plan`` work out the
writes, executes them through the provider's adapter and records a link after each
success in its own short transaction (no transaction is held across a provider call).
It then plans again from the store: an empty plan means synced. A redelivered or
retried message therefore writes nothing twice, and creates are idempotent anyway.

Failures: a transient provider failure (5xx, timeout, 429 after the adapter's own
retries) is re-raised so the bus retries in place; after ``attempts`` tries of one
message the appointment is left in ``sync_state`` error for the periodic retry pass
(``RetryPass``), which re-enqueues ``appointment.push_requested`` (reason "retry").
Permanent failures are parked (no automatic retry); revoked consent marks the account.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

import structlog

from calsync.clock import Clock
from calsync.crypto import Cipher
from calsync.envelope import TOPIC_APPOINTMENTS, Envelope, decode
from calsync.errors import (
    AuthorizationRevoked,
    PermanentProviderError,
    PreconditionFailed,
    ResourceGone,
    SecretsError,
    TransientProviderError,
)
from channels.base import AccountCredentials, CalendarAdapter, CalendarRef, EventDraft, WrittenEvent
from handlers.adapters import AdapterRegistry
from handlers.drafts import instance_draft, is_future, series_draft
from handlers.profile_settings import ProfileSettings
from handlers.push_plan import (
    REWRITE_REASONS,
    Action,
    AdvanceLink,
    CreateEvent,
    DeleteEvent,
    LinkState,
    OverrideState,
    PushInput,
    UpdateEvent,
    WriteInstance,
    blocked,
    idempotency_key,
    plan,
    restores,
)
from store import accounts, calendars, event_links
from store.connections import PUSH_REQUESTED
from store.db import Database
from store.occurrences import get_overrides, instance_key
from store.outbox import enqueue
from store.profiles import get_profile
from store.tables import Appointment, AppointmentOccurrence

log = structlog.get_logger("calsync.push")

CONSUMER_GROUP: Final = "calsync-push"
PUSHED_TYPES: Final = frozenset(
    {
        "appointment.upserted",
        "appointment.cancelled",
        PUSH_REQUESTED,
        "appointment.occurrence_changed",
        "appointment.occurrence_cancelled",
    }
)
RETRY_REASON: Final = "retry"
_MAX_ROUNDS: Final = 3  # plan/execute rounds per message; a round only repeats after a surprise


@dataclass(frozen=True, slots=True)
class PushOptions:
    attempts: int = 3  # tries of one message before it is left to the retry pass (< bus max attempts)
    retry_after: timedelta = timedelta(seconds=60)  # error/pending this long -> re-enqueued
    retry_batch: int = 200


@dataclass(slots=True)
class PushStats:
    """Counters for tests, benchmarks and metrics."""

    messages: int = 0
    creates: int = 0
    updates: int = 0
    instance_writes: int = 0
    deletes: int = 0
    failures: int = 0
    left_for_retry: int = 0  # messages given up after ``attempts`` (the retry pass takes over)
    parked: int = 0


class _AccountUnusable(Exception):
    """The calendar's account cannot be used now (in error, disconnected, undecryptable)."""


@dataclass(slots=True)
class _Loaded:
    appt: Appointment
    settings: ProfileSettings
    profile_name: str
    overrides: dict[str, AppointmentOccurrence]
    input: PushInput
    series_ids: dict[str, str] = field(default_factory=dict)  # calendar id -> series event id


def _input(
    appt: Appointment,
    push_id: str | None,
    links: list[LinkState],
    overrides: Mapping[str, AppointmentOccurrence],
    reason: str,
    now: datetime,
) -> PushInput:
    return PushInput(
        appointment_id=appt.id,
        version=appt.version,
        cancelled=appt.status == "cancelled",
        recurring=bool(appt.rrule),
        future=is_future(appt, now),
        push_calendar_id=push_id,
        links=tuple(links),
        overrides=tuple(
            OverrideState(key, o.original_start, o.status == "cancelled", o.version)
            for key, o in overrides.items()
        ),
        reason=reason,
    )


class PushWorker:
    def __init__(
        self,
        db: Database,
        adapters: AdapterRegistry,
        cipher: Cipher,
        clock: Clock,
        options: PushOptions | None = None,
    ) -> None:
        self._db, self._adapters, self._cipher, self._clock = db, adapters, cipher, clock
        self.options = options or PushOptions()
        self.stats = PushStats()
        self._attempts: dict[str, int] = {}  # envelope id -> failed tries (the bus retries in place)

    async def handle(self, value: bytes) -> None:
        """One record's value off the bus; malformed values are PoisonMessage (dead-lettered)."""
        envelope = decode(value)
        if envelope.type not in PUSHED_TYPES:
            return  # host outcomes (rescheduled, reassigned) and the like: nothing to write
        self.stats.messages += 1
        reason = str(envelope.data.get("reason") or "") if envelope.type == PUSH_REQUESTED else ""
        try:
            await self.push(envelope.key, reason)
        except TransientProviderError as err:
            tries = self._attempts.get(envelope.id, 0) + 1
            self.stats.failures += 1
            await self._record_error(envelope.key, f"{type(err).__name__}: {err}")
            if tries < self.options.attempts:
                self._attempts[envelope.id] = tries
                raise  # the bus retries this record in place, with backoff
            self.stats.left_for_retry += 1
            log.warning("push_left_for_retry", appointment_id=envelope.key, error=str(err))
        except _AccountUnusable as err:
            self.stats.failures += 1
            await self._record_error(envelope.key, f"account unusable: {err}")
        except (PermanentProviderError, SecretsError) as err:
            self.stats.parked += 1
            await self._record_error(envelope.key, f"{event_links.PARKED_PREFIX}{type(err).__name__}: {err}")
        self._attempts.pop(envelope.id, None)

    async def _record_error(self, appointment_id: str, error: str) -> None:
        async with self._db.session() as session:
            appt = await session.get(Appointment, appointment_id)
            if appt is not None:
                await event_links.set_sync_state(session, appt.id, appt.version, "error", error)

    async def push(self, appointment_id: str, reason: str = "") -> None:
        """Bring the provider to the appointment's stored state (see the module docstring)."""
        for _ in range(_MAX_ROUNDS):
            loaded = await self._load(appointment_id, reason)
            if loaded is None:
                return
            actions = plan(loaded.input)
            if not actions:
                await self._settle(loaded)
                return
            for action in actions:
                if not await self._execute(loaded, action):
                    break  # the provider surprised us (event gone): plan again from the store
            if reason in REWRITE_REASONS:
                reason = RETRY_REASON  # rewritten once; a later round must not force it again
        log.warning("push_not_converged", appointment_id=appointment_id)

    async def _settle(self, loaded: _Loaded) -> None:
        parked = blocked(loaded.input)
        error = f"{event_links.PARKED_PREFIX}external event gone; left to the reconciler" if parked else None
        async with self._db.session() as session:
            await event_links.set_sync_state(
                session, loaded.appt.id, loaded.appt.version, "error" if parked else "synced", error
            )

    async def _load(self, appointment_id: str, reason: str) -> _Loaded | None:
        async with self._db.session() as session:
            appt = await session.get(Appointment, appointment_id)
            if appt is None:
                log.warning("push_unknown_appointment", appointment_id=appointment_id)
                return None
            profile = await get_profile(session, appt.profile_id)
            push_calendar = await event_links.push_calendar(session, appt.profile_id)
            links = [
                LinkState(
                    x.calendar_id, x.instance_key, x.external_event_id, x.etag, x.written_version, x.state
                )
                for x in await event_links.links_for(session, appt.id)
            ]
            overrides = {instance_key(o.original_start): o for o in await get_overrides(session, appt.id)}
        now = self._clock.now()
        push_id = push_calendar.id if push_calendar is not None else None
        series = {x.calendar_id: x.event_id for x in links if not x.instance_key and x.state != "deleted"}
        return _Loaded(
            appt, ProfileSettings.from_stored(profile.settings), profile.name, overrides,
            _input(appt, push_id, links, overrides, reason, now), series,
        )  # fmt: skip

    async def _target(self, calendar_id: str) -> tuple[CalendarAdapter, AccountCredentials, CalendarRef]:
        async with self._db.session() as session:
            calendar = await calendars.get_calendar(session, calendar_id)
            if calendar is None:
                raise _AccountUnusable(f"calendar {calendar_id} is gone")
            account = await accounts.get_account(session, calendar.account_id)
            if account is None or account.state != "active":
                raise _AccountUnusable(f"account of calendar {calendar_id} is not active")
            try:
                creds = accounts.credentials(account, self._cipher)
            except SecretsError as err:
                raise _AccountUnusable(str(err)) from err
            ref = CalendarRef(calendar.id, calendar.external_id, account.external_account or None)
            return self._adapters.get(account.provider), creds, ref

    async def _execute(self, loaded: _Loaded, action: Action) -> bool:
        """Run one action and record it; False when the plan no longer holds."""
        adapter, creds, ref = await self._target(action.calendar_id)
        try:
            return await self._run(loaded, action, adapter, creds, ref)
        except AuthorizationRevoked as err:
            async with self._db.session() as session:
                await accounts.mark_account_error(session, creds.account_id, str(err), self._clock.now())
            raise _AccountUnusable(str(err)) from err

    async def _run(
        self,
        loaded: _Loaded,
        action: Action,
        adapter: CalendarAdapter,
        creds: AccountCredentials,
        ref: CalendarRef,
    ) -> bool:
        appt, version, now = loaded.appt, loaded.appt.version, self._clock.now()
        match action:
            case CreateEvent(calendar_id, key):
                written = await adapter.create_event(creds, ref, self._series(loaded), key)
                self.stats.creates += 1
                loaded.series_ids[calendar_id] = written.event_id
                await self._record(appt.id, calendar_id, "", written.event_id, written.etag, version)
            case UpdateEvent(calendar_id, event_id, etag):
                return await self._update(loaded, adapter, creds, ref, event_id, etag)
            case AdvanceLink(calendar_id):
                async with self._db.session() as session:
                    await event_links.advance_link(
                        session, appointment_id=appt.id, calendar_id=calendar_id, version=version, now=now
                    )
            case WriteInstance(calendar_id, key, original_start, cancel):
                series_id = loaded.series_ids[calendar_id]
                draft = None if cancel else self._instance(loaded, key)
                instance: WrittenEvent | None
                try:
                    instance = await adapter.update_instance(creds, ref, series_id, original_start, draft)
                except ResourceGone:
                    if not cancel:  # the occurrence vanished at the provider: the reconciler decides
                        await self._record(appt.id, calendar_id, key, series_id, None, version, "unknown")
                        return True
                    instance = None  # cancelling what is already gone is done
                self.stats.instance_writes += 1
                event_id, etag = (instance.event_id, instance.etag) if instance else (series_id, None)
                await self._record(appt.id, calendar_id, key, event_id, etag, version,
                                   "deleted" if cancel else "live")  # fmt: skip
            case DeleteEvent(calendar_id, event_id):
                await adapter.delete_event(creds, ref, event_id, None)  # the host's cancellation wins
                self.stats.deletes += 1
                async with self._db.session() as session:
                    keys = ["", *(x.instance_key for x in loaded.input.links if x.calendar_id == calendar_id)]
                    await event_links.set_link_state(
                        session, appointment_id=appt.id, calendar_id=calendar_id, instance_keys=keys,
                        state="deleted", version=version, now=now,
                    )  # fmt: skip
        return True

    async def _update(
        self,
        loaded: _Loaded,
        adapter: CalendarAdapter,
        creds: AccountCredentials,
        ref: CalendarRef,
        event_id: str,
        etag: str | None,
    ) -> bool:
        appt, draft = loaded.appt, self._series(loaded)
        try:
            try:
                written = await adapter.update_event(creds, ref, event_id, draft, etag)
            except PreconditionFailed:
                # Someone edited it since our last write: re-read it, and our version wins.
                current = await adapter.get_event(creds, ref, event_id)
                if current is None or current.is_tombstone:
                    raise ResourceGone(f"event {event_id} is gone") from None
                written = await adapter.update_event(creds, ref, event_id, draft, current.etag)
        except ResourceGone:
            if restores(loaded.input):
                key = idempotency_key(appt.id, ref.calendar_id)
                written = await adapter.create_event(creds, ref, draft, key)
                self.stats.creates += 1
            else:
                log.info("push_event_gone", appointment_id=appt.id, calendar_id=ref.calendar_id)
                await self._record(appt.id, ref.calendar_id, "", event_id, etag, appt.version, "unknown")
                return False
        self.stats.updates += 1
        loaded.series_ids[ref.calendar_id] = written.event_id
        await self._record(appt.id, ref.calendar_id, "", written.event_id, written.etag, appt.version)
        return True

    def _series(self, loaded: _Loaded) -> EventDraft:
        return series_draft(loaded.appt, loaded.settings, loaded.profile_name)

    def _instance(self, loaded: _Loaded, key: str) -> EventDraft:
        return instance_draft(loaded.appt, loaded.overrides[key], key, loaded.settings, loaded.profile_name)

    async def _record(
        self,
        appointment_id: str,
        calendar_id: str,
        key: str,
        event_id: str,
        etag: str | None,
        version: int,
        state: str = "live",
    ) -> None:
        async with self._db.session() as session:
            await event_links.record_written(
                session, appointment_id=appointment_id, calendar_id=calendar_id, instance_key=key,
                external_event_id=event_id, etag=etag, version=version, now=self._clock.now(), state=state,
            )  # fmt: skip


class RetryPass:
    """Re-enqueues ``appointment.push_requested`` (reason "retry") for pushes stuck in error/pending."""

    def __init__(self, db: Database, clock: Clock, options: PushOptions) -> None:
        self._db, self._clock, self._options = db, clock, options

    async def tick(self) -> int:
        now = self._clock.now()
        async with self._db.session() as session:
            ids = await event_links.due_for_retry(
                session, now, self._options.retry_after, self._options.retry_batch
            )
            for appointment_id in ids:
                data = {"id": appointment_id, "reason": RETRY_REASON}
                envelope = Envelope(uuid.uuid4().hex, PUSH_REQUESTED, 1, appointment_id, now, data)
                enqueue(session, TOPIC_APPOINTMENTS, envelope, now)
        if ids:
            log.info("push_retry_enqueued", count=len(ids))
        return len(ids)


__all__ = ["CONSUMER_GROUP", "PushOptions", "PushStats", "PushWorker", "RetryPass"]
