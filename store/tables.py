"""SQLModel tables. Only ``store/`` uses these; other packages get plain values back.

Times are timezone-aware UTC (``UTCDateTime``). Ids chosen by the host app
(profiles, appointments) are strings; ids we mint are UUID4 hex strings.
Secrets (refresh tokens, channel tokens) are stored encrypted (``*_enc``) or
hashed (``*_hash``), never in the clear.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from store.types import UTCDateTime


def _ts(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class Organization(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    # The host app's webhook: signed (Standard Webhooks) POSTs of appointment outcomes.
    webhook_url: str | None = Field(default=None, max_length=2000)
    webhook_secret_enc: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _ts()


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    # Lookup prefix (not secret) + SHA-256 of the whole key; the key itself is shown once.
    prefix: str = Field(max_length=16, index=True)
    key_hash: str = Field(max_length=64, unique=True)
    organization_id: str | None = Field(default=None, foreign_key="organization.id", max_length=64)
    read_only: bool = Field(default=False)
    created_at: datetime = _ts()
    revoked_at: datetime | None = _ts(nullable=True)
    last_used_at: datetime | None = _ts(nullable=True)


class Profile(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    organization_id: str = Field(foreign_key="organization.id", max_length=64, index=True)
    name: str = Field(max_length=200)
    email: str = Field(max_length=320)
    time_zone: str = Field(max_length=64)
    # Sync window, privacy template and external-change policies (validated in the API layer).
    settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    # Weekly working hours and date overrides for slot search.
    working_hours: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    deleted_at: datetime | None = _ts(nullable=True)


class Appointment(SQLModel, table=True):
    """The host app's appointment, keyed by the host's own id. Never deleted: cancelled."""

    id: str = Field(primary_key=True, max_length=200)
    organization_id: str = Field(foreign_key="organization.id", max_length=64, index=True)
    profile_id: str = Field(foreign_key="profile.id", max_length=64)
    # Instants for querying; all-day appointments keep their dates in start_date/end_date.
    start_utc: datetime = _ts()
    end_utc: datetime = _ts()
    all_day: bool = Field(default=False)
    start_date: str | None = Field(default=None, max_length=10)
    end_date: str | None = Field(default=None, max_length=10)
    # The offset/zone the host gave, for rendering and recurrence expansion.
    time_zone: str = Field(max_length=64)
    title: str = Field(default="", max_length=1000)
    description: str = Field(default="", sa_type=Text)
    location: str = Field(default="", max_length=1000)
    client_name: str = Field(default="", max_length=200)
    client_email: str = Field(default="", max_length=320)
    rrule: str | None = Field(default=None, max_length=2000)
    exdates: list[str] = Field(default_factory=list, sa_type=JSON)
    # Host extras used by title templates: {ticket}, {priority}, ...
    extra: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    status: str = Field(default="confirmed", max_length=16)  # confirmed | tentative | cancelled
    cancel_reason: str | None = Field(default=None, max_length=64)
    version: int = Field(default=1)
    sync_state: str = Field(default="pending", max_length=16)  # pending | synced | error
    sync_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()

    __table_args__ = (Index("ix_appointment_profile_window", "profile_id", "start_utc", "end_utc"),)


class ProviderAccount(SQLModel, table=True):
    __tablename__ = "provider_account"
    id: str = Field(primary_key=True, max_length=64)
    organization_id: str = Field(foreign_key="organization.id", max_length=64, index=True)
    profile_id: str = Field(foreign_key="profile.id", max_length=64, index=True)
    provider: str = Field(max_length=16)  # google | microsoft | caldav
    external_account: str = Field(default="", max_length=320)
    client_id: str = Field(default="", max_length=500)
    client_secret_enc: str | None = Field(default=None, sa_type=Text)
    refresh_token_enc: str | None = Field(default=None, sa_type=Text)
    state: str = Field(default="active", max_length=16)  # active | error | disconnected
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class Calendar(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(foreign_key="provider_account.id", max_length=64, index=True)
    profile_id: str = Field(foreign_key="profile.id", max_length=64, index=True)
    external_id: str = Field(max_length=1024)
    name: str = Field(default="", max_length=500)
    role: str = Field(default="none", max_length=8)  # push | pull | none
    # Provider cursor: Google nextSyncToken or Graph @odata.deltaLink.
    sync_cursor: str | None = Field(default=None, sa_type=Text)
    state: str = Field(default="active", max_length=16)  # active | error | removed
    last_synced_at: datetime | None = _ts(nullable=True)
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()

    __table_args__ = (UniqueConstraint("account_id", "external_id", name="uq_calendar_account_external"),)


class Channel(SQLModel, table=True):
    """A Google watch channel or a Graph subscription for one calendar."""

    id: str = Field(primary_key=True, max_length=64)
    calendar_id: str = Field(foreign_key="calendar.id", max_length=64, index=True)
    provider: str = Field(max_length=16)
    # Google channel id (= our id) / Graph subscription id.
    external_id: str = Field(max_length=200, index=True)
    resource_id: str | None = Field(default=None, max_length=500)
    token_hash: str = Field(max_length=64)  # SHA-256 of the channel token / clientState
    state: str = Field(default="active", max_length=16)  # active | error | retiring | stopped
    expires_at: datetime = _ts(index=True)
    last_renewed_at: datetime | None = _ts(nullable=True)
    last_notification_at: datetime | None = _ts(nullable=True)
    consecutive_failures: int = Field(default=0)
    last_error: str | None = Field(default=None, sa_type=Text)
    # Earliest next renew/stop attempt: backoff after a failure, or the end of a renewal overlap.
    retry_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()
    stopped_at: datetime | None = _ts(nullable=True)


class EventLink(SQLModel, table=True):
    """Appointment (or one occurrence of it) <-> the external event we wrote for it."""

    __tablename__ = "event_link"
    id: int | None = Field(default=None, primary_key=True)
    appointment_id: str = Field(foreign_key="appointment.id", max_length=200, index=True)
    calendar_id: str = Field(foreign_key="calendar.id", max_length=64)
    # "" for the appointment/series itself; the occurrence's original start (ISO UTC) otherwise.
    instance_key: str = Field(default="", max_length=40)
    external_event_id: str = Field(max_length=1024, index=True)
    etag: str | None = Field(default=None, max_length=200)
    written_version: int = Field(default=0)
    state: str = Field(default="live", max_length=16)  # live | deleted | unknown
    updated_at: datetime = _ts()

    __table_args__ = (
        UniqueConstraint("appointment_id", "calendar_id", "instance_key", name="uq_event_link"),
    )


class AppointmentOccurrence(SQLModel, table=True):
    """One occurrence of a recurring appointment moved or cancelled on its own (an override)."""

    __tablename__ = "appointment_occurrence"
    id: int | None = Field(default=None, primary_key=True)
    appointment_id: str = Field(foreign_key="appointment.id", max_length=200, index=True)
    # Identifies the occurrence within the series even after it moved (UTC).
    original_start: datetime = _ts()
    start_utc: datetime = _ts()
    end_utc: datetime = _ts()
    status: str = Field(default="confirmed", max_length=16)  # confirmed | cancelled
    cancel_reason: str | None = Field(default=None, max_length=64)
    # The appointment version this override was last changed at (the push worker compares it).
    version: int = Field(default=1)
    updated_at: datetime = _ts()

    __table_args__ = (UniqueConstraint("appointment_id", "original_start", name="uq_appointment_occurrence"),)


class BusyBlock(SQLModel, table=True):
    """Time a foreign event blocks on a pull calendar. Only times: never titles."""

    __tablename__ = "busy_block"
    id: int | None = Field(default=None, primary_key=True)
    profile_id: str = Field(foreign_key="profile.id", max_length=64)
    calendar_id: str = Field(foreign_key="calendar.id", max_length=64)
    external_event_id: str = Field(max_length=1024)
    start_utc: datetime = _ts()
    end_utc: datetime = _ts()
    all_day: bool = Field(default=False)
    tentative: bool = Field(default=False)
    # Recurring foreign series are stored once and expanded for the queried window.
    rrule: str | None = Field(default=None, max_length=2000)
    exdates: list[str] = Field(default_factory=list, sa_type=JSON)
    time_zone: str = Field(default="UTC", max_length=64)
    updated_at: datetime = _ts()

    __table_args__ = (
        UniqueConstraint("calendar_id", "external_event_id", name="uq_busy_block_event"),
        Index("ix_busy_block_profile_window", "profile_id", "start_utc", "end_utc"),
        Index("ix_busy_block_profile_updated", "profile_id", "updated_at"),
    )


class OutboxMessage(SQLModel, table=True):
    """Written in the same transaction as the state change; the relay publishes it."""

    __tablename__ = "outbox"
    # BIGINT on PostgreSQL; INTEGER on SQLite, where only that is the auto-assigned rowid.
    id: int | None = Field(
        default=None, sa_type=BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    message_id: str = Field(max_length=64, unique=True)  # envelope id, the consumers' dedupe key
    topic: str = Field(max_length=200)
    key: str = Field(max_length=200)
    payload: bytes = Field()
    created_at: datetime = _ts()
    published_at: datetime | None = _ts(nullable=True, index=True)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, sa_type=Text)


class SentNotification(SQLModel, table=True):
    """One row per (appointment, version, kind): the exactly-once guard for e-mails and host webhooks."""

    __tablename__ = "sent_notification"
    id: int | None = Field(default=None, primary_key=True)
    appointment_id: str = Field(foreign_key="appointment.id", max_length=200)
    version: int
    kind: str = Field(max_length=32)  # email | host_webhook
    state: str = Field(default="pending", max_length=16)  # pending | sending | sent | failed
    attempts: int = Field(default=0)
    message_id: str = Field(max_length=200)
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _ts()
    sent_at: datetime | None = _ts(nullable=True)

    __table_args__ = (UniqueConstraint("appointment_id", "version", "kind", name="uq_sent_notification"),)


class BusRecord(SQLModel, table=True):
    """The embedded bus's durable log (used only without Kafka)."""

    __tablename__ = "bus_record"
    topic: str = Field(primary_key=True, max_length=200)
    partition: int = Field(primary_key=True)
    offset: int = Field(primary_key=True, sa_type=BigInteger)
    key: str = Field(max_length=200)
    value: bytes = Field()
    headers: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = _ts()


class BusOffset(SQLModel, table=True):
    """Committed position of a consumer group in one partition of the embedded bus."""

    __tablename__ = "bus_offset"
    group: str = Field(primary_key=True, max_length=200)
    topic: str = Field(primary_key=True, max_length=200)
    partition: int = Field(primary_key=True)
    next_offset: int = Field(default=0, sa_type=BigInteger)
    # Partition ownership inside the group: a consumer holds a lease it keeps renewing;
    # another member takes the partition over once the lease has run out (crash, kill -9).
    owner: str | None = Field(default=None, max_length=200)
    lease_until: datetime | None = _ts(nullable=True)


class ProcessedMessage(SQLModel, table=True):
    """Consumer-side deduplication: inserted in the same transaction as the side effect."""

    __tablename__ = "processed_message"
    consumer: str = Field(primary_key=True, max_length=200)
    message_id: str = Field(primary_key=True, max_length=64)
    processed_at: datetime = _ts()


class PendingSync(SQLModel, table=True):
    """Push coalescing: at most one ``calendar.changed`` signal per calendar waits on the bus.

    ``waiting``: a push signal is on its way, so further notifications for the calendar need
    no signal of their own (the pass it triggers starts after them). ``running``: a pass has
    started, so the next notification must queue a new signal. Deleted when the pass ends.
    No foreign key: the row is transient and a deleted calendar's row is dropped by the
    consumer (the calendar is gone -> the signal is skipped -> its row removed).
    """

    __tablename__ = "pending_sync"
    calendar_id: str = Field(primary_key=True, max_length=64)
    state: str = Field(max_length=16)  # waiting | running
    updated_at: datetime = _ts()
