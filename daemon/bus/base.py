"""The bus port: one interface, two implementations (embedded database log, Kafka).

Semantics every implementation keeps (proved by ``tests/bus``, run against each):

- per-key order: a record's partition is ``partition_for(key, partitions)``; a group
  handles the records of one partition strictly one after another, in offset order;
- at-least-once: an offset is committed only after the handler returned;
- a failing handler is retried with backoff in place (order kept); after
  ``max_attempts`` (or at once on ``PoisonMessage``) the record goes to
  ``dlq_topic(topic)`` with error headers and the group moves on;
- ``stop()`` drains: the handler call in flight finishes and is committed;
  ``terminate()`` abandons everything at once, like a crash (tests, fatal errors).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from aiokafka.partitioner import murmur2

# Header names on every dead-lettered record.
H_ERROR: Final = "error"
H_ATTEMPTS: Final = "attempts"
H_ORIGINAL_TOPIC: Final = "original-topic"
H_ORIGINAL_PARTITION: Final = "original-partition"
H_ORIGINAL_OFFSET: Final = "original-offset"
# The outbox relay puts the envelope id here: the consumers' deduplication key.
H_MESSAGE_ID: Final = "message-id"


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed record."""

    topic: str
    partition: int
    offset: int
    key: str
    value: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """One record to publish; its partition follows from the key."""

    topic: str
    key: str
    value: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BusHealth:
    ok: bool
    detail: str


Handler = Callable[[Record], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a failing handler is retried before its record is dead-lettered."""

    max_attempts: int = 5
    backoff_initial: float = 0.1
    backoff_max: float = 5.0

    def backoff(self, failed_attempts: int) -> float:
        """Seconds to wait after the n-th failed attempt (n >= 1): doubling, capped."""
        return float(min(self.backoff_max, self.backoff_initial * 2 ** max(0, failed_attempts - 1)))


def partition_for(key: str, partitions: int) -> int:
    """Kafka's default partitioner (murmur2 of the key bytes), so both buses map keys alike."""
    return int((murmur2(key.encode()) & 0x7FFFFFFF) % partitions)


class Bus(Protocol):
    def subscribe(self, topic: str, group: str, handler: Handler) -> None:
        """Register a consumer; call before ``start()``."""
        ...

    async def start(self) -> None:
        """Create missing topics (and their ``.dlq``) and start consuming."""
        ...

    async def publish(
        self, topic: str, key: str, value: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        """Publish one record durably; raises ``BusUnavailable``."""
        ...

    async def publish_many(self, records: Sequence[OutgoingRecord]) -> None:
        """Publish records durably, keeping their order per key; raises ``BusUnavailable``."""
        ...

    async def stop(self) -> None:
        """Stop fetching, let in-flight handler calls finish and commit, then close."""
        ...

    async def terminate(self) -> None:
        """Abandon consumers at once without committing (a crash); then close."""
        ...

    async def health(self) -> BusHealth:
        """Reachable and consuming? For ``/readyz``."""
        ...

    def assignment(self) -> Mapping[tuple[str, str], frozenset[int]]:
        """Partitions this process consumes now, per (group, topic)."""
        ...

    async def lag(self) -> Mapping[tuple[str, str], int]:
        """Records published but not yet committed, per (group, topic), for what this process sees."""
        ...
