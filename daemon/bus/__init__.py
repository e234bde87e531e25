"""The event bus: one port (``Bus``), an embedded database log and Kafka behind it, and the outbox relay.

``create_bus`` is the only place that chooses between them: Kafka when
``CALSYNC_KAFKA_BOOTSTRAP`` is set, the embedded log otherwise.
"""

from __future__ import annotations

from typing import Final

from calsync.clock import Clock
from calsync.observe import NULL_OBSERVER, Observer
from daemon.bus.base import Bus, BusHealth, Handler, OutgoingRecord, Record, RetryPolicy, partition_for
from daemon.bus.embedded import EmbeddedBus, EmbeddedOptions
from daemon.bus.kafka import KafkaBus, KafkaOptions
from daemon.bus.relay import Backlog, OutboxRelay
from daemon.config import Settings
from store.db import Database

SQLITE_IDLE_POLL_SECONDS: Final = 5.0

__all__ = [
    "Backlog",
    "Bus",
    "BusHealth",
    "EmbeddedBus",
    "EmbeddedOptions",
    "Handler",
    "KafkaBus",
    "KafkaOptions",
    "OutboxRelay",
    "OutgoingRecord",
    "Record",
    "RetryPolicy",
    "create_bus",
    "partition_for",
]


def create_bus(settings: Settings, db: Database, clock: Clock, observer: Observer = NULL_OBSERVER) -> Bus:
    retry = RetryPolicy(max_attempts=settings.bus_max_attempts)
    if settings.uses_kafka:
        return KafkaBus(
            settings.kafka_bootstrap,
            clock,
            KafkaOptions(
                partitions=settings.kafka_partitions,
                replication_factor=settings.kafka_replication_factor,
                enable_idempotence=settings.kafka_enable_idempotence,
                retry=retry,
                observer=observer,
            ),
        )
    # Idle partitions poll the log only for records other processes appended. On SQLite there
    # are none (one daemon per database file): every append wakes its partition directly, so
    # the poll is a rare safety net instead of ~100 fetches a second competing with webhooks.
    poll = SQLITE_IDLE_POLL_SECONDS if db.dialect == "sqlite" else EmbeddedOptions().poll_interval
    return EmbeddedBus(
        db,
        clock,
        EmbeddedOptions(
            partitions=settings.kafka_partitions, poll_interval=poll, retry=retry, observer=observer
        ),
    )
