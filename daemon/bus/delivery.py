"""Handing one record to its handler: retry in place, then dead-letter. Shared by both buses.

Retrying in place (rather than re-queueing) keeps per-partition order: nothing after
the failing record is handled until it succeeded or went to the ``.dlq`` topic.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final, Literal

import structlog

from calsync.clock import Clock
from calsync.envelope import dlq_topic
from calsync.errors import BusUnavailable, PoisonMessage
from calsync.observe import NULL_OBSERVER, Observer
from daemon.bus.base import (
    H_ATTEMPTS,
    H_ERROR,
    H_ORIGINAL_OFFSET,
    H_ORIGINAL_PARTITION,
    H_ORIGINAL_TOPIC,
    Handler,
    OutgoingRecord,
    Record,
    RetryPolicy,
)

log = structlog.get_logger("calsync.bus")

ERROR_HEADER_MAX: Final = 500
Outcome = Literal["handled", "dead-lettered"]
DeadLetter = Callable[[OutgoingRecord], Awaitable[None]]


def describe_error(err: BaseException) -> str:
    """``Type: message``, truncated so one bad record cannot bloat a header."""
    text = f"{type(err).__name__}: {err}"
    return text if len(text) <= ERROR_HEADER_MAX else text[: ERROR_HEADER_MAX - 1] + "…"


def dead_letter_record(record: Record, err: BaseException, attempts: int) -> OutgoingRecord:
    headers = dict(record.headers)
    headers.update(
        {
            H_ERROR: describe_error(err),
            H_ATTEMPTS: str(attempts),
            H_ORIGINAL_TOPIC: record.topic,
            H_ORIGINAL_PARTITION: str(record.partition),
            H_ORIGINAL_OFFSET: str(record.offset),
        }
    )
    return OutgoingRecord(dlq_topic(record.topic), record.key, record.value, headers)


async def deliver(
    record: Record,
    handler: Handler,
    policy: RetryPolicy,
    dead_letter: DeadLetter,
    clock: Clock,
    observer: Observer = NULL_OBSERVER,
) -> Outcome:
    """Run the handler until it succeeds, or dead-letter the record; only then may it be committed.

    Cancellation propagates untouched (the record stays uncommitted and is redelivered).
    """
    attempts = 0
    while True:
        attempts += 1
        try:
            await handler(record)
            observer.bus_handled(record.topic, "ok")
            return "handled"
        except PoisonMessage as err:
            failure: Exception = err
            break
        except Exception as err:  # a handler bug or a transient fault: both are retried, then parked
            if attempts >= policy.max_attempts:
                failure = err
                break
            log.warning(
                "bus.handler_failed",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                attempt=attempts,
                error=describe_error(err),
            )
            await clock.sleep(policy.backoff(attempts))
    parked = dead_letter_record(record, failure, attempts)
    publish_failures = 0
    # Committing without the .dlq copy would lose the record, so keep trying until it is written.
    while True:
        try:
            await dead_letter(parked)
            break
        except BusUnavailable as err:
            publish_failures += 1
            log.warning("bus.dead_letter_failed", topic=parked.topic, error=describe_error(err))
            await clock.sleep(policy.backoff(publish_failures))
    log.error(
        "bus.dead_lettered",
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        attempts=attempts,
        error=parked.headers[H_ERROR],
    )
    observer.bus_handled(record.topic, "dead_lettered")
    return "dead-lettered"
