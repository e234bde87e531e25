"""Pure retry policy of the notifier: which outcomes retry, when, and when to give up.

Delivery errors are named after what the notifier does next:
``TransientDeliveryError`` -> back to pending, retried after a backoff;
``PermanentDeliveryError`` -> failed at once (an SMTP 5xx, a 4xx from the host other than
408/429), visible and never retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Final

from calsync.errors import CalsyncError

# Which bus messages announce notifications, and for which cancel reasons.
NOTIFIED_TYPES: Final = frozenset(
    {
        "appointment.cancelled",
        "appointment.occurrence_cancelled",
        "appointment.rescheduled",
        "appointment.reassigned",
    }
)
NOTIFIED_REASONS: Final = frozenset({"deleted_in_external_calendar"})


class DeliveryError(CalsyncError):
    """A notification could not be delivered."""


class TransientDeliveryError(DeliveryError):
    """Worth retrying later: SMTP 4xx, connection refused or reset, timeouts, HTTP 5xx/408/429."""


class PermanentDeliveryError(DeliveryError):
    """Will never succeed as it is: SMTP 5xx (mailbox unknown), HTTP 4xx, a missing setting."""


def announces_notifications(message_type: str, reason: object) -> bool:
    """Whether a ``calsync.appointments`` message has notification rows behind it."""
    if message_type not in NOTIFIED_TYPES:
        return False
    if message_type in ("appointment.cancelled", "appointment.occurrence_cancelled"):
        return reason in NOTIFIED_REASONS
    return True


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    backoff_initial: timedelta = timedelta(seconds=30)
    backoff_max: timedelta = timedelta(hours=1)
    stale_after: timedelta = timedelta(minutes=5)  # a claim older than this: its sender died

    def backoff(self, attempts: int) -> timedelta:
        """Wait after the n-th failed attempt (n >= 1): doubling, capped."""
        exponent = min(max(0, attempts - 1), 30)
        wait: timedelta = min(self.backoff_max, self.backoff_initial * (2**exponent))
        return wait

    def due(self, attempts: int, last_attempt: datetime | None, now: datetime) -> bool:
        """Whether a pending row may be tried now."""
        if last_attempt is None or attempts == 0:
            return True
        return now >= last_attempt + self.backoff(attempts)


class Outcome(Enum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"


def after_failure(error: DeliveryError, attempts: int, policy: RetryPolicy) -> Outcome:
    """What a failed attempt (the ``attempts``-th) leads to."""
    if isinstance(error, PermanentDeliveryError) or attempts >= policy.max_attempts:
        return Outcome.FAILED
    return Outcome.RETRY
